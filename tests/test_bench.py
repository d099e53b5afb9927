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
