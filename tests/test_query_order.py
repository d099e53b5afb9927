"""`kg query` sorts the answer of a SELECT ... ORDER BY itself when that is safe (kg.query._sorted_here):
the same answer as oxigraph's ORDER BY, for every kind of term it handles, and oxigraph's own sort for the rest."""

from __future__ import annotations

import random

import pyoxigraph as ox
import pytest

from conftest import ROOT
from kg.query import QueryText, _sorted_here, render_answer, run_query

E = "http://example.org/"
XSD = "http://www.w3.org/2001/XMLSchema#"
TSV = ox.QueryResultsFormat.TSV
UNION = {"use_default_graph_as_union": True}


def _words(rng: random.Random) -> list[str]:
    alphabet = ["a", "b", "B", "é", "z", "\t", "\n", "\r", '"', "\\", " ", "\U0001f600", "\uff61", "\x01", "1"]
    words = {"", "a", "a ", "ab", "b"}
    while len(words) < 40:
        words.add("".join(rng.choice(alphabet) for _ in range(rng.randint(1, 4))))
    return sorted(words)


@pytest.fixture(scope="module")
def store() -> ox.Store:
    """Rows (?row, ?iri, ?text, ?number, ?mixed, ?maybe) of every kind the sort handles, ties on each column."""
    rng = random.Random(7)
    words = _words(rng)
    store = ox.Store()
    graph = ox.NamedNode(E + "g")
    for i in range(300):
        row = ox.NamedNode(f"{E}row/{i:03d}")
        word = rng.choice(words)
        quads = [
            (E + "iri", ox.NamedNode(f"{E}{rng.choice(['x', 'y', 'é', 'Z', 'x/1'])}")),
            (E + "text", rng.choice([ox.Literal(word), ox.Literal(word, language=rng.choice(["en", "fr", "en-gb"]))])),
            (E + "number", ox.Literal(str(rng.randint(-5, 5)), datatype=ox.NamedNode(XSD + "integer"))),
            (E + "mixed", rng.choice([ox.NamedNode(E + rng.choice("pq")), ox.BlankNode(rng.choice(["b1", "b2"])),
                                      ox.Literal(rng.choice(words))])),
        ]
        if rng.random() < 0.7:
            quads.append((E + "maybe", ox.Literal(rng.choice(words), language="en")))
        for predicate, value in quads:
            store.add(ox.Quad(row, ox.NamedNode(predicate), value, graph))
    return store


SELECT = f"""PREFIX : <{E}>
SELECT ?row ?iri ?text ?number ?mixed ?maybe WHERE {{
    ?row :iri ?iri ; :text ?text ; :number ?number ; :mixed ?mixed .
    OPTIONAL {{ ?row :maybe ?maybe }}
}}"""

ORDERS = [
    "ORDER BY ?text ?row",
    "ORDER BY DESC(?text) ?row",
    "ORDER BY ?iri DESC(?number) ?row",
    "ORDER BY ?number ?text ?row",
    "ORDER BY ?mixed ?row",
    "ORDER BY ?maybe ?row",
    "ORDER BY DESC(?maybe) DESC(?row)",
    "order by ?iri asc(?text) desc ( ?row ) # a comment",
    "ORDER BY $text ?row LIMIT 7 OFFSET 5",
    "ORDER BY ?text ?row OFFSET 290",
    "ORDER BY ?text ?row\n  LIMIT 0",
]


@pytest.mark.parametrize("order", ORDERS)
def test_sorted_here_as_oxigraph_sorts(store, order):
    """Sorted here (not handed back to oxigraph), and byte for byte oxigraph's answer: each query ends with
    ?row, which no two rows share, so the order is total and oxigraph's unstable sort cannot differ."""
    text = f"{SELECT}\n{order}\n"
    answer = _sorted_here(store, text, UNION)
    assert answer is not None
    expected = store.query(text, **UNION).serialize(format=TSV)
    assert answer.serialize(format=TSV) == expected
    assert expected.count(b"\n") > 1 or "LIMIT 0" in order


def test_ties_keep_every_row(store):
    """Rows equal on every key: the same rows as oxigraph's, each tie group together (in some order)."""
    text = f"{SELECT}\nORDER BY ?iri\n"
    mine = _sorted_here(store, text, UNION).serialize(format=TSV).decode().splitlines()
    theirs = store.query(text, **UNION).serialize(format=TSV).decode().splitlines()
    assert sorted(mine) == sorted(theirs)
    assert [line.split("\t")[1] for line in mine] == [line.split("\t")[1] for line in theirs]


