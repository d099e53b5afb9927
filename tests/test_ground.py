"""Quote matching and sentence splitting, on small texts whose answers are known by hand."""

import pyoxigraph as ox
import pytest

from kg.curation import Article, Source
from kg.ground import ground
from kg.text import Folded, Span, closest, sentences

TEXT = "Xi met Li on Wednesday. It was \u201cgreat\u201d \u2013 truly, China\u2019s  day.\nXi met Li again.\n"


def test_typography_and_whitespace_are_tolerated_offsets_are_the_articles():
    folded = Folded(TEXT)
    [span] = folded.find_all('It was "great" - truly, China\'s day')
    assert TEXT[span.start:span.end] == "It was \u201cgreat\u201d \u2013 truly, China\u2019s  day"


def test_offsets_count_code_points_not_bytes():
    text = "\u00e9t\u00e9 \U0001F600 Xi met Li."
    [span] = Folded(text).find_all("Xi met Li")
    assert (span.start, span.end) == (6, 15)


def test_a_repeated_quote_is_found_twice_and_a_prefix_picks_one():
    folded = Folded(TEXT)
    spans = folded.find_all("Xi met Li")
    assert spans == [Span(0, 9), Span(62, 71)]
    assert [s for s in spans if folded.preceded_by(s, "China's day.")] == [Span(62, 71)]


def test_sentences_split_per_paragraph_and_after_full_stops():
    assert [s.text for s in sentences(TEXT)] == [
        "Xi met Li on Wednesday.",
        "It was \u201cgreat\u201d \u2013 truly, China\u2019s  day.",
        "Xi met Li again.",
    ]
    assert all(TEXT[s.start:s.end] == s.text for s in sentences(TEXT))


def test_closest_match_names_the_line():
    assert closest(TEXT, "Xi met Li again and again") == (2, "Xi met Li again.")


def _article(facts: str) -> Article:
    header = "@prefix ex: <https://example.org/kg/id/> .\n@prefix kg: <https://example.org/kg/ontology#> .\n@prefix kgc: <https://example.org/kg/curation#> .\n"
    triples = tuple(ox.Triple(q.subject, q.predicate, q.object)
                    for q in ox.parse(input=(header + facts).encode(), format=ox.RdfFormat.TURTLE))
    return Article("t", "articles/t", TEXT, {"title": "T"}, Source("articles/t/facts.ttl", header + facts, triples))


def test_grounding_replaces_the_short_hand_with_spans():
    result = ground(_article('ex:m a kg:Meeting ; kgc:evidence "Xi met Li on Wednesday" .\n'))
    assert result.problems == ()
    nt = {str(t) for t in result.triples}
    assert "<https://example.org/kg/id/m> <http://www.w3.org/ns/prov#wasDerivedFrom> <https://example.org/kg/id/t-span-0-22>" in nt
    assert not [t for t in nt if "curation#" in t]
    assert '<https://example.org/kg/id/t-span-0-22-position> <http://www.w3.org/ns/oa#end> "22"^^<http://www.w3.org/2001/XMLSchema#nonNegativeInteger>' in nt


@pytest.mark.parametrize(
    "facts, message",
    [
        ('ex:m a kg:Meeting ; kgc:evidence "Xi met Li" .\n',
         'evidence quote occurs 2 times in articles/t/article.txt (lines 1, 2): "Xi met Li"; use [ kgc:exact "…" ; kgc:prefix "words before it" ]'),
        ('ex:m a kg:Meeting ; kgc:evidence "Xi met Putin" .\n',
         'evidence quote not found in articles/t/article.txt: "Xi met Putin" (closest match at line 1: "Xi met Li on")'),
        ('ex:m a kg:Meeting ; kgc:evidence [ kgc:exact "Xi met Li" ; kgc:prefix "nowhere" ] .\n',
         'evidence quote not found in articles/t/article.txt: "Xi met Li" (closest match at line 1: "Xi met Li")'),
    ],
)
def test_bad_quotes_are_reported_at_their_line(facts, message):
    [problem] = ground(_article(facts)).problems
    assert (problem.message, problem.line) == (message, 4)
