"""What the report shows, read from a build's quads: labels, types, facts and the evidence spans behind them.

Everything is sorted so that the pages come out byte-identical for the same graph.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from functools import cached_property

import pyoxigraph as ox

from kg.build import ONTOLOGY_GRAPH, Build
from kg.coverage import Coverage, coverage
from kg.ground import article_node
from kg.namespaces import EX, KG, OA, PREFIXES, PROV, RDF, RDFS, SKOS

TYPE = RDF + "type"
LABEL = RDFS + "label"
DERIVED = PROV + "wasDerivedFrom"
NOTE = SKOS + "editorialNote"

# The kind of fact a span backs, most specific first: a statement is also an event.
KINDS = (
    ("meeting", KG + "Meeting"),
    ("visit", KG + "Visit"),
    ("agreement", KG + "Agreement"),
    ("office", KG + "OfficeHolding"),
    ("statement", KG + "Statement"),
    ("event", KG + "Event"),
)
OTHER = "other"
KIND_NAMES = tuple(k for k, _ in KINDS) + (OTHER,)

# Nodes that are the scaffolding of evidence, not things a reader looks up.
_NO_PAGE = frozenset({OA + "SpecificResource", OA + "TextQuoteSelector", OA + "TextPositionSelector",
                      KG + "Sentence", KG + "Article"})


@dataclass(frozen=True)
class Span:
    iri: str
    slug: str
    start: int
    end: int
    exact: str
    facts: tuple[str, ...]  # IRIs of the facts derived from this span

    @property
    def key(self) -> str:
        return f"{self.start}-{self.end}"


@dataclass(frozen=True)
class Statement:
    """One triple as the report shows it; `graph` says where it was asserted (or inferred)."""

    subject: ox.NamedNode | ox.BlankNode
    predicate: ox.NamedNode
    object: ox.Term
    inferred: bool


@dataclass(frozen=True)
class ArticleView:
    slug: str
    title: str
    text: str
    coverage: Coverage
    spans: tuple[Span, ...]  # by start, then end


@dataclass
class Model:
    labels: dict[str, str]
    types: dict[str, set[str]]
    asserted: list[Statement]
    inferred: list[Statement]
    spans: dict[str, Span]
    evidence: dict[str, tuple[Span, ...]]  # fact IRI -> its spans
    articles: tuple[ArticleView, ...]
    entities: tuple[str, ...]  # IRIs that get a page
    kinds: dict[str, tuple[str, ...]] = field(default_factory=dict)  # kind -> classes under it
    conforms: bool = True
    findings: int = 0
    quads: int = 0
    below: dict[str, frozenset[str]] = field(default_factory=dict)  # class -> itself and its subclasses

    @cached_property
    def asserted_about(self) -> dict[str, list[Statement]]:
        """Asserted statements by the IRI of their subject and of their object (built once, not per page)."""
        return _about(self.asserted)

    @cached_property
    def inferred_about(self) -> dict[str, list[Statement]]:
        return _about(self.inferred)

    @cached_property
    def asserted_keys(self) -> frozenset:
        return frozenset((st.subject, st.predicate, st.object) for st in self.asserted)

    def label(self, term: ox.Term | str) -> str:
        iri = term if isinstance(term, str) else getattr(term, "value", str(term))
        if iri in self.labels:
            return self.labels[iri]
        for prefix, namespace in PREFIXES.items():
            if iri.startswith(namespace):
                return f"{prefix}:{iri[len(namespace):]}"
        return iri

    def kind(self, iri: str) -> str:
        types = self.types.get(iri, set())
        for name, _ in KINDS:
            if types & set(self.kinds[name]):
                return name
        return OTHER

    def classes(self, iri: str) -> list[str]:
        """The most specific kg: classes of an entity (none of them a superclass of another)."""
        mine = {t for t in self.types.get(iri, ()) if t.startswith(KG)}
        return sorted(t for t in mine if not any(o != t and o in self.below.get(t, ()) for o in mine))

    def has_type(self, iri: str, cls: str) -> bool:
        return cls in self.types.get(iri, set())

    def page(self, iri: str) -> str | None:
        """Path of an entity's page, relative to the report folder."""
        return f"entities/{iri[len(EX):]}.html" if iri in self._pages else None

    def __post_init__(self):
        self._pages = frozenset(self.entities)


