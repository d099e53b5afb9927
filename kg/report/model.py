"""What the report shows, read from the build's graphs: labels, types, facts and the evidence spans behind them.

The input comes in layers, so that a build can keep what does not change:

- a `Context`: the ontology and the registry (with the registry's inferred graph) — the same for every page;
- one `Piece` per article: what the article's own graphs (asserted and inferred) add — its labels, types,
  statements and evidence spans, and its row in the index. A pure function of the article (its text and
  metadata, its two graphs), picklable, so a cache can keep it next to the article's page.

A `Model` is a context with any number of pieces: with one piece it is what an article page sees, with all of
them what the index and the entity pages see. Merging follows one rule everywhere (labels: rdfs:label in English
first, then any rdfs:label, then skos:prefLabel; types: the union), so a page comes out the same whichever way its
inputs were gathered, and everything is sorted so that pages are byte-identical for the same graph.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import cached_property
from typing import Iterable, Mapping, NamedTuple, Sequence

import pyoxigraph as ox

from kg.coverage import Coverage, coverage
from kg.curation import Article
from kg.ground import article_node
from kg.namespaces import EX, KG, OA, PREFIXES, PROV, RDF, RDFS, SKOS

TYPE = RDF + "type"
LABEL = RDFS + "label"
PREF_LABEL = SKOS + "prefLabel"
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
_SOURCE, _SELECTOR, _POSITION = OA + "hasSource", OA + "hasSelector", OA + "TextPositionSelector"
_START, _END = OA + "start", OA + "end"
_EVIDENCE = frozenset({DERIVED, _SOURCE, _SELECTOR, _START, _END})  # what spans are read from

Triples = "bytes | Iterable[ox.Triple | ox.Quad]"  # N-Quads (as the build's units keep them) or parsed


class Span(NamedTuple):
    iri: str
    slug: str
    start: int
    end: int
    exact: str
    facts: tuple[str, ...]  # IRIs of the facts derived from this span

    @property
    def key(self) -> str:
        return f"{self.start}-{self.end}"


class Lit(NamedTuple):
    """A literal, kept as plain strings (pieces are pickled by the thousand: no pyoxigraph objects in them)."""

    value: str
    datatype: str
    language: str | None

    @property
    def text(self) -> str:
        """N-Triples, as pyoxigraph writes it."""
        if self.language:
            return str(ox.Literal(self.value, language=self.language))
        return str(ox.Literal(self.value, datatype=ox.NamedNode(self.datatype)))


def value(term) -> str:
    """The IRI (terms are kept as str), the blank node's id (ox.BlankNode) or the literal's lexical form (Lit)."""
    return term if isinstance(term, str) else term.value


def ntriples(term) -> str:
    """The term as N-Triples (what the pages sort by when labels tie)."""
    if isinstance(term, str):
        return f"<{term}>"
    return term.text if isinstance(term, Lit) else str(term)


# One triple as the report shows it: (subject, predicate, object, inferred) — subject an IRI (str) or ox.BlankNode,
# predicate an IRI, object an IRI, ox.BlankNode or Lit; `inferred` whether the reasoner added it. A plain tuple:
# pieces hold them by the thousand and plain tuples are what pickle loads fastest.
Statement = tuple


@dataclass(frozen=True)
class ArticleView:
    slug: str
    title: str
    text: str
    coverage: Coverage
    spans: tuple[Span, ...]  # by start, then end


@dataclass(frozen=True)
class Row:
    """An article's line in the index."""

    slug: str
    title: str
    spans: int
    facts: int
    covered: int
    sentences: int
    percent: float
    excluded: int


@dataclass(frozen=True)
class Layer:
    """What one source of statements adds to the report: labels, types, statements, evidence spans."""

    labels: dict[str, tuple[int, str]]  # IRI -> (rank, label); the lowest rank wins (see `_rank`)
    types: dict[str, frozenset[str]]
    subjects: frozenset[str]  # IRIs that are the subject of an asserted statement: candidates for a page
    statements: tuple[Statement, ...]  # those that touch a possible page (the rest is never shown)
    spans: tuple[tuple, ...]  # each Span as a plain tuple (what pickle loads fastest)


