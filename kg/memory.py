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
