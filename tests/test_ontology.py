"""The ontology and code lists: documented, OWL 2 DL-clean, no imports, and consistent with the curated facts."""

from __future__ import annotations

from pathlib import Path

import pytest
from rdflib import BNode, Graph, Literal, URIRef
from rdflib.namespace import OWL, RDF, RDFS, SKOS

from kg import reason
from kg.namespaces import KG, KGC, PREFIXES

ROOT = Path(__file__).resolve().parent.parent
ONTOLOGY = ROOT / "ontology" / "kg.ttl"
CODES = ROOT / "ontology" / "codes.ttl"
REGISTRY = ROOT / "registry" / "entities.ttl"
FACTS = sorted((ROOT / "articles").glob("*/facts.ttl"))
ONTOLOGY_IRI = URIRef("https://example.org/kg/ontology")
KINDS = (OWL.Class, OWL.ObjectProperty, OWL.DatatypeProperty, OWL.AnnotationProperty)
# Namespaces whose terms curated files may use without kg defining them.
STANDARD = tuple(PREFIXES[p] for p in ("oa", "prov", "skos", "dcterms", "schema", "org", "foaf", "sem", "time",
                                        "owl", "rdf", "rdfs", "xsd"))
CURATION_TERMS = {URIRef(KGC + name) for name in ("evidence", "exact", "prefix")}


def parse(*paths: Path) -> Graph:
    graph = Graph()
    for path in paths:
        graph.parse(path, format="turtle")
    return graph


def without_curation(graph: Graph) -> Graph:
    """The facts as the reasoner sees them: kgc: short-hands (and their blank nodes) left out."""
    result = Graph()
    for s, p, o in graph:
        if str(p).startswith(KGC) or isinstance(s, BNode):
            continue
        result.add((s, p, o))
    return result


@pytest.fixture(scope="module")
def ontology() -> Graph:
    return parse(ONTOLOGY)


@pytest.fixture(scope="module")
def codes() -> Graph:
    return parse(CODES)


@pytest.fixture(scope="module")
def curated() -> Graph:
    return parse(REGISTRY, *FACTS)


def own_terms(graph: Graph) -> list[URIRef]:
    return sorted({s for kind in KINDS for s in graph.subjects(RDF.type, kind) if str(s).startswith(KG)})


def english(graph: Graph, subject, predicate) -> list[Literal]:
    return [o for o in graph.objects(subject, predicate) if isinstance(o, Literal) and o.language == "en"]


def test_ontology_header(ontology):
    assert (ONTOLOGY_IRI, RDF.type, OWL.Ontology) in ontology
    assert ontology.value(ONTOLOGY_IRI, OWL.versionIRI) == URIRef("https://example.org/kg/ontology/0.1.0")
    assert ontology.value(ONTOLOGY_IRI, URIRef(PREFIXES["dcterms"] + "license")) == URIRef(
        "https://www.apache.org/licenses/LICENSE-2.0"
    )
    for field in ("title", "description"):
        assert english(ontology, ONTOLOGY_IRI, URIRef(PREFIXES["dcterms"] + field)), field


def test_no_imports(ontology, codes):
    assert not list(ontology.triples((None, OWL.imports, None)))
    assert not list(codes.triples((None, OWL.imports, None)))


def test_every_own_term_has_one_english_label_and_definition(ontology):
    terms = own_terms(ontology)
    assert len(terms) > 50
    missing = [t for t in terms if len(english(ontology, t, RDFS.label)) != 1
               or len(english(ontology, t, SKOS.definition)) != 1]
    assert missing == []


def test_model_terms_are_defined(ontology):
    """The minimum vocabulary of docs/model.md."""
    names = ("Agent Person State Organisation University ResearchInstitute IntergovernmentalOrganisation Group Office "
             "OfficeHolding Event Meeting BilateralMeeting Visit StateVisit OfficialVisit Forum BusinessForum "
             "AgreementSigning Statement Pandemic Suspension Agreement FormalAgreement Consensus Initiative "
             "DialogueMechanism Place City Article Sentence startDate endDate place participant participatedIn host "
             "visitor destination partOf hasPart holder office attestedOn holdsOffice officeOf party domain "
             "signedDuring reachedDuring speaker paraphrase quote about madeDuring cameo plover causedBy suspended "
             "duration affiliation subOrganizationOf inSentence sentenceIndex").split()
    assert [n for n in names if URIRef(KG + n) not in own_terms(ontology)] == []


def test_one_kind_per_iri(ontology, codes):
    """OWL 2 DL: an IRI is never both a class and a property, nor two kinds of property."""
    graph = ontology + codes
    clashes = []
    for subject in set(graph.subjects(RDF.type, None)):
        kinds = {k for k in KINDS if (subject, RDF.type, k) in graph}
        if len(kinds) > 1:
            clashes.append((subject, sorted(kinds)))
    assert clashes == []


