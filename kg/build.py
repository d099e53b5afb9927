"""The build: read → ground → reason → validate → serialise, and write out/ atomically.

Each article is a unit of work: its facts, the registry and the ontology are all it needs to be
grounded and reasoned over. Nothing is written unless every step succeeds.
"""

from __future__ import annotations

import functools
import glob
import hashlib
import io
import itertools
import multiprocessing
import os
import pickle
import secrets
import shutil
import threading
import zlib
from collections.abc import Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import IO, Callable

import pyoxigraph as ox

from kg.curation import (REGISTRY_FILE, Article, Label, Project, Source, blank_node_problems, label_conflicts, labels_of,
                         read_article, read_shared, terms_problems)
from kg.errors import CheckFailed, KgError, Problem
from kg.export import FORMATS, NEEDS, Piece, layout, load_all, read_context, stream_graphs, stream_nt
from kg.export import piece as make_piece
from kg.export import piece_from_nquads
from kg.export.splice import FileMap, Keys, Owner, file_map, owner_masks, write_plan
from kg.export.splice import plan as splice_plan
from kg.forked import Forked, beside, frozen
from kg.ground import Grounded, ground
from kg.memory import give_back
from kg.namespaces import GRAPH, KG, OWL, RDF, REGISTRY_GRAPH, article_graph, inferred_graph, prefixed
from kg.progress import Progress
from kg.summary import MENTIONED_PREDICATE, OWN_PREDICATE, summarise, summary_documents
from kg.units import (CACHE_DIR, FEW_CHANGED, OUT_DIR, OUT_MANIFEST, Cache, Fingerprints, Headers, Index, Journal,
                      atomic_pickle, atomic_write, code_hash, few_changed, files_hash, keep_blocks, output_states,
                      read_keyed, salted)
from kg.units import signature as _signature
from kg.survey import Survey, list_files
from kg.unit_validation import start as start_validation, validate_units
from kg.validate import Report

OUTPUT_STEM = "kg"
CONTEXT_FILE = "ontology/context.jsonld"
ONTOLOGY_GRAPH = GRAPH + "ontology"


class NotConforming(CheckFailed):
    def __init__(self, report: Report):
        self.report = report
        super().__init__(Problem(f"the graph does not conform to the shapes ({len(report.findings)} results)"))


@dataclass(frozen=True)
class ArticleUnit:
    """What the build makes of one article; picklable, so the unit cache can keep it (kg.units)."""

    slug: str
    folder: str
    labels: tuple[Label, ...]
    packed: bytes  # N-Quads of the article's graph (grounded), compressed (`asserted` reads it)
    packed_inferred: bytes | None  # N-Quads of its inferred graph, compressed; None until reasoned over
    nodes: tuple[str, ...] = ()  # IRIs of the subjects of its graph: the article's own nodes
    refs: tuple[str, ...] = ()  # IRIs it refers to (as objects) that are not its own nodes
    piece: Piece | None = None  # its share of every output file (kg.export.pieces); None when kept in the cache
    piece_key: str | None = None  # key of the rendered piece (unit key + reasoned or not); None until rendered
    report: object = None  # its piece of the report's shared pages (kg.report.Piece); None when kept in the cache
    page: bytes | None = None  # its report page; None when kept in the cache
    quads: tuple[int, int] = (0, 0)  # quads in its graph and in its inferred graph
    summary: bytes | None = None  # what the whole-corpus consistency check reads of it (`_pack_summary`)

    # A unit's graphs are kept compressed (zlib, fastest level: N-Quads shrink about 15×, and a unit
    # unpacks in a tenth of a millisecond), so that a build holds 10,000 articles in well under 100 MiB.

    @property
    def asserted(self) -> bytes:
        return zlib.decompress(self.packed)

    @property
    def inferred(self) -> bytes | None:
        return None if self.packed_inferred is None else zlib.decompress(self.packed_inferred)

    @property
    def reasoned(self) -> bool:
        return self.packed_inferred is not None

    @property
    def summary_digest(self) -> str | None:
        """SHA-256 of its summary (None without one): what the consistency step compares between builds."""
        return None if self.summary is None else hashlib.sha256(self.summary).hexdigest()

    def with_inferred(self, inferred: bytes, summary=None) -> "ArticleUnit":
        return replace(self, packed_inferred=_pack(inferred), quads=(self.quads[0], inferred.count(b"\n")),
                       summary=summary)

    @property
    def header(self) -> tuple | None:
        """What `Kept` knows of it without reading its cache entry (`HEADER`); None when it holds its piece itself."""
        if self.piece is not None or self.report is not None or self.page is not None:
            return None
        return tuple(getattr(self, name) for name in HEADER)

    def full(self) -> "ArticleUnit":
        return self


HEADER = ("folder", "reasoned", "piece_key", "quads", "summary_digest")  # what a unit's header holds (`Kept`)


class Kept:
    """An ArticleUnit the unit cache holds, known from its header (kg.units.Headers): the slug, folder, whether
    it is reasoned over, its piece key, quad counts and summary digest — all that a build after an edit asks
    of an unchanged unit. Anything else reads the cache entry (once) and is the ArticleUnit's."""

    piece = report = page = None  # an entry with a header keeps them in parts of their own (`ArticleUnit.header`)

    def __init__(self, cache: Cache, slug: str, key: str, header: tuple):
        self._cache, self._key, self._unit = cache, key, None
        self.slug, self.header = slug, header
        for name, value in zip(HEADER, header):
            setattr(self, name, value)

    def full(self) -> ArticleUnit:
        if self._unit is None:
            unit = self._cache.get(self.slug, self._key)
            if unit is None or unit.header != self.header:  # gone or changed since its header was checked
                raise KgError(Problem("the unit cache changed during the build (another program?); build again",
                                      f"{CACHE_DIR}/{self.slug}.pickle"))
            self._unit = unit
        return self._unit

    def __getattr__(self, name: str):  # only what the instance lacks: the entry's other fields and methods
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(self.full(), name)


def _in_thread(function: Callable[[], object]) -> Callable[[], object]:
    """`function()` begun in a thread now; returns what waits for its result (or raises what it raised)."""
    pool = ThreadPoolExecutor(max_workers=1)
    future = pool.submit(function)
    pool.shutdown(wait=False)
    return future.result


def _pack(nquads: bytes) -> bytes:
    return zlib.compress(nquads, 1)


@dataclass(frozen=True)
class Build:
    project: Project  # ontology, shapes and registry (articles are read only when asked for: `articles`)
    units: tuple[ArticleUnit, ...]
    registry_inferred: bytes
    report: Report
    files: Mapping[str, bytes]  # file name in out/ -> content (bytes, or Output: kg.build.Files)
    reused: tuple[str, ...] = ()  # slugs of the articles taken from the unit cache
    keys: dict[str, str] = field(default_factory=dict)  # named graph -> key that changes with its content
    quad_count: int = 0  # quads in kg.nq
    file_keys: dict[str, str] = field(default_factory=dict)  # file in out/ -> key that changes with its content

    @property
    def edited(self) -> bool:
        """Whether few articles were made anew (at most FEW_CHANGED, or 2 % of them): an edit, after which the data
        files are spliced from the previous ones (kg.export.splice), quick and small enough to stage in a second
        process while the report is made (`Ahead`)."""
        return few_changed(len(self.units) - len(self.reused), len(self.units))

    @property
    def quads(self) -> tuple[ox.Quad, ...]:
        """Every quad of the built dataset, sorted (parsed back from the units: for small corpora)."""
        return assemble(self.project, self.units, self.registry_inferred)

    @property
    def graph_count(self) -> int:
        """The ontology's and the registry's graphs, and each non-empty article and inferred graph."""
        return 2 + bool(self.registry_inferred) + sum(bool(u.quads[0]) + bool(u.quads[1]) for u in self.units)

    @property
    def grounded(self) -> tuple[Grounded, ...]:
        """Each article grounded again (with its evidence spans): for small corpora."""
        statements = self.project.vocabulary.descendants(KG + "Statement")
        return tuple(ground(a, statement_classes=statements) for a in self.articles)

    @property
    def articles(self) -> tuple[Article, ...]:
        return tuple(read_article(self.project.root, u.folder) for u in self.units)

    def graph_lines(self, graph: str) -> bytes | None:
        """The lines of named graph `graph` in kg.nq, from the piece of its owner (the ontology, the registry
        or an article; loaded from the unit cache when not in memory); None when no piece holds it."""
        nq = self.files.get(f"{OUTPUT_STEM}{FORMATS['nq'].extension}")
        if not isinstance(nq, _Assembled):
            return None
        slug = graph.removesuffix(inferred_graph("")).removeprefix(article_graph(""))  # whose graph it is, if an article's
        key = f"<{graph}>"  # (a block's key is its graph as N-Quads writes it)
        for name in (*_SHARED_OWNERS, slug):
            owner = nq.owners.get(name)
            graphs = owner.load().nq if owner is not None else None
            if graphs is not None and key in graphs.keys:
                return graphs.blocks[graphs.keys.index(key)]
        return None


def _parse(nquads: bytes) -> list[ox.Quad]:
    return list(ox.parse(input=nquads, format=ox.RdfFormat.N_QUADS)) if nquads else []


def _nquads(quads) -> bytes:
    """N-Quads of `quads` in the order given (callers pass them sorted, so the bytes are stable)."""
    return ox.serialize(list(quads), format=ox.RdfFormat.N_QUADS) or b""


def ground_all(project: Project) -> tuple[Grounded, ...]:
    statement_classes = project.vocabulary.descendants(KG + "Statement")
    grounded = tuple(ground(article, statement_classes=statement_classes) for article in project.articles)
    problems = list(project.problems) + [p for g in grounded for p in g.problems]
    if problems:
        raise KgError(problems)
    return grounded


def _triples(sources):
    return [t for s in sources for t in s.triples]


# --- one article: read, check, ground (in worker processes) ----------------------------------------

_SHARED: Project | None = None  # set before the worker pool forks; read by _prepare


