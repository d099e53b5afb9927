"""The writers in kg.export, on generated graphs: whatever the terms, Turtle and TriG parse back to the
same graph (by pyoxigraph and by rdflib), writing is deterministic, and the bytes are those of the writers
kg had before output was assembled from pieces (kept below as the reference)."""

import pyoxigraph as ox
import rdflib
from hypothesis import given, settings
from hypothesis import strategies as st
from rdflib.compare import isomorphic

from kg.export import serialize
from kg.namespaces import PREFIXES, RDF, RDFS, XSD
from kg.rdf import to_rdflib

NAMESPACES = list(PREFIXES.values()) + ["http://other.example/x#", "urn:isbn:"]
locals_ = st.one_of(st.text(alphabet="abcXYZ019_-.:/é", max_size=8), st.just("a%20b"), st.just("x.y."))
iris = st.builds(lambda ns, local: ox.NamedNode(ns + local.replace(" ", "")), st.sampled_from(NAMESPACES), locals_)
blanks = st.builds(ox.BlankNode, st.sampled_from(["b1", "b2", "b3", "b4"]))
texts = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=12)
literals = st.one_of(
    st.builds(ox.Literal, texts),
    st.builds(lambda t, lang: ox.Literal(t, language=lang), texts, st.sampled_from(["en", "zh-Hans", "ru"])),
    st.builds(lambda v, dt: ox.Literal(v, datatype=ox.NamedNode("http://www.w3.org/2001/XMLSchema#" + dt)),
              st.sampled_from(["007", "2023-05-24", "2023-05", "P3Y", "-0", "1e3"]),
              st.sampled_from(["integer", "date", "gYearMonth", "duration", "string", "decimal"])),
)
first, rest, nil = (ox.NamedNode("http://www.w3.org/1999/02/22-rdf-syntax-ns#" + n) for n in ("first", "rest", "nil"))
graph_names = st.one_of(st.just(ox.DefaultGraph()), st.builds(ox.NamedNode, st.sampled_from(
    ["https://example.org/kg/graph/a", "https://example.org/kg/graph/b/inferred"])))
quads = st.lists(
    st.builds(ox.Quad, st.one_of(iris, blanks), iris, st.one_of(iris, blanks, literals), graph_names), max_size=25
)


def _list_quads(items, graph):
    """An RDF list of `items`, as the Turtle writer should render ( … )."""
    nodes = [ox.BlankNode(f"l{i}") for i in range(len(items))]
    result = []
    for i, (node, item) in enumerate(zip(nodes, items)):
        result.append(ox.Quad(node, first, item, graph))
        result.append(ox.Quad(node, rest, nodes[i + 1] if i + 1 < len(nodes) else nil, graph))
    head = nodes[0] if nodes else nil
    return head, result


def _graphs(data: bytes, format: ox.RdfFormat) -> dict:
    result = {}
    for q in ox.parse(input=data, format=format):
        result.setdefault(str(q.graph_name), []).append(ox.Triple(q.subject, q.predicate, q.object))
    return {name: to_rdflib(triples) for name, triples in result.items()}


def _expected(items) -> dict:
    result = {}
    for q in set(items):
        result.setdefault(str(q.graph_name), []).append(ox.Triple(q.subject, q.predicate, q.object))
    return {name: to_rdflib(triples) for name, triples in result.items()}


@settings(max_examples=150, deadline=None)
@given(quads, st.lists(st.one_of(iris, literals), max_size=4))
def test_trig_and_nquads_round_trip(items, list_items):
    head, listed = _list_quads(list_items, ox.DefaultGraph())
    items = items + listed + [ox.Quad(ox.NamedNode("https://example.org/kg/id/s"), ox.NamedNode("https://example.org/kg/ontology#p"), head, ox.DefaultGraph())]
    expected = _expected(items)
    for format_, rdf_format in (("trig", ox.RdfFormat.TRIG), ("nq", ox.RdfFormat.N_QUADS)):
        data = serialize(items, format_)
        assert data == serialize(list(reversed(items)), format_)
        got = _graphs(data, rdf_format)
        assert set(got) == set(expected)
        assert all(isomorphic(got[name], expected[name]) for name in expected), data.decode()


@settings(max_examples=150, deadline=None)
@given(quads)
def test_turtle_round_trips_through_two_parsers(items):
    union = to_rdflib(ox.Triple(q.subject, q.predicate, q.object) for q in set(items))
    data = serialize(items, "ttl")
    by_oxigraph = to_rdflib(ox.Triple(q.subject, q.predicate, q.object) for q in ox.parse(input=data, format=ox.RdfFormat.TURTLE))
    by_rdflib = rdflib.Graph().parse(data=data.decode(), format="turtle")
    assert isomorphic(by_oxigraph, union), data.decode()
    assert len(by_rdflib) == len(union)


# --- the writers as kg had them before pieces (pyoxigraph terms, one pass over the whole dataset): the
# new writers must write the same bytes, whatever the dataset. JSON-LD's reference is kg.export.jsonld.by_rdflib.