@dataclass(frozen=True)
class Context:
    """The ontology and the registry as the report sees them: a function of ontology/ and registry/ only."""

    layer: Layer
    kinds: dict[str, frozenset[str]]  # kind -> the classes under it
    below: dict[str, frozenset[str]]  # class -> itself and its subclasses


@dataclass(frozen=True)
class Piece:
    """One article's share of the report's shared pages (index and entity pages): a pure function of the
    article and its graphs, independent of the registry, the ontology and every other article."""

    slug: str
    row: Row
    layer: Layer

    # Both made once, when the piece is (`read_article`), and kept with it in the build's cache: every build
    # after an edit asks them of every article to find which entity pages changed.
    @cached_property
    def provides(self) -> frozenset[str]:
        """IRIs this article says something of that a page shows wherever they appear: a label, a type, being the
        subject of an asserted statement (having a page), evidence spans."""
        layer = self.layer
        return frozenset(set(layer.labels) | set(layer.types) | set(layer.subjects)
                         | {fact for span in layer.spans for fact in Span._make(span).facts})

    @cached_property
    def touches(self) -> frozenset[str]:
        """IRIs this article has statements about (as subject or object): rows of their pages."""
        found = set()
        for s, _, o, _ in self.layer.statements:
            found.add(value(s))
            if isinstance(o, str):
                found.add(o)
        return frozenset(found)

    @cached_property
    def links(self) -> str:
        """A digest of its statements' links: subject, property and object of each statement whose object is not
        a literal (kg.report.incremental compares it between an article's versions)."""
        digest = hashlib.blake2b(digest_size=16)
        _hash_statements(digest, (st for st in self.layer.statements if type(st[2]) is not Lit))
        return digest.hexdigest()

    @cached_property
    def index_digest(self) -> bytes:
        """A digest of what the index reads of this piece besides its row (kg.report.pages.index_parts): labels,
        types, subjects, and statements but those that give a literal value to a property outside kg: (an
        editorial note, a comment), which neither the entity lists nor the picture show. Equal digests, equal
        parts of the index (kg.report.incremental.IndexState)."""
        layer = self.layer
        digest = hashlib.blake2b(digest_size=16)
        for iri, (rank, label) in layer.labels.items():  # (the layer's dicts are sorted)
            digest.update(f"L{iri}\0{rank}\0{label}\0".encode())
        for iri, types in layer.types.items():
            digest.update(f"T{iri}\0{chr(1).join(sorted(types))}\0".encode())
        digest.update(f"S{chr(1).join(sorted(layer.subjects))}\0".encode())
        _hash_statements(digest, (st for st in layer.statements if type(st[2]) is not Lit or st[1].startswith(KG)))
        return digest.digest()


def _hash_statements(digest, statements: Iterable[Statement]) -> None:
    """Feed statements (in the layer's order, which is sorted) to a hashlib digest, one line each."""
    for s, p, o, inferred in statements:
        digest.update(f"{ntriples(s)} <{p}> {ntriples(o)} {inferred:d}\0".encode())


def _rank(predicate: str, label: ox.Literal) -> int:
    # rdfs:label in English first, then any rdfs:label, then skos:prefLabel.
    return (0 if predicate == LABEL else 2) + (0 if label.language in ("en", None) else 1)


def _triples(data) -> Iterable:
    if data is None:  # a graph not reasoned over
        return ()
    if isinstance(data, (bytes, bytearray)):
        return ox.parse(input=bytes(data), format=ox.RdfFormat.N_QUADS) if data else ()
    return data


