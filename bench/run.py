"""Benchmark kg against the naive pipeline on synthetic corpora (issue 5).

    .venv/bin/python bench/run.py --sizes 100,1000,10000 [--budget 900] [--seed 7] [--repeat 3]
        [--output bench/results.md]

For each size N, in one run:

1. `kg synth` writes a corpus of N articles into a temporary folder (not timed);
2. every step below runs in its own subprocess, timed (wall clock) with its peak memory: the largest
   resident set of one process of the step's tree (`ru_maxrss` from `os.wait4`, which covers the Java child of
   HermiT too), and the largest sum over all of them at once (proportional set sizes, sampled: `Sampler`):
   - naive: bench/naive.py — rdflib parses all Turtle, kg's grounding, stock pyshacl on the whole graph with
     the ontology, rdflib writes Turtle and JSON-LD (see its docstring);
   - `kg build` cold: out/ and .cache/ removed first;
   - `kg build` after touching one article (an editorial note added to one article's facts.ttl);
   - `kg validate` after touching another article;
   - `kg query NAME` for each canned query in queries/ (on the store the build left).
   The quick steps (all but the naive pipeline and the cold build) run --repeat times (default 3; a touched
   build or validate after an edit of another article each time, the first right after the cold build): the
   table shows the median run, and the fastest and slowest, since a single run of a few seconds on a shared
   machine varies by a second or more.
   Before each step the file system is made to write back what earlier steps left in memory (os.sync, not
   timed): gigabytes after a cold build at 10,000 articles, which the kernel would otherwise write during the
   next step, on the same two cores. What a step writes itself (and syncs: kg build fsyncs what it stages) is
   timed with it.
   A step that runs longer than --budget seconds is killed and recorded as "> budget"; a step that went over
   budget at a smaller size is not run again at a larger one (its cost only grows) unless --no-skip.
3. prints the table and writes it, with the machine (nproc, memory, CPU, Python, package versions, git
   commit, date), to --output (default bench/results.md).

Needs Java 17 on PATH (HermiT), like `kg build`. Run from the repository root.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib.metadata
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
KG = [sys.executable, "-m", "kg"]
TIMINGS_HEADER = "step           units"  # the first line `kg build --timings` prints


@dataclass(frozen=True)
class Measure:
    seconds: float | None  # None: over budget, or skipped
    peak_mib: float | None
    status: str  # "ok", "failed (exit N)", "> budget", "skipped"
    timings: str = ""  # what `--timings` printed on stderr: where the step's time and memory went
    total_mib: float | None = None  # the largest sum of all the step's processes' memory, sampled (Sampler)
    runs: tuple[float, ...] = ()  # with repeats (`median`): each run's wall time

    def cell(self) -> str:
        if self.status == "ok":
            total = f" (sum {self.total_mib:.0f})" if self.total_mib else ""
            spread = (f" (median of {len(self.runs)}: {min(self.runs):.2f}–{max(self.runs):.2f})"
                      if len(self.runs) > 1 else "")
            return f"{self.seconds:.2f} s{spread} / {self.peak_mib:.0f} MiB{total}"
        if self.status == "> budget":
            return f"> budget ({self.seconds:.0f} s) / ≥ {self.peak_mib:.0f} MiB" if self.peak_mib else "> budget"
        return self.status


class Sampler(threading.Thread):
    """Every `interval` seconds, the sum of the proportional set size (PSS: each shared page divided among the
    processes sharing it, so forked workers are not counted twice) of every process in the process group
    `group`; `peak` is the largest sum seen. ru_maxrss gives only the largest single process."""

    def __init__(self, group: int, interval: float = 0.25):
        super().__init__(daemon=True)
        self.group, self.interval, self.peak = group, interval, 0
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.wait(self.interval):
            self.peak = max(self.peak, self.sample())

    def sample(self) -> int:
        total = 0
        for entry in os.scandir("/proc"):
            if not entry.name.isdigit():
                continue
            try:
                with open(f"/proc/{entry.name}/stat", "rb") as stat:
                    fields = stat.read().rsplit(b")", 1)[1].split()
                if int(fields[2]) != self.group:  # the process group, after state and parent
                    continue
                with open(f"/proc/{entry.name}/smaps_rollup", "rb") as rollup:
                    total += next(int(line.split()[1]) for line in rollup if line.startswith(b"Pss:"))
            except (OSError, StopIteration, IndexError, ValueError):  # ended meanwhile, or a kernel thread
                continue
        return total  # KiB


def measure(command: list[str], *, budget: float, expect: tuple[int, ...] = (0,), cwd: Path = ROOT) -> Measure:
    """Run `command` in a new session; wall time and peak RSS of its process tree; killed after `budget` s."""
    started = time.perf_counter()
    process = subprocess.Popen(command, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                               start_new_session=True)
    killed = threading.Event()

    def kill():
        killed.set()
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass

    timer = threading.Timer(budget, kill)
    timer.start()
    sampler = Sampler(process.pid)  # a new session: its process group is the step's processes
    sampler.start()
    try:
        stderr = process.stderr.read()
        _, status, usage = os.wait4(process.pid, 0)
    finally:
        timer.cancel()
        sampler.done.set()
        sampler.join()
    total = sampler.peak / 1024 or None
    process.returncode = os.waitstatus_to_exitcode(status)
    seconds = time.perf_counter() - started
    peak = usage.ru_maxrss / 1024  # KiB on Linux
    text = stderr.decode(errors="replace")
    timings = text[text.index(TIMINGS_HEADER):] if TIMINGS_HEADER in text else ""
    if killed.is_set():
        return Measure(seconds, peak, "> budget", timings, total)
    if process.returncode not in expect:
        tail = text.strip().splitlines()[-3:]
        print(f"    {' '.join(command[2:])}: exit {process.returncode}: {' | '.join(tail)}", file=sys.stderr)
        return Measure(seconds, peak, f"failed (exit {process.returncode})", timings, total)
    return Measure(seconds, peak, "ok", timings, total)


def median(runs: list[Measure]) -> Measure:
    """Runs of one step as one: the median run's time and `--timings`, every run's time (`runs`), the largest
    memory of any. A failed or over-budget run is the result."""
    for run in runs:
        if run.status != "ok":
            return run
    ordered = sorted(runs, key=lambda run: run.seconds)
    middle = ordered[(len(ordered) - 1) // 2]
    return Measure(middle.seconds, max(run.peak_mib for run in runs), "ok", middle.timings,
                   max((run.total_mib for run in runs if run.total_mib), default=None),
                   tuple(run.seconds for run in runs))


def touch(corpus: Path, number: int, edit: int) -> None:
    """A real edit: one more editorial note on the first fact of the article, so its content hash changes."""
    folder = sorted((corpus / "articles").iterdir())[number]
    facts = folder / "facts.ttl"
    text = facts.read_text(encoding="utf-8")
    subject = next(line.split()[0] for line in text.splitlines() if line.startswith("ex:"))
    facts.write_text(text + f'\n{subject} skos:editorialNote "Benchmark edit {edit}."@en .\n', encoding="utf-8")


def queries() -> list[str]:
    return sorted(p.stem for p in (ROOT / "queries").glob("*.rq"))


def run_size(size: int, *, seed: str, budget: float, over: set[str], skip: bool, repeat: int = 1) -> dict[str, Measure]:
    results: dict[str, Measure] = {}
    with tempfile.TemporaryDirectory(prefix=f"kg-bench-{size}-") as scratch:
        corpus = Path(scratch) / "corpus"
        started = time.perf_counter()
        subprocess.run([*KG, "synth", str(corpus), "--articles", str(size), "--seed", seed, "-C", str(ROOT)],
                       check=True, stdout=subprocess.DEVNULL)
        print(f"  corpus of {size} articles generated in {time.perf_counter() - started:.1f} s (not timed)",
              file=sys.stderr)

        def step(name: str, command: list[str], expect=(0,), *, runs: int = 1, before=lambda run: None):
            """`runs` runs (the median: `median`), `before(run)` called before each (to touch an article)."""
            if skip and name in over:
                results[name] = Measure(None, None, "skipped (> budget at a smaller size)")
            else:
                measured = []
                for run in range(runs):
                    before(run)
                    os.sync()  # (not timed) what earlier steps left to write back is not billed to this one
                    measured.append(measure(command, budget=budget, expect=expect))
                    if measured[-1].status != "ok":
                        break
                results[name] = median(measured)
                if results[name].status == "> budget":
                    over.add(name)
            print(f"  {name}: {results[name].cell()}", file=sys.stderr)

        step("naive pipeline (rdflib + pyshacl + rdflib)", [sys.executable, str(HERE / "naive.py"), str(corpus)])
        for leftover in ("out", ".cache"):
            shutil.rmtree(corpus / leftover, ignore_errors=True)
        step("kg build, cold", [*KG, "build", "-C", str(corpus), "--timings"])
        # Each a different article: the first run right after the cold build, the others after the run before.
        step("kg build, one article touched", [*KG, "build", "-C", str(corpus), "--timings"], runs=repeat,
             before=lambda run: touch(corpus, run * size // repeat, 1 + run))
        step("kg validate, one article touched", [*KG, "validate", "-C", str(corpus), "--timings"], runs=repeat,
             before=lambda run: touch(corpus, (2 * run + 1) * size // (2 * repeat), 1 + repeat + run))
        built = (corpus / "out" / "kg.nq").is_file()
        if built:
            with (corpus / "out" / "kg.nq").open("rb") as nq:
                results["quads in out/kg.nq"] = Measure(float(sum(1 for _ in nq)), None, "count")
        for name in queries():
            label = f"kg query {name}"
            if built:
                step(label, [*KG, "query", name, "-C", str(corpus), "--format", "tsv"], runs=repeat)
            else:
                results[label] = Measure(None, None, "no build")
    return results


def machine() -> list[str]:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor() or "unknown")
    memory = next(int(line.split()[1]) for line in Path("/proc/meminfo").read_text().splitlines()
                  if line.startswith("MemTotal")) / 1024 / 1024
    versions = []
    for package in ("kg", "rdflib", "pyshacl", "pyoxigraph", "owlready2"):
        try:
            versions.append(f"{package} {importlib.metadata.version(package)}")
        except importlib.metadata.PackageNotFoundError:
            versions.append(f"{package} (not installed)")
    java = subprocess.run(["java", "-version"], capture_output=True, text=True)
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True)
    dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT, capture_output=True,
                           text=True)
    return [
        f"- date: {dt.datetime.now(dt.timezone.utc).strftime('%Y-%m-%d %H:%M UTC')}",
        f"- machine: {os.cpu_count()} CPUs (nproc {len(os.sched_getaffinity(0))}), {memory:.1f} GiB memory, {cpu}",
        f"- {platform.system()} {platform.release()}; Python {platform.python_version()}; "
        f"{(java.stderr.splitlines() or ['java: not found'])[0]}",
        f"- packages: {', '.join(versions)}",
        f"- kg at commit {commit.stdout.strip()}{' with uncommitted changes' if dirty.stdout.strip() else ''}",
    ]


def table(sizes: list[int], results: dict[int, dict[str, Measure]], *, budget: float, seed: str) -> str:
    rows = list(dict.fromkeys(name for size in sizes for name in results[size]))
    lines = [
        "| step | " + " | ".join(f"{size:,} articles" for size in sizes) + " |",
        "|---|" + "---:|" * len(sizes),
    ]
    for name in rows:
        cells = []
        for size in sizes:
            m = results[size].get(name)
            cells.append("" if m is None else f"{m.seconds:,.0f}" if m.status == "count" else m.cell())
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    naive, cold = "naive pipeline (rdflib + pyshacl + rdflib)", "kg build, cold"
    cells = []
    for size in sizes:
        n, c = results[size].get(naive), results[size].get(cold)
        if not (c and c.status == "ok"):
            cells.append("")
        elif n and n.status == "ok":
            cells.append(f"{n.seconds / c.seconds:,.1f}×")
        elif n and n.status == "> budget":
            cells.append(f"≥ {n.seconds / c.seconds:,.1f}× (naive stopped at the budget)")
        else:
            cells.append("naive not run")
    lines.append("| speed-up of kg build cold over naive | " + " | ".join(cells) + " |")
    cells = [""]
    for smaller, larger in zip(sizes, sizes[1:]):
        a, b = results[smaller].get(cold), results[larger].get(cold)
        ok = a and b and a.status == b.status == "ok"
        cells.append(f"{b.seconds / a.seconds:,.1f}× time for {larger / smaller:,.0f}× articles" if ok else "")
    lines.append("| growth of kg build cold from the previous size | " + " | ".join(cells) + " |")
    lines += ["", f"Each cell: wall time / peak resident memory of the step's largest process (ru_maxrss over its "
                  f"process tree) (sum: the largest total of all its processes' proportional set sizes, sampled every "
                  f"0.25 s). A step run more than once (`--repeat`: each touched build or validate after an edit of "
                  f"another article, the first right after the cold build) shows the median run's time, the fastest "
                  f"and slowest, and the largest memory of any run. Budget {budget:.0f} s per step; corpus "
                  f"`kg synth --seed {seed}`."]
    for size in sizes:
        for name, m in results[size].items():
            if m.timings:
                lines += ["", f"`{name}`, {size:,} articles, by step (`--timings`):", "", "```", m.timings.rstrip(), "```"]
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description="Benchmark kg against the naive pipeline (see the docstring).")
    parser.add_argument("--sizes", default="100,1000,10000", help="Comma-separated corpus sizes (articles).")
    parser.add_argument("--budget", type=float, default=900.0, help="Seconds per step before it is killed.")
    parser.add_argument("--seed", default="7")
    parser.add_argument("--output", type=Path, default=HERE / "results.md")
    parser.add_argument("--repeat", type=int, default=3,
                        help="Runs of each quick step (a touched build or validate, a query): the median is shown.")
    parser.add_argument("--no-skip", dest="skip", action="store_false",
                        help="Run a step at every size even when it went over budget at a smaller one.")
    args = parser.parse_args()
    sizes = [int(s.replace("_", "")) for s in args.sizes.split(",")]
    results: dict[int, dict[str, Measure]] = {}
    over: set[str] = set()
    for size in sizes:
        print(f"{size} articles", file=sys.stderr)
        results[size] = run_size(size, seed=args.seed, budget=args.budget, over=over, skip=args.skip,
                                 repeat=max(1, args.repeat))
    text = table(sizes, results, budget=args.budget, seed=args.seed)
    report = "\n".join([
        "# kg benchmark", "",
        f"`.venv/bin/python bench/run.py --sizes {args.sizes} --budget {args.budget:.0f} --seed {args.seed} "
        f"--repeat {max(1, args.repeat)}`", "",
        *machine(), "", text,
    ])
    args.output.write_text(report, encoding="utf-8")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
