"""Work in forked processes: they see this one's memory as it is (the corpus, the units), so what they
run need not pickle; only items and results do. Used where a step's work splits across cores, or where
one piece of work can run on the second core while this process goes on."""

from __future__ import annotations

import functools
import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor
from typing import Callable

_FUNCTION: Callable | None = None  # what the workers call: set just before they fork


def _call(item):
    return _FUNCTION(item)


class Forked:
    """`function(item)` for each item, on `workers` forked processes started at once. Iterate for the
    results, in order; `close` stops the workers (what they have not started is dropped)."""

    def __init__(self, function: Callable, items: list, *, workers: int):
        global _FUNCTION
        self.pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork"))
        _FUNCTION = function
        try:
            self.results = self.pool.map(_call, items, chunksize=max(1, min(64, len(items) // (4 * workers))))
        finally:
            _FUNCTION = None

    def __iter__(self):
        return self

    def __next__(self):
        return next(self.results)

    def close(self) -> None:
        self.pool.shutdown(cancel_futures=True)


def beside(function: Callable) -> Callable:
    """Start `function()` in a second process; return what waits for its result (and returns it again on
    later calls). On one core it runs here, when first asked for."""
    if (os.cpu_count() or 1) == 1:
        return functools.cache(function)
    result = Forked(lambda _: function(), [None], workers=1)

    def wait():
        try:
            return next(result)
        finally:
            result.close()

    return functools.cache(wait)


def spawned(function: Callable, *args) -> Callable:
    """Start `function(*args)` in a new Python process (`function` and `args` pickle to it); return what
    waits for its result, as `beside` does. For work on a RocksDB store (pyoxigraph's on-disk Store): a forked
    process does not get the background threads of a RocksDB this one has opened, and can wait for them
    forever. On one core it runs here, when first asked for."""
    if (os.cpu_count() or 1) == 1:
        return functools.cache(functools.partial(function, *args))
    pool = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"))
    future = pool.submit(function, *args)

    def wait():
        try:
            return future.result()
        finally:
            pool.shutdown()

    return functools.cache(wait)
