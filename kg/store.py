"""The embedded store: a pyoxigraph on-disk store over out/kg.nq, built once per build.

The store lives in `.cache/store/<sha256 of out/kg.nq>/`. A query opens it read-only; when out/kg.nq changed
(the key differs) it is rebuilt first. Building happens in a temporary directory that is renamed into place,
so concurrent `kg query` runs never see a half-built store: at worst two of them build it and one rename wins.

Two things keep this cheap on a large corpus:
- `.cache/store/.index.json` remembers the key of out/kg.nq with the file's size, modification time and inode,
  so a query does not hash hundreds of megabytes to find its store (a file that changed in any of those is
  hashed again); `kg build`, which knows a key of what it wrote, records that instead of hashing the file;
- `kg build` keeps a writable store, `.cache/store/.work/`, that it updates graph by graph — dropping and
  reloading only the named graphs whose content changed (it knows them by their unit keys) — and then snapshots
  it into `.cache/store/<key>/` with a RocksDB checkpoint (hard links, no copy). A build that changed one article
  of ten thousand reloads two graphs, not three million quads.
"""

from __future__ import annotations

import contextlib
import gc
import hashlib
import json
import os
import re
import shutil
import sys
import tempfile
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path
from typing import BinaryIO, Callable

import pyoxigraph

from kg.errors import KgError, Problem

DATASET_FILE = "kg.nq"


def dataset_path(out_dir: Path) -> Path:
    return Path(out_dir) / DATASET_FILE


def default_cache_dir(out_dir: Path) -> Path:
    return Path(out_dir).resolve().parent / ".cache" / "store"


INDEX_FILE = ".index.json"
WORK_DIR = ".work"
MANIFEST_FILE = "graphs.json"


def _signature(path: Path) -> dict:
    stat = path.stat()
    return {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns, "inode": stat.st_ino}


def dataset_key(out_dir: Path, *, cache_dir: Path | None = None) -> str:
    """sha256 of out/kg.nq; taken from the index when the file is unchanged since it was last hashed."""
    path = dataset_path(out_dir)
    index = (cache_dir or default_cache_dir(out_dir)) / INDEX_FILE
    try:
        signature = _signature(path)
    except FileNotFoundError:
        raise KgError(Problem("not built yet; run `kg build` first", path=str(path))) from None
    try:
        known = json.loads(index.read_text(encoding="utf-8"))
        if known["signature"] == signature:
            return known["key"]
    except (OSError, ValueError, KeyError, TypeError):
        pass
    with path.open("rb") as f:
        key = hashlib.file_digest(f, "sha256").hexdigest()
    _remember(index, signature, key)
    return key


def _remember(index: Path, signature: dict, key: str) -> None:
    index.parent.mkdir(parents=True, exist_ok=True)
    handle, temp = tempfile.mkstemp(dir=index.parent, prefix=".index.", suffix=".tmp")
    with os.fdopen(handle, "w", encoding="utf-8") as stream:
        json.dump({"signature": signature, "key": key}, stream)
    os.replace(temp, index)


def store_path(out_dir: Path, *, cache_dir: Path | None = None) -> Path:
    """Where the store for the current out/kg.nq lives (it may not exist yet)."""
    cache_dir = cache_dir or default_cache_dir(out_dir)
    return cache_dir / dataset_key(out_dir, cache_dir=cache_dir)


