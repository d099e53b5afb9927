"""Progress on long runs: one self-rewriting line on stderr when it is a terminal, nothing otherwise.

    progress = Progress()              # enabled only if stderr is a TTY
    with progress.step("reasoning", 10000) as advance:
        for unit in units:
            ...
            advance()

No dependency: a bar is a line of text rewritten with a carriage return, at most ten times a second.

With `timings=True`, every step's wall time and the process's peak resident memory at its end are kept in
`progress.timings`, and `summary()` renders them (what `kg build --timings` prints): where a long build
spends its time, measured on the run itself.
"""

from __future__ import annotations

import resource
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Callable, Iterator, TextIO

from kg.memory import give_back

WIDTH = 24


class Progress:
    def __init__(self, stream: TextIO | None = None, *, enabled: bool | None = None, timings: bool = False):
        self.stream = stream or sys.stderr
        self.enabled = self.stream.isatty() if enabled is None else enabled
        self.timings: list[Timing] | None = [] if timings else None

    @contextmanager
    def step(self, label: str, total: int) -> Iterator[Callable[[int], None]]:
        """A step of `total` units; the yielded function advances it (by 1 by default). When it ends, the
        memory it freed is given back to the operating system (kg.memory), for the steps after it."""
        started = time.perf_counter()
        try:
            with self._bar(label, total) as advance:
                yield advance
        finally:
            give_back()
            if self.timings is not None:
                self.timings.append(Timing(label, total, time.perf_counter() - started, _peak_mib()))

    def summary(self) -> str:
        """One line per step: label, units, seconds, peak memory (MiB) of this process and of its children."""
        lines = []
        for t in self.timings or ():
            lines.append(f"{t.label:<12} {t.units:>7} {t.seconds:8.1f} s  peak {t.peak[0]:6.0f} MiB "
                         f"(children {t.peak[1]:.0f} MiB)")
        return "\n".join(lines) + ("\n" if lines else "")

    @contextmanager
    def _bar(self, label: str, total: int) -> Iterator[Callable[[int], None]]:
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


@dataclass(frozen=True)
class Timing:
    label: str
    units: int
    seconds: float
    peak: tuple[float, float]  # MiB: this process's peak resident memory so far, and its largest child's


def _peak_mib() -> tuple[float, float]:
    scale = 1024 * 1024 if sys.platform == "darwin" else 1024  # ru_maxrss: bytes on macOS, KiB on Linux
    return tuple(resource.getrusage(who).ru_maxrss / scale for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN))
