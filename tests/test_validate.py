"""kg.validate: its engines, inputs and order, and its handling of pyshacl and rdflib internals (its results are
covered by test_shapes.py, the engines' agreement by test_shacl_sparql.py)."""

import random

import pyoxigraph as ox
import pytest
from rdflib import Variable
from rdflib.plugins.sparql import algebra
from rdflib.plugins.sparql.parser import parseQuery

from kg import shacl_sparql
from kg.validate import _prepared_queries, validate

QUERY = """SELECT $this WHERE {
    ?position <urn:start> ?start .
    ?span <urn:selector> ?position .
    ?span <urn:source> $this .
}"""


def _first_triple(query) -> tuple:
    found = []

    def visit(node):
        if getattr(node, "name", None) == "BGP" and not found:
            found.append(node.triples[0])

    algebra.traverse(query.algebra, visitPost=visit)
    return found[0]


def test_constraint_joins_start_from_the_focus_node():
    """Regression: rdflib ordered `?position <urn:start> ?start` (a scan of every selector) first, making
    validation quadratic in the number of articles (100 synthetic articles: 263 s, 10 s after)."""
    plain = algebra.translateQuery(parseQuery(QUERY))
    assert Variable("this") not in _first_triple(plain)
    with _prepared_queries():
        bound = algebra.translateQuery(parseQuery(QUERY))
    assert _first_triple(bound)[2] == Variable("this")


def test_rdflib_is_restored_after_validation():
    before = algebra.reorderTriples
    with _prepared_queries():
        assert algebra.reorderTriples is not before
    assert algebra.reorderTriples is before


# --- validate(): engines, inputs, order ------------------------------------------------------------------

TTL = """
@prefix ex: <http://example.org/t#> .
@prefix sh: <http://www.w3.org/ns/shacl#> .
@prefix prov: <http://www.w3.org/ns/prov#> .
@prefix rdfs: <http://www.w3.org/2000/01/rdf-schema#> .
"""
SHAPES = TTL + """
ex:S a sh:NodeShape ; sh:targetClass ex:Span ;
    sh:property [ sh:path ex:start ; sh:minCount 1 ; sh:message "span needs a start"@en ] .
ex:T a sh:NodeShape ; sh:targetClass ex:Trip ;
    sh:property ex:T-a , ex:T-b .
ex:T-a a sh:PropertyShape ; sh:path ex:by ; sh:class ex:Person ; sh:message "same message" .
ex:T-b a sh:PropertyShape ; sh:path ex:by ; sh:class ex:Official ; sh:message "same message" .
"""
DATA = TTL + """
ex:fact-b prov:wasDerivedFrom ex:span . ex:fact-a prov:wasDerivedFrom ex:span .
ex:span a ex:Span .
ex:trip a ex:Trip ; ex:by ex:china .
"""
ONTOLOGY = TTL + 'ex:Span rdfs:label "span"@en . ex:Trip rdfs:label "trip"@en .'


def _triples(text):
    return [ox.Triple(q.subject, q.predicate, q.object) for q in ox.parse(text.encode(), format=ox.RdfFormat.TURTLE)]


def _run(data, **kwargs):
    units = {"http://example.org/t#fact-a": "a", "http://example.org/t#fact-b": "b", "http://example.org/t#trip": "a"}
    return validate(data, shapes=_triples(SHAPES), ontology=_triples(ONTOLOGY), sources={}, units=units, **kwargs)


@pytest.mark.parametrize("engine", ["pyshacl", "sparql", "auto"])
def test_findings_do_not_depend_on_the_order_of_the_triples(engine):
    data = _triples(DATA)
    first = _run(data, engine=engine)
    random.Random(3).shuffle(data)
    assert _run(data, engine=engine).findings == first.findings
    # two findings that differ only in their shape come in a fixed order
    trip = [f for f in first.findings if f.focus.endswith("#trip")]
    assert [f.shape for f in trip] == ["http://example.org/t#T-a", "http://example.org/t#T-b"]


@pytest.mark.parametrize("engine", ["pyshacl", "sparql"])
def test_a_span_is_reported_in_the_unit_of_the_first_fact_citing_it(engine):
    (span,) = [f for f in _run(_triples(DATA), engine=engine).findings if f.focus.endswith("#span")]
    assert (span.unit, span.kind, span.message) == ("a", "span", "span needs a start")


def test_validate_takes_a_validation_store():
    store = shacl_sparql.new_store(_triples(DATA) + _triples(ONTOLOGY))
    assert _run(store).findings == _run(_triples(DATA)).findings
    assert _run(store, engine="pyshacl").findings == _run(_triples(DATA), engine="pyshacl").findings


def test_focus_keeps_the_results_of_those_nodes():
    report = _run(_triples(DATA), focus=[ox.NamedNode("http://example.org/t#trip")])
    assert {f.focus for f in report.findings} == {"http://example.org/t#trip"} and not report.conforms
    assert _run(_triples(DATA), focus=[ox.NamedNode("http://example.org/t#none")]).conforms


def test_an_unknown_engine_is_an_error():
    with pytest.raises(ValueError, match="engine must be one of"):
        _run(_triples(DATA), engine="fast")