def test_external_terms_in_axioms_are_declared(ontology):
    """Without imports, every external class or property an axiom names is declared here, with the
    same kind as the kg term it generalises (a data property never sits under an object property)."""
    problems = []
    for sub, sup in ontology.subject_objects(RDFS.subClassOf):
        if isinstance(sup, URIRef) and (sup, RDF.type, OWL.Class) not in ontology:
            problems.append(("class", sup))
    for sub, sup in ontology.subject_objects(RDFS.subPropertyOf):
        kind = next(k for k in KINDS if (sub, RDF.type, k) in ontology)
        if (sup, RDF.type, kind) not in ontology:
            problems.append(("property", sup))
    assert problems == []


def test_top_classes_are_pairwise_disjoint(ontology):
    tops = {URIRef(KG + n) for n in
            "Agent Office OfficeHolding Event Agreement Initiative Place Article Sentence DialogueMechanism".split()}
    members = []
    for axiom in ontology.subjects(RDF.type, OWL.AllDisjointClasses):
        members.append(set(ontology.items(ontology.value(axiom, OWL.members))))
    assert tops in members


def test_holds_office_is_a_property_chain(ontology):
    chain = list(ontology.items(ontology.value(URIRef(KG + "holdsOffice"), OWL.propertyChainAxiom)))
    assert chain[1] == URIRef(KG + "office")
    assert ontology.value(chain[0], OWL.inverseOf) == URIRef(KG + "holder")


def test_every_concept_is_documented_and_in_a_scheme(codes):
    concepts = sorted(set(codes.subjects(RDF.type, SKOS.Concept)))
    assert len(concepts) > 20
    problems = []
    for concept in concepts:
        scheme = codes.value(concept, SKOS.inScheme)
        if (scheme, RDF.type, SKOS.ConceptScheme) not in codes:
            problems.append((concept, "scheme"))
        for predicate in (SKOS.prefLabel, RDFS.label, SKOS.definition):
            if len(english(codes, concept, predicate)) != 1:
                problems.append((concept, predicate))
        broader = codes.value(concept, SKOS.broader)
        if broader is None and (concept, SKOS.topConceptOf, scheme) not in codes:
            problems.append((concept, "neither broader nor top concept"))
        if broader is not None and codes.value(broader, SKOS.inScheme) != scheme:
            problems.append((concept, "broader in another scheme"))
    assert problems == []


def test_cameo_codes_map_to_plover(codes):
    """Each CAMEO code maps to a PLOVER category, except plain statements, which PLOVER does not code."""
    cameo, plover = PREFIXES["cameo"], PREFIXES["plover"]
    unmapped = []
    for concept in sorted(set(codes.subjects(SKOS.inScheme, URIRef(cameo + "scheme")))):
        targets = [o for p in (SKOS.closeMatch, SKOS.broadMatch) for o in codes.objects(concept, p)]
        if not any(str(t).startswith(plover) and (t, RDF.type, SKOS.Concept) in codes for t in targets):
            unmapped.append(str(codes.value(concept, SKOS.notation)))
    assert unmapped == ["01", "010"]
    for notation in unmapped:
        assert english(codes, URIRef(cameo + notation), SKOS.scopeNote)


def test_curated_files_use_only_defined_or_standard_terms(ontology, codes, curated):
    defined = set(ontology.subjects()) | set(codes.subjects())
    unknown = set()
    for s, p, o in curated:
        used = [p] + ([o] if p == RDF.type or str(o).startswith(("https://example.org/kg/code/", KG)) else [])
        for term in used:
            if term in CURATION_TERMS or term in defined:
                continue
            if str(term).startswith(STANDARD) and not str(term).startswith(KG):
                continue
            unknown.add(term)
    assert sorted(unknown) == []


def test_ontology_codes_registry_and_facts_are_consistent(ontology, codes, curated):
    reason.check_consistent(without_curation(curated) + codes, ontology=ontology)


def test_inconsistency_is_detected(ontology, codes, curated):
    """The consistency check can fail: a person who is also a state contradicts the disjointness axioms."""
    broken = without_curation(curated) + codes
    broken.add((URIRef(PREFIXES["ex"] + "xi-jinping"), RDF.type, URIRef(KG + "State")))
    with pytest.raises(reason.Inconsistent):
        reason.check_consistent(broken, ontology=ontology)


def test_reasoner_infers_held_offices_through_the_chain(ontology, curated):
    inferred = reason.infer(without_curation(curated), ontology=ontology)
    ex = PREFIXES["ex"]
    held = sorted((str(s)[len(ex):], str(o)[len(ex):]) for s, o in inferred.subject_objects(URIRef(KG + "holdsOffice")))
    assert held == [
        ("cui-heng", "assistant-research-fellow-ecnu-center-for-russian-studies"),
        ("li-qiang", "premier-of-china"),
        ("mikhail-mishustin", "prime-minister-of-russia"),
        ("vladimir-putin", "president-of-russia"),
        ("xi-jinping", "president-of-china"),
        ("zhang-hong", "research-fellow-institute-of-russian-eastern-european-and-central-asian-studies"),
    ]
