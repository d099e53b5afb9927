"""Progress: a bar on a terminal, silence otherwise."""

import io
import subprocess
import sys

from kg.progress import Progress


class Terminal(io.StringIO):
    def isatty(self):
        return True


def test_on_a_terminal_the_bar_is_redrawn_in_place_and_ends_with_a_newline():
    stream = Terminal()
    with Progress(stream).step("reasoning", 4) as advance:
        for _ in range(4):
            advance()
    text = stream.getvalue()
    assert text.startswith("\rreasoning   [------------------------] 0/4")
    assert "[########################] 4/4" in text
    assert text.endswith(" s\n") and text.count("\n") == 1


def test_elsewhere_nothing_is_written():
    stream = io.StringIO()
    with Progress(stream).step("reasoning", 4) as advance:
        advance(4)
    assert stream.getvalue() == ""


def test_timings_record_every_step_even_when_no_bar_is_drawn():
    stream = io.StringIO()
    progress = Progress(stream, timings=True)
    with progress.step("grounding", 3) as advance:
        advance(3)
    with progress.step("writing", 0):
        pass
    assert stream.getvalue() == ""
    assert [(t.label, t.units) for t in progress.timings] == [("grounding", 3), ("writing", 0)]
    assert all(t.seconds >= 0 and t.peak[0] > 0 for t in progress.timings)
    lines = progress.summary().splitlines()
    assert lines[0].startswith("grounding") and " s  peak " in lines[0] and len(lines) == 2


def test_without_timings_nothing_is_kept():
    progress = Progress(io.StringIO())
    with progress.step("grounding", 1) as advance:
        advance()
    assert progress.timings is None and progress.summary() == ""


def test_kg_build_and_validate_print_their_steps_with_timings(project):
    """`--timings` (kg.cli.build): the steps' table on stderr, after the build's own line on stdout."""
    from click.testing import CliRunner

    from conftest import run

    built = run(CliRunner(), "build", "-C", project, "--no-reason", "--timings")
    assert built.exit_code == 0, built.output
    assert built.stdout.startswith("built ") and "step" not in built.stdout
    lines = built.stderr.splitlines()
    assert lines[0].split() == ["step", "units", "time", "memory"]
    steps = [line.split()[0] for line in lines[1:]]
    assert steps[:3] == ["reading", "grounding", "checking"] and steps[-2:] == ["writing", "query"]
    assert "validating" in steps and "rendering" in steps
    checked = run(CliRunner(), "validate", "-C", project, "--timings")
    assert checked.exit_code == 0 and [line.split()[0] for line in checked.stderr.splitlines()[1:]] == [
        "reading", "grounding", "checking", "validating"]


GIVE_BACK = """
import sys
from kg.progress import Progress

def rss():
    return next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmRSS")) // 1024

with Progress(enabled=False).step("holes", 1):
    blocks = [bytes(100_000) for _ in range(3000)]  # 300 MB below glibc's mmap threshold: on the heap
    kept = blocks[::30]  # a live block every 3 MB: freed pages between them cannot be trimmed off the top
    del blocks
    before = rss()
print(before, rss())
"""


def test_the_memory_a_step_freed_goes_back_to_the_operating_system():
    # in a process of its own: how much the C heap keeps depends on what the process did before
    before, after = map(int, subprocess.run([sys.executable, "-c", GIVE_BACK], capture_output=True, text=True,
                                            check=True).stdout.split())
    assert before > 150 and after < before // 3, (before, after)


FREE_LISTS = """
from kg.memory import give_back

def rss():
    return next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmRSS")) // 1024

items = [(i, -i) for i in range(3_000_000)]  # 2-tuples (and ints) filling CPython's arenas
for j in range(0, len(items), 1000):
    items[j] = None  # freed first, these go to the free list of 2-tuples: one every 1000, all over the heap
del items
give_back()
before = rss()
give_back(collect=True)
print(before, rss())
"""


def test_a_collection_empties_the_free_lists_that_hold_arenas():
    """What writing a whole data file frees (kg.build.write): tuples kept on CPython's free lists hold their
    arenas until a full collection empties the lists (0.38 GB after kg.jsonld of 10,000 articles)."""
    before, after = map(int, subprocess.run([sys.executable, "-c", FREE_LISTS], capture_output=True, text=True,
                                            check=True).stdout.split())
    assert before > 150 and after < before // 3, (before, after)


UNPICKLED = """
import gc, os, pickle, sys
from kg.memory import FREEZE_FROM, unpickled

small, large = {"a": [1, (2, 3)]}, {f"k{i}": (f"v{i}", [i]) for i in range(FREEZE_FROM // 20)}
for value in (small, large):
    with open(sys.argv[1], "wb") as stream:
        pickle.dump(value, stream)
    assert os.path.getsize(sys.argv[1]) >= FREEZE_FROM if value is large else True
    counts = []
    gc.callbacks.append(lambda phase, info: counts.append(info) if phase == "start" else None)
    frozen = gc.get_freeze_count()
    with open(sys.argv[1], "rb") as stream:
        assert unpickled(stream) == value
    gc.callbacks.clear()
    print(len(counts), gc.isenabled(), gc.get_freeze_count() > frozen)
gc.disable()
with open(sys.argv[1], "rb") as stream:
    unpickled(stream)
print(gc.isenabled())
"""


def test_unpickling_sets_off_no_collection_and_a_large_value_is_frozen(tmp_path):
    """kg.memory.unpickled (every cache read): no garbage collection runs while a value is unpickled, the
    collector is as it was after (on, or off), and a value of FREEZE_FROM bytes or more is frozen out of later
    collections, a small one not."""
    lines = subprocess.run([sys.executable, "-c", UNPICKLED, str(tmp_path / "value.pickle")], capture_output=True,
                           text=True, check=True).stdout.split("\n")
    assert lines[:3] == ["0 True False", "0 True True", "False"], lines
