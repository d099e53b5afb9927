"""Progress on long runs: one self-rewriting line on stderr when it is a terminal, nothing otherwise.

    progress = Progress()              # enabled only if stderr is a TTY
    with progress.step("reasoning", 10000) as advance:
        for unit in units:
            ...
            advance()

No dependency: a bar is a line of text rewritten with a carriage return, at most ten times a second.
"""

from __future__ import annotations

import sys
import time
from contextlib import contextmanager
from typing import Callable, Iterator, TextIO

WIDTH = 24


class Progress:
    def __init__(self, stream: TextIO | None = None, *, enabled: bool | None = None):
        self.stream = stream or sys.stderr
        self.enabled = self.stream.isatty() if enabled is None else enabled

    @contextmanager
    def step(self, label: str, total: int) -> Iterator[Callable[[int], None]]:
        """A step of `total` units; the yielded function advances it (by 1 by default)."""
        if not self.enabled or total <= 0:
            yield lambda n=1: None
            return
        done = drawn = 0
        started = last = time.monotonic()

        def draw(final: bool = False) -> None:
            nonlocal drawn
            if final and drawn == done:
                self.stream.write("\n")
                self.stream.flush()
                return
            drawn = done
            filled = WIDTH * done // total
            elapsed = time.monotonic() - started
            bar = "#" * filled + "-" * (WIDTH - filled)
            self.stream.write(f"\r{label:<11} [{bar}] {done}/{total} {elapsed:5.1f} s")
            self.stream.write("\n" if final else "")
            self.stream.flush()

        def advance(n: int = 1) -> None:
            nonlocal done, last
            done += n
            now = time.monotonic()
            if now - last >= 0.1 or done >= total:
                last = now
                draw()

        draw()
        try:
            yield advance
        finally:
            draw(final=True)
