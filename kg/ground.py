"""Evidence grounding: resolve each curated `kgc:evidence` quote to its exact span of article.txt.

The short-hand is replaced by standard provenance (docs/model.md):
`?fact prov:wasDerivedFrom ?span`, the span an `oa:SpecificResource` on the article with an
`oa:TextQuoteSelector` (the article's own substring) and an `oa:TextPositionSelector` (code points).
"""

from __future__ import annotations

from dataclasses import dataclass

import pyoxigraph as ox

from kg.curation import KGC_EVIDENCE, KGC_EXACT, KGC_PREFIX, RDF_TYPE, Article
from kg.errors import Problem
from kg.namespaces import DCTERMS, EX, KG, KGC, OA, PROV, XSD
from kg.text import Folded, Span, closest, sentences

CONTEXT_CHARS = 32  # length of oa:prefix / oa:suffix

_OA_SPECIFIC = ox.NamedNode(OA + "SpecificResource")
_DERIVED = ox.NamedNode(PROV + "wasDerivedFrom")
_QUOTE = ox.NamedNode(KG + "quote")
_NON_NEGATIVE = ox.NamedNode(XSD + "nonNegativeInteger")
_POSITIVE = ox.NamedNode(XSD + "positiveInteger")


def _n(namespace: str, local: str) -> ox.NamedNode:
    return ox.NamedNode(namespace + local)


def article_node(slug: str) -> ox.NamedNode:
    return _n(EX, f"article-{slug}")


@dataclass(frozen=True)
class Grounded:
    """One article as a unit of work: its graph's triples, and every problem found while grounding."""

    slug: str
    triples: tuple[ox.Triple, ...]
    evidence: tuple[tuple[ox.NamedNode, Span], ...]  # (fact, span) pairs
    problems: tuple[Problem, ...]


def ground(article: Article, *, statement_classes: frozenset[str] = frozenset({KG + "Statement"})) -> Grounded:
    """Ground one article. `statement_classes` are kg:Statement and its subclasses (they get kg:quote)."""
    facts = article.facts
    folded = Folded(article.text)
    source = article_node(article.slug)
    article_sentences = sentences(article.text)
    width = max(2, len(str(len(article_sentences))))

    def sentence_node(index: int) -> ox.NamedNode:
        return _n(EX, f"{article.slug}-sentence-{index:0{width}d}")

    out: set[ox.Triple] = set()
    problems: list[Problem] = []
    evidence: set[tuple[ox.NamedNode, Span]] = set()
    by_subject: dict = {}
    for triple in facts.triples:
        by_subject.setdefault(triple.subject, []).append(triple)
    facts_set = set(facts.triples)

    def add(s, p, o):
        out.add(ox.Triple(s, p, o))

    def selectors(node: ox.NamedNode, span: Span):
        add(node, RDF_TYPE, _OA_SPECIFIC)
        add(node, _n(OA, "hasSource"), source)
        quote, position = _n(EX, node.value[len(EX) :] + "-quote"), _n(EX, node.value[len(EX) :] + "-position")
        add(node, _n(OA, "hasSelector"), quote)
        add(node, _n(OA, "hasSelector"), position)
        add(quote, RDF_TYPE, _n(OA, "TextQuoteSelector"))
        add(quote, _n(OA, "exact"), ox.Literal(article.text[span.start : span.end]))
        add(quote, _n(OA, "prefix"), ox.Literal(article.text[max(0, span.start - CONTEXT_CHARS) : span.start]))
        add(quote, _n(OA, "suffix"), ox.Literal(article.text[span.end : span.end + CONTEXT_CHARS]))
        add(position, RDF_TYPE, _n(OA, "TextPositionSelector"))
        add(position, _n(OA, "start"), ox.Literal(str(span.start), datatype=_NON_NEGATIVE))
        add(position, _n(OA, "end"), ox.Literal(str(span.end), datatype=_NON_NEGATIVE))

    for triple in facts.triples:
        if isinstance(triple.subject, ox.BlankNode) or triple.predicate.value.startswith(KGC):
            continue
        add(triple.subject, triple.predicate, triple.object)

    for triple in facts.triples:
        if triple.predicate != KGC_EVIDENCE:
            continue
        fact = triple.subject
        quote, prefix = _quote_of(triple.object, by_subject)
        if quote is None:
            problems.append(Problem("kgc:evidence needs a quote string (or [ kgc:exact …; kgc:prefix … ])", facts.path,
                                    facts.line_of(fact)))
            continue
        spans = folded.find_all(quote)
        if prefix is not None:
            spans = [s for s in spans if folded.preceded_by(s, prefix)]
        if not spans:
            message = f'evidence quote not found in {article.text_path}: "{_short(quote)}"'
            hint = closest(article.text, quote)
            if hint:
                message += f' (closest match at line {hint[0]}: "{_short(hint[1])}")'
            problems.append(Problem(message, facts.path, facts.line_of_text(quote, near=fact) or facts.line_of(fact)))
            continue
        if len(spans) > 1:
            lines = ", ".join(str(article.text.count("\n", 0, s.start) + 1) for s in spans)
            problems.append(
                Problem(
                    f'evidence quote occurs {len(spans)} times in {article.text_path} (lines {lines}): '
                    f'"{_short(quote)}"; use [ kgc:exact "…" ; kgc:prefix "words before it" ]',
                    facts.path,
                    facts.line_of_text(quote, near=fact) or facts.line_of(fact),
                )
            )
            continue
        span = spans[0]
        node = _n(EX, f"{article.slug}-span-{span.start}-{span.end}")
        evidence.add((fact, span))
        add(fact, _DERIVED, node)
        selectors(node, span)
        for sentence in article_sentences:
            if sentence.start <= span.start < sentence.end:
                add(node, _n(KG, "inSentence"), sentence_node(sentence.index))
        if any(ox.Triple(fact, RDF_TYPE, ox.NamedNode(c)) in facts_set for c in statement_classes):
            add(fact, _QUOTE, ox.Literal(article.text[span.start : span.end]))

    for sentence in article_sentences:
        node = sentence_node(sentence.index)
        selectors(node, Span(sentence.start, sentence.end))
        add(node, RDF_TYPE, _n(KG, "Sentence"))
        add(node, _n(KG, "sentenceIndex"), ox.Literal(str(sentence.index), datatype=_POSITIVE))

    add(source, RDF_TYPE, _n(KG, "Article"))
    for key, predicate in (("title", "title"), ("publisher", "publisher"), ("url", "source")):
        if article.meta.get(key):
            value = article.meta[key]
            add(source, _n(DCTERMS, predicate), ox.NamedNode(value) if key == "url" else ox.Literal(value))
    if article.meta.get("language"):
        add(source, _n(DCTERMS, "language"), ox.Literal(article.meta["language"]))
    if article.meta.get("published"):
        add(source, _n(DCTERMS, "issued"), ox.Literal(str(article.meta["published"]), datatype=_n(XSD, "date")))

    return Grounded(article.slug, tuple(sorted(out, key=str)), tuple(sorted(evidence, key=str)), tuple(problems))


def _quote_of(node, by_subject) -> tuple[str | None, str | None]:
    if isinstance(node, ox.Literal):
        return node.value, None
    exact = prefix = None
    for triple in by_subject.get(node, []):
        if triple.predicate == KGC_EXACT:
            exact = triple.object.value
        elif triple.predicate == KGC_PREFIX:
            prefix = triple.object.value
    return exact, prefix


def _short(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"

