"""Serialise the built dataset. Every writer sorts, so the same graph gives the same bytes.

Turtle and TriG are written here rather than by a library so that the layout is ours and stable:
one block per subject, `a` first, then rdfs:label, then the other predicates by prefixed name,
objects sorted; literals exactly as the curator wrote them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

import pyoxigraph as ox

from kg.namespaces import PREFIXES, RDF, RDFS, prefixed

RDF_TYPE = RDF + "type"
RDFS_LABEL = RDFS + "label"
XSD_STRING = "http://www.w3.org/2001/XMLSchema#string"


@dataclass(frozen=True)
class Format:
    name: str
    media_type: str
    extension: str
    graphs: bool  # keeps named graphs
    rdf_format: ox.RdfFormat | None


FORMATS: dict[str, Format] = {
    "ttl": Format("ttl", "text/turtle", ".ttl", False, ox.RdfFormat.TURTLE),
    "jsonld": Format("jsonld", "application/ld+json", ".jsonld", False, ox.RdfFormat.JSON_LD),
    "nt": Format("nt", "application/n-triples", ".nt", False, ox.RdfFormat.N_TRIPLES),
    "nq": Format("nq", "application/n-quads", ".nq", True, ox.RdfFormat.N_QUADS),
    "trig": Format("trig", "application/trig", ".trig", True, ox.RdfFormat.TRIG),
}


def serialize(quads: Iterable[ox.Quad], format: str, *, context: dict | None = None) -> bytes:
    """One format of the dataset. `context` (a JSON-LD @context) is needed for jsonld only."""
    quads = sorted(canonical(quads), key=_quad_key)
    if format == "nq":
        return "".join(f"{q} .\n" for q in quads).encode("utf-8")
    triples = sorted({ox.Triple(q.subject, q.predicate, q.object) for q in quads}, key=_triple_key)
    if format == "nt":
        return "".join(f"{t} .\n" for t in triples).encode("utf-8")
    if format == "ttl":
        return turtle(triples).encode("utf-8")
    if format == "trig":
        return trig(quads).encode("utf-8")
    if format == "jsonld":
        return jsonld(triples, context=context or {}).encode("utf-8")
    raise ValueError(f"unknown format {format!r}; choose one of {', '.join(FORMATS)}")


def canonical(quads: Iterable[ox.Quad]) -> list[ox.Quad]:
    """The quads with blank nodes renamed by RDFC-1.0, so their labels do not depend on parsing."""
    dataset = ox.Dataset(quads)
    if any(isinstance(q.subject, ox.BlankNode) or isinstance(q.object, ox.BlankNode) for q in dataset):
        dataset.canonicalize(ox.CanonicalizationAlgorithm.RDFC_1_0)
    return list(dataset)


def _triple_key(t: ox.Triple):
    return (str(t.subject), str(t.predicate), str(t.object))


def _quad_key(q: ox.Quad):
    return (str(q.graph_name), str(q.subject), str(q.predicate), str(q.object))


def term(node, used: set[str] | None = None) -> str:
    """A term in Turtle: a prefixed name when one of kg's prefixes fits, else N-Triples form."""
    if isinstance(node, ox.NamedNode):
        name = prefixed(node.value, PREFIXES)
        if name is None:
            return str(node)
        if used is not None:
            used.add(name.split(":", 1)[0])
        return name
    if isinstance(node, ox.Literal) and not node.language and node.datatype.value != XSD_STRING:
        datatype = term(node.datatype, used)
        return f"{str(ox.Literal(node.value))}^^{datatype}"
    return str(node)


def _predicate_order(predicate: ox.NamedNode, used: set[str]) -> tuple:
    if predicate.value == RDF_TYPE:
        return (0, "")
    if predicate.value == RDFS_LABEL:
        return (1, "")
    return (2, term(predicate, used))


RDF_FIRST, RDF_REST, RDF_NIL = RDF + "first", RDF + "rest", RDF + "nil"


