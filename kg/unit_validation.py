"""SHACL validation of a corpus of units, redoing only what an edit can change.

The validation store (kg.shacl_sparql, on disk under `.cache/validation/`) holds the ontology, the registry
and every article's grounded graph. Its state file remembers, for the shared inputs' key, each article's unit
key, its nodes and the nodes it refers to, and every finding by focus node. When articles change:

- their old triples (those whose subject is one of their old nodes) are removed and their new ones added;
- the focus nodes whose results can change are validated again; every other finding is kept.

Which those are depends on what changed. An edit that adds or removes only triples whose predicate no shape
reads (`_shape_reads`: every IRI the shapes graph and its SPARQL patterns name, and rdf:type), say a
skos:editorialNote, cannot change any result: only the edited article's own nodes are validated again (their
line numbers may have moved). Otherwise the focus is the nodes of the changed articles (old and new), the
nodes they refer to, and the nodes of every article that refers to one of their nodes.

Why that is enough: an article states facts only about its own nodes (kg.build checks it), so every triple
about a node is in the graph of the article that owns it, or in the registry. A result for a focus node reads
triples along paths from it, and those paths leave an article only through references; so a result can change
only for the changed articles' nodes, the nodes those refer to, and the nodes of articles referring into them
— with one hop of reference between articles, which is all kg's shapes follow; the test suite compares
cached and clean runs on a corpus with cross-article references. A change to the ontology, the shapes, the
registry or kg itself changes the shared key: everything is validated again, from a new store.

Two hops are followed too: a shape may go from a node to an entity it refers to (a registry person) and
from there, against the direction of a triple, to another article's node (every office-holding of a
meeting's participant: kg:BilateralMeetingShape). So when a changed article has a triple whose object is a
registry entity (a hub), along a predicate that some shape follows backwards (`_shape_reads`),
the hub and every node that refers to it are validated again too — the nodes one hop from the hub, as kg's
shapes go one hop from a focus node before they turn back. A registry entity's own results read the
registry and, backwards, the articles that refer to it: it is validated again when it is a hub or a changed
article refers to it, and otherwise keeps its findings.

Without a cache the store is in memory and everything is validated.
"""

from __future__ import annotations

import gc
import shutil
import zlib
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path

import pyoxigraph as ox

from kg.curation import Source, parse_turtle
from kg.forked import spawned
from kg.namespaces import RDF, RDFS, SH, article_graph
from kg.units import VALIDATION_DIR, VALIDATION_STATE, atomic_pickle, read_keyed
from kg.validate import Finding, Report, validate

STATE_FILE = Path(VALIDATION_STATE).name
_APART_FROM = 1000  # articles from which a first validation runs in processes of its own (validate_units)


class _Sources(Mapping):
    """unit name -> its curated Source, parsed only when a finding needs a line number."""

    def __init__(self, root: Path, registry: Source, folders: dict[str, str]):
        self.root, self.registry, self.folders, self.parsed = root, registry, folders, {}

    def __getitem__(self, unit: str) -> Source:
        if unit == "registry":
            return self.registry
        if unit not in self.parsed:
            self.parsed[unit] = parse_turtle(self.root, f"{self.folders[unit]}/facts.ttl")
        return self.parsed[unit]

    def __iter__(self):
        return iter(["registry", *self.folders])

    def __len__(self) -> int:
        return 1 + len(self.folders)


def _triples(nquads: bytes) -> list[ox.Triple]:
    return [q.triple for q in ox.parse(nquads, format=ox.RdfFormat.N_QUADS)] if nquads else []


def validate_units(corpus, *, full: bool = False) -> Report:
    """Validation report of the corpus (kg.build.Corpus). After an edit, only the changed articles' units
    are read (`corpus.unit`): what the others describe and refer to is in the state.

    `full` validates every focus node again (and returns the report graph, which an incremental run leaves
    empty)."""
    return start(corpus, full=full)()