def refresh(out_dir: Path, *, cache_dir: Path | None = None, graphs: dict[str, str] | None = None,
            key: str | None = None, loading: "Loading | None" = None, prepared: "Prepared | None" = None) -> Path:
    """Make sure the store for the current out/kg.nq exists; return its directory. Cheap when up to date.

    `graphs` (from `kg build`: named graph IRI -> a key that changes whenever the graph's content does)
    lets the build's working store be updated graph by graph instead of loaded from scratch. `key` (from
    `kg build`, which has just written out/kg.nq: 64 hexadecimal digits that change whenever its content can)
    names the store instead of the file's SHA-256, which is then not read (0.6 s for 1 GB). `loading` (from
    `begin`, given the same `graphs`) is the working store's load, already under way. `prepared` (from
    `prepare`, given the same `graphs` and `key`) is the store made already, to be renamed into place."""
    cache_dir = cache_dir or default_cache_dir(out_dir)
    if key is not None:
        _remember(cache_dir / INDEX_FILE, _signature(dataset_path(out_dir)), key)
    target = store_path(out_dir, cache_dir=cache_dir)
    if target.is_dir():
        if loading is not None:  # not expected: `begin` saw no store for this key
            loading.cancel()
        if prepared is not None:
            prepared.discard()
        return target
    cache_dir.mkdir(parents=True, exist_ok=True)
    building = prepared.folder if prepared is not None and prepared.key == target.name else None
    if building is None:
        if prepared is not None:  # of another key: not expected
            prepared.discard()
        building = Path(tempfile.mkdtemp(prefix=".building-", dir=cache_dir))
    try:
        if not (building / "store").is_dir():  # (made already when prepared)
            def make() -> pyoxigraph.Store:
                if graphs is None:
                    store = pyoxigraph.Store(str(building / "store"))
                    _load(store, dataset_path(out_dir))
                    store.flush()
                    return store
                store = _sync_work(cache_dir / WORK_DIR, dataset_path(out_dir), graphs, loading)
                store.backup(str(building / "store"))
                return store

            _made(make)
        try:
            os.rename(building / "store", target)
        except OSError:
            if not target.is_dir():
                raise
            # A concurrent run renamed its identical store into place first.
    finally:
        shutil.rmtree(building, ignore_errors=True)
    _prune(cache_dir, keep=target.name)
    return target


def _made(make: Callable[[], pyoxigraph.Store]) -> None:
    """Run `make` and close the store it returns: RocksDB closes its files when the store is dropped, and
    renaming an open database is not safe. A full collection (most of a second after a large build) only when
    something besides `store` holds it."""
    store = make()
    held = sys.getrefcount(store) > 2  # `store` and getrefcount's argument
    del store
    if held:
        gc.collect()


def _load(store: pyoxigraph.Store, nq: Path, data: bytes | None = None) -> None:
    try:
        if data is None:
            _load_file(store, nq)
            # A bulk load leaves many small table files; compacting them once made lookups several times
            # quicker (events-by-plover's 52,000 label lookups at 10,000 articles: 1.7 s -> 0.5 s).
            store.optimize()
        elif len(data) < SMALL_LOAD:  # a graph or two after an edit: a transaction, not new table files
            store.load(data, format=pyoxigraph.RdfFormat.N_QUADS)
        else:
            store.bulk_load(data, format=pyoxigraph.RdfFormat.N_QUADS)
    except SyntaxError as e:
        raise KgError(_syntax_problem(e, nq)) from None


LOAD_CHUNK = 128 << 20  # bytes of kg.nq given to one bulk load (see _load_file)
# Below this many bytes, lines are loaded in one transaction: RocksDB's bulk loader writes and ingests table
# files of its own, 0.25 s for each of the two graphs an edit changes at 10,000 articles (a transaction: ~0.01 s).
SMALL_LOAD = 16 << 20


def _load_file(store: pyoxigraph.Store, nq: Path) -> None:
    """Bulk-load `nq` LOAD_CHUNK bytes (whole lines) at a time: RocksDB's bulk loader holds memory in
    proportion to what it is given (loading a 1 GB kg.nq at once: 1.7 GiB; in 128 MB chunks: 0.7 GiB, and
    a third more time). A syntax error's line numbers are those of the file."""
    before = 0  # lines in the chunks loaded
    with nq.open("rb") as stream:
        while chunk := stream.read(LOAD_CHUNK):
            chunk += stream.readline()
            try:
                store.bulk_load(chunk, format=pyoxigraph.RdfFormat.N_QUADS)
            except SyntaxError as e:
                moved = SyntaxError(re.sub(r"(?<=\bline )\d+", lambda m: str(int(m.group()) + before), str(e)))
                moved.lineno, moved.offset = (e.lineno or 0) + before, e.offset
                raise moved from None
            before += chunk.count(b"\n")


def loads_anew(out_dir: Path, graphs: dict[str, str], key: str, *, cache_dir: Path | None = None) -> bool:
    """Whether the build's store for `key` is to be loaded from scratch (`begin`): it is not there, and the
    working store cannot be brought up to date graph by graph."""
    cache_dir = cache_dir or default_cache_dir(out_dir)
    return not (cache_dir / key).is_dir() and _changed(cache_dir / WORK_DIR, graphs) is None


