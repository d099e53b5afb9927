"""kg build reads each unit's N-Quads as text while reasoning (kg.summary.summary_documents, kg.reason.Asserted
given `nquads=`): fuzzed against the term paths they stand for, on seeded random units of IRIs with odd
characters, blank nodes, literals of every kind (quotes, backslashes, control characters, "> <", "^^<",
base directions, datatypes in and out of the OWL 2 map), rdf:type with classes, literals and blank nodes,
owl:imports, duplicate lines and facts both asserted and inferred. Every answer must be the same bytes."""

import random

import pyoxigraph as ox
import pytest

from kg import reason
from kg.build import _nquads, _pack_summary, _unit_summary
from kg.namespaces import GRAPH, article_graph, inferred_graph
from kg.summary import summarise, summary_documents

OWL, RDF = "http://www.w3.org/2002/07/owl#", "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
RDFS, XSD = "http://www.w3.org/2000/01/rdf-schema#", "http://www.w3.org/2001/XMLSchema#"
EX, KG = "https://example.org/kg/id/", "https://example.org/kg/ontology#"
TBOX = sorted(str(t) for t in reason._TBOX_TYPES)
IRIS = [EX + "n", EX + "m", EX + "é日😀", EX + "a!$&'()*+,;=:@~b", EX + "a?b#c", "urn:x", "urn:kg:summary:own",
        OWL + "Thing", OWL + "NamedIndividual", RDFS + "Class", XSD + "string", GRAPH + "a",
        inferred_graph(GRAPH + "a"), *TBOX]
PREDICATES = [KG + "p", KG + "q", KG + "é", RDF + "type", OWL + "imports", RDFS + "label", OWL + "sameAs",
              RDFS + "subClassOf", RDF + "first", "urn:kg:summary:own", GRAPH + "a"]
BLANKS = ["b1", "a.b", "_x", "é", "1a"]
PIECES = ['"', "\\", "> <", '"^^<', '"@', '"@en--', "<<", f" <{GRAPH}a> .", " .", "\n", "\r", "\t", "\x00", "\x07",
          "\x08", "\x0c", "\x1f", "\x7f", "\ufffe", "é", "日本", "😀", " ", "^^", "\\n", "\\u0041", "a", "0", "> .",
          "<", ">", "_:b", "\u2028", "\u0085"]
PLAIN_PIECES = [p for p in PIECES if not any(c in p for c in "\t\x00\x07\x08\x0c\x1f\x7f\ufffe")]
SUPPORTED = sorted(str(d) for d in reason.SUPPORTED_DATATYPES if not str(d).endswith("langString"))
UNSUPPORTED = [XSD + "date", XSD + "gYearMonth", XSD + "time", KG + "odd", "urn:dt"]
LANGUAGES = ["en", "en-us", "x-foo", "zh-hant"]


def lexical(r: random.Random, pieces: list[str]) -> str:
    k = r.random()
    return "" if k < 0.1 else r.choice(TBOX + IRIS) if k < 0.2 else "".join(r.choices(pieces, k=r.randint(1, 6)))


def literal(r: random.Random, pieces: list[str]) -> ox.Literal:
    k, value = r.random(), lexical(r, pieces)
    if k < 0.25:
        return ox.Literal(value)
    if k < 0.45:
        return ox.Literal(value, language=r.choice(LANGUAGES))
    if k < 0.5:
        return ox.Literal(value, language="en", direction=ox.BaseDirection.RTL)
    return ox.Literal(value, datatype=ox.NamedNode(r.choice(SUPPORTED if k < 0.75 else UNSUPPORTED)))


def node(r: random.Random):
    return ox.BlankNode(r.choice(BLANKS)) if r.random() < 0.25 else ox.NamedNode(r.choice(IRIS))


def triple(r: random.Random, pieces: list[str]) -> ox.Triple:
    s, p, k = node(r), ox.NamedNode(r.choice(PREDICATES)), r.random()
    if p.value == RDF + "type":
        o = ox.NamedNode(r.choice(TBOX + IRIS)) if k < 0.7 else literal(r, pieces) if k < 0.9 else node(r)
    else:
        o = literal(r, pieces) if k < 0.45 else node(r)
    return ox.Triple(s, p, o)


@pytest.mark.filterwarnings("ignore:Parsing weird:UserWarning")  # rdflib, on the random lexical forms of xsd:boolean
def test_units_read_as_text_answer_as_their_terms_do():
    r = random.Random(20261207)
    paths = {"summary from text": 0, "summary from terms": 0, "sent from text": 0, "sent from terms": 0}
    for _ in range(1500):
        slug = r.choice(["a", "b-c"])
        graph = article_graph(slug)
        pieces = PIECES if r.random() < 0.3 else PLAIN_PIECES
        asserted = [triple(r, pieces) for _ in range(r.randint(0, 8))]
        if asserted and r.random() < 0.2:
            asserted.append(r.choice(asserted))  # a line twice
        inferred = [triple(r, pieces) for _ in range(r.randint(0, 4))]
        if asserted and r.random() < 0.3:
            inferred.append(r.choice(asserted))  # asserted and inferred
        a = _nquads(ox.Quad(*t, ox.NamedNode(graph)) for t in asserted)
        i = _nquads(ox.Quad(*t, ox.NamedNode(inferred_graph(graph))) for t in inferred)
        reads = frozenset(r.sample(PREDICATES, r.randint(0, 3)))
        case = (asserted, inferred, sorted(reads))

        terms = _pack_summary(summarise(asserted, inferred, frozenset(ox.NamedNode(p) for p in reads)))
        assert _unit_summary(slug, a, i, reads) == terms, case
        text = summary_documents(a, graph, i, inferred_graph(graph), reads) is not None
        paths["summary from text" if text else "summary from terms"] += 1

        by_terms, by_text = reason.Asserted(asserted), reason.Asserted(nquads=a, graph=graph)
        assert by_text.ntriples() == by_terms.ntriples(), case
        assert by_text.iri_triples == by_terms.iri_triples, case
        assert by_text.iri_vocabulary == by_terms.iri_vocabulary, case
        paths["sent from text" if "terms" not in vars(by_text) else "sent from terms"] += 1
        assert set(by_text) == set(by_terms) and len(by_text) == len(by_terms), case
    # Both ways were taken often: the text for most units, the terms for those with a tab, a control character
    # or a base direction (and the summary, which reads neither, from the text for nearly all).
    assert paths["summary from text"] > 1400 and paths["sent from text"] > 700 and paths["sent from terms"] > 100, paths
