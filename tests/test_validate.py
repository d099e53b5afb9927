"""kg.validate's handling of pyshacl and rdflib internals (its results are covered by test_shapes.py)."""

from rdflib import Variable
from rdflib.plugins.sparql import algebra
from rdflib.plugins.sparql.parser import parseQuery

from kg.validate import _prepared_queries

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