@pytest.mark.parametrize("query", [
    # terms this does not order: oxigraph does
    f"PREFIX : <{E}> SELECT ?d ?s WHERE {{ ?s :date ?d }} ORDER BY ?d ?s",
    f"PREFIX : <{E}> SELECT ?d ?s WHERE {{ ?s :decimal ?d }} ORDER BY ?d ?s",
    f"PREFIX : <{E}> SELECT ?v ?s WHERE {{ ?s :value ?v }} ORDER BY ?v ?s",  # integers beside strings
    # not plain variables, not the outermost query, not projected, not a SELECT
    f"PREFIX : <{E}> SELECT ?s ?v WHERE {{ ?s :value ?v }} ORDER BY STR(?v) ?s",
    f"PREFIX : <{E}> SELECT * WHERE {{ {{ SELECT ?s WHERE {{ ?s :value ?v }} ORDER BY ?s LIMIT 2 }} }}",
    f"PREFIX : <{E}> SELECT ?s WHERE {{ ?s :value ?v }} ORDER BY ?v ?s",
    f"PREFIX : <{E}> SELECT ?v (COUNT(?s) AS ?n) WHERE {{ ?s :value ?v }} GROUP BY ?v ORDER BY ?v",
    f"PREFIX : <{E}> CONSTRUCT {{ ?s :value ?v }} WHERE {{ ?s :value ?v }} ORDER BY ?s",
    f"PREFIX : <{E}> SELECT ?s ?v WHERE {{ ?s :value ?v }} # ORDER BY ?s",
    f"PREFIX : <{E}> SELECT ?s ?v WHERE {{ ?s :value ?v }} ORDER BY ?s # not the last {{ brace }}",
])
def test_left_to_oxigraph(query):
    store = ox.Store()
    for i, value in enumerate([ox.Literal("2023-05-24", datatype=ox.NamedNode(XSD + "date")),
                               ox.Literal("2023-05-23Z", datatype=ox.NamedNode(XSD + "date"))]):
        store.add(ox.Quad(ox.NamedNode(f"{E}s{i}"), ox.NamedNode(E + "date"), value))
    for i, value in enumerate(["1.5", "-2", "10"]):
        store.add(ox.Quad(ox.NamedNode(f"{E}s{i}"), ox.NamedNode(E + "decimal"),
                          ox.Literal(value, datatype=ox.NamedNode(XSD + "decimal"))))
    for i, value in enumerate([ox.Literal("7", datatype=ox.NamedNode(XSD + "integer")), ox.Literal("10"),
                               ox.Literal("x")]):
        store.add(ox.Quad(ox.NamedNode(f"{E}s{i}"), ox.NamedNode(E + "value"), value))
    assert _sorted_here(store, query, UNION) is None
    answer = run_query(store, QueryText(query, "q.rq"), graphs=None)
    if isinstance(answer, ox.QuerySolutions):
        assert render_answer(answer, format="tsv") == render_answer(store.query(query, **UNION), format="tsv")


def test_a_slice_twice_is_oxigraphs_error():
    from kg.errors import KgError

    with pytest.raises(KgError, match=r"q\.rq:1:"):
        run_query(ox.Store(), QueryText("SELECT ?s WHERE { ?s ?p ?o } ORDER BY ?s LIMIT 1 LIMIT 2", "q.rq"))


def test_canned_queries_sorted_here_as_oxigraph_sorts():
    """On the built graph, every canned query's answer is oxigraph's, byte for byte; the two whose answers grow
    with the corpus are sorted here (an edit of them that loses that would make them slow again)."""
    store = ox.Store()
    store.load(path=str(ROOT / "out" / "kg.nq"), format=ox.RdfFormat.N_QUADS)
    sorted_here = set()
    for path in sorted((ROOT / "queries").glob("*.rq")):
        text = path.read_text(encoding="utf-8")
        answer = _sorted_here(store, text, UNION)
        if answer is not None:
            sorted_here.add(path.stem)
        rendered = render_answer(run_query(store, QueryText(text, str(path))), format="tsv")
        assert rendered == render_answer(store.query(text, **UNION), format="tsv"), path.name
        assert rendered.count(b"\n") > 1, path.name
    assert {"events-by-plover", "leader-statements"} <= sorted_here