class _Reader:
    """Collects a layer from triples, one source at a time."""

    def __init__(self):
        self.labels: dict[str, tuple[int, str]] = {}
        self.types: dict[str, set[str]] = {}
        self.subjects: set[str] = set()
        self.statements: list[tuple] = []  # (subject, predicate, object, inferred) with pyoxigraph terms
        self.evidence: list[tuple[str, str, ox.Term]] = []  # (subject, predicate, object) that make spans

    def add(self, triples, *, inferred: bool = False, statements: bool = True) -> None:
        labels, types, out, evidence = self.labels, self.types, self.statements, self.evidence
        subjects = self.subjects if statements and not inferred else None
        named, literal = ox.NamedNode, ox.Literal
        for t in _triples(triples):
            s, o = t.subject, t.object
            p, subject = t.predicate.value, s.value
            if subjects is not None and type(s) is named:
                subjects.add(subject)
            if p == TYPE:
                if type(o) is named:
                    known = types.get(subject)
                    if known is None:
                        types[subject] = {o.value}
                    else:
                        known.add(o.value)
                continue
            if p == LABEL or p == PREF_LABEL:
                if type(o) is literal:
                    ranked = (_rank(p, o), o.value)
                    known = labels.get(subject)
                    if known is None or ranked < known:
                        labels[subject] = ranked
                if p == LABEL:
                    continue
            if not statements:
                continue
            if p in _EVIDENCE and not inferred:
                evidence.append((subject, p, o))
                if p == DERIVED:
                    continue
            out.append((s, p, o, inferred))

    def layer(self, spans: tuple[Span, ...] = ()) -> Layer:
        """What pages can show. The scaffolding of evidence typed here (spans, selectors, sentences, the article
        node) is left out altogether: it never gets a page, so its types, labels and statements never show."""
        scaffolding = {iri for iri, ts in self.types.items() if not _NO_PAGE.isdisjoint(ts)}
        strings: dict[str, str] = {}  # one str object per IRI, so that a pickled piece holds each IRI once

        def one(text: str) -> str:
            return strings.setdefault(text, text)

        def term(node):
            kind = type(node)
            if kind is ox.NamedNode:
                return one(node.value)
            if kind is ox.Literal:
                return Lit(node.value, one(node.datatype.value), node.language)
            return node

        def page_like(node) -> bool:
            return type(node) is ox.NamedNode and node.value.startswith(EX) and node.value not in scaffolding

        kept = {(term(s), one(p), term(o), inferred) for s, p, o, inferred in self.statements
                if page_like(s) or page_like(o)}
        return Layer(
            labels={one(iri): ranked for iri, ranked in sorted(self.labels.items()) if iri not in scaffolding},
            types={one(iri): frozenset(one(t) for t in ts) for iri, ts in sorted(self.types.items())
                   if iri not in scaffolding},
            subjects=frozenset(one(iri) for iri in self.subjects if iri.startswith(EX) and iri not in scaffolding),
            statements=tuple(sorted(kept, key=_order)),
            spans=tuple(tuple(span) for span in spans),
        )


def _order(st: Statement) -> tuple:
    s, p, o, inferred = st
    return value(s), p, ntriples(o), inferred


def context(project, registry_inferred=b"") -> Context:
    """The report's context: the ontology and the registry of `project` (kg.curation.Project) and the
    registry's inferred graph (N-Quads bytes or triples)."""
    reader = _Reader()
    for source in project.ontology:
        reader.add(source.triples, statements=False)
    reader.add(project.registry.triples)
    reader.add(registry_inferred, inferred=True)
    vocabulary = project.vocabulary
    return Context(
        layer=reader.layer(),
        kinds={name: vocabulary.descendants(cls) for name, cls in KINDS},
        below={cls: vocabulary.descendants(cls) for cls in vocabulary.classes},
    )


def read_article(article: Article, asserted, inferred=b"") -> tuple[Piece, ArticleView]:
    """An article's piece and the view its page shows, from the article (text, metadata, exclusions) and
    its asserted and inferred graphs (N-Quads bytes, or triples/quads)."""
    reader = _Reader()
    reader.add(asserted)
    reader.add(inferred, inferred=True)
    spans = _spans(article, reader)
    title = article.meta.get("title") or article.slug
    evidence = _Evidence(tuple((ox.NamedNode(f), span) for span in spans for f in span.facts))
    view = ArticleView(article.slug, title, article.text, coverage(article, evidence), spans)
    c = view.coverage
    row = Row(article.slug, title, len(spans), len({f for s in spans for f in s.facts}), c.covered, len(c.lines),
              c.percent, sum(1 for line in c.lines if line.excluded))
    piece = Piece(article.slug, row, reader.layer(spans))
    piece.provides, piece.touches, piece.links, piece.index_digest  # made now: kept with the piece (see Piece)
    return piece, view