@dataclass(frozen=True)
class _Prepared:
    folder: str
    problems: tuple[Problem, ...]
    labels: tuple[Label, ...]
    packed: bytes  # N-Quads of the article's graph, compressed here: 15 times less to send back and to hold
    quads: int = 0
    nodes: tuple[str, ...] = ()
    refs: tuple[str, ...] = ()


def _prepare(folder: str) -> _Prepared:
    project = _SHARED
    try:
        article = read_article(project.root, folder)
    except KgError as error:
        return _Prepared(folder, tuple(error.problems), (), _pack(b""))
    problems = terms_problems(article.facts, project.vocabulary) + blank_node_problems(article.facts)
    grounded = ground(article, statement_classes=project.vocabulary.descendants(KG + "Statement"))
    graph = ox.NamedNode(article_graph(article.slug))
    asserted = _nquads(ox.Quad(t.subject, t.predicate, t.object, graph) for t in grounded.triples)
    nodes = {t.subject.value for t in grounded.triples if isinstance(t.subject, ox.NamedNode)}
    refs = {t.object.value for t in grounded.triples if isinstance(t.object, ox.NamedNode)} - nodes
    return _Prepared(folder, tuple(problems + list(grounded.problems)), tuple(labels_of(article.facts)),
                     _pack(asserted), asserted.count(b"\n"), tuple(sorted(nodes)), tuple(sorted(refs)))