def start(corpus, *, full: bool = False, beside: bool = False) -> "Started":
    """`validate_units`, begun: returns what finishes it and gives the report. A first validation of a large
    corpus starts now, in processes of its own, and goes on while the caller does other work (kg.build
    reasons meanwhile); the rest is done when the report is asked for, or with `beside` in a thread started
    now (an incremental validation, mostly pyoxigraph's queries on the on-disk store, which let go of the
    GIL, while kg.build waits for HermiT). Call `cancel` on what this returns when the report will not be
    asked for: that ends those processes (and waits for a thread to finish)."""
    from kg import shacl_sparql

    project = corpus.project
    root = Path(project.root)
    folder = root / VALIDATION_DIR
    shapes = [t for s in project.shapes for t in s.triples]
    ontology = [t for s in project.ontology for t in s.triples]
    keys = corpus.keys

    # kept under the shared inputs' key: a state of other ontology, shapes, registry or kg is not read
    state = read_keyed(folder / STATE_FILE, corpus.shared_key) if corpus.cache.enabled else None
    if state is not None and not full and state["units"] == keys:
        return Started(partial(_assemble, state["findings"]))

    fresh: set[str] = set()  # the units read in this run (the state has the others)

    def joined(slug: str, what: str) -> str:
        return "\n".join(getattr(corpus.unit(slug), what)) if slug in fresh else state[what].get(slug, "")

    if state is None:
        # Everything is validated, in memory, which is several times quicker than on disk (RocksDB) at
        # 10,000 articles. On a large corpus that runs in a process of its own, given only what it reads (the
        # units as they are kept: compressed N-Quads, 100 MB at 10,000 articles), so that the in-memory store
        # (1.4 GiB there) never sits beside what this process holds of every article (0.5 GiB after
        # reasoning); and the on-disk store for later runs is loaded from the units too, in a third process,
        # meanwhile. A small corpus does both here, one after the other.
        units = corpus.units  # every unit, read once
        apart = spawned if len(units) >= _APART_FROM else partial
        shared = ox.serialize(ontology + list(project.registry.triples), format=ox.RdfFormat.N_TRIPLES)
        packed = [(unit.packed, article_graph(unit.slug)) for unit in units]
        on_disk = None
        if corpus.cache.enabled:
            gc.collect()  # RocksDB allows one open Store per process: let go of one a failed run left behind
            shutil.rmtree(folder, ignore_errors=True)
            folder.mkdir(parents=True, exist_ok=True)
            on_disk = apart(_write_store, str(folder / "store"), shared, packed)
        whole = apart(_validate_whole, root, project.registry, corpus.folders, shapes, ontology, shared, packed,
                      [(unit.slug, "\n".join(unit.nodes)) for unit in units])
    else:
        on_disk = whole = None

    def finish() -> Report:
        if whole is not None:
            report, analysed = whole()
            shacl_sparql.remember(analysed)
            fresh.update(keys)
            focus = reads = None
        else:
            report, focus, reads = _again(corpus, state, folder, shapes, ontology, full=full, fresh=fresh, joined=joined)

        if not corpus.cache.enabled:
            return Report(report.conforms, _assemble({"": report.findings}).findings, report.graph)
        findings = {} if focus is None else {f: v for f, v in state["findings"].items() if f not in focus}
        for finding in report.findings:
            findings.setdefault(finding.focus, []).append(finding)
        findings = {f: tuple(v) for f, v in findings.items()}
        if on_disk is not None:
            on_disk()
        atomic_pickle(folder / STATE_FILE, (corpus.shared_key, {
            "units": keys,
            # each unit's nodes and references as one string: read back only for changed units, and ten
            # thousand strings pickle many times quicker than a million
            "nodes": {slug: joined(slug, "nodes") for slug in keys},
            "refs": {slug: joined(slug, "refs") for slug in keys},
            "findings": findings,
            # read from the shapes (which the shared key covers) by parsing their SPARQL: once, not every run
            "reads": reads or _shape_reads(project.shapes),
            "analysed": shacl_sparql.analyses(),
        }))
        if focus is None:
            return Report(report.conforms, _assemble(findings).findings, report.graph)
        return _assemble(findings)

    if beside and whole is None:
        thread = ThreadPoolExecutor(1, thread_name_prefix="validating")
        finishing = thread.submit(finish)
        thread.shutdown(wait=False)
        return Started(finishing.result, [_Finishing(finishing)], beside=True)
    return Started(finish, [p for p in (whole, on_disk) if p is not None])


