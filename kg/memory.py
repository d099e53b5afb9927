"""Giving freed memory back to the operating system at the end of each step of a long run.

CPython hands large objects to the C library's allocator, and glibc keeps what is freed for later
allocations rather than returning it, most of all when live objects sit between the freed ones. After
validating 10,000 articles in memory the build's resident set stayed at 1.5 GiB with 0.4 GiB in use, and
every later step (and every worker forked from the process) started from there; `malloc_trim` brought it
to 370 MiB in a fraction of a second. Elsewhere than glibc this does nothing.

CPython's own allocator returns an arena (1 MiB) only when nothing in it is alive, and its free lists keep up
to 2,000 freed tuples of each size (and lists, dicts...) for reuse: after a whole format's pieces are freed,
those last tuples, scattered over the heap, hold hundreds of arenas (0.38 GB after writing kg.jsonld of 10,000
articles). Only a full garbage collection empties the free lists; it costs a tenth of a second or more in a
large build, so it is asked for after the steps that free a whole format's pieces, not after every step.
"""

from __future__ import annotations

import functools
import gc
import os
import pickle


@functools.cache
def _malloc_trim():
    import ctypes  # when first needed: not on the way to `kg --help`

    try:
        return ctypes.CDLL(None).malloc_trim  # the C library this process runs on
    except (OSError, AttributeError):  # not glibc
        return None


def give_back(*, collect: bool = False) -> None:
    """Return the C heap's free pages to the operating system (glibc's malloc_trim); with `collect`, after a
    full garbage collection, which empties CPython's free lists too."""
    if collect:
        gc.collect()
    trim = _malloc_trim()
    if trim is not None:
        trim(0)


FREEZE_FROM = 4 << 20  # bytes of pickle from which `unpickled` freezes what it made


def unpickled(stream):
    """`pickle.load(stream)` (a file) with the cyclic garbage collector held off; from FREEZE_FROM bytes, what
    it made (and everything else then alive) is left out of later collections (`gc.freeze`). Unpickling makes
    no garbage, but a large value's millions of new objects set off collections that walk the whole heap again
    and again: in kg build after an edit, reading the report's dependencies (70 MB at 10,000 articles) and
    out/'s manifest spent a second in the collector, and listing the pages after them another half. Frozen
    objects are still freed when nothing refers to them (reference counting); a cycle of garbage alive at the
    freeze is never collected, which is why small reads (thousands in a build, and in a test run) do not
    freeze."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        value = pickle.load(stream)
        if os.fstat(stream.fileno()).st_size >= FREEZE_FROM:
            gc.freeze()
        return value
    finally:
        if enabled:
            gc.enable()
