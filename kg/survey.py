"""What a build compares with what it kept, found by a second process as `kg build` begins (`Survey`): the
article folders' digests (kg.units.folder_digests) and every file in out/ with its signature. A module of its
own, light to import: the process is forked before kg build imports the rest of kg."""

from __future__ import annotations

import os
import pickle
import signal
import threading
from pathlib import Path

from kg.curation import ARTICLES_DIR, article_folder_names
from kg.units import CACHE_DIR, OUT_MANIFEST, VALIDATION_STATE, few_changed, folder_digests, output_states


def list_files(directory: str, strip: int, found: dict[str, tuple | None], *, stat: bool) -> None:
    """Every file under `directory` (its name from the `strip`th character on) -> its signature (with `stat`)."""
    with os.scandir(directory) as entries:  # os.scandir and strings: report/ holds a hundred thousand pages
        for entry in entries:
            if entry.is_dir(follow_symlinks=False):
                list_files(entry.path, strip, found, stat=stat)
            elif entry.is_file():
                name = entry.path[strip:].replace(os.sep, "/")
                if stat:
                    try:
                        info = entry.stat()
                    except OSError:  # gone since it was listed
                        continue
                    found[name] = (info.st_size, info.st_mtime_ns, info.st_ino)
                else:
                    found[name] = None


def survey(out_dir: Path) -> dict[str, tuple]:
    """Every file in out/ and its sub-folders -> its signature (kg.units.signature)."""
    base = os.path.join(str(out_dir), "")
    found: dict[str, tuple] = {}
    if os.path.isdir(base):
        list_files(base, len(base), found, stat=True)
    return found


class Survey:
    """What a build compares with what it kept, found by a process forked as `kg build` begins, while the second
    core has nothing else to do: first every article folder's digest (`folder_digests`: a stat of each of
    40,000 files at 10,000 articles, and a hash of what changed), then every file in out/ with its signature
    (`survey`), which `write` compares with its manifest and finds orphans among; after an edit, the build
    spent 1.5 s of 4 on both in its own process. From the start it reads ahead (`read_ahead`) the larger files
    the last build kept that every build reads (`kept_files`), and after an edit what the data files are
    spliced from (`spliced_from`); it is stopped at the build's end if still at it. A plain fork and a pipe: a
    multiprocessing child would be reaped by the processes other threads start (kg.forked). What it lists of
    out/ is out/ before anything is written there; `write` renames nothing before it reads it. An answer is None
    when the process failed: the build looks for itself."""

    def __init__(self, out_dir: Path, root: Path | None = None):
        self.pid, self.stream, self.answers = None, None, []
        reading, writing = os.pipe()
        try:
            pid = os.fork()
        except OSError:  # no process to be had: the build looks for itself
            os.close(reading)
            os.close(writing)
            return
        if pid == 0:  # pragma: no cover - the child (coverage does not follow a fork)
            status = 1
            try:
                os.close(reading)
                reading_ahead = None
                kept = threading.Thread(target=read_ahead, args=(kept_files(root),)) if root is not None else None
                if kept is not None:
                    kept.start()
                with open(writing, "wb") as stream:
                    for number, work in enumerate((
                            lambda: folder_digests(root, _folders(root)) if root is not None else None,
                            lambda: survey(out_dir))):
                        try:
                            answer = work()
                        except Exception:  # noqa: BLE001 - None: the build does this part itself
                            answer = None
                        # each answer pickled whole first: dumped into the pipe, the pickling would wait for the
                        # reader, and the reader for it
                        stream.write(pickle.dumps(answer, protocol=pickle.HIGHEST_PROTOCOL))
                        stream.flush()
                        if number == 0 and root is not None and _an_edit(answer):
                            reading_ahead = threading.Thread(target=read_ahead, args=(spliced_from(out_dir, root),))
                            reading_ahead.start()
                for thread in (kept, reading_ahead):
                    if thread is not None:
                        thread.join()
                status = 0
            finally:
                os._exit(status)
        os.close(writing)
        self.pid, self.stream = pid, open(reading, "rb")

    def _answer(self, number: int):
        while self.stream is not None and len(self.answers) <= number:
            try:
                self.answers.append(pickle.load(self.stream))
            except Exception:  # the process failed: no more answers
                self.close()
        return self.answers[number] if len(self.answers) > number else None

    def folders(self) -> tuple[dict[str, str], bool, bool, int] | None:
        """`folder_digests` of the project's article folders (None: not asked for, or failed)."""
        return self._answer(0)

    def result(self) -> dict[str, tuple] | None:
        """`survey(out_dir)`."""
        return self._answer(1)

    def close(self) -> None:
        """Reaps the process (when the build stops before asking for everything, too). Once it has given its
        first answer it writes nothing (`folder_digests` has saved the fingerprints): it is stopped rather
        than waited for, should it still be reading ahead."""
        if self.stream is not None:
            self.stream.close()
            self.stream = None
        if self.pid is not None:
            if self.answers:
                try:
                    os.kill(self.pid, signal.SIGKILL)
                except OSError:
                    pass
            os.waitpid(self.pid, 0)
            self.pid = None


def _an_edit(folders: tuple | None) -> bool:
    """Whether `folder_digests` says a few articles were edited since the last run (after which kg.build
    splices the data files anew: Build.edited): some, and few (kg.units.few_changed)."""
    return folders is not None and folders[2] and folders[3] > 0 and few_changed(folders[3], len(folders[0]))


def spliced_from(out_dir: Path, root: Path) -> list[str]:
    """What a build after an edit reads to splice the data files anew (kg.build.Ahead): the data files in out/,
    its manifest, and the files' maps kept beside it (kg.units.output_states)."""
    manifest = Path(root) / OUT_MANIFEST
    found = []  # in the order kg.build stages them: the maps, then the data files by name
    for folder in (str(output_states(manifest)), str(out_dir)):
        try:
            with os.scandir(folder) as entries:
                found += sorted(entry.path for entry in entries if entry.is_file(follow_symlinks=False))
        except OSError:
            continue
    return [str(manifest)] + found


def kept_files(root: Path) -> list[str]:
    """The larger files of the last build's that a build reads whatever changed: the unit cache's shared
    entries (`_*.pickle`: the report's dependencies and index, the units' headers, ...) and the validation's
    state, 160 MB at 10,000 articles, read ahead (`read_ahead`) from the moment the build begins."""
    units = os.path.join(str(root), CACHE_DIR)
    try:
        with os.scandir(units) as entries:
            found = sorted(e.path for e in entries if e.name.startswith("_") and e.name.endswith(".pickle"))
    except OSError:
        found = []
    return found + [os.path.join(str(root), VALIDATION_STATE)]


def read_ahead(paths: list[str]) -> None:
    """Read these files (into the kernel's page cache: what is read here is dropped). When an article changed, a
    build splices the data files anew from the last ones, 2.3 GB at 10,000 articles; a machine that pages out
    what was not read for a minute (DAMON reclaim, here) had them read from disk in the staging process's
    time, 3 s and more. Read as the build begins, they are read while it reads and reasons (2.5 s); when
    they are in memory already, this is a copy of memory. (posix_fadvise WILLNEED asks the kernel for a few
    megabytes only.)"""
    buffer = bytearray(4 << 20)
    for path in paths:
        try:
            with open(path, "rb", buffering=0) as stream:
                while stream.readinto(buffer):
                    pass
        except OSError:
            continue


def _folders(root: Path) -> list[str]:
    """The article folders as kg.curation lists them, bad ones too (the build reports those)."""
    return [f"{ARTICLES_DIR}/{name}" for name in article_folder_names(root) or []]