def begin(out_dir: Path, staged: Path, graphs: dict[str, str], key: str, *,
          cache_dir: Path | None = None) -> "Loading | None":
    """Start loading the build's working store from scratch, in a process of its own, from `staged` (the new
    kg.nq, staged by kg.build.stage or kg.build.write and about to replace out/kg.nq) while the build makes
    and writes its other files;
    None when `refresh` will not load it from scratch (its store is there already, it is small, or it changes
    graph by graph). Pass what this returns to `refresh` with the same `graphs` and `key`, or `cancel()` it."""
    cache_dir = cache_dir or default_cache_dir(out_dir)
    work = cache_dir / WORK_DIR
    if not loads_anew(out_dir, graphs, key, cache_dir=cache_dir) or staged.stat().st_size < LOAD_APART_FROM:
        return None
    _empty(work)
    # The loader reads a hard link of its own: the staged name is renamed (or removed) when the build is done
    # writing, which may be before the loading process has opened it.
    source = work / DATASET_FILE
    try:
        os.link(staged, source)
    except OSError:  # another file system, say: loaded after the writing instead
        return None
    from kg.forked import spawned  # here: multiprocessing costs every `kg query` 25 ms to import

    return Loading(spawned(_load_new, str(work / "store"), str(source)), graphs, source)


class Loading:
    """A working store being loaded from scratch (`begin`), for `graphs`, from the hard link `source`, which is
    removed once the loading is over."""

    def __init__(self, process, graphs: dict[str, str], source: Path):
        self.process, self.graphs, self.source = process, graphs, source

    def wait(self) -> list[Problem]:
        try:
            return self.process()
        finally:
            self.source.unlink(missing_ok=True)

    def cancel(self) -> None:
        self.process.cancel()
        self.source.unlink(missing_ok=True)