def _body(triples: list[ox.Triple], used: set[str], indent: str) -> list[str]:
    """Turtle statements, one block per subject. A blank node used once as an object is written
    inline where it is used, as `[ … ]`, or as `( … )` when it heads a well-formed RDF list."""
    by_subject: dict = {}
    uses: dict = {}
    for t in triples:
        by_subject.setdefault(t.subject, {}).setdefault(t.predicate, []).append(t.object)
        if isinstance(t.object, ox.BlankNode):
            uses[t.object] = uses.get(t.object, 0) + 1
    inline = {b for b, n in uses.items() if n == 1 and b in by_subject}
    # A blank node inside a cycle of such nodes has no outside place to be written: it stays top-level.
    reached: set = set()

    def reach(start):
        stack = [start]
        while stack:
            for objects in by_subject.get(stack.pop(), {}).values():
                for o in objects:
                    if o in inline and o not in reached:
                        reached.add(o)
                        stack.append(o)

    for subject in by_subject:
        if subject not in inline:
            reach(subject)
    while inline - reached:
        loose = min(inline - reached, key=str)
        inline.discard(loose)
        reach(loose)

    def items_of(node):
        items = []
        while isinstance(node, ox.BlankNode) and node in inline:
            predicates = by_subject[node]
            if set(p.value for p in predicates) != {RDF_FIRST, RDF_REST}:
                return None
            if len(predicates[ox.NamedNode(RDF_FIRST)]) != 1 or len(predicates[ox.NamedNode(RDF_REST)]) != 1:
                return None
            items.append(predicates[ox.NamedNode(RDF_FIRST)][0])
            node = predicates[ox.NamedNode(RDF_REST)][0]
        return items if isinstance(node, ox.NamedNode) and node.value == RDF_NIL else None

    def write(node, depth: int) -> str:
        if isinstance(node, ox.BlankNode) and node in inline:
            items = items_of(node)
            if items is not None:
                return "( " + " ".join(write(i, depth) for i in items) + " )"
            pad = indent + "    " * (depth + 1)
            return "[\n" + " ;\n".join(pad + line for line in properties(node, depth + 1)) + "\n" + indent + "    " * depth + "]"
        return term(node, used)

    def properties(subject, depth: int) -> list[str]:
        predicates = by_subject[subject]
        lines = []
        for predicate in sorted(predicates, key=lambda p: _predicate_order(p, used)):
            name = "a" if predicate.value == RDF_TYPE else term(predicate, used)
            objects = sorted(predicates[predicate], key=lambda o: (isinstance(o, ox.BlankNode), term(o)))
            lines.append(f"{name} {' , '.join(write(o, depth) for o in objects)}")
        return lines

    blocks = []
    for subject in sorted(by_subject, key=lambda s: term(s)):
        if subject in inline:
            continue
        body = " ;\n".join(f"{indent}    {line}" for line in properties(subject, 1))
        if isinstance(subject, ox.BlankNode) and subject not in uses:
            blocks.append(f"{indent}[\n{body}\n{indent}] .")
        else:
            blocks.append(f"{indent}{term(subject, used)}\n{body} .")
    return blocks


def _prefix_block(used: set[str]) -> str:
    return "".join(f"@prefix {p}: <{iri}> .\n" for p, iri in PREFIXES.items() if p in used)


def turtle(triples: list[ox.Triple]) -> str:
    used: set[str] = set()
    blocks = _body(triples, used, "")
    return _prefix_block(used) + "\n" + "\n\n".join(blocks) + "\n"


def trig(quads: list[ox.Quad]) -> str:
    used: set[str] = set()
    graphs: dict = {}
    for q in quads:
        graphs.setdefault(q.graph_name, []).append(ox.Triple(q.subject, q.predicate, q.object))
    parts = []
    for graph in sorted(graphs, key=str):
        blocks = _body(graphs[graph], used, "    ")
        name = "" if isinstance(graph, ox.DefaultGraph) else f"{term(graph, used)} "
        parts.append(f"{name}{{\n" + "\n\n".join(blocks) + "\n}\n")
    return _prefix_block(used) + "\n" + "\n".join(parts)


def jsonld(triples: list[ox.Triple], *, context: dict) -> str:
    """Compacted with the project's own context: short keys, and only the prefixes the context holds.
    rdflib compacts; we then sort nodes and values so the bytes do not depend on hashing."""
    import rdflib

    from kg.rdf import to_rdflib

    inner = context.get("@context", context)
    graph = to_rdflib(triples, rdflib.Graph(bind_namespaces="none"))
    data = json.loads(graph.serialize(format="json-ld", context=inner, auto_compact=True))
    if isinstance(data, list):  # no context: rdflib writes expanded form
        nodes = data
    elif "@graph" in data:
        nodes = data["@graph"]
    else:  # a single node, compacted
        nodes = [{k: v for k, v in data.items() if k != "@context"}]
    nodes = sorted((_sorted_values(n) for n in nodes), key=lambda n: n.get("@id", ""))
    document = {"@context": inner, "@graph": nodes}
    return json.dumps(document, ensure_ascii=False, indent=2, sort_keys=True) + "\n"


def _sorted_values(node, ordered: bool = False):
    """Sort JSON-LD arrays (sets of values) recursively; an @list keeps its order."""
    if isinstance(node, dict):
        return {k: _sorted_values(v, ordered=k == "@list") for k, v in node.items()}
    if isinstance(node, list) and ordered:
        return [_sorted_values(v) for v in node]
    if isinstance(node, list):
        return sorted((_sorted_values(v) for v in node), key=lambda v: json.dumps(v, sort_keys=True))
    return node


def read_context(path: Path) -> dict:
    return json.loads(Path(path).read_text(encoding="utf-8"))
