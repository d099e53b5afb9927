"""Work in forked processes: they see this one's memory as it is (the corpus, the units), so what they
run need not pickle; only items and results do. Used where a step's work splits across cores, or where
one piece of work can run on the second core while this process goes on."""

from __future__ import annotations

import contextlib
import functools
import gc
import multiprocessing
import os
import pickle
import threading
import traceback
from concurrent.futures import ProcessPoolExecutor
from collections import deque
from typing import Callable, Iterator

_FUNCTION: Callable | None = None  # what the workers call: set just before they fork


@contextlib.contextmanager
def frozen():
    """Around forking workers: this process's objects are moved out of the garbage collector's sight
    (gc.freeze) while the workers fork, so that the workers' collections never walk them. A collection in a
    forked worker writes to every object it walks, and the kernel then copies each page it wrote to: page
    workers forked from a build holding the report's model of 10,000 articles grew to 1.15 GiB each, 0.66 GiB
    with this (what their work reads still changes reference counts, and so copies pages). Unfrozen here
    once they are forked."""
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


def _call(chunk: list) -> list:
    return [_FUNCTION(item) for item in chunk]


class Forked:
    """`function(item)` for each item, on `workers` forked processes started at once. Iterate for the
    results, in order; `close` stops the workers (what they have not started is dropped).

    The items go to the workers in chunks, and at most `ahead` chunks are out at once (given or done but
    not yet taken): the workers never run further ahead of the one taking the results than that, so results
    this process is not ready for (a first build's hundred thousand report pages, rendered while it writes
    the data files) do not pile up in its memory."""

    def __init__(self, function: Callable, items: list, *, workers: int, chunk: int | None = None,
                 ahead: int | None = None):
        global _FUNCTION
        size = chunk or max(1, min(64, len(items) // (4 * workers)))
        self.chunks = iter([items[i:i + size] for i in range(0, len(items), size)])
        self.ahead = ahead or 8 * workers
        self.pending: deque = deque()
        self.current: Iterator = iter(())
        self.pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork"))
        _FUNCTION = function
        try:  # the first submit forks every worker (the fork start method starts them all at once)
            with frozen():
                self._fill()
        finally:
            _FUNCTION = None

    def _fill(self) -> None:
        while len(self.pending) < self.ahead:
            chunk = next(self.chunks, None)
            if chunk is None:
                return
            self.pending.append(self.pool.submit(_call, chunk))

    def __iter__(self):
        return self

    def __next__(self):
        while True:
            found = next(self.current, _DONE)
            if found is not _DONE:
                return found
            if not self.pending:
                raise StopIteration
            self.current = iter(self.pending.popleft().result())
            self._fill()

    def close(self) -> None:
        self.chunks = iter(())
        self.pool.shutdown(cancel_futures=True)


_DONE = object()


def beside(function: Callable) -> Callable:
    """Start `function()` in a second process; return what waits for its result (and returns it again on
    later calls). On one core it runs here, when first asked for."""
    if (os.cpu_count() or 1) == 1:
        return functools.cache(function)
    result = Forked(lambda _: function(), [None], workers=1)
    owner = os.getpid()

    def wait():
        if os.getpid() != owner:  # a forked copy of this process: the second process answers the first only
            raise RuntimeError("the result of kg.forked.beside is waited for in a forked process, where it never comes")
        try:
            return next(result)
        finally:
            result.close()

    return functools.cache(wait)


def spawned(function: Callable, *args) -> "Spawned":
    """Start `function(*args)` in a new Python process (`function` and `args` pickle to it); return what
    waits for its result (`Spawned`). For work on a RocksDB store (pyoxigraph's on-disk Store): a forked
    process does not get the background threads of a RocksDB this one has opened, and can wait for them
    forever. On one core it runs here, when first asked for."""
    return Spawned(function, args)


class Spawned:
    """`function(*args)` running in a spawned process. Call it for the result (waiting for it; the same
    result, or the same exception, on later calls); `cancel()` ends the process, for a caller that failed
    before it needed the result. A process that dies without answering (killed, out of memory) is a
    RuntimeError here, not a wait forever."""

    def __init__(self, function: Callable, args: tuple):
        self.name = function.__name__
        self.outcome: tuple[str, object] | None = None  # ("returned" | "raised", value), once known
        self.process = self.receiving = self.unstarted = None
        if (os.cpu_count() or 1) == 1:
            self.local = functools.partial(function, *args)
            return
        context = multiprocessing.get_context("spawn")
        self.receiving, sending = context.Pipe(duplex=False)
        self.process = context.Process(target=_answer, args=(sending, function, args), daemon=True)

        def start():
            try:
                self.process.start()
            except BaseException as error:  # noqa: BLE001 - arguments that do not pickle, say: raised when called
                self.unstarted = error
            finally:
                sending.close()  # the child holds the only sending end now: end of file means it is gone

        # Starting writes the pickled arguments to the new Python, which reads them as it imports what they
        # need: a second or more for the units of 10,000 articles, which this process need not wait for.
        self.starting = threading.Thread(target=start, name=f"starting {self.name}")
        self.starting.start()

    def __call__(self):
        if self.outcome is None:
            if self.process is None:
                self.outcome = _outcome(self.local)
            else:
                self.starting.join()
                if self.unstarted is not None:
                    self.outcome = ("raised", self.unstarted)
                else:
                    try:
                        self.outcome = self.receiving.recv()
                    except EOFError:
                        self.process.join()
                        self.outcome = ("raised", RuntimeError(
                            f"{self.name} ended without an answer (exit code {self.process.exitcode})"))
                self._end()
        kind, value, where = (*self.outcome, None)[:3]
        if kind == "raised":
            raise value from (_Remote(where) if where else None)
        return value

    def cancel(self) -> None:
        """End the work (killing its process) unless its outcome is known; calling afterwards raises."""
        if self.outcome is None:
            if self.process is not None:
                self.starting.join()
                if self.unstarted is None:
                    self.process.kill()
                self._end()
            self.outcome = ("raised", RuntimeError(f"{self.name} was cancelled"))

    def _end(self) -> None:
        if self.unstarted is None:
            self.process.join()
            self.process.close()
        self.receiving.close()
        self.process = None


class _Remote(Exception):
    """The traceback, in the spawned process, of an exception raised again here."""


def _outcome(call: Callable) -> tuple[str, object]:
    try:
        return ("returned", call())
    except Exception as error:  # noqa: BLE001 - raised again where the result is asked for
        return ("raised", error)


def _answer(sending, function: Callable, args: tuple) -> None:
    """In the spawned process: send what `function(*args)` returned or raised."""
    outcome = _outcome(functools.partial(function, *args))
    if outcome[0] == "raised":  # its traceback does not pickle: sent as text
        outcome += ("".join(traceback.format_exception(outcome[1])),)
    try:
        data = pickle.dumps(outcome, protocol=pickle.HIGHEST_PROTOCOL)
    except Exception as error:  # noqa: BLE001 - an answer that does not pickle
        data = pickle.dumps(("raised", RuntimeError(f"{function.__name__}: its answer does not pickle: {error!r}")))
    try:
        sending.send_bytes(data)
    except OSError:  # the waiting process is gone (or cancelled this): no one to answer
        pass
