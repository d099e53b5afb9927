"""Articles as units of work, and the cache that keeps what the build made of each.

A unit's key is the SHA-256 of everything its results depend on: the article's own files, the shared inputs
(ontology/, shapes/, the registry, the JSON-LD context), the build's options, and kg's own code. Grounding,
reasoning over and validating one article needs only that article, the registry and the ontology (see
kg.reason for why that is sound), so an unchanged key means an unchanged result: the build takes it from
`.cache/units/` instead of redoing it. Any change to a shared input changes every key; a change to kg's code
does too. The cache can only ever return what a build without it would compute — a test builds a corpus
clean and cached and compares the bytes.

Cache entries are pickles written atomically (temporary file, then rename); one that cannot be read (a
different Python, a truncated file) is treated as missing, never as an error.
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import os
import pickle
import shutil
import struct
import tempfile
from contextlib import closing
from functools import lru_cache
from pathlib import Path

from kg.memory import unpickled

CACHE_DIR = ".cache/units"
OUT_DIR = "out"  # where kg build writes (kg.build), beside the sources
OUT_MANIFEST = ".cache/out.pickle"  # what `kg build` last wrote to out/ (keys and file signatures: kg.build.write)
VALIDATION_DIR = ".cache/validation"  # kg.unit_validation's state and store
VALIDATION_STATE = f"{VALIDATION_DIR}/state.pickle"
FEW_CHANGED = 16  # articles made anew that are still an edit (kg.build.Build.edited)
_PROTOCOL = pickle.HIGHEST_PROTOCOL
_CODE_SUFFIXES = (".py", ".java", ".css", ".js", ".html", ".jsonld")


def few_changed(made: int, units: int) -> bool:
    """Whether `made` articles made anew of `units` are an edit (at most FEW_CHANGED, or 2 % of them), after which
    kg build splices the data files from the last ones (kg.build.Build.edited, kg.survey)."""
    return made <= max(FEW_CHANGED, units // 50)


@lru_cache(maxsize=1)
def code_hash() -> str:
    """Hash of kg's own source files: a new kg (or a local edit of it) invalidates every cached unit."""
    package = Path(__file__).resolve().parent
    digest = hashlib.sha256()
    for path in sorted(p for p in package.rglob("*") if p.is_file() and p.suffix in _CODE_SUFFIXES):
        if "__pycache__" in path.parts:
            continue
        digest.update(path.relative_to(package).as_posix().encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()


def files_hash(root: Path, relatives: list[str], *, salt: str = "") -> str:
    """Hash of the named files (names and bytes, in the given order); a missing file hashes as missing."""
    digest = hashlib.sha256(salt.encode() + b"\0")
    for relative in relatives:
        path = Path(root) / relative
        digest.update(relative.encode() + b"\0")
        digest.update(path.read_bytes() if path.is_file() else b"\0missing\0")
        digest.update(b"\0")
    return digest.hexdigest()


def folder_files(root: Path, folder: str) -> list[tuple[str, os.stat_result]]:
    """Every file of an article folder (relative paths, sorted, each with its stat): all of them can change
    its results. os.scandir and plain strings: at 10,000 articles, pathlib and os.walk took most of the time
    of finding the one edited article."""
    found = []
    base = os.path.join(str(root), "")

    def walk(directory: str) -> None:
        with os.scandir(directory) as entries:
            for entry in entries:
                if entry.is_dir():
                    if not entry.is_symlink():  # as os.walk: a linked folder is neither read nor hashed
                        walk(entry.path)
                else:
                    found.append((entry.path[len(base):].replace(os.sep, "/"), entry.stat()))

    walk(os.path.join(str(root), folder))
    return sorted(found, key=lambda item: item[0])


class Fingerprints:
    """Content hashes of files, re-read only when a file's size, modification time or inode changed (as
    git's index does), so finding the one edited article among ten thousand reads one folder, not all."""

    FILE = "files.pickle"

    def __init__(self, root: Path, *, enabled: bool = True):
        self.root = Path(root)
        self.path = self.root / CACHE_DIR / self.FILE
        self.enabled = enabled
        self.known: dict[str, tuple] = {}
        self.dirty = False
        self.loaded = False  # whether fingerprints of an earlier run were read
        self.forgotten = False  # whether `save` forgot files (of a removed article, say)
        self.hashed = 0  # files hashed anew (not known with the same signature)
        if enabled:
            try:
                with self.path.open("rb") as stream:
                    self.known = unpickled(stream)
                self.loaded = True
            except Exception:
                self.known = {}

    def file(self, relative: str, stat: os.stat_result | None = None) -> str:
        stat = stat or os.stat(self.root / relative)
        signature = (stat.st_size, stat.st_mtime_ns, stat.st_ino)
        known = self.known.get(relative)
        if known is not None and known[0] == signature:
            return known[1]
        digest = hashlib.sha256((self.root / relative).read_bytes()).hexdigest()
        self.known[relative] = (signature, digest)
        self.dirty = True
        self.hashed += 1
        return digest

    def folder(self, folder: str, *, salt: str) -> str:
        """Hash of a folder's files (names and contents) and `salt`."""
        return salted(self.digest(folder), salt)

    def digest(self, folder: str) -> str:
        """Hash of a folder's files (names and contents)."""
        digest = hashlib.sha256()
        for relative, stat in folder_files(self.root, folder):
            digest.update(f"{relative}\0{self.file(relative, stat)}\0".encode())
        return digest.hexdigest()

    def save(self, keep_folders: list[str]) -> None:
        if not self.enabled:
            return
        keep = set(keep_folders)
        stale = [r for r in self.known if not _under(r, keep)]
        for relative in stale:
            del self.known[relative]
        self.forgotten = bool(stale)
        if self.dirty or stale:
            atomic_pickle(self.path, self.known)


def output_states(manifest: Path) -> Path:
    """The folder beside the out/ manifest where the large outputs keep what the next build splices them from."""
    return Path(manifest).parent / "out"


def salted(digest: str, salt: str) -> str:
    """A folder's key: its files' digest (Fingerprints.digest) and `salt` (what else its results depend on)."""
    return hashlib.sha256(f"{salt}\0{digest}".encode()).hexdigest()


def folder_digests(root: Path, folders: list[str]) -> tuple[dict[str, str], bool, bool, int]:
    """Every folder's digest (Fingerprints.digest), the fingerprints kept for the next run: (digests, whether
    files of other folders were forgotten, whether an earlier run's fingerprints were read, how many folders
    had a file hashed anew: edited since, most likely)."""
    fingerprints = Fingerprints(root)
    digests, edited = {}, 0
    for folder in folders:
        hashed = fingerprints.hashed
        digests[folder] = fingerprints.digest(folder)
        edited += fingerprints.hashed > hashed
    fingerprints.save(folders)
    return digests, fingerprints.forgotten, fingerprints.loaded, edited


def _under(relative: str, folders: set[str]) -> bool:
    """Whether a relative path lies in one of `folders` (a set: ten thousand folders are looked up in it)."""
    at = relative.find("/")
    while at != -1:
        if relative[:at] in folders:
            return True
        at = relative.find("/", at + 1)
    return False


class Cache:
    """Unit results under <project>/.cache/units/, one file per name, each remembering its key."""

    def __init__(self, root: Path, *, enabled: bool = True):
        self.dir = Path(root) / CACHE_DIR
        self.enabled = enabled

    def _path(self, name: str) -> Path:
        return self.dir / f"{name}.pickle"

    def get(self, name: str, key: str):
        return read_keyed(self._path(name), key) if self.enabled else None

    def put(self, name: str, key: str, value) -> None:
        if self.enabled:
            atomic_pickle(self._path(name), (key, value))

    def journal(self, name: str) -> "Journal | _NoJournal":
        """A large entry kept as a base and its changes (`Journal`): read it, then write it back."""
        if not self.enabled:
            return _NoJournal()
        return Journal(self._path(name), self.dir / "changes" / f"{name}.pickle")

    def _parts_path(self, name: str) -> Path:
        return self.dir / "parts" / f"{name}.pickle"

    def put_parts(self, name: str, key: str, parts: dict[str, object]) -> None:
        """Parts of a unit's result kept apart from it (each output format's share, its report page and piece),
        in one file, each to be loaded on its own (`get_part`). One file, not one per part: seven files per
        article made a first build of 10,000 articles create 70,000, each creation waiting on the file
        system's journal while the build writes gigabytes."""
        if self.enabled:
            atomic_write(self._parts_path(name), _pack_parts(key, parts))

    def get_part(self, name: str, part: str, key: str):
        found = self.last_part(name, part, key=key)
        return found[1] if found is not None else None

    def last_part(self, name: str, part: str, *, key: str | None = None) -> tuple[str, object] | None:
        """(key, value) of the part as it is, whatever its key (what a build replaces: its last version), or only
        under `key`; None when missing or unreadable."""
        return _read_part(self._parts_path(name), part, key) if self.enabled else None

    def signature(self, name: str) -> tuple[int, int, int] | None:
        """The entry's `signature`: what `Headers` compares (a string path: ten thousand are taken per build)."""
        return signature(f"{self.dir}{os.sep}{name}.pickle")

    def prune(self, keep: set[str]) -> None:
        """Remove entries of units that no longer exist (a deleted or renamed article)."""
        if not self.enabled or not self.dir.is_dir():
            return
        for path in [*self.dir.glob("*.pickle"), *self.dir.glob("parts/*.pickle")]:
            if path.stem not in keep and path.name != Fingerprints.FILE:
                path.unlink(missing_ok=True)
        for folder in self.dir.glob("parts/*/"):  # an older kg's, a file per part
            shutil.rmtree(folder, ignore_errors=True)


class Index:
    """Every unit's key and the nodes it describes, for the checks between articles, in one SQLite file
    (`.cache/units/index.sqlite`): after an edit, a run reads the changed articles' units, not ten thousand.

    It records the units of the last corpus that passed those checks, under the shared inputs' key (an index
    of other ontology, shapes, registry or kg reads as empty). A unit's key fixes its nodes, so the index
    never needs its units' cache entries. Updates are SQLite transactions: a run that fails or is killed
    leaves the index as it was; an index that cannot be read is rebuilt."""

    FILE = "index.sqlite"

    def __init__(self, root: Path, *, enabled: bool = True):
        self.path = Path(root) / CACHE_DIR / self.FILE
        self.enabled = enabled

    def _connect(self):
        import sqlite3

        self.path.parent.mkdir(parents=True, exist_ok=True)
        return sqlite3.connect(self.path, timeout=60, isolation_level=None)  # transactions by hand

    @staticmethod
    def _create(db) -> None:
        """The tables, made anew (in the caller's transaction). A unit's nodes are kept with it too, as one
        string, so that the nodes table needs no second index by unit."""
        for table in ("shared", "units", "nodes"):
            db.execute(f"DROP TABLE IF EXISTS {table}")
        db.execute("CREATE TABLE shared (key TEXT NOT NULL)")
        db.execute("CREATE TABLE units (slug TEXT PRIMARY KEY, key TEXT NOT NULL, nodes TEXT NOT NULL) WITHOUT ROWID")
        db.execute("CREATE TABLE nodes (node TEXT PRIMARY KEY, slug TEXT NOT NULL) WITHOUT ROWID")

    def keys(self, shared_key: str) -> dict[str, str]:
        """slug -> unit key of every indexed unit; empty when there is no index for these shared inputs."""
        import sqlite3

        if not self.enabled or not self.path.is_file():
            return {}
        try:
            with closing(self._connect()) as db:
                if db.execute("SELECT key FROM shared").fetchall() != [(shared_key,)]:
                    return {}
                return dict(db.execute("SELECT slug, key FROM units"))
        except sqlite3.Error:
            self.path.unlink(missing_ok=True)  # damaged: the next run that passes rebuilds it
            return {}

    def record(self, shared_key: str, units: list[tuple[str, str, tuple[str, ...]]], *, removed=(),
               whole: bool = False) -> bool:
        """Record (slug, key, nodes) of `units` and forget the `removed` slugs; `whole`: these are all the units
        (the index is rebuilt). False, with nothing changed, when a node would belong to two units."""
        import sqlite3

        if not self.enabled:
            return True
        try:
            with closing(self._connect()) as db:
                db.execute("BEGIN IMMEDIATE")
                try:
                    if whole:
                        self._create(db)
                        db.execute("INSERT INTO shared VALUES (?)", (shared_key,))
                    for slug in () if whole else sorted({*removed, *(slug for slug, _, _ in units)}):
                        for (nodes,) in db.execute("SELECT nodes FROM units WHERE slug = ?", (slug,)).fetchall():
                            db.executemany("DELETE FROM nodes WHERE node = ? AND slug = ?",
                                           [(node, slug) for node in nodes.split("\n") if node])
                        db.execute("DELETE FROM units WHERE slug = ?", (slug,))
                    db.executemany("INSERT INTO units VALUES (?, ?, ?)",
                                   [(slug, key, "\n".join(nodes)) for slug, key, nodes in units])
                    db.executemany("INSERT INTO nodes VALUES (?, ?)", [(n, slug) for slug, _, nodes in units for n in nodes])
                except sqlite3.IntegrityError:
                    db.execute("ROLLBACK")
                    return False
                db.execute("COMMIT")
        except sqlite3.Error:  # unreadable or of another layout: not checked, and rebuilt by the next full check
            self.path.unlink(missing_ok=True)
            return False
        return True


class Headers:
    """What a build needs to know of each cached unit without reading its entry, in one file
    (`.cache/units/_headers.pickle`): after an edit of one article among ten thousand, unpickling every unit
    took a second and a half. A header is kept with the key and the signature (size, modification time, inode)
    of the entry it describes, as git's index does: it is used only while that entry is exactly the file it
    was taken from, so a header can never describe another entry (one rewritten since, by `kg validate`
    say, or damaged). The file is kept under the shared inputs' key and written atomically."""

    FILE = "_headers.pickle"

    def __init__(self, cache: Cache, shared_key: str):
        self.cache, self.shared_key = cache, shared_key
        self.read: dict[str, tuple] = {}  # name -> (key, signature, header) as read
        if cache.enabled:
            self.read = read_keyed(cache.dir / self.FILE, shared_key) or {}

    def get(self, name: str, key: str):
        """The header of the entry `name` when it holds `key` and is the file the header was taken from."""
        found = self.read.get(name)
        if found is None or found[0] != key or found[1] != self.cache.signature(name):
            return None
        return found[2]

    def save(self, headers: dict[str, tuple]) -> None:
        """Keep `headers` (name -> (key, signature, header)) in place of those read, if they differ."""
        if self.cache.enabled and headers != self.read:
            atomic_pickle(self.cache.dir / self.FILE, (self.shared_key, headers))
            self.read = headers


def signature(path: str | Path) -> tuple[int, int, int] | None:
    """(size, modification time, inode) of a file, None when it is missing: a file rewritten (or replaced)
    since has another one, as git's index assumes."""
    try:
        stat = os.stat(path)
    except OSError:
        return None
    return (stat.st_size, stat.st_mtime_ns, stat.st_ino)


def read_keyed(path: Path, key: str):
    """The value stored at `path` under `key`; None when missing, stored under another key, or unreadable
    (truncated, or written by another Python): the caller recomputes it."""
    found = _read_pair(path)
    return found[1] if found is not None and found[0] == key else None


def _read_pair(path: Path) -> tuple[str, object] | None:
    """(key, value) as stored at `path`; None when missing or unreadable."""
    try:
        with path.open("rb") as stream:
            stored_key, value = unpickled(stream)
    except Exception:
        return None
    return stored_key, value


_HEAD = struct.Struct("<Q")  # the length of a parts file's table


def _pack_parts(key: str, parts: dict[str, object]) -> bytes:
    """A parts file: the length of its table, its table (key, part -> (offset, length)), then each part
    pickled, so that one part is read without the others."""
    blobs = {part: pickle.dumps(value, protocol=_PROTOCOL) for part, value in parts.items()}
    table, offset = {}, 0
    for part, blob in blobs.items():
        table[part] = (offset, len(blob))
        offset += len(blob)
    head = pickle.dumps((key, table), protocol=_PROTOCOL)
    return b"".join([_HEAD.pack(len(head)), head, *blobs.values()])


def _read_part(path: Path, part: str, key: str | None) -> tuple[str, object] | None:
    """(key, part's value) from a parts file (`_pack_parts`), if under `key` when given; None when missing,
    under another key, without that part, or unreadable."""
    try:
        with open(path, "rb") as stream:
            (size,) = _HEAD.unpack(stream.read(_HEAD.size))
            stored, table = pickle.loads(stream.read(size))
            if key is not None and stored != key:
                return None
            offset, length = table[part]
            stream.seek(_HEAD.size + size + offset)
            blob = stream.read(length)
            if len(blob) != length:
                return None
            return stored, pickle.loads(blob)
    except Exception:
        return None


class Journal:
    """A large value kept as a base file and a small file of its changes since the base was written: a build
    after an edit changes a few dozen entries of dicts of a hundred thousand (kg.report.incremental's
    Dependencies, 70 MB pickled at 10,000 articles; out/'s manifest), and writing the whole value again took
    half a second of it. The value is a dict, or a dataclass whose fields are dicts or small values.

    `read(key)` gives the value stored under `key` (the base with its changes applied) or None; `write(key,
    value)` writes only what differs from the base read (when that is small beside the base: else the base
    anew). The changes name the base they apply to (a token written into it), and a base is taken alone only
    when the changes file says it has none: a changes file that is lost, stale or unreadable makes `read`
    return None (the caller recomputes), never a base without its changes. Both files are written atomically.
    """

    _RATIO = 8  # the base is written anew once its changes pickle to more than an eighth of its size

    def __init__(self, base: Path, changes: Path):
        self.base_path, self.changes_path = Path(base), Path(changes)
        self._base = None  # (key, token, value, size) of the base as read or written

    def read(self, key: str):
        found, changes = _tagged(self.base_path, key), _tagged(self.changes_path, key)
        if found is None or changes is None or changes[0] != found[0]:
            return None
        token, base = found
        try:
            size = os.path.getsize(self.base_path)
        except OSError:
            return None
        self._base = (key, token, base, size)
        return _applied(base, changes[1])

    def write(self, key: str, value) -> None:
        if self._base is not None and self._base[0] == key:
            _, token, base, size = self._base
            changes = _changes(base, value)
            if changes is not None:
                data = pickle.dumps((key, (token, changes)), protocol=_PROTOCOL)
                if len(data) * self._RATIO <= size:
                    atomic_write(self.changes_path, data)
                    return
        token = os.urandom(16).hex()
        atomic_pickle(self.base_path, (key, (token, value)))
        atomic_pickle(self.changes_path, (key, (token, None)))
        self._base = (key, token, value, os.path.getsize(self.base_path))


def _tagged(path: Path, key: str) -> tuple[str, object] | None:
    """(token, value) as a Journal stores it at `path` under `key`; None when missing, under another key, or
    not a pair."""
    found = _read_pair(path)
    if found is None or found[0] != key or not (isinstance(found[1], tuple) and len(found[1]) == 2):
        return None
    return found[1]


class _NoJournal:
    def read(self, key: str):
        return None

    def write(self, key: str, value) -> None:
        pass


_ABSENT = object()


def _dict_changes(old: dict, new: dict) -> tuple[dict, tuple]:
    """(entries of `new` not in `old` or other there, keys of `old` not in `new`)."""
    changed = {k: v for k, v in new.items() if (o := old.get(k, _ABSENT)) is not v and o != v}
    added = sum(1 for k in changed if k not in old)
    removed = tuple(k for k in old if k not in new) if len(new) - added < len(old) else ()
    return changed, removed


def _changes(base, value):
    """What makes `value` of `base` (for `_applied`), or None when it is not a dict or dataclass like it."""
    if type(base) is dict and type(value) is dict:
        return _dict_changes(base, value)
    if not (dataclasses.is_dataclass(value) and type(base) is type(value)):
        return None
    found = {}
    for field in dataclasses.fields(value):
        old, new = getattr(base, field.name), getattr(value, field.name)
        if old is new:
            continue
        if type(old) is dict and type(new) is dict:
            changed, removed = _dict_changes(old, new)
            if changed or removed:
                found[field.name] = (True, (changed, removed))
        elif old != new:
            found[field.name] = (False, new)
    return found


def _applied(base, changes):
    if changes is None:
        return base
    if type(base) is dict:
        return _dict_applied(base, changes)
    return dataclasses.replace(base, **{name: _dict_applied(getattr(base, name), change) if is_dict else change
                                        for name, (is_dict, change) in changes.items()})


def _dict_applied(old: dict, changes: tuple[dict, tuple]) -> dict:
    changed, removed = changes
    new = {**old, **changed}
    for k in removed:
        del new[k]
    return new


def atomic_pickle(path: Path, value) -> None:
    _atomic(path, lambda stream: pickle.dump(value, stream, protocol=_PROTOCOL))


def atomic_write(path: Path, data: bytes) -> None:
    _atomic(path, lambda stream: stream.write(data))


TRASH: Path | None = None  # while `kg build` runs: where large files that `_atomic` replaces keep a name
LARGE = 4 << 20  # bytes from which a replaced file is kept in TRASH


def keep_blocks(target: Path, trash: Path) -> None:
    """Before a large file is replaced: a second name for it in `trash`, so that the rename does not free its
    blocks in this process's time (half a second for the 2 GB of a 10,000-article corpus's data files, a
    fifth of a second for the 140 MB of cache entries a build after an edit rewrites); kg.build._free_beside
    frees them in a process of its own."""
    try:
        trash.mkdir(parents=True, exist_ok=True)
        os.link(target, trash / f"{target.name}.{os.getpid()}.{next(_KEPT)}")
    except OSError:  # another file system, say: the rename frees it
        pass


_KEPT = itertools.count()


def _atomic(path: Path, write) -> None:
    """`write(stream)` to a temporary file beside `path`, then renamed to it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as stream:
            write(stream)
        trash = TRASH
        if trash is not None:
            try:
                large = os.path.getsize(path) >= LARGE
            except OSError:
                large = False
            if large:
                keep_blocks(path, trash)
        os.replace(temp, path)
    finally:
        if os.path.exists(temp):
            os.unlink(temp)
