"""bench/run.py: what the benchmark measures of a step's memory."""

import importlib.util
import sys

from conftest import ROOT

spec = importlib.util.spec_from_file_location("bench_run", ROOT / "bench" / "run.py")
bench = sys.modules["bench_run"] = importlib.util.module_from_spec(spec)  # dataclasses look their module up
spec.loader.exec_module(bench)

HOLD = "import os, sys, time; block = os.urandom(120 << 20); print('ready', flush=True); time.sleep(30)"
TWO = f"""
import subprocess, sys, time
child = subprocess.Popen([sys.executable, "-c", {HOLD!r}], stdout=subprocess.PIPE)
child.stdout.readline()
exec({HOLD!r})
"""


def test_a_step_s_memory_is_its_largest_process_and_the_sum_of_all_of_them():
    """Two processes of 120 MiB each: ru_maxrss sees one of them, the sampled sum both (and nothing else)."""
    measured = bench.measure([sys.executable, "-c", TWO.replace("time.sleep(30)", "time.sleep(1.5)")], budget=60)
    assert measured.status == "ok", measured
    assert 120 <= measured.peak_mib < 200, measured
    assert 240 <= measured.total_mib < 330, measured
    assert measured.cell().endswith(f"MiB (sum {measured.total_mib:.0f})")


def test_repeated_runs_show_the_median_run_the_fastest_and_slowest_and_the_largest_memory():
    """bench.median: the median run's time and timings, every run's time in the cell, the largest memory of any
    run; a run that failed is the result (no median over it)."""
    runs = [bench.Measure(3.0, 100.0, "ok", "three", 300.0), bench.Measure(1.0, 150.0, "ok", "one", 200.0),
            bench.Measure(2.0, 120.0, "ok", "two", 250.0)]
    merged = bench.median(runs)
    assert (merged.seconds, merged.peak_mib, merged.total_mib, merged.timings) == (2.0, 150.0, 300.0, "two")
    assert merged.cell() == "2.00 s (median of 3: 1.00–3.00) / 150 MiB (sum 300)"
    assert bench.median(runs[:1]).cell() == "3.00 s / 100 MiB (sum 300)"
    failed = bench.Measure(9.0, 90.0, "failed (exit 3)")
    assert bench.median([runs[0], failed]) is failed