class Started:
    """A validation begun (`start`): call it for the report; `cancel` ends the processes it started."""

    def __init__(self, finish: Callable[[], Report], processes: list | None = None, *, beside: bool = False):
        self.finish, self.processes = finish, processes or []
        self.beside = beside  # going on in a thread: starting a process meanwhile is safe

    def __call__(self) -> Report:
        return self.finish()

    def cancel(self) -> None:
        for process in self.processes:
            getattr(process, "cancel", lambda: None)()  # a small corpus's work is a partial, not started yet


class _Finishing:
    """A validation going on in a thread: cancelling it waits for it (a thread cannot be ended), so that its
    on-disk store is closed when the caller goes on (RocksDB allows one open store per process)."""

    def __init__(self, future):
        self.future = future

    def cancel(self) -> None:
        self.future.exception()  # waits; what it raised is not asked for


def _again(corpus, state: dict, folder: Path, shapes: list, ontology: list, *, full: bool, fresh: set[str],
           joined: Callable[[str, str], str]) -> tuple[Report, set[str] | None, tuple]:
    """An incremental validation (`start`): the on-disk store brought up to date with the changed units and the
    focus nodes their changes can reach validated again (all of them when `full`). Returns the report, the
    focus (None: every node) and what the shapes read. `fresh` gets the changed units' slugs."""
    from kg import shacl_sparql

    project, keys, root = corpus.project, corpus.keys, Path(corpus.project.root)
    (folder / STATE_FILE).unlink()  # until the store is in sync again: a crash means a fresh start
    shacl_sparql.remember(state.get("analysed", {}))  # compiling the shapes then parses no SPARQL again
    store = _open(folder / "store")
    changed = sorted(s for s in keys.keys() | state["units"].keys() if keys.get(s) != state["units"].get(s))
    touched: set[str] = set()
    backward, read = reads = state.get("reads") or _shape_reads(project.shapes)
    registry_nodes = _registry_nodes(project.registry)
    hubs: set[str] = set()  # registry entities a changed article links to along a backward predicate
    spreading: list[str] = []  # changed articles whose edit can change results beyond their own nodes

    before, after = {}, {}
    for slug in changed:
        before[slug] = {t for node in _split(state["nodes"].get(slug))
                        for t in shacl_sparql.triples(store, ox.NamedNode(node))}
        after[slug] = set(_triples(corpus.unit(slug).asserted)) if slug in keys else set()
    # all removals before all additions: a node may move from one changed article to another
    old, new = set().union(*before.values()), set().union(*after.values())
    shacl_sparql.remove(store, list(old - new))
    shacl_sparql.add(store, list(new - old))
    for slug in changed:
        touched.update(_split(state["nodes"].get(slug)))
        if slug in keys:
            touched.update(corpus.unit(slug).nodes)
        if not any(read is None or t.predicate.value in read for t in before[slug] ^ after[slug]):
            continue  # no shape reads what changed: only the article's line numbers may have moved
        spreading.append(slug)
        touched.update(_split(state["refs"].get(slug)))
        if slug in keys:
            touched.update(corpus.unit(slug).refs)
        hubs.update(t.object.value for t in before[slug] | after[slug] if t.predicate.value in backward
                    and isinstance(t.object, ox.NamedNode) and t.object.value in registry_nodes)
    changed_nodes = {n for slug in spreading for n in (*_split(state["nodes"].get(slug)),
                                                         *(corpus.unit(slug).nodes if slug in keys else ()))}
    if changed_nodes:
        for slug in keys:  # the other articles' references, as the state has them (their units are not read)
            if slug not in changed and not changed_nodes.isdisjoint(_split(state["refs"].get(slug))):
                touched.update(_split(state["nodes"].get(slug)))
    touched.update(hubs)
    for hub in sorted(hubs):  # the nodes that refer to a hub: they may reach the changed article through it
        touched.update(q.subject.value for q in store.quads_for_pattern(None, None, ox.NamedNode(hub), None)
                       if isinstance(q.subject, ox.NamedNode))
    focus = touched if not full else None

    fresh.update(changed)
    owners = {n: "registry" for n in registry_nodes}
    for slug in keys:
        nodes = _split(joined(slug, "nodes"))
        if focus is None or not focus.isdisjoint(nodes):
            for node in nodes:
                owners.setdefault(node, slug)
    sources = _Sources(root, project.registry, corpus.folders)
    report = validate(store, shapes=shapes, ontology=ontology, sources=sources, units=owners,
                      focus=None if focus is None else [ox.NamedNode(n) for n in sorted(focus)])
    del store  # closes the RocksDB store (no cycle holds it), so the next run in this process can open it
    return report, focus, reads


