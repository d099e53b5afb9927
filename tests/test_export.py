"""The writers in kg.export, on generated graphs: whatever the terms, Turtle and TriG parse back to the
same graph (by pyoxigraph and by rdflib), and writing is deterministic."""

import pyoxigraph as ox
import rdflib
from hypothesis import given, settings
from hypothesis import strategies as st
from rdflib.compare import isomorphic

from kg.export import serialize
from kg.namespaces import PREFIXES
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
