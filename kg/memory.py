"""Giving freed memory back to the operating system at the end of each step of a long run.

CPython hands large objects to the C library's allocator, and glibc keeps what is freed for later
allocations rather than returning it, most of all when live objects sit between the freed ones. After
validating 10,000 articles in memory the build's resident set stayed at 1.5 GiB with 0.4 GiB in use, and
every later step (and every worker forked from the process) started from there; `malloc_trim` brought it
to 370 MiB in a fraction of a second. Elsewhere than glibc this does nothing.
"""

from __future__ import annotations

import functools


@functools.cache
def _malloc_trim():
    import ctypes  # when first needed: not on the way to `kg --help`

    try:
        return ctypes.CDLL(None).malloc_trim  # the C library this process runs on
    except (OSError, AttributeError):  # not glibc
        return None


def give_back() -> None:
    """Return the C heap's free pages to the operating system (glibc's malloc_trim)."""
    trim = _malloc_trim()
    if trim is not None:
        trim(0)