def _write_store(path: str, shared: bytes, packed: list[tuple[bytes, str]]) -> None:
    """The on-disk validation store at `path` (`_store`), compacted; closed when this returns.

    Compacted (Store.optimize) because the bulk loads leave RocksDB files whose key ranges overlap, each of which
    every range scan of a query then reads: the validation after an edit of one article of 10,000 took 0.6 s
    on the store as loaded and 0.2 s on the compacted one. Compacting it takes 7 s there, in this process of
    its own beside reasoning, once per shared key."""
    _store(shared, packed, path).optimize()


def _store(shared: bytes, packed: list[tuple[bytes, str]], path: str | None = None) -> ox.Store:
    """A validation store (in memory, or on disk at `path`) of `shared` (the ontology's and the registry's
    triples, as N-Triples) and the units' graphs (`ArticleUnit.packed`, and the graph's IRI)."""
    from kg import shacl_sparql

    return shacl_sparql.new_store(_triples(shared), path, graphs=((zlib.decompress(p), g) for p, g in packed))


def _registry_nodes(registry: Source) -> set[str]:
    return {t.subject.value for t in registry.triples if isinstance(t.subject, ox.NamedNode)}


def _validate_whole(root: Path, registry: Source, folders: dict[str, str], shapes: list[ox.Triple],
                    ontology: list[ox.Triple], shared: bytes, packed: list[tuple[bytes, str]],
                    nodes: list[tuple[str, str]]) -> tuple[Report, dict]:
    """Every focus node validated, in an in-memory store (`_store`); `nodes` is each unit's slug and nodes
    (one per line), to point findings at their unit. Also returns what compiling the shapes learnt
    (kg.shacl_sparql.analyses), for the state to keep when this ran in another process."""
    from kg import shacl_sparql

    store = _store(shared, packed)
    owners = dict.fromkeys(_registry_nodes(registry), "registry")
    for slug, joined in nodes:
        for node in _split(joined):
            owners.setdefault(node, slug)
    report = validate(store, shapes=shapes, ontology=ontology, sources=_Sources(root, registry, folders), units=owners,
                      focus=None)
    return report, shacl_sparql.analyses()


def _open(path: Path) -> ox.Store:
    """The on-disk store. RocksDB allows one open store per process: when a failed run in this process left
    one behind (held by a reference cycle), a collection lets go of it (not done every time: a full
    collection of a 10,000-article corpus's objects takes a tenth of a second or more)."""
    try:
        return ox.Store(str(path))
    except OSError:
        gc.collect()
        return ox.Store(str(path))


