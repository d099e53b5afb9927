"""The embedded store: a pyoxigraph on-disk store over out/kg.nq, built once per build.

The store lives in `.cache/store/<sha256 of out/kg.nq>/`. A query opens it read-only; when out/kg.nq changed
(the key differs) it is rebuilt first. Building happens in a temporary directory that is renamed into place,
so concurrent `kg query` runs never see a half-built store: at worst two of them build it and one rename wins.
"""

from __future__ import annotations

import gc
import hashlib
import os
import shutil
import tempfile
from pathlib import Path

import pyoxigraph

from kg.errors import KgError, Problem

DATASET_FILE = "kg.nq"


def dataset_path(out_dir: Path) -> Path:
    return Path(out_dir) / DATASET_FILE


def default_cache_dir(out_dir: Path) -> Path:
    return Path(out_dir).resolve().parent / ".cache" / "store"


def dataset_key(out_dir: Path) -> str:
    path = dataset_path(out_dir)
    try:
        with path.open("rb") as f:
            return hashlib.file_digest(f, "sha256").hexdigest()
    except FileNotFoundError:
        raise KgError(Problem("not built yet; run `kg build` first", path=str(path))) from None


def store_path(out_dir: Path, *, cache_dir: Path | None = None) -> Path:
    """Where the store for the current out/kg.nq lives (it may not exist yet)."""
    cache_dir = cache_dir or default_cache_dir(out_dir)
    return cache_dir / dataset_key(out_dir)


def refresh(out_dir: Path, *, cache_dir: Path | None = None) -> Path:
    """Make sure the store for the current out/kg.nq exists; return its directory. Cheap when up to date."""
    cache_dir = cache_dir or default_cache_dir(out_dir)
    target = store_path(out_dir, cache_dir=cache_dir)
    if target.is_dir():
        return target
    cache_dir.mkdir(parents=True, exist_ok=True)
    building = Path(tempfile.mkdtemp(prefix=".building-", dir=cache_dir))
    try:
        store = pyoxigraph.Store(str(building / "store"))
        try:
            store.bulk_load(path=str(dataset_path(out_dir)), format=pyoxigraph.RdfFormat.N_QUADS)
        except SyntaxError as e:
            raise KgError(_syntax_problem(e, dataset_path(out_dir))) from None
        store.flush()
        # RocksDB closes its files when the store is dropped; renaming an open database is not safe.
        del store
        gc.collect()
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


def open_store(out_dir: Path, *, cache_dir: Path | None = None) -> pyoxigraph.Store:
    """The built graph as a read-only pyoxigraph store (built first if out/kg.nq changed)."""
    return pyoxigraph.Store.read_only(str(refresh(out_dir, cache_dir=cache_dir)))


def _prune(cache_dir: Path, *, keep: str) -> None:
    # Stores of older builds. A reader that still has one open keeps its files (they are unlinked, not
    # truncated); `kg serve` works on its own checkpoint, so removing them never breaks a running server.
    for entry in cache_dir.iterdir():
        if entry.name != keep and not entry.name.startswith(".building-") and len(entry.name) == 64:
            shutil.rmtree(entry, ignore_errors=True)


def _syntax_problem(error: SyntaxError, path: Path) -> Problem:
    return Problem(str(error), path=str(path), line=error.lineno, column=error.offset)