@dataclass(frozen=True)
class _Evidence:
    """What kg.coverage reads of a grounded article: (fact, span) pairs."""

    evidence: tuple[tuple[ox.NamedNode, Span], ...]


def _spans(article: Article, reader: _Reader) -> tuple[Span, ...]:
    """The article's evidence spans (by start, then end), each with the facts derived from it."""
    by_subject: dict[str, dict[str, list[ox.Term]]] = {}
    facts_of: dict[str, set[str]] = {}
    for subject, p, o in reader.evidence:
        if p == DERIVED:
            facts_of.setdefault(o.value, set()).add(subject)
        else:
            by_subject.setdefault(subject, {}).setdefault(p, []).append(o)
    source = article_node(article.slug).value
    spans = []
    for iri, facts in facts_of.items():
        props = by_subject.get(iri, {})
        if props.get(_SOURCE, [None])[0] != ox.NamedNode(source):
            continue  # not a span of this article's text
        position = next(sel for sel in props[_SELECTOR] if _POSITION in reader.types.get(sel.value, ()))
        start = int(by_subject[position.value][_START][0].value)
        end = int(by_subject[position.value][_END][0].value)
        spans.append(Span(iri, article.slug, start, end, article.text[start:end], tuple(sorted(facts))))
    return tuple(sorted(spans, key=lambda s: (s.start, s.end)))


def depends_on(iri: str, about: Iterable[Statement], touching: Mapping[str, Iterable[str]],
               providers: Mapping[str, Iterable[str]]) -> frozenset[str]:
    """Slugs of the articles an entity's page depends on: those with statements about it (`touching`: IRI ->
    slugs), and those that provide (`providers`: IRI -> slugs of `Piece.provides`) the entity, or a node or
    property its page shows; `about` are the statements about it (from the context and every piece)."""
    shown = {iri}  # the entity, the other end of each of its statements, each statement's property
    for s, p, o, _ in about:
        shown.add(p)
        shown.add(o if s == iri else s)
    slugs = set(touching.get(iri, ()))
    for node in shown:
        if node in providers:
            slugs.update(providers[node])
    return frozenset(slugs)