def _changed(work: Path, graphs: dict[str, str]) -> list[str] | None:
    """The graphs to reload in the working store `work` to make it hold `graphs`; None: load it anew."""
    try:
        known = json.loads((work / MANIFEST_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    changed = sorted(g for g in graphs.keys() | known.keys() if graphs.get(g) != known.get(g))
    return None if len(changed) > max(8, len(graphs) // 4) else changed


def _empty(work: Path) -> None:
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)


def _sync_work(work: Path, nq: Path, graphs: dict[str, str], loading: Loading | None = None,
               lines: "Callable[[str], bytes] | None" = None) -> pyoxigraph.Store:
    """The build's working store, made to hold exactly out/kg.nq: changed graphs are dropped and reloaded
    from their lines of kg.nq (each graph's lines are contiguous there: the file is sorted by graph), or
    from `lines(graph)` (`prepare`: the lines the new kg.nq will hold)."""
    manifest_path = work / MANIFEST_FILE
    if loading is not None:
        if loading.graphs != graphs:
            raise ValueError("the store being loaded is not of these graphs")
        problems = [replace(p, path=str(nq)) for p in loading.wait()]  # it read the file staged at another path
        if problems:
            raise KgError(problems)
        store = pyoxigraph.Store(str(work / "store"))
    elif (changed := _changed(work, graphs)) is None:
        if lines is not None:
            raise ValueError("a store to be loaded anew is loaded from kg.nq")
        _empty(work)
        if nq.stat().st_size >= LOAD_APART_FROM:
            from kg.forked import spawned  # here: multiprocessing costs every `kg query` 25 ms to import

            problems = spawned(_load_new, str(work / "store"), str(nq))()
            if problems:
                raise KgError(problems)
            store = pyoxigraph.Store(str(work / "store"))
        else:
            store = pyoxigraph.Store(str(work / "store"))
            _load(store, nq)
    else:
        manifest_path.unlink()  # until the store is in sync again
        store = pyoxigraph.Store(str(work / "store"))
        with contextlib.ExitStack() as stack:
            if lines is None:
                stream = stack.enter_context(nq.open("rb"))
                lines = partial(_graph_lines, stream)
            for graph in changed:
                store.remove_graph(pyoxigraph.NamedNode(graph))
                if graph in graphs:
                    _load(store, nq, lines(graph))
    store.flush()
    manifest_path.write_text(json.dumps(graphs, sort_keys=True), encoding="utf-8")
    return store


def prepare(out_dir: Path, graphs: dict[str, str], key: str, lines: Callable[[str], bytes | None], *,
            cache_dir: Path | None = None) -> "Prepared | None":
    """(kg build, after an edit, while the new out/kg.nq is still being staged by another process.) The store
    for `key` made ahead: the working store brought up to date graph by graph, each changed graph from
    `lines(graph IRI)` (its lines in the new kg.nq; None when they are not known), and checkpointed into a
    folder beside where it goes, which `refresh(..., prepared=)` renames into place once kg.nq is written.
    None when it is not made so: its store is there already, or is to be loaded anew, or some lines are not
    known. The working store's own manifest says what it holds, so a build that fails after this leaves it
    consistent, and out/'s store as it was."""
    cache_dir = cache_dir or default_cache_dir(out_dir)
    work = cache_dir / WORK_DIR
    if (cache_dir / key).is_dir():
        return None
    changed = _changed(work, graphs)
    if changed is None:
        return None
    known = {graph: lines(graph) for graph in changed if graph in graphs}
    if any(text is None for text in known.values()):
        return None
    building = Path(tempfile.mkdtemp(prefix=".building-", dir=cache_dir))
    try:
        def make() -> pyoxigraph.Store:
            store = _sync_work(work, dataset_path(out_dir), graphs, lines=known.__getitem__)
            store.backup(str(building / "store"))
            return store

        _made(make)
    except BaseException:
        shutil.rmtree(building, ignore_errors=True)
        raise
    return Prepared(building, key)


@dataclass(frozen=True)
class Prepared:
    """A store made ahead (`prepare`): `folder`/store is the store for `key`."""

    folder: Path
    key: str

    def discard(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)


LOAD_APART_FROM = 64 << 20  # bytes of kg.nq from which `kg build` loads a new store in a process of its own


def _load_new(path: str, nq: str) -> list[Problem]:
    """Load a new store at `path` from `nq` and close it; the problems of a file that does not parse.

    `kg build` runs this in a process of its own: what RocksDB's bulk loader holds (a third of a GiB at
    10,000 articles) is then not added to the build's own memory, and is all given back when it ends."""
    store = pyoxigraph.Store(path)
    try:
        _load(store, Path(nq))
    except KgError as error:  # its problems pickle; the error itself does not come back whole
        return error.problems
    store.flush()
    return []


def _graph_lines(stream: BinaryIO, graph: str) -> bytes:
    """The lines of a sorted N-Quads file whose graph is `graph` (they are contiguous, and the file is sorted
    by graph): found by binary search, so a graph of a 1 GB kg.nq is read without reading the file."""
    target = f"<{graph}>".encode("utf-8")

    def graph_at(offset: int) -> tuple[bytes | None, int]:
        """(graph of the first line starting at or after `offset`, where that line starts); None at the end."""
        stream.seek(max(0, offset - 1))
        if offset:
            stream.readline()  # up to the end of the line holding byte offset - 1: to `offset` at a line start
        start = stream.tell()
        line = stream.readline()
        return (_graph_of(line) if line else None), start

    low, high = 0, stream.seek(0, os.SEEK_END)
    while low < high:  # the graphs of the lines from `offset` on only grow with `offset`
        middle = (low + high) // 2
        found, _ = graph_at(middle)
        if found is not None and found < target:
            low = middle + 1
        else:
            high = middle
    _, start = graph_at(low)
    stream.seek(start)
    lines = []
    for line in stream:
        if _graph_of(line) != target:
            break
        lines.append(line)
    return b"".join(lines)


def _graph_of(line: bytes) -> bytes:
    """The graph of an N-Quads line `... <graph> .` (b"" for a triple in the default graph)."""
    body = line.rstrip(b"\r\n").rstrip()
    body = body[:-1].rstrip() if body.endswith(b".") else body
    if not body.endswith(b">"):
        return b""
    return body[body.rfind(b" <") + 1:]


def open_store(out_dir: Path, *, cache_dir: Path | None = None) -> pyoxigraph.Store:
    """The built graph as a read-only pyoxigraph store (built first if out/kg.nq changed)."""
    return pyoxigraph.Store.read_only(str(refresh(out_dir, cache_dir=cache_dir)))


def _prune(cache_dir: Path, *, keep: str) -> None:
    # Stores of older builds. A reader that still has one open keeps its files (they are unlinked, not
    # truncated); `kg serve` works on its own checkpoint, so removing them never breaks a running server.
    for entry in cache_dir.iterdir():
        if entry.name != keep and not entry.name.startswith(".") and len(entry.name) == 64:
            shutil.rmtree(entry, ignore_errors=True)


def _syntax_problem(error: SyntaxError, path: Path) -> Problem:
    return Problem(str(error), path=str(path), line=error.lineno, column=error.offset)