def _map(function, items: list, *, progress: Progress, label: str) -> list:
    """`function` over `items` on every core (forked worker processes), results in item order."""
    if len(items) < 8 or (os.cpu_count() or 1) == 1:
        results = []
        with progress.step(label, len(items)) as advance:
            for item in items:
                results.append(function(item))
                advance()
        return results
    context = multiprocessing.get_context("fork")
    with progress.step(label, len(items)) as advance, ProcessPoolExecutor(os.cpu_count(), mp_context=context) as pool:
        results = []
        with frozen():  # map's first submit forks the workers
            mapped = pool.map(function, items, chunksize=max(1, min(64, len(items) // (8 * os.cpu_count()))))
        for result in mapped:
            results.append(result)
            advance()
        return results


def ownership_conflicts(root: Path, project: Project, nodes: list[tuple[str, tuple[str, ...]]]) -> list[Problem]:
    """An article states facts only about its own nodes: never about a registry entity or a node that another
    article describes (it may refer to them). This is what makes articles independent units (kg.units)."""
    owner = {t.subject.value: REGISTRY_FILE for t in project.registry.triples if isinstance(t.subject, ox.NamedNode)}
    every = [node for _, mine in nodes for node in mine]
    if len(set(every)) == len(every) and owner.keys().isdisjoint(every):
        return []  # the usual case, found without a loop over ten thousand articles' nodes in Python
    problems = []
    for folder, mine in nodes:
        path = f"{folder}/facts.ttl"
        clashes = [n for n in mine if owner.get(n, path) != path]
        for node in clashes:
            name = prefixed(node) or f"<{node}>"
            text = (Path(root) / path).read_text(encoding="utf-8")
            where = Source(path, text, ()).line_of(ox.NamedNode(node))
            problems.append(Problem(f"{name} is described in {owner[node]}; an article states facts only about its "
                                    f"own nodes (refer to {name}, do not restate it)", path, where))
        for node in mine:
            owner.setdefault(node, path)
    return problems


# --- the whole build -------------------------------------------------------------------------------


def _shared_key(root: Path, project: Project) -> str:
    files = [s.path for s in project.ontology] + [s.path for s in project.shapes] + [REGISTRY_FILE, CONTEXT_FILE]
    return files_hash(root, files, salt=code_hash())


class Corpus:
    """The project read as units: shared inputs, and each article's unit (from the cache, or made now).

    Units are read from the cache when first asked for (`unit`, `units`): after an edit of one article among
    ten thousand, `kg validate` reads only that article's unit."""

    def __init__(self, project: Project, cache: Cache, shared_key: str, folders: dict[str, str],
                 keys: dict[str, str], loaded: dict[str, "ArticleUnit"], reused: tuple[str, ...],
                 progress: Progress | None = None):
        self.project, self.cache, self.shared_key = project, cache, shared_key
        self.folders = folders  # slug -> article folder, in corpus order
        self.keys = keys  # slug -> unit key
        self.loaded = loaded  # slug -> unit, those read or made so far
        self.reused = reused  # slugs taken from the cache, not grounded again
        self.progress = progress or Progress(enabled=False)
        self.headers = Headers(cache, shared_key)
        self.on_disk: dict[str, ArticleUnit | Kept] = {}  # slug -> the unit its cache entry holds, as read or kept
        self.last_pieces: dict[str, tuple[str, object]] = {}  # slug -> (key, report piece) rendering replaced

    def unit(self, slug: str) -> "ArticleUnit":
        if slug not in self.loaded:
            self._fill([slug])
        return self.loaded[slug]

    @property
    def units(self) -> tuple["ArticleUnit", ...]:
        self._fill(list(self.folders))
        return tuple(self.loaded[slug] for slug in self.folders)

    def _fill(self, slugs: list[str]) -> None:
        """Read units that `read_units` checked without reading (the index had them); one whose cache entry
        is gone or damaged is grounded again, and kept."""
        prepared = self.load(slugs)
        problems = [p for item in prepared for p in item.problems]
        if problems:  # not expected: the same key passed the checks before
            raise KgError(problems)
        again = {_slug(item.folder) for item in prepared}
        for slug in again:
            self.keep(self.loaded[slug])
        self.reused = tuple(slug for slug in self.reused if slug not in again)

    def load(self, slugs: list[str]) -> list[_Prepared]:
        """Read these units from the cache; ground those it lacks (returned, checked by the caller when new)."""
        self.read_cached(slugs)
        return self.ground(slugs)

    def read_cached(self, slugs: list[str]) -> None:
        """Take these units from the cache: from their headers when those describe their entries (`Kept`),
        else from the entries."""
        for slug in slugs:
            if slug not in self.loaded:
                key = self.keys[slug]
                header = self.headers.get(slug, key)
                hit = Kept(self.cache, slug, key, header) if header is not None else self.cache.get(slug, key)
                if hit is not None:
                    self.loaded[slug] = self.on_disk[slug] = hit

    def ground(self, slugs: list[str], *, step: bool = False) -> list[_Prepared]:
        """Ground the units of these that are not read yet (in worker processes). `step`: a grounding step
        (of `progress`) even when there are none."""
        misses = [self.folders[slug] for slug in slugs if slug not in self.loaded]
        if not misses and not step:
            return []
        global _SHARED
        _SHARED = self.project
        try:
            prepared = _map(_prepare, misses, progress=self.progress, label="grounding")
        finally:
            _SHARED = None
        for item in prepared:
            unit = ArticleUnit(_slug(item.folder), item.folder, item.labels, item.packed, None, item.nodes, item.refs,
                               quads=(item.quads, 0))
            self.loaded[unit.slug] = unit
        return prepared

    def keep(self, unit: ArticleUnit) -> None:
        self.cache.put(unit.slug, self.keys[unit.slug], unit)
        if self.cache.enabled:
            self.on_disk[unit.slug] = unit

    def save_headers(self) -> None:
        """Keep the header of every unit whose cache entry this run read or wrote (kg.units.Headers)."""
        headers = {}
        for slug, unit in self.on_disk.items():
            old = self.headers.read.get(slug)
            if isinstance(unit, Kept) and old is not None:
                headers[slug] = old  # checked against its entry when read
            elif slug in self.keys and unit.header is not None:
                signature = self.cache.signature(slug)
                if signature is not None:
                    headers[slug] = (self.keys[slug], signature, unit.header)
        self.headers.save(headers)


def _slug(folder: str) -> str:
    return folder.rsplit("/", 1)[-1]


def read_units(root: Path, *, cache: bool = True, progress: Progress | None = None,
               survey: Survey | None = None) -> Corpus:
    """Read, check and ground every article, reusing unchanged ones from the unit cache (kg.units).

    Raises KgError with every input problem found (in the registry, in any article, or between them).
    The checks between articles (labels, who describes which node) read the unit index (kg.units.Index):
    when it holds the shared inputs' key, only the units that changed since are read. The articles' files are
    hashed by `survey` when one was begun (kg build), else here."""
    root = Path(root)
    progress = progress or Progress(enabled=False)
    with progress.step("reading", 1) as advance:
        project, folders = read_shared(root)
        store = Cache(root, enabled=cache)
        shared_key = _shared_key(root, project)
        slugs = {folder: _slug(folder) for folder in folders}
        hashed = survey.folders() if survey is not None and cache else None
        if hashed is not None and all(f in hashed[0] for f in folders):
            digests, forgotten, loaded, _ = hashed
            keys = {slugs[f]: salted(digests[f], shared_key) for f in folders}
        else:
            fingerprints = Fingerprints(root, enabled=cache)
            keys = {slugs[f]: fingerprints.folder(f, salt=shared_key) for f in folders}
            fingerprints.save(folders)
            forgotten, loaded = fingerprints.forgotten, fingerprints.loaded
        index = Index(root, enabled=cache)
        known = index.keys(shared_key)
        changed = [slugs[f] for f in folders if known.get(slugs[f]) != keys[slugs[f]]]
        removed = set(known) - set(keys)
        corpus = Corpus(project, store, shared_key, {slugs[f]: f for f in folders}, keys, {}, (), progress)
        corpus.read_cached(changed)
        advance()
    prepared = corpus.ground(changed, step=True)

    with progress.step("checking", 1) as advance:
        new = [corpus.loaded[slug] for slug in changed]
        quick = bool(known) and not any(item.problems for item in prepared) and _quick_check(project, new) and \
            (not (new or removed) or index.record(shared_key, [(u.slug, keys[u.slug], u.nodes) for u in new],
                                                  removed=removed))
        if not quick:
            # every unit checked against every other (the first run, or some problem to report)
            prepared += corpus.load(list(corpus.folders))
            problems = _corpus_problems(root, project, folders, prepared, corpus.loaded)
            if problems:
                raise KgError(problems)
            index.record(shared_key, [(u.slug, keys[u.slug], u.nodes) for u in corpus.units], whole=True)
        advance()
    if quick:
        _inherit_reasoning(corpus, [_slug(item.folder) for item in prepared], known)
    for item in prepared:
        corpus.keep(corpus.loaded[_slug(item.folder)])
    if forgotten or not loaded:  # an article was removed (or renamed) since
        store.prune(set(slugs.values()) | _SHARED_ENTRIES)
    grounded = {_slug(item.folder) for item in prepared}
    corpus.reused = tuple(slug for slug in corpus.folders if slug not in grounded)
    return corpus


# --- what HermiT reads of a unit (kg.reason) ---------------------------------------------------------

_RDF_TYPE = RDF + "type"
_OTHER_PROPERTIES = frozenset(OWL + name for name in (
    "ObjectProperty", "DatatypeProperty", "FunctionalProperty", "InverseFunctionalProperty", "TransitiveProperty",
    "SymmetricProperty", "AsymmetricProperty", "ReflexiveProperty", "IrreflexiveProperty"))


def annotation_properties(*sources) -> frozenset[str]:
    """IRIs that `sources` (iterables of pyoxigraph triples: the ontology and the shared facts) declare
    owl:AnnotationProperty, less any they also declare another kind of property. The OWL API reads an assertion
    of one as an annotation assertion, and kg's reasoning server leaves those out of what HermiT sees (they
    entail nothing and name no individual: kg/java/KgReasoner.java, `Unit`), as HermiT's command line ignores them."""
    annotation, other = set(), set()
    for triples in sources:
        for t in triples:
            if t.predicate.value == _RDF_TYPE and isinstance(t.subject, ox.NamedNode):
                kind = t.object.value
                if kind == OWL + "AnnotationProperty":
                    annotation.add(t.subject.value)
                elif kind in _OTHER_PROPERTIES:
                    other.add(t.subject.value)
    return frozenset(annotation - other)


def reasoning_digest(nquads: bytes, annotations: frozenset[str]) -> str:
    """A digest (SHA-256) of what HermiT reads of a unit (its N-Quads, as the build keeps them) besides the
    ontology and the shared facts: every triple but the assertions of `annotations` (`annotation_properties`).
    Two versions of an article with the same digest, reasoned over with the same ontology and shared facts,
    get the same answer, so an edit of its notes, labels or other annotations needs no HermiT. A unit that
    names one of `annotations` as a subject or object (declaring it another kind of property, say, which
    could change how its assertions are read) is hashed whole."""
    triples = [(q.subject, q.predicate, q.object) for q in ox.parse(input=nquads, format=ox.RdfFormat.N_QUADS)]
    if any(s.value in annotations or (type(o) is ox.NamedNode and o.value in annotations) for s, _, o in triples):
        kept = triples
    else:
        kept = [t for t in triples if t[1].value not in annotations]
    digest = hashlib.sha256()
    for line in sorted(f"{s} {p} {o}" for s, p, o in kept):
        digest.update(line.encode() + b"\n")
    return digest.hexdigest()


def _inherit_reasoning(corpus: Corpus, slugs: list[str], known: dict[str, str]) -> None:
    """Give each of a few units grounded anew the inferred graph of its article's last version when HermiT
    reads the same of both (`reasoning_digest`): an edit of a note or a label then starts no JVM. The last
    version is the unit cache's entry under the key the unit index knew (`known`), made with the same
    ontology, registry and kg (unit keys are salted with them). Its summary is made again (the consistency
    check reads annotations' subjects too)."""
    if not slugs or len(slugs) > FEW_CHANGED:
        return
    annotations = None
    for slug in slugs:
        old_key = known.get(slug)
        old = corpus.cache.get(slug, old_key) if old_key not in (None, corpus.keys[slug]) else None
        if old is None or not old.reasoned:
            continue
        if annotations is None:
            project = corpus.project
            annotations = annotation_properties(*(s.triples for s in project.ontology), project.registry.triples)
        unit = corpus.loaded[slug]
        if reasoning_digest(old.asserted, annotations) == reasoning_digest(unit.asserted, annotations):
            corpus.loaded[slug] = unit.with_inferred(old.inferred)


def _quick_check(project: Project, units: list[ArticleUnit]) -> bool:
    """Whether units new since the last corpus that passed cannot break the checks between articles, as far
    as they alone tell (the index checks that no other unit describes their nodes): they describe no registry
    entity, and their labels (all of IRIs) do not conflict. An article labels only its own nodes, so no
    label of theirs can conflict with another unit's when no node is described twice."""
    registry = {t.subject.value for t in project.registry.triples if isinstance(t.subject, ox.NamedNode)}
    labels = [label for unit in units for label in unit.labels]
    if any(label.subject.startswith("_:") for label in labels):
        return False
    if any(not registry.isdisjoint(unit.nodes) for unit in units):
        return False
    return not label_conflicts(labels, project.root)


def _corpus_problems(root: Path, project: Project, folders: list[str], prepared: list[_Prepared],
                     units: dict[str, ArticleUnit]) -> list[Problem]:
    """Every problem of the registry, of the newly grounded articles, and between articles."""
    problems = terms_problems(project.registry, project.vocabulary) + blank_node_problems(project.registry)
    problems += [p for item in prepared for p in item.problems]
    labels = {u.folder: u.labels for u in units.values()}
    problems += label_conflicts([*labels_of(project.registry), *(e for f in folders for e in labels.get(f, ()))], root)
    nodes = {u.folder: u.nodes for u in units.values()}
    return problems + ownership_conflicts(root, project, [(f, nodes.get(f, ())) for f in folders])


def build(root: Path, *, reason: bool = True, site: bool = True, cache: bool = True,
          progress: Progress | None = None, on_data: Callable[[Build], object] | None = None,
          survey: Survey | None = None) -> Build:
    """Everything `kg build` does except writing. Raises KgError (input) or CheckFailed (not conforming).

    Work is per article (kg.units): an article whose inputs did not change since the last build is taken
    from the unit cache under .cache/ (`cache=False` ignores and leaves it). `site` adds the evidence
    report (kg.report) under report/ in `files`; `progress` shows progress on a terminal. `on_data` is given
    the build without its evidence report as soon as the data files are known, before the report's index is made
    (kg build stages the data files then, and begins loading the query store from kg.nq: `stage`, `Ahead`); its
    SHACL report is None when the validation, in a thread, is still going on (the build raises NotConforming
    after `on_data` then: what `on_data` began must be undone). `survey`:
    the articles' files hashed and out/ listed by a second process (`Survey`)."""
    root = Path(root)
    progress = progress or Progress(enabled=False)
    if not (root / CONTEXT_FILE).is_file():
        raise KgError(Problem("missing JSON-LD context for kg.jsonld", CONTEXT_FILE))
    context = read_context(root / CONTEXT_FILE)
    if not isinstance(context.get("@context"), dict):
        raise KgError(Problem("remote JSON-LD contexts are never fetched; inline the @context", CONTEXT_FILE))
    corpus = read_units(root, cache=cache, progress=progress, survey=survey)
    project = corpus.project
    # Validation reads only the asserted facts, so it goes on while this process reasons: a large corpus's first
    # one in processes of its own (HermiT's JVMs and this process leave a fifth of two cores idle, and
    # validation's SHACL queries run on one core once its stores are loaded), a later one in a thread.
    validation = start_validation(corpus, beside=True)
    # After an edit, the report's dependencies (70 MB of pickle at 10,000 articles) are read in a thread, while this
    # one reasons and waits for the validation; `_site` takes them.
    dependencies = corpus.cache.journal(_DEPENDENCIES)
    previous = partial(dependencies.read, corpus.shared_key)
    if site and few_changed(len(corpus.keys) - len(corpus.reused), len(corpus.keys)):
        previous = _in_thread(previous)
    try:
        if reason:
            registry_inferred, units = _reason(corpus, progress=progress)
        else:
            registry_inferred, units = b"", tuple(u.with_inferred(b"") for u in corpus.units)
    except BaseException:
        validation.cancel()
        raise

    # Consistency first: SHACL results on an inconsistent graph would only distract. A validation in processes
    # (a large corpus's first) is waited for before anything that starts a process: multiprocessing reaps
    # finished children whenever it starts one, which races with joining them. One in a thread (after an edit)
    # goes on while the data files are made and `on_data` begins staging them: what is staged is thrown away
    # when the graph does not conform (as when anything else fails after `on_data`).
    def validated() -> Report:
        with progress.step("validating", 1) as advance:
            report = validation()
            advance()
        if not report.conforms:
            raise NotConforming(report)
        return report

    report = None if validation.beside else validated()
    try:
        keys = {ONTOLOGY_GRAPH: corpus.shared_key, REGISTRY_GRAPH: corpus.shared_key}
        if registry_inferred:
            keys[inferred_graph(REGISTRY_GRAPH)] = corpus.shared_key
        for unit in units:
            keys[article_graph(unit.slug)] = corpus.keys[unit.slug]
            if unit.quads[1]:
                keys[inferred_graph(article_graph(unit.slug))] = corpus.keys[unit.slug]
        from kg.report import context as report_context_of  # (not `site`: that is an argument)

        report_context = report_context_of(project, registry_inferred)  # what every report page shows of the registry
        units = _render_pieces(corpus, units, report_context, reason=reason, context=context, progress=progress)
        if reason:  # (without, units are rendered without their inferred graphs, and not kept)
            corpus.save_headers()
        shared = _shared_pieces(corpus, registry_inferred, reason=reason, context=context)
        mode = "reasoned" if reason else "asserted"
        files = {f"{OUTPUT_STEM}{f.extension}": _assembled(corpus, shared, units, name, context,
                                                          f"{corpus.shared_key}-{mode}")
                 for name, f in FORMATS.items()}
        quads = sum(b.count(b"\n") for p in shared for b in p.nq.blocks)
        quads += sum(u.quads[0] + u.quads[1] for u in units)
        dataset_key = hashlib.sha256(f"{mode}\0{sorted(keys.items())}".encode()).hexdigest()
        file_keys = {name: f"{dataset_key}-{name}" for name in files}
        result = Build(project, units, registry_inferred, report, files, corpus.reused, keys, quad_count=quads,
                       file_keys=file_keys)
        if on_data is not None:
            on_data(result)
    except BaseException:
        if report is None:
            validation.cancel()  # (waits for the thread: it writes the validation state)
        raise
    if report is None:
        report = validated()
        result = replace(result, report=report)
    if not site:
        return result
    with progress.step("report index", 1) as advance:
        site_files, site_keys = _site(corpus, units, report_context, report, quads, dependencies, previous())
        advance()
    file_keys.update((name, f"{key}-{mode}") for name, key in site_keys.items())
    return replace(result, files=site_files.after(files), file_keys=file_keys)


_BESIDE_ABOVE = 1000  # articles from which `_site` makes the index page in a second process


def _site(corpus: Corpus, units: tuple[ArticleUnit, ...], report_context, report: Report, quads: int,
          journal: Journal, previous) -> tuple["Files", dict[str, str]]:
    """The evidence report (kg.report): article pages and pieces from the units, the rest made here.
    Pages are rendered (or loaded from the cache) only when written or compared.

    Which articles each entity page depends on, and so its key, is kept in the unit cache and brought up to
    date from the changed articles' pieces (kg.report.incremental); then an entity page is made from the
    pieces of the articles it depends on. The index page is put together from parts the last build kept, or
    made from every piece (in a second process on a large corpus, while the data files are written): `_index`."""
    from kg import report as site
    from kg.report import incremental, pages
    from kg.report.model import Model

    project = corpus.project
    slugs = [u.slug for u in units]
    by_slug = {u.slug: u for u in units}
    loaded: dict[str, object] = {}

    def piece(slug: str):
        found = loaded.get(slug)
        if found is None:
            found = loaded[slug] = _report_piece(corpus, by_slug[slug], report_context)
        return found

    @functools.cache
    def shared():
        return site.Shared(report_context, [piece(s) for s in slugs], quads=quads, conforms=report.conforms,
                           findings=len(report.findings))

    versions = {u.slug: u.piece_key for u in units}
    index_key = hashlib.sha256("\0".join([corpus.shared_key, str(quads), str(report.conforms), str(len(report.findings)),
                                          *(f"{s}\0{versions[s]}" for s in slugs)]).encode()).hexdigest()
    index = _index(corpus, slugs, versions, piece, shared, quads=quads, report=report,
                   apart=len(units) >= _BESIDE_ABOVE)

    def last_piece(slug: str, version: str):  # the piece of version `version` that rendering replaced
        found = corpus.last_pieces.get(slug)
        return found[1] if found is not None and found[0] == version else None

    kept = incremental.update(previous, report_context, slugs, versions, corpus.keys, corpus.shared_key, piece,
                              last=last_piece)
    if kept is None:  # from every piece
        whole = shared()
        kept = incremental.compute(report_context, [piece(s) for s in slugs], versions, corpus.keys,
                                   corpus.shared_key, model=whole.model)

        def model(iri: str):
            return whole.model
    else:
        order = {slug: i for i, slug in enumerate(slugs)}
        # The pages whose keys changed (those a build writes) from one model of all their dependencies' pieces:
        # a page shows nothing of an article it does not depend on, so more pieces make the same page.
        changed = {iri for iri, key in kept.keys.items() if previous.keys.get(iri) != key}
        together = functools.cache(lambda: Model(report_context, [piece(s) for s in sorted(
            {s for iri in changed for s in kept.depends(iri)}, key=order.__getitem__)]))

        def model(iri: str):
            return together() if iri in changed else kept.model(report_context, iri, order, piece)
    if kept is not previous:
        journal.write(corpus.shared_key, kept)
    ontology = corpus.cache.get("_ontology_page", corpus.shared_key)
    if ontology is None:
        ontology = site.ontology_page(project.ontology)
        corpus.cache.put("_ontology_page", corpus.shared_key, ontology)
    files: dict[str, bytes | Output] = {
        f"{site.REPORT_DIR}/index.html": index,
        f"{site.REPORT_DIR}/style.css": pages.asset("style.css").encode("utf-8"),
        f"{site.REPORT_DIR}/ontology.html": ontology,
    }
    keys = {f"{site.REPORT_DIR}/index.html": index_key}
    # The pages by name, each made when asked for (`Files`): after an edit, `write` asks for a few dozen.
    entities = {site.entity_path(iri): iri for iri in kept.keys}
    keys.update(zip(entities, kept.keys.values()))  # (in the same order)
    articles = {site.article_path(unit.slug): unit for unit in units}
    keys.update((path, corpus.keys[unit.slug]) for path, unit in articles.items())

    def entity(iri: str) -> Output:
        return Output(lambda stream: stream.write(pages.entity(model(iri), iri)), small=True)

    def article(unit: ArticleUnit) -> Output:
        return Output(partial(_page, corpus, unit, report_context), small=True)

    return Files(files, (entities, entity), (articles, article)), keys


_INDEX = "_index"  # kg.report.incremental.IndexState of the last build's index page
_INDEX_PARTS = "_index_parts"  # its parts about entities (kg.report.pages.IndexParts), under IndexState.parts_key


def _index(corpus: Corpus, slugs: list[str], versions: dict[str, str], piece, shared, *, quads: int,
           report: Report, apart: bool) -> Output:
    """`report/index.html`. From the kept rows and parts (IndexState) when no article that changed changed what
    the index reads of it besides its row (its Piece.index_digest): the rows of those that changed are made
    again, and the page is put together. Else from a model of every piece (`shared()`): on a large corpus in a
    second process (`apart`), begun at once, while this one brings the entity pages up to date and writes
    the data files; or, when nothing says it changed, only if it is to be written (Output.prepare: out/ may not
    hold it), and not at all when its key says it is there already (a build with nothing to do)."""
    from kg.report import incremental, pages
    from kg.report.picture import LIMIT

    outcome = dict(quads=quads, conforms=report.conforms, findings=len(report.findings))
    previous = corpus.cache.get(_INDEX, corpus.shared_key)
    state = incremental.update_index(previous, slugs, versions, corpus.shared_key, piece, LIMIT)
    parts = corpus.cache.get(_INDEX_PARTS, state.parts_key) if state is not None else None
    if parts is not None:
        if state is not previous:
            corpus.cache.put(_INDEX, corpus.shared_key, state)
        return Output(lambda stream: stream.write(pages.index_page(state.rows_in(slugs), parts, **outcome)), small=True)

    def whole():  # the state and parts from every piece
        state = incremental.index_state(corpus.shared_key, [piece(s) for s in slugs], versions, LIMIT)
        return state, shared().index_parts()

    making = functools.cache(lambda: beside(whole) if apart else whole)  # making() starts the work (once)
    if apart and (previous is None or previous.versions != versions):
        making()

    @functools.cache
    def made() -> bytes:  # (in this process: `here`)
        state, parts = making()()
        corpus.cache.put(_INDEX, corpus.shared_key, state)
        corpus.cache.put(_INDEX_PARTS, state.parts_key, parts)
        return pages.index_page(state.rows_in(slugs), parts, **outcome)

    return Output(lambda stream: stream.write(made()), small=True, here=True, prepare=making)


def _report_piece(corpus: Corpus, unit: ArticleUnit, report_context):
    """A unit's piece of the report's shared pages (kg.report.Piece): kept with it, or in the cache."""
    part = unit.report if unit.report is not None else corpus.cache.get_part(unit.slug, "report", unit.piece_key)
    if part is None:  # removed from under us: render it again
        from kg import report as site

        article = read_article(corpus.project.root, unit.folder)
        _, part = site.article_report(article, unit.asserted, unit.inferred, report_context)
    return part


def _page(corpus: Corpus, unit: ArticleUnit, report_context, stream: IO[bytes]) -> None:
    page = unit.page if unit.page is not None else corpus.cache.get_part(unit.slug, "page", unit.piece_key)
    if page is None:  # removed from under us: render it again
        from kg import report as site

        article = read_article(corpus.project.root, unit.folder)
        page = site.render_article(article, unit.asserted, unit.inferred, report_context)
    stream.write(page)


def _nothing() -> None:
    return None


class Files(Mapping):
    """Output files by name: bytes or Output, some of them made only when asked for (a report has a hundred
    thousand pages, of which a build after an edit writes a few dozen: `write` does not look at a file whose key
    it wrote last time). `Files(files, (names, make), ...)`: `files` (name -> bytes or Output), and for each name
    of `names` (name -> an argument), `make(argument)`, once. Names iterate in sorted order, or with `after`'s
    first."""

    def __init__(self, files: dict[str, bytes | Output], *lazy: tuple[dict[str, object], Callable[[object], Output]],
                 names: list[str] | None = None):
        self._files, self._lazy = dict(files), lazy
        self._names = names if names is not None else sorted(itertools.chain(files, *(n for n, _ in lazy)))

    def after(self, first: dict[str, bytes | Output]) -> "Files":
        """These files after those of `first` (which must not share a name with them)."""
        return Files({**first, **self._files}, *self._lazy, names=[*first, *self._names])

    def __getitem__(self, name: str) -> bytes | Output:
        found = self._files.get(name)
        if found is None:
            for names, make in self._lazy:
                if name in names:
                    found = self._files[name] = make(names[name])
                    break
            else:
                raise KeyError(name)
        return found

    def __contains__(self, name: object) -> bool:
        return name in self._files or any(name in names for names, _ in self._lazy)

    def __iter__(self):
        return iter(self._names)

    def __len__(self) -> int:
        return len(self._names)


class Output:
    """An output file too large to hold in memory: written by streaming, compared by content.

    `write_to(stream)` writes it; `read()` returns its bytes (for tests and small corpora)."""

    __slots__ = ("_writer", "small", "here", "prepare", "__dict__")  # (a report has a hundred thousand pages)

    def __init__(self, writer: Callable[[IO[bytes]], None], *, small: bool = False, here: bool = False,
                 prepare: Callable[[], object] | None = None):
        self._writer = writer
        self.small = small  # small enough to read whole (a page): compared in memory, not staged
        self.here = here  # made in this process only (it waits for a process this one started), never in a worker
        self.prepare = prepare or _nothing  # called by `write` once it knows it will write or compare this

    def write_to(self, stream: IO[bytes]) -> None:
        self._writer(stream)

    def write_over(self, previous: Path | None, stream: IO[bytes], state: Path | None) -> bool | None:
        """Write the file to `stream` (a file), knowing `previous`, the file it will replace (or None), and
        `state`, where what it keeps from one build to the next lives (None: nothing kept). True: it is
        `previous` byte for byte, and nothing was written; False: it differs; None: not known."""
        self.write_to(stream)
        return None

    def remember(self, path: Path, state: Path | None) -> None:
        """After the file at `path` is in place: keep what `write_over` needs next time."""

    def read(self) -> bytes:
        buffer = io.BytesIO()
        self.write_to(buffer)
        return buffer.getvalue()

    def __eq__(self, other) -> bool:
        if isinstance(other, (Output, bytes)):
            return self.read() == (other.read() if isinstance(other, Output) else other)
        return NotImplemented

    __hash__ = None


class _Assembled(Output):
    """An RDF output assembled from the pieces of the ontology, the registry and every article, loaded one
    format's parts at a time (from memory or the unit cache), so at most one format's parts are in memory
    at once. With a map of the file it replaces (kg.export.splice), only the articles that changed are
    loaded: the rest of the file is copied from the previous one.

    The map of the file written is kept pickled, a few bytes objects rather than a million small ones, until
    `remember` stores it beside the file's signature, which the next build compares before it unpickles the
    map. Its two large parts, the blocks' keys and the subjects merged from several pieces (58 and 19 MB
    for N-Triples at 10,000 articles), are kept in files of their own (`_PARTS`), which a later map whose part
    is the same reuses instead of writing it again: an edit that adds or removes no subject changes neither.
    The keys' file is memory-mapped when read (Keys.load), the merged subjects' unpickled.
    A file written whole streams where its format allows (kg.export.stream_graphs, stream_nt); Turtle and
    JSON-LD hold their own parts of every piece (kg.export.load_all)."""

    def __init__(self, owners: dict[str, Owner], format: str, context: dict):
        super().__init__(self._write_whole)
        self.owners, self.format, self.context = owners, format, context
        self._map: bytes | None = None  # the pickled FileMap of what was written, without its `_PARTS`
        self._parts: dict[str, bytes | str] = {}  # each of its `_PARTS`: pickled, or the file that holds it already
        self._loaded: dict[str, tuple[object, str]] = {}  # part -> (the old map's, its file), while splicing

    def _write_whole(self, stream: IO[bytes]) -> None:
        loads = [owner.load for owner in self.owners.values()]
        streamed = (stream_graphs(loads, self.format, stream) if self.format in ("nq", "trig")
                    else stream_nt(loads, stream) if self.format == "nt" else None)
        if streamed is None:  # in memory: one format's parts of every piece (load_all drops what is not needed)
            pieces = load_all(loads, self.format)
            made = layout(pieces, self.format, context=self.context)
            stream.writelines(made.parts())
            masks = owner_masks(pieces, self.format)
            del pieces
        else:
            made, masks = streamed
        self._keep(file_map(made, masks, list(self.owners), [o.version for o in self.owners.values()],
                            self.format, self.context))

    def _keep(self, map: FileMap | None) -> None:
        self._map, self._parts = None, {}
        if map is None:
            return
        for part in _PARTS:
            value = getattr(map, part)
            old = self._loaded.get(part)
            self._parts[part] = old[1] if old is not None and old[0] is value else (
                value.dump() if part == "keys" else pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL))
        self._map = pickle.dumps(replace(map, **{part: None for part in _PARTS}), protocol=pickle.HIGHEST_PROTOCOL)

    def write_over(self, previous: Path | None, stream: IO[bytes], state: Path | None) -> bool | None:
        kept = read_keyed(state, self._key(previous)) if previous is not None and state is not None else None
        old = _read_map(state, kept[1], kept[2]) if kept is not None and kept[0] == _signature(previous) else None
        if old is not None:
            self._loaded = {part: (getattr(old, part), kept[2][part]) for part in _PARTS}
            try:
                with previous.open("rb") as source:
                    made = splice_plan(old, self.owners, self.format, self.context,
                                       read_old=lambda at, n: os.pread(source.fileno(), n, at))
                    del old
                    if made is not None:
                        self._keep(made.map)
                        if not made.same:
                            write_plan(made, source, stream)
                        return made.same
            finally:
                self._loaded = {}
        self.write_to(stream)
        return None

    def kept(self) -> tuple:
        """What `remember` will keep (made by `write_over`): to hand to the same output in another process."""
        return self._map, self._parts

    def adopt(self, kept: tuple) -> None:
        self._map, self._parts = kept

    def remember(self, path: Path, state: Path | None) -> None:
        if state is None or self._map is None:
            return
        names = {}
        for part, value in self._parts.items():
            if isinstance(value, str):  # the previous map's, unchanged
                names[part] = value
            else:
                names[part] = f"{state.name}.{part}.{secrets.token_hex(8)}"
                atomic_write(state.parent / names[part], value)
        # (signature of the file written, its map, its parts' files): not even unpickled for another file
        atomic_pickle(state, (self._key(path), (_signature(path), self._map, names)))
        for other in state.parent.glob(f"{glob.escape(state.name)}.*"):  # the parts of maps replaced
            if other.name not in names.values():
                other.unlink(missing_ok=True)

    @staticmethod
    def _key(path: Path) -> str:
        return f"{FileMap.VERSION}\0{path.resolve()}"


_SHARED_OWNERS = ("_ontology", "_registry")  # names of the shared pieces among an output's owners (no slug's)
_PARTS = ("keys", "merged")  # of a FileMap, kept in files of their own (_Assembled)


def _read_map(state: Path, pickled: bytes, names: dict[str, str]) -> FileMap | None:
    """The map `_Assembled.remember` kept, with its parts read from their files; None when one is missing or
    damaged (the file is then assembled whole)."""
    parts = {}
    for part in _PARTS:
        path = state.parent / names[part]
        try:  # the keys memory-mapped (kg.export.splice.Keys.load)
            parts[part] = Keys.load(path) if part == "keys" else pickle.loads(path.read_bytes())
        except Exception:
            return None
    return replace(pickle.loads(pickled), **parts)


def _assembled(corpus: Corpus, shared: list[Piece], units: tuple[ArticleUnit, ...], format: str, context: dict,
               version: str) -> _Assembled:
    """The `format` output of the shared pieces (the ontology's and the registry's, at `version`) and the
    units' pieces (at their piece keys)."""
    parts = NEEDS[format]

    def load(unit: ArticleUnit) -> Piece:
        if unit.piece is not None:
            return unit.piece
        loaded = {part: corpus.cache.get_part(unit.slug, part, unit.piece_key) for part in parts}
        if any(v is None for v in loaded.values()):  # removed from under us: render it again
            return piece_from_nquads(unit.asserted + (unit.inferred or b""), context=context, formats=(format,))
        return Piece(**loaded)

    owners = {name: Owner(version, lambda p=p: p) for name, p in zip(_SHARED_OWNERS, shared)}
    owners.update((u.slug, Owner(u.piece_key, partial(load, u))) for u in units)
    return _Assembled(owners, format, context)


_CONTEXT: dict | None = None  # set before the worker pool forks; read by _piece
_CACHE: Cache | None = None
_REPORT_CONTEXT = None
_ROOT: Path | None = None


def _piece(job: tuple[ArticleUnit, str]) -> tuple[Piece | None, object, bytes | None]:
    """Render one unit's piece of the outputs, and its report page and piece; with a cache, keep the
    output formats' parts and the page there and return only the report piece."""
    from kg import report as site

    unit, key = job
    made = piece_from_nquads(unit.asserted + (unit.inferred or b""), context=_CONTEXT)
    page, part = site.article_report(read_article(_ROOT, unit.folder), unit.asserted, unit.inferred, _REPORT_CONTEXT)
    if _CACHE is None or not _CACHE.enabled or made.blank:
        return made, part, page
    # apart from the unit, which every command reads (the report piece is the larger part of it)
    _CACHE.put_parts(unit.slug, key, {**{name: getattr(made, name) for name in ("nq", "trig", "nt", "ttl", "jsonld")},
                                      "page": page, "report": part})
    return None, None, None


def _render_pieces(corpus: Corpus, units: tuple[ArticleUnit, ...], report_context, *, reason: bool,
                   context: dict, progress: Progress) -> tuple[ArticleUnit, ...]:
    """Every unit with its piece of the outputs; rendered (on every core) only where the cache has none."""
    global _CONTEXT, _CACHE, _REPORT_CONTEXT, _ROOT
    keys = {u.slug: f"{corpus.keys[u.slug]}-{'reasoned' if reason else 'asserted'}" for u in units}
    todo = [u.full() for u in units if u.piece_key != keys[u.slug] or (u.piece is None and not corpus.cache.enabled)]
    if len(todo) <= FEW_CHANGED:  # an edit: the report pieces these replace (kg.report.incremental.update)
        corpus.last_pieces = {u.slug: found for u in todo if (found := corpus.cache.last_part(u.slug, "report"))}
    _CONTEXT, _CACHE, _REPORT_CONTEXT, _ROOT = context, corpus.cache, report_context, corpus.project.root
    try:
        rendered = _map(_piece, [(u, keys[u.slug]) for u in todo], progress=progress, label="rendering")
    finally:
        _CONTEXT = _CACHE = _REPORT_CONTEXT = _ROOT = None
    done = {}
    for unit, (made, part, page) in zip(todo, rendered):
        done[unit.slug] = replace(unit, piece=made, piece_key=keys[unit.slug], report=part, page=page)
        if made is None and (reason or not unit.reasoned):  # never cache a unit without its inferred graph
            corpus.keep(done[unit.slug])
    return tuple(done.get(u.slug, u) for u in units)


def _shared_pieces(corpus: Corpus, registry_inferred: bytes, *, reason: bool, context: dict) -> list[Piece]:
    """The pieces of the ontology graph and of the registry's graphs (cached under the shared key)."""
    name = f"_pieces-{'reasoned' if reason else 'asserted'}"
    pieces = corpus.cache.get(name, corpus.shared_key)
    if pieces is None:
        project = corpus.project
        ontology = [ox.Quad(t.subject, t.predicate, t.object, ox.NamedNode(ONTOLOGY_GRAPH)) for t in _triples(project.ontology)]
        registry = [ox.Quad(t.subject, t.predicate, t.object, ox.NamedNode(REGISTRY_GRAPH)) for t in project.registry.triples]
        pieces = [make_piece(ontology, context=context), make_piece(registry + _parse(registry_inferred), context=context)]
        corpus.cache.put(name, corpus.shared_key, pieces)
    return pieces


def validate_project(root: Path, *, cache: bool = True, full: bool = False,
                     progress: Progress | None = None) -> Report:
    """`kg validate`: SHACL results for the project, reusing unchanged articles (no reasoning needed).
    `full` validates every node again and includes the validation report graph (Report.graph)."""
    progress = progress or Progress(enabled=False)
    corpus = read_units(root, cache=cache, progress=progress)
    with progress.step("validating", 1) as advance:
        report = validate_units(corpus, full=full)
        advance()
    return report


_REGISTRY = "_registry"
_CONSISTENCY = "_consistency"  # what the last consistency check that passed was given (_consistency_unchanged)
_SUMMARY_READS = "_summary_reads"  # kg.reason.summary_reads of the ontology
# Cache entries that belong to no article (all keyed by the shared inputs): never pruned with the articles.
_DEPENDENCIES = "_dependencies"  # kg.report.incremental.Dependencies of the last build's report
_SHARED_ENTRIES = {_REGISTRY, _CONSISTENCY, _SUMMARY_READS, "_pieces-reasoned", "_pieces-asserted", "_ontology_page",
                   _DEPENDENCIES, _INDEX, _INDEX_PARTS, Path(Headers.FILE).stem}


def _reason(corpus: Corpus, *, progress: Progress) -> tuple[bytes, tuple[ArticleUnit, ...]]:
    """The registry's inferred graph, and every unit with its inferred graph (never repeating the
    registry's). Units that already have one (from the cache) are not reasoned over again; when any
    unit was, the union is checked for consistency too (kg.reason explains why that is needed)."""
    project, store = corpus.project, corpus.cache
    # kg.reason and rdflib (a quarter of a second to import) only when used: a build after an edit of an article's
    # notes inherits its reasoning (_inherit_reasoning), and needs its summary (kg.summary) and the check only
    # if that changed.

    def rdflib_graph(triples):
        from kg.rdf import to_rdflib

        return to_rdflib(triples)

    ontology = functools.cache(lambda: rdflib_graph(_triples(project.ontology)))
    registry = functools.cache(lambda: rdflib_graph(project.registry.triples))
    registry_inferred = store.get(_REGISTRY, corpus.shared_key)
    if registry_inferred is None:
        from kg import reason
        from kg.rdf import from_rdflib

        registry_inferred = _nquads(
            ox.Quad(t.subject, t.predicate, t.object, ox.NamedNode(inferred_graph(REGISTRY_GRAPH)))
            for t in sorted(from_rdflib(reason.infer(registry(), ontology=ontology())), key=str))
        store.put(_REGISTRY, corpus.shared_key, registry_inferred)
    todo = [u for u in corpus.units if not u.reasoned]

    reads = store.get(_SUMMARY_READS, corpus.shared_key)
    if reads is None:
        from kg import reason

        reads = reason.summary_reads(ontology())
        store.put(_SUMMARY_READS, corpus.shared_key, reads)
    graphs = _Graphs(todo)
    known = functools.cache(lambda: {q.triple for q in _parse(registry_inferred)})

    def inferred(i: int, answer) -> tuple[bytes, bytes]:  # each answer as N-Quads, as it comes: no corpus of rdflib graphs
        from kg.rdf import from_rdflib

        unit = todo[i]
        graph = ox.NamedNode(inferred_graph(article_graph(unit.slug)))
        new = sorted((t for t in from_rdflib(answer) if t not in known()), key=str)
        nquads = _nquads(ox.Quad(t.subject, t.predicate, t.object, graph) for t in new)
        return nquads, _unit_summary(unit.slug, graphs.asserted(i), nquads, reads)

    with progress.step("reasoning", len(todo)) as advance:
        # HermiT in one long-lived JVM per core (kg.reason); answers come back in unit order, so the
        # output (and which error is reported first) does not depend on scheduling.
        # (with nothing to reason over, no JVM: it would start one for the registry's entailments alone)
        answers = []
        if todo:
            from kg import reason

            answers = reason.infer_many(graphs, ontology=ontology(), shared=registry(), on_done=lambda i: advance(),
                                        keep=inferred)
    done = {unit.slug: unit.with_inferred(*answer) for unit, answer in zip(todo, answers)}
    units = tuple(done.get(u.slug, u) for u in corpus.units)
    # (a unit that inherited its inferred graph, `_inherit_reasoning`, has no summary yet: it is checked too)
    if (todo or any(u.summary_digest is None for u in units)) and len(units) > 1:
        with progress.step("consistency", 1) as advance:
            # Each unit's summary (kept in the cache with it) is all the check reads of most units.
            units = tuple(u if u.summary_digest is not None else u.with_inferred(
                u.inferred, _unit_summary(u.slug, u.asserted, u.inferred, reads)) for u in units)
            digests = {u.slug: u.summary_digest for u in units}
            if not _consistency_unchanged(corpus, units, digests):
                from kg import reason

                members: set = set()
                reason.check_union(_Lazy(units, inferred=False), _Lazy(units, inferred=True),
                                   ontology=ontology(), shared=registry(),
                                   shared_inferred=rdflib_graph(_Triples(registry_inferred)),
                                   summaries=_Summaries(units), members=members)
                if members:  # checked on the facts about I (not on the union): what a later build compares with
                    store.put(_CONSISTENCY, corpus.shared_key, {
                        "keys": {u.slug: corpus.keys[u.slug] for u in units}, "digests": digests,
                        "members": frozenset(str(node) for node in members)})
                give_back(collect=True)  # what the check read of 10,000 units: before validating loads its store
            advance()
    for unit, before in zip(units, corpus.units):
        if unit is not before:  # reasoned over now, or given its summary now
            corpus.keep(unit)
    return registry_inferred, units


def _consistency_unchanged(corpus: Corpus, units: tuple[ArticleUnit, ...], digests: dict[str, str]) -> bool:
    """Whether the last consistency check that passed (on the facts about I, kg.reason.check_union) would be
    given exactly the same facts now, so that its answer stands: the same articles, and every unit whose key
    changed since has the same summary and describes no member of I. Why that is enough: a unit's summary
    fixes who mentions what (so the shared individuals) and the facts read from it, unless it describes a
    shared individual or one that joined I (then the check reads the unit whole); with every summary the
    same and no changed unit describing a member, the closure and every fact given to HermiT are the same.
    An editorial note on a node outside I, for one, changes no summary (tested)."""
    state = corpus.cache.get(_CONSISTENCY, corpus.shared_key)
    if state is None or state["keys"].keys() != digests.keys():
        return False
    changed = [u for u in units if state["keys"][u.slug] != corpus.keys[u.slug]]
    if any(state["digests"][u.slug] != digests[u.slug] for u in changed):
        return False
    members = state["members"]
    return all(members.isdisjoint(str(node) for node in _Summary(u.summary).own) for u in changed)


# A unit's summary for the consistency check, compressed: four N-Triples documents (its asserted facts, its
# inferred ones, and as triples the nodes it describes and those it mentions) and whether it is plain. Bytes
# unpickle quickly: the build reads every unit's summary only when it checks consistency, not when it reads
# units; and each document parses in one call, with no test per triple.
_OWN, _MENTIONED = (ox.NamedNode(n.decode()[1:-1]) for n in (OWN_PREDICATE, MENTIONED_PREDICATE))


def _pack_summary(summary) -> bytes:
    def document(triples) -> bytes:  # lines sorted: the same summary packs to the same bytes (a digest)
        return b"".join(sorted((ox.serialize(list(triples), format=ox.RdfFormat.N_TRIPLES) or b"").splitlines(True)))

    return _pack_documents((document(t for t, asserted in summary.facts if asserted),
                            document(t for t, asserted in summary.facts if not asserted),
                            document(ox.Triple(node, _OWN, _OWN) for node in summary.own),
                            document(ox.Triple(node, _MENTIONED, _MENTIONED) for node in summary.mentioned),
                            summary.plain))


def _pack_documents(parts: tuple) -> bytes:
    return _pack(pickle.dumps(parts, protocol=pickle.HIGHEST_PROTOCOL))


def _unit_summary(slug: str, asserted: bytes, inferred: bytes | None, read: frozenset[str]) -> bytes:
    """The packed summary of a unit (its N-Quads as kg writes them): `_pack_summary` of kg.summary.summarise,
    made from the text (kg.summary.summary_documents) unless a line is not as kg writes it."""
    graph = article_graph(slug)
    parts = summary_documents(asserted, graph, inferred or b"", inferred_graph(graph), read)
    if parts is None:
        return _pack_summary(summarise(_Triples(asserted), _Triples(inferred), frozenset(ox.NamedNode(i) for i in read)))
    return _pack_documents(parts)


class _Summary:
    """A kg.reason.Summary as `_pack_summary` packed it, each part parsed when first read: check_union reads
    what a unit mentions in one pass and its facts in the next."""

    def __init__(self, packed: bytes):
        self._parts = pickle.loads(zlib.decompress(packed))

    @staticmethod
    def _read(document: bytes):
        return ox.parse(document, format=ox.RdfFormat.N_TRIPLES) if document else ()

    @functools.cached_property
    def own(self) -> frozenset:
        return frozenset(q.subject for q in self._read(self._parts[2]))

    @functools.cached_property
    def mentioned(self) -> frozenset:
        return frozenset(q.subject for q in self._read(self._parts[3]))

    @property
    def plain(self) -> bool:
        return self._parts[4]

    @functools.cached_property
    def facts(self) -> tuple:
        return tuple([(q.triple, True) for q in self._read(self._parts[0])]
                     + [(q.triple, False) for q in self._read(self._parts[1])])


class _Summaries(Sequence):
    """The units' summaries, each unpacked when read and not kept: holding all of them unpacked for
    check_union took the consistency step of 10,000 articles to 1.7 GiB."""

    def __init__(self, units: tuple[ArticleUnit, ...]):
        self.units = units

    def __len__(self) -> int:
        return len(self.units)

    def __getitem__(self, i: int) -> _Summary:
        return _Summary(self.units[i].summary)


class _Lazy(Sequence):
    """The units' asserted (or inferred) triples, each unpacked when read (check_union reads few of them)."""

    def __init__(self, units: tuple[ArticleUnit, ...], *, inferred: bool):
        self.units, self.inferred = units, inferred

    def __len__(self) -> int:
        return len(self.units)

    def __getitem__(self, i: int):
        return _Unpacked(self.units[i], self.inferred)


class _Unpacked:
    def __init__(self, unit: ArticleUnit, inferred: bool):
        self.unit, self.inferred = unit, inferred

    def __iter__(self):
        return iter(_Triples(self.unit.inferred if self.inferred else self.unit.asserted))


class _Graphs(Sequence):
    """The units' asserted graphs (kg.reason.Asserted of their N-Quads: pyoxigraph or rdflib terms made when asked),
    each made when indexed (kg.reason reads them by index)."""

    def __init__(self, units: list[ArticleUnit]):
        self.units = units
        self.made: dict[int, bytes] = {}  # index -> the N-Quads its graph was made of, until `asserted` takes them

    def __len__(self) -> int:
        return len(self.units)

    def __getitem__(self, i: int):
        from kg.reason import Asserted

        unit = self.units[i]
        self.made[i] = nquads = unit.asserted
        return Asserted(nquads=nquads, graph=article_graph(unit.slug))

    def asserted(self, i: int) -> bytes:
        """Unit i's N-Quads: those its graph was made of last, unpacked once."""
        made = self.made.pop(i, None)
        return made if made is not None else self.units[i].asserted


class _Triples:
    """A unit's triples, parsed from its N-Quads each time they are read (a corpus does not hold them all)."""

    def __init__(self, nquads: bytes | None):
        self.nquads = nquads or b""

    def __iter__(self):
        return (q.triple for q in _parse(self.nquads))


def assemble(project: Project, units, registry_inferred: bytes = b"") -> tuple[ox.Quad, ...]:
    quads = [ox.Quad(t.subject, t.predicate, t.object, ox.NamedNode(ONTOLOGY_GRAPH)) for t in _triples(project.ontology)]
    quads += [ox.Quad(t.subject, t.predicate, t.object, ox.NamedNode(REGISTRY_GRAPH)) for t in project.registry.triples]
    quads += _parse(registry_inferred)
    for unit in units:
        quads += _parse(unit.asserted) + _parse(unit.inferred)
    return tuple(sorted(set(quads), key=str))

def write(out_dir: Path, files: dict[str, bytes | Output], *, keys: dict[str, str] | None = None,
          manifest: Path | None = None, on_staged: Callable[[str, str], object] | None = None,
          first: tuple[str, ...] = (), early: "dict[str, Staged] | Ahead | None" = None,
          waiting: Callable[[], object] | None = None, survey: Survey | None = None) -> list[str]:
    """Write each file atomically (temp file in the same folder, then rename); return changed names.

    Names may hold sub-folders ("report/index.html"); every file is staged before any is renamed. A file
    whose content is already there is left alone (its modification time too).

    With `keys` (name -> a key that changes whenever the file's content can: Build.file_keys) and a
    `manifest` file, a file whose key is the one written last time, and which is still as it was written
    then (same size, modification time and inode, as git's index checks), is not even read: after editing
    one article of 10,000, the hundred thousand other pages are left alone without comparing them. The
    large outputs (`Output.write_over`) keep a map of what they wrote beside the manifest, to rewrite the
    file from the previous one next time. `on_staged(name, path)` is told where each large output's new content
    is as soon as it is complete: staged to replace the file, or the file itself when it holds it already
    (kg build starts loading the query store from kg.nq then). Files named in `first` are written first.
    `early` holds large outputs staged before (`stage`: name -> what it staged), or being staged (`Ahead`,
    waited for once every other file is written): they are renamed with the others, and `on_staged` is not
    told of them again; one not to be written is removed. `waiting()` is called then, before waiting for an
    Ahead (kg build prepares the query store meanwhile: kg.store.prepare). `survey` lists out/ as it is (a
    `Survey` begun earlier): the signatures and orphans are taken from it."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    keys = keys or {}
    journal = _manifest_journal(manifest)
    known = (journal.read(str(out_dir.resolve())) or {}) if journal is not None else {}
    changed, staged, kept, assembled = [], [], set(), []
    folders: set[str] = set()  # made already

    def state(name: str) -> Path | None:  # what a large output keeps for the next build (Output.write_over)
        return _state(manifest, name)

    coming = early if isinstance(early, Ahead) else None  # its files are taken once the others are written
    early = {} if coming is not None else dict(early or {})
    deferred: list[str] = []
    base = os.path.join(str(out_dir), "")
    trash = manifest.parent / _TRASH if manifest is not None else None
    syncing: list[threading.Thread] = []
    written_small = 0  # small files written: the first _SYNC_EACH are synced as written
    todo = []
    listed = survey.result() if survey is not None else None  # name -> signature of each file in out/
    signature_of = listed.get if listed is not None else (lambda name: _signature(base + name))
    for name in sorted(files, key=lambda name: (name not in first, name)):
        # strings, not paths, until a file is written: out/ holds a hundred thousand pages
        if name in keys and (entry := known.get(name)) is not None and entry == (keys[name], signature_of(name)):
            kept.add(name)  # its manifest entry stays as it is
        else:
            todo.append(name)
            if isinstance(files[name], Output):
                files[name].prepare()  # work that can start now (the index page, in a second process)
    pages = _read_small(files, [n for n in todo if isinstance(files[n], Output) and files[n].small])

    def adopt(name: str, ahead: Staged) -> None:  # staged already (and its store loading, if it is kg.nq)
        staged.append((name, ahead.temp, out_dir / name))
        assembled.append(name)
        if ahead.sync is not None:
            syncing.append(ahead.sync)
        if not ahead.same:
            changed.append(name)

    try:
        for name in todo:
            data, target = files[name], out_dir / name
            if coming is not None and name in coming.files:
                deferred.append(name)
                continue
            ahead = early.pop(name, None)
            if ahead is not None:
                adopt(name, ahead)
                continue
            if isinstance(data, Output) and data.small:
                data = next(pages)
            if not isinstance(data, Output) and target.is_file() and target.read_bytes() == data:
                continue
            folder = os.path.dirname(base + name)
            if folder not in folders:
                os.makedirs(folder, exist_ok=True)
                folders.add(folder)
            handle, temp = _stage(folder, name)
            staged.append((name, temp, target))
            if not isinstance(data, Output):  # compared before staging
                with open(handle, "wb", closefd=True) as stream:
                    stream.write(data)
                    written_small += 1
                    if written_small <= _SYNC_EACH:
                        os.fsync(stream.fileno())
                changed.append(name)
                continue
            assembled.append(name)
            same, sync = _write_output(data, target, handle, temp, state(name))
            if same:
                if on_staged is not None:
                    on_staged(name, str(target))  # what it holds is what was to be written
                continue
            syncing.append(sync)
            if on_staged is not None:
                on_staged(name, temp)
            changed.append(name)
        left = None  # orphans: found while the staging process works, when there is one (not the files staged here)
        if coming is not None:
            temps = {temp for _, temp, _ in staged}
            left = [name for name in orphans(out_dir, files, listed=listed) if base + name not in temps]
            if waiting is not None:
                waiting()
            ready = coming.result()
            early = {name: item for name, item in ready.items() if name not in deferred}  # not to be written
            for name in deferred:
                adopt(name, ready[name])
            order = {name: i for i, name in enumerate(todo)}
            changed.sort(key=order.__getitem__)
        for thread in syncing:
            thread.join()
        if written_small > _SYNC_EACH:
            # every staged file on disk before any rename: a first build's hundred thousand pages with one
            # sync, not one each; a few pages are synced as written instead, so that a build after an edit
            # does not wait for whatever else is waiting to be written (a query store just loaded: 0.8 s a GB)
            os.sync()
        renamed = set(changed)  # a set: a first build stages a hundred thousand pages
        for name, temp, target in staged:
            if name in renamed:
                if trash is not None and name in assembled and target.is_file():
                    keep_blocks(target, trash)
                os.replace(temp, target)
        for name in assembled:
            files[name].remember(out_dir / name, state(name))
        for name in orphans(out_dir, files, listed=listed) if left is None else left:
            (out_dir / name).unlink()
            changed.append(name)
    finally:
        pages.close()
        for thread in syncing:
            thread.join()
        for _, temp, _ in staged:
            if os.path.exists(temp):
                os.unlink(temp)
        if coming is not None and coming.staged is None:  # (failed before it was waited for)
            coming.discard()
        for ahead in early.values():  # staged, but not to be written
            ahead.discard()
        if trash is not None:
            _free_beside(trash)
    if manifest is not None:
        written = {name: known[name] if name in kept else (key, _signature(base + name))
                   for name, key in keys.items() if name in files}
        if written != known:  # kept under the out/ folder's path: another out/ starts afresh
            journal.write(str(out_dir.resolve()), written)
    return changed


def _manifest_journal(manifest: Path | None) -> Journal | None:
    """The manifest: name -> (key, signature) of each file `write` wrote to out/ last time, kept under the out/
    folder's path, as a base and the changes of the builds since (a hundred thousand entries, of which a
    build after an edit changes a few)."""
    return Journal(manifest, manifest.with_name(f"{manifest.stem}-changes.pickle")) if manifest is not None else None


def _state(manifest: Path | None, name: str) -> Path | None:
    """What a large output keeps for the next build (Output.write_over), beside the manifest."""
    return output_states(manifest) / f"{name}.pickle" if manifest is not None else None


def _write_output(data: Output, target: Path, handle: int, temp: str,
                  state: Path | None) -> tuple[bool, threading.Thread | None]:
    """Write a large output to the staged file `temp` (open as `handle`, which this closes): whether it holds
    what `target` holds already, and, if not, the thread that syncs it to disk meanwhile."""
    with os.fdopen(handle, "wb") as stream:
        same = data.write_over(target if target.is_file() else None, stream, state)
        stream.flush()
        # what making it held, before the next: when assembled whole, every article's share of a format
        give_back(collect=same is None)
        if same or (same is None and target.is_file() and _same(temp, target)):
            return True, None
        return False, _sync_beside(stream.fileno())  # to disk while the next file is made


@dataclass
class Staged:
    """A large output staged ahead of `write` (`stage`), which renames it into place with the others."""

    temp: str  # the staged file, beside where it goes
    same: bool  # it holds what the file in out/ holds already
    sync: threading.Thread | None  # syncing it to disk
    made: str | None = None  # the folder made to stage it (out/ on a first build)

    def discard(self) -> None:
        """Remove the staged file (when it will not be written after all), and the folder made for it if empty."""
        if self.sync is not None:
            self.sync.join()
        if os.path.exists(self.temp):
            os.unlink(self.temp)
        if self.made is not None:
            try:
                os.rmdir(self.made)
            except OSError:  # not empty: write() has put files there
                pass


def stage(out_dir: Path, name: str, data: Output, *, manifest: Path | None = None) -> Staged:
    """Stage one large output of `files` before `write` is called with the rest (kg build: kg.nq, so that the
    query store's load begins while the report's index is made); pass it to `write` as `early`, or `discard`
    it. Nothing in out/ changes until `write` renames every staged file."""
    folder = os.path.dirname(os.path.join(str(out_dir), name))
    made = None if os.path.isdir(folder) else folder
    os.makedirs(folder, exist_ok=True)
    handle, temp = _stage(folder, name)
    staged = Staged(temp, False, None, made)
    try:
        staged.same, staged.sync = _write_output(data, Path(out_dir) / name, handle, temp, _state(manifest, name))
    except BaseException:
        staged.discard()
        raise
    return staged


class Ahead:
    """Large outputs staged (`stage`) in a second process while the caller goes on: after an edit, kg build
    splices the five data files, mostly the kernel copying and syncing gigabytes, while this process brings the
    report up to date. A process, not a thread: the splices' own Python work (their maps, 250 MB at 10,000
    articles) held this process's interpreter lock against the report's (which took 1.6 s alone, 2.7 s beside a
    staging thread). What `_Assembled.remember` keeps comes back with the files. `result()` waits for them
    and gives name -> Staged (`write`'s `early`); `discard()` removes what was staged. Nothing in out/ changes
    until `write`."""

    def __init__(self, out_dir: Path, files: dict[str, Output], *, manifest: Path | None = None):
        self.files = files
        self.staged: dict[str, Staged] | None = None
        self.waiting = beside(partial(_stage_all, Path(out_dir), files, manifest))

    def result(self) -> dict[str, Staged]:
        if self.staged is None:
            staged = {}
            for name, (temp, same, made, kept) in self.waiting().items():
                if kept is not None:
                    self.files[name].adopt(kept)
                staged[name] = Staged(temp, same, None, made)
            self.staged = staged
        return self.staged

    def discard(self) -> None:
        try:
            staged = self.result()
        except BaseException:  # noqa: BLE001 - the process removed what it had staged
            return
        for item in reversed(list(staged.values())):  # the first made the folder, if one was made
            item.discard()


def _stage_all(out_dir: Path, files: dict[str, Output], manifest: Path | None) -> dict[str, tuple]:
    """(In Ahead's process.) `stage` each file, synced before this returns: name -> (staged file, same, folder
    made, what `remember` keeps). On failure nothing staged is left."""
    staged: dict[str, Staged] = {}
    # Each file in a thread of its own: most of staging is the kernel copying blocks (os.copy_file_range, which
    # lets go of the interpreter lock), and one file copied while another is planned or synced keeps both cores
    # and the disk busy (2.3 GB at 10,000 articles: 1.9 s one after another, 1.2 s side by side).
    with ThreadPoolExecutor(max_workers=len(files) or 1) as pool:
        futures = {name: pool.submit(stage, out_dir, name, data, manifest=manifest) for name, data in files.items()}
    try:
        for name, future in futures.items():
            if future.exception() is None:
                staged[name] = future.result()
        for future in futures.values():
            future.result()  # the first failure, once every file that was staged is known
        for item in staged.values():
            if item.sync is not None:
                item.sync.join()
                item.sync = None
    except BaseException:
        for item in reversed(list(staged.values())):
            item.discard()
        raise
    return {name: (item.temp, item.same, item.made, files[name].kept() if isinstance(files[name], _Assembled) else None)
            for name, item in staged.items()}


_SYNC_EACH = 256  # small files `write` syncs one by one; with more it syncs everything once, before the renames
_TRASH = "trash"  # beside the manifest: replaced outputs, freed by a process of their own (`_free_beside`)


def _sync_beside(fileno: int) -> threading.Thread:
    """fsync a copy of the file descriptor `fileno` in a thread (which closes it): a large output goes to disk
    while the next one is made, and the one sync before the renames has less left to wait for."""
    copy = os.dup(fileno)

    def sync():
        try:
            os.fsync(copy)
        finally:
            os.close(copy)

    thread = threading.Thread(target=sync, daemon=True)
    thread.start()
    return thread


def _free_beside(trash: Path) -> None:
    """Remove the files in `trash` (those of this build, and any a build that stopped midway left) with an
    `rm` that this process does not wait for (spawned, not forked: forking a process of a gigabyte copies its
    page tables, a fifth of a second)."""
    try:
        names = os.listdir(trash)
    except OSError:
        return
    for pid in list(_FREEING):  # reap those an earlier build started, if done
        try:
            if os.waitpid(pid, os.WNOHANG)[0]:
                _FREEING.remove(pid)
        except ChildProcessError:
            _FREEING.remove(pid)
    if not names:
        return
    rm = shutil.which("rm")
    paths = [str(trash / name) for name in names]
    if rm is None:
        for path in paths:
            os.unlink(path)
        return
    _FREEING.append(os.posix_spawn(rm, [rm, "-f", "--", *paths], os.environ, setsid=True))


_FREEING: list[int] = []  # processes `_free_beside` started


def _same(first: str | Path, second: str | Path) -> bool:
    if os.path.getsize(first) != os.path.getsize(second):
        return False
    with open(first, "rb") as a, open(second, "rb") as b:
        while True:
            chunk = a.read(1 << 20)
            if chunk != b.read(1 << 20):
                return False
            if not chunk:
                return True


class _Comparison:
    """A write-only stream that compares what is written with a file, without keeping either."""

    def __init__(self, path: Path):
        self.file = path.open("rb")
        self.equal = True

    def write(self, data: bytes) -> int:
        if self.equal and self.file.read(len(data)) != data:
            self.equal = False
        return len(data)

    def writelines(self, lines) -> None:
        for line in lines:
            self.write(line)

    def close(self) -> bool:
        equal = self.equal and self.file.read(1) == b""
        self.file.close()
        return equal


def _unchanged(path: Path, data: bytes | Output) -> bool:
    if not path.is_file():
        return False
    if isinstance(data, Output) and data.small:
        data = data.read()
    if not isinstance(data, Output):
        return path.read_bytes() == data
    comparison = _Comparison(path)
    try:
        data.write_to(comparison)
    finally:
        equal = comparison.close()
    return equal


_READ_BESIDE = 2000  # small outputs (pages) to render from which `write` renders them on every core


def _read_small(files: dict, names: list[str]):
    """An iterator (with `close`) of the bytes of each small Output of `names`, in order: rendered here, or,
    for a first build's hundred thousand pages, by forked workers on every core (but those made `here`)."""
    workers = os.cpu_count() or 1
    if len(names) < _READ_BESIDE or workers == 1:
        return (files[name].read() for name in names)
    return _Pages(files, names, Forked(partial(_read_there, files), names, workers=workers))


def _read_there(files: dict, name: str) -> bytes | None:
    """A page, made in a worker; None for one this process must make."""
    return None if files[name].here else files[name].read()


class _Pages:
    def __init__(self, files: dict, names: list[str], made: Forked):
        self.files, self.names, self.made = files, iter(names), made

    def __iter__(self):
        return self

    def __next__(self) -> bytes:
        page, name = next(self.made), next(self.names)
        return self.files[name].read() if page is None else page

    def close(self) -> None:
        self.made.close()


_STAGED = itertools.count()


def _stage(folder: str, name: str) -> tuple[int, str]:
    """A new temporary file beside where `name` goes (hidden, named after it, this process and a counter),
    open for writing, with the permissions a new file gets (0o666 less the umask): (descriptor, path).
    Not tempfile.mkstemp, which took 6 s of a first build's hundred thousand pages."""
    stem = f"{folder}/.{os.path.basename(name)}.{os.getpid()}-"
    while True:
        temp = f"{stem}{next(_STAGED)}.tmp"
        try:
            return os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o666), temp
        except FileExistsError:  # left by a run killed outright with the same process id
            continue


def stale(out_dir: Path, files: dict[str, bytes | Output]) -> list[str]:
    """Names of files in out/ that differ from (or are missing compared to) a fresh build."""
    out_dir = Path(out_dir)
    return sorted(n for n, data in files.items() if not _unchanged(out_dir / n, data))


def orphans(out_dir: Path, files: dict[str, bytes], *, listed: dict[str, tuple] | None = None) -> list[str]:
    """Files in the build's own sub-folders of out/ (report/) that a fresh build no longer writes,
    e.g. the page of a renamed entity. Other files in out/ are not the build's to judge. `listed`: the files
    of out/ as `survey` found them, instead of listing them here."""
    folders = {name.split("/", 1)[0] for name in files if "/" in name}
    if listed is None:
        base = os.path.join(str(out_dir), "")
        listed = {}
        for folder in sorted(folders):
            if os.path.isdir(base + folder):
                list_files(base + folder, len(base), listed, stat=False)
    return sorted(name for name in listed.keys() - files.keys() if "/" in name and name.split("/", 1)[0] in folders)