class Model:
    """A context and pieces, merged: what a page sees."""

    def __init__(self, context: Context, pieces: Sequence[Piece] = (), *, quads: int = 0, conforms: bool = True,
                 findings: int = 0):
        self.context = context
        self.pieces = tuple(pieces)
        self.kinds = context.kinds
        self.below = context.below
        self.quads, self.conforms, self.findings = quads, conforms, findings
        layers = [context.layer] + [p.layer for p in self.pieces]
        labels = dict(context.layer.labels)
        types = dict(context.layer.types)
        subjects = set(context.layer.subjects)
        for layer in layers[1:]:
            for iri, ranked in layer.labels.items():
                known = labels.get(iri)
                if known is None or ranked < known:
                    labels[iri] = ranked
            for iri, ts in layer.types.items():
                known = types.get(iri)
                types[iri] = ts if known is None or ts <= known else known | ts
            subjects.update(layer.subjects)
        self._labels = labels
        self.types = types
        self._subjects = subjects
        self._layers = layers

    # ------------------------------------------------------------ the pieces, merged

    @cached_property
    def labels(self) -> dict[str, str]:
        return {iri: value for iri, (_, value) in self._labels.items()}

    @property
    def articles(self) -> tuple[Row, ...]:
        return tuple(p.row for p in self.pieces)

    @cached_property
    def entities(self) -> tuple[str, ...]:
        """IRIs that get a page, sorted."""
        return tuple(sorted(iri for iri in self._subjects if self._has_page(iri)))

    @cached_property
    def spans(self) -> dict[str, Span]:
        return {span[0]: Span._make(span) for layer in self._layers for span in layer.spans}

    @cached_property
    def evidence(self) -> dict[str, tuple[Span, ...]]:
        """Fact IRI -> the spans it is derived from, by article, then offsets."""
        found: dict[str, list[Span]] = {}
        for span in self.spans.values():
            for fact in span.facts:
                found.setdefault(fact, []).append(span)
        return {fact: tuple(sorted(s, key=lambda s: (s.slug, s.start, s.end)) if len(s) > 1 else s)
                for fact, s in found.items()}

    @cached_property
    def _about(self) -> dict[str, list[Statement]]:
        """Statements by the IRI of their subject and of their object (built once, not per page); a statement
        asserted (or inferred) in two graphs is listed twice: `about` removes repeats."""
        index: dict[str, list[Statement]] = {}
        for layer in self._layers:
            for st in layer.statements:
                subject = value(st[0])
                index.setdefault(subject, []).append(st)
                o = st[2]
                if isinstance(o, str) and o != subject:
                    index.setdefault(o, []).append(st)
        return index

    def about(self, iri: str) -> tuple[list[Statement], list[Statement]]:
        """Asserted and inferred statements about `iri` (as subject or object), each once."""
        statements = set(self._about.get(iri, ()))
        return [st for st in statements if not st[3]], [st for st in statements if st[3]]

    @cached_property
    def asserted(self) -> list[Statement]:
        """Every asserted statement (that touches a page), each once, sorted."""
        found = {st for layer in self._layers for st in layer.statements if not st[3]}
        return sorted(found, key=_order)

    def statements(self, *, inferred: bool = False) -> Iterable[Statement]:
        """Every asserted (or inferred) statement that touches a page, unsorted; one asserted in two graphs comes
        twice."""
        for layer in self._layers:
            for st in layer.statements:
                if st[3] == inferred:
                    yield st

    def dependencies(self) -> dict[str, frozenset[str]]:
        """Entity IRI -> slugs of the articles whose pieces its page depends on (besides the context): those with
        statements about it, and those that provide (`Piece.provides`) it or a node or property its page shows."""
        providers: dict[str, set[str]] = {}
        touching: dict[str, set[str]] = {}
        for piece in self.pieces:
            for iri in piece.provides:
                providers.setdefault(iri, set()).add(piece.slug)
            for iri in piece.touches:
                touching.setdefault(iri, set()).add(piece.slug)
        return {iri: depends_on(iri, self._about.get(iri, ()), touching, providers) for iri in self.entities}

    # ------------------------------------------------------------ questions pages ask

    def label(self, term) -> str:
        iri = value(term)
        known = self._labels.get(iri)
        if known is not None:
            return known[1]
        for prefix, namespace in PREFIXES.items():
            if iri.startswith(namespace):
                return f"{prefix}:{iri[len(namespace):]}"
        return iri

    def kind(self, iri: str) -> str:
        types = self.types.get(iri, frozenset())
        known = self._kind_of.get(types)  # a hundred thousand entities, a few dozen sets of types
        if known is None:
            known = self._kind_of[types] = next(
                (name for name, _ in KINDS if not types.isdisjoint(self.kinds[name])), OTHER)
        return known

    @cached_property
    def _kind_of(self) -> dict[frozenset[str], str]:
        return {}

    def classes(self, iri: str) -> list[str]:
        """The most specific kg: classes of an entity (none of them a superclass of another)."""
        types = self.types.get(iri, frozenset())
        known = self._classes_of.get(types)
        if known is None:
            mine = {t for t in types if t.startswith(KG)}
            known = self._classes_of[types] = sorted(
                t for t in mine if not any(o != t and o in self.below.get(t, ()) for o in mine))
        return list(known)

    @cached_property
    def _classes_of(self) -> dict[frozenset[str], list[str]]:
        return {}

    def has_type(self, iri: str, cls: str) -> bool:
        return cls in self.types.get(iri, ())

    def _has_page(self, iri: str) -> bool:
        return iri.startswith(EX) and iri in self._subjects and self.types.get(iri, frozenset()).isdisjoint(_NO_PAGE)

    def page(self, iri: str) -> str | None:
        """Path of an entity's page, relative to the report folder."""
        return f"entities/{iri[len(EX):]}.html" if self._has_page(iri) else None