def _literal_int(term) -> int:
    return int(term.value)


def read(build: Build) -> Model:
    """The report's view of a build. Reads only the build's quads (and each article's text)."""
    ontology = ox.NamedNode(ONTOLOGY_GRAPH)
    labels: dict[str, tuple[int, str]] = {}
    types: dict[str, set[str]] = defaultdict(set)
    asserted, inferred = [], []
    by_subject: dict[str, dict[str, list[ox.Term]]] = defaultdict(lambda: defaultdict(list))
    subjects_asserted: set[str] = set()
    for quad in build.quads:
        s, p, o, g = quad.subject, quad.predicate.value, quad.object, quad.graph_name
        if p == TYPE and isinstance(o, ox.NamedNode):
            types[s.value].add(o.value)
        if p in (LABEL, SKOS + "prefLabel") and isinstance(o, ox.Literal):
            # rdfs:label in English first, then any rdfs:label, then skos:prefLabel.
            rank = (0 if p == LABEL else 2) + (0 if o.language in ("en", None) else 1)
            if s.value not in labels or (rank, o.value) < labels[s.value]:
                labels[s.value] = (rank, o.value)
        if g == ontology:
            continue
        by_subject[s.value][p].append(o)
        statement = Statement(s, quad.predicate, o, g.value.endswith("/inferred"))
        (inferred if statement.inferred else asserted).append(statement)
        if not statement.inferred and isinstance(s, ox.NamedNode):
            subjects_asserted.add(s.value)

    spans: dict[str, Span] = {}
    slugs = {article_node(g.slug).value: g.slug for g in build.grounded}
    facts_of: dict[str, list[str]] = defaultdict(list)
    for st in asserted:
        if st.predicate.value == DERIVED:
            facts_of[st.object.value].append(st.subject.value)
    texts = {a.slug: a for a in build.project.articles}
    for iri, facts in facts_of.items():
        props = by_subject[iri]
        source = props[OA + "hasSource"][0].value
        position = next(sel for sel in props[OA + "hasSelector"]
                        if OA + "TextPositionSelector" in types[sel.value])
        start = _literal_int(by_subject[position.value][OA + "start"][0])
        end = _literal_int(by_subject[position.value][OA + "end"][0])
        slug = slugs[source]
        spans[iri] = Span(iri, slug, start, end, texts[slug].text[start:end], tuple(sorted(set(facts))))
    evidence: dict[str, list[Span]] = defaultdict(list)
    for span in spans.values():
        for fact in span.facts:
            evidence[fact].append(span)

    articles = []
    for article, grounded in zip(build.project.articles, build.grounded):
        mine = sorted((s for s in spans.values() if s.slug == article.slug), key=lambda s: (s.start, s.end))
        title = article.meta.get("title") or article.slug
        articles.append(ArticleView(article.slug, title, article.text, coverage(article, grounded), tuple(mine)))

    entities = sorted(
        iri for iri in subjects_asserted
        if iri.startswith(EX) and not (types.get(iri, set()) & _NO_PAGE)
    )
    vocabulary = build.project.vocabulary
    kinds = {name: tuple(sorted(vocabulary.descendants(cls))) for name, cls in KINDS}
    key = lambda st: (st.subject.value, st.predicate.value, str(st.object))  # noqa: E731
    return Model(
        labels={iri: value for iri, (_, value) in labels.items()},
        types=dict(types),
        asserted=sorted(set(asserted), key=key),
        inferred=sorted(set(inferred), key=key),
        spans=spans,
        evidence={fact: tuple(sorted(s, key=lambda s: (s.slug, s.start, s.end))) for fact, s in evidence.items()},
        articles=tuple(articles),
        entities=tuple(entities),
        kinds=kinds,
        below={cls: vocabulary.descendants(cls) for cls in vocabulary.classes},
        conforms=build.report.conforms,
        findings=len(build.report.findings),
        quads=len(build.quads),
    )


def _about(statements: list[Statement]) -> dict[str, list[Statement]]:
    index: dict[str, list[Statement]] = {}
    for st in statements:
        index.setdefault(st.subject.value, []).append(st)
        value = getattr(st.object, "value", None)
        if value is not None and value != st.subject.value and isinstance(st.object, ox.NamedNode):
            index.setdefault(value, []).append(st)
    return index
