"""The fixed prefixes of kg (docs/model.md). Every file kg writes binds exactly these."""

import re

KG = "https://example.org/kg/ontology#"
EX = "https://example.org/kg/id/"
KGC = "https://example.org/kg/curation#"
GRAPH = "https://example.org/kg/graph/"
REGISTRY_GRAPH = GRAPH + "registry"

OA = "http://www.w3.org/ns/oa#"
PROV = "http://www.w3.org/ns/prov#"
SKOS = "http://www.w3.org/2004/02/skos/core#"
DCTERMS = "http://purl.org/dc/terms/"
SCHEMA = "https://schema.org/"
ORG = "http://www.w3.org/ns/org#"
FOAF = "http://xmlns.com/foaf/0.1/"
SEM = "http://semanticweb.cs.vu.nl/2009/11/sem/"
TIME = "http://www.w3.org/2006/time#"
OWL = "http://www.w3.org/2002/07/owl#"
RDF = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
RDFS = "http://www.w3.org/2000/01/rdf-schema#"
XSD = "http://www.w3.org/2001/XMLSchema#"
SH = "http://www.w3.org/ns/shacl#"
DCAT = "http://www.w3.org/ns/dcat#"

# Order matters only for readability of the prefix block in Turtle output.
PREFIXES: dict[str, str] = {
    "kg": KG,
    "ex": EX,
    "cameo": "https://example.org/kg/code/cameo/",
    "plover": "https://example.org/kg/code/plover/",
    "dom": "https://example.org/kg/code/domain/",
    "oa": OA,
    "prov": PROV,
    "skos": SKOS,
    "dcterms": DCTERMS,
    "schema": SCHEMA,
    "org": ORG,
    "foaf": FOAF,
    "sem": SEM,
    "time": TIME,
    "owl": OWL,
    "rdf": RDF,
    "rdfs": RDFS,
    "xsd": XSD,
}

# Curated files may use these too (kgc: never reaches out/; sh: only in shapes).
CURATION_PREFIXES: dict[str, str] = {**PREFIXES, "kgc": KGC, "sh": SH}


def article_graph(slug: str) -> str:
    return GRAPH + slug


def inferred_graph(graph: str) -> str:
    return graph + "/inferred"


# A local name that Turtle, SPARQL and JSON-LD all accept after a prefix (no trailing dot).
_LOCAL_NAME = re.compile(r"[A-Za-z0-9_]([A-Za-z0-9_.-]*[A-Za-z0-9_-])?")


def prefixed(iri: str, prefixes: dict[str, str] = CURATION_PREFIXES) -> str | None:
    """`iri` as a prefixed name with one of `prefixes`, or None when none fits."""
    for prefix, namespace in prefixes.items():
        if iri.startswith(namespace) and _LOCAL_NAME.fullmatch(iri[len(namespace):]):
            return f"{prefix}:{iri[len(namespace):]}"
    return None