def _reference(items, format_: str) -> bytes:
    dataset = ox.Dataset(items)
    if any(isinstance(q.subject, ox.BlankNode) or isinstance(q.object, ox.BlankNode) for q in dataset):
        dataset.canonicalize(ox.CanonicalizationAlgorithm.RDFC_1_0)
    items = sorted(dataset, key=lambda q: (str(q.graph_name), str(q.subject), str(q.predicate), str(q.object)))
    if format_ == "nq":
        return "".join(f"{q} .\n" for q in items).encode("utf-8")
    triples = sorted({ox.Triple(q.subject, q.predicate, q.object) for q in items},
                     key=lambda t: (str(t.subject), str(t.predicate), str(t.object)))
    if format_ == "nt":
        return "".join(f"{t} .\n" for t in triples).encode("utf-8")
    used: set[str] = set()
    if format_ == "ttl":
        blocks = _reference_body(triples, used, "")
        return (_reference_prefixes(used) + "\n" + "\n\n".join(blocks) + "\n").encode("utf-8")
    graphs: dict = {}
    for q in items:
        graphs.setdefault(q.graph_name, []).append(ox.Triple(q.subject, q.predicate, q.object))
    parts = []
    for graph in sorted(graphs, key=str):
        blocks = _reference_body(graphs[graph], used, "    ")
        name = "" if isinstance(graph, ox.DefaultGraph) else f"{_reference_term(graph, used)} "
        parts.append(f"{name}{{\n" + "\n\n".join(blocks) + "\n}\n")
    return (_reference_prefixes(used) + "\n" + "\n".join(parts)).encode("utf-8")


def _reference_term(node, used=None) -> str:
    from kg.namespaces import prefixed

    if isinstance(node, ox.NamedNode):
        name = prefixed(node.value, PREFIXES)
        if name is None:
            return str(node)
        if used is not None:
            used.add(name.split(":", 1)[0])
        return name
    if isinstance(node, ox.Literal) and not node.language and node.datatype.value != XSD + "string":
        return f"{str(ox.Literal(node.value))}^^{_reference_term(node.datatype, used)}"
    return str(node)


def _reference_prefixes(used) -> str:
    return "".join(f"@prefix {p}: <{iri}> .\n" for p, iri in PREFIXES.items() if p in used)


def _reference_body(triples, used, indent) -> list[str]:
    by_subject: dict = {}
    uses: dict = {}
    for t in triples:
        by_subject.setdefault(t.subject, {}).setdefault(t.predicate, []).append(t.object)
        if isinstance(t.object, ox.BlankNode):
            uses[t.object] = uses.get(t.object, 0) + 1
    inline = {b for b, n in uses.items() if n == 1 and b in by_subject}
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
            if set(p.value for p in predicates) != {RDF + "first", RDF + "rest"}:
                return None
            if len(predicates[first]) != 1 or len(predicates[rest]) != 1:
                return None
            items.append(predicates[first][0])
            node = predicates[rest][0]
        return items if node == nil else None

    def order(p):
        if p.value == RDF + "type":
            return (0, "")
        if p.value == RDFS + "label":
            return (1, "")
        return (2, _reference_term(p, used))

    def write(node, depth):
        if isinstance(node, ox.BlankNode) and node in inline:
            items = items_of(node)
            if items is not None:
                return "( " + " ".join(write(i, depth) for i in items) + " )"
            pad = indent + "    " * (depth + 1)
            return "[\n" + " ;\n".join(pad + line for line in properties(node, depth + 1)) + "\n" + indent + "    " * depth + "]"
        return _reference_term(node, used)

    def properties(subject, depth):
        predicates = by_subject[subject]
        lines = []
        for predicate in sorted(predicates, key=order):
            name = "a" if predicate.value == RDF + "type" else _reference_term(predicate, used)
            objects = sorted(predicates[predicate], key=lambda o: (isinstance(o, ox.BlankNode), _reference_term(o)))
            lines.append(f"{name} {' , '.join(write(o, depth) for o in objects)}")
        return lines

    blocks = []
    for subject in sorted(by_subject, key=_reference_term):
        if subject in inline:
            continue
        body = " ;\n".join(f"{indent}    {line}" for line in properties(subject, 1))
        if isinstance(subject, ox.BlankNode) and subject not in uses:
            blocks.append(f"{indent}[\n{body}\n{indent}] .")
        else:
            blocks.append(f"{indent}{_reference_term(subject, used)}\n{body} .")
    return blocks


# Predicates the Turtle writer orders or writes specially, besides random ones.
special = st.sampled_from([ox.NamedNode(RDF + "type"), ox.NamedNode(RDFS + "label"), first, rest])
mixed_quads = st.lists(
    st.builds(ox.Quad, st.one_of(iris, blanks), st.one_of(iris, special), st.one_of(iris, blanks, literals), graph_names),
    max_size=25,
)


@settings(max_examples=300, deadline=None)
@given(mixed_quads, st.lists(st.one_of(iris, literals), max_size=4), graph_names)
def test_writers_write_what_they_wrote_before_pieces(items, list_items, graph):
    head, listed = _list_quads(list_items, graph)
    items = items + listed + [ox.Quad(ox.NamedNode("https://example.org/kg/id/s"), ox.NamedNode("https://example.org/kg/ontology#p"), head, graph)]
    for format_ in ("nq", "nt", "ttl", "trig"):
        assert serialize(items, format_) == _reference(items, format_), format_