def _split(joined: str | None) -> list[str]:
    return joined.split("\n") if joined else []


def _shape_reads(shapes) -> tuple[frozenset[str], frozenset[str] | None]:
    """What the shapes read of the data: (the predicates a shape may follow from object to subject, every
    predicate a shape may read — None when that cannot be bounded).

    Backwards: those of sh:inversePath, and in SPARQL constraints and targets those of every triple pattern
    whose subject is not $this (a superset: the pattern may as well be joined forwards). Read: every IRI the
    shapes graph names (paths, sh:lessThan, targets ...), every IRI in a SPARQL pattern's predicate, and
    rdf:type and rdfs:subClassOf (targets and sh:class); unbounded when a SPARQL pattern's predicate is a
    variable or a shape is sh:closed. Read from the shapes graph, so new shapes are covered."""
    from rdflib import Literal, URIRef, Variable
    from rdflib.plugins.sparql import prepareQuery

    from kg.rdf import to_rdflib

    graph = to_rdflib(t for source in shapes for t in source.triples)
    backward: set[str] = set()
    read: set[str] | None = {str(x) for triple in graph for x in triple if isinstance(x, URIRef)}
    read |= {RDF + "type", RDFS + "subClassOf"}
    for inner in graph.objects(None, URIRef(SH + "inversePath")):
        backward.update(str(x) for x in _iris(graph, inner))
    if (None, URIRef(SH + "closed"), Literal(True)) in graph:
        read = None
    namespaces = {str(graph.value(d, URIRef(SH + "prefix"))): str(graph.value(d, URIRef(SH + "namespace")))
                  for d in graph.subjects(URIRef(SH + "prefix"), None)}
    for key in ("select", "ask"):
        for text in graph.objects(None, URIRef(SH + key)):
            query = prepareQuery(str(text), initNs=namespaces)
            for subject, predicate, _ in _patterns(query.algebra):
                iris = {str(x) for x in _path_iris(predicate)}
                if isinstance(predicate, Variable):
                    read = None
                elif read is not None:
                    read |= iris
                if subject != Variable("this"):
                    backward |= iris
    return frozenset(backward), None if read is None else frozenset(read)


def _iris(graph, node) -> set:
    """Every IRI in an RDF list or path expression (a superset of its predicates)."""
    from rdflib import URIRef

    if isinstance(node, URIRef):
        return {node}
    return {x for _, _, o in graph.triples((node, None, None)) for x in _iris(graph, o)}


def _patterns(node):
    """Every triple pattern (subject, predicate or path, object) in a SPARQL algebra tree."""
    from rdflib.plugins.sparql.parserutils import CompValue

    if isinstance(node, CompValue):
        if node.name == "BGP":
            yield from node.triples
        for key in node.keys():
            yield from _patterns(getattr(node, key))  # attribute access: the translated form
    elif isinstance(node, (list, tuple)):
        for value in node:
            yield from _patterns(value)
    elif isinstance(node, dict):
        for value in node.values():
            yield from _patterns(value)


def _path_iris(predicate) -> set:
    from rdflib import URIRef
    from rdflib.paths import Path as RdfPath

    if isinstance(predicate, URIRef):
        return {predicate}
    if isinstance(predicate, RdfPath):
        return {x for part in vars(predicate).values() for item in (part if isinstance(part, list) else [part])
                for x in _path_iris(item)}
    return set()


def _assemble(findings: dict[str, tuple[Finding, ...]]) -> Report:
    every = sorted({f for group in findings.values() for f in group}, key=_order)
    conforms = not any(f.severity == "violation" for f in every)
    return Report(conforms, tuple(every), b"")


def _order(f: Finding) -> tuple:
    return (f.unit, f.focus, f.path or "", f.component, f.message, f.value or "", f.shape or "", f.severity,
            f.kind or "", f.file or "", f.line or 0)
