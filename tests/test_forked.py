"""kg.forked: work on forked processes, results in order, never far ahead of the one taking them."""

import multiprocessing
import time

import pytest

from kg.forked import Forked


def test_results_come_in_item_order():
    run = Forked(lambda item: item * item, list(range(300)), workers=2, chunk=7, ahead=2)
    try:
        assert list(run) == [i * i for i in range(300)]
    finally:
        run.close()


def test_workers_run_at_most_ahead_chunks_beyond_the_results_taken():
    """A first build renders a hundred thousand report pages while it writes the data files: results it has
    not taken yet must not pile up in its memory (they took it from 0.55 to 1.8 GiB at 10,000 articles)."""
    started = multiprocessing.get_context("fork").Value("i", 0)

    def work(item):
        with started.get_lock():
            started.value += 1
        return -item

    run = Forked(work, list(range(400)), workers=2, chunk=5, ahead=3)
    try:
        assert next(run) == 0
        time.sleep(1.5)  # ample time to do all 400 if nothing held the workers back
        assert started.value <= 4 * 5  # the chunk taken and three out
        assert list(run) == [-i for i in range(1, 400)]
    finally:
        run.close()
    assert started.value == 400


def test_nothing_to_do_starts_no_worker():
    before = set(multiprocessing.active_children())
    run = Forked(lambda item: item, [], workers=2)
    assert set(multiprocessing.active_children()) == before
    assert list(run) == []
    run.close()


def _private_dirty_mib(_) -> int:
    import gc

    gc.collect()  # what a worker's own collections do, sooner or later
    with open("/proc/self/smaps_rollup") as rollup:
        return next(int(line.split()[1]) for line in rollup if line.startswith("Private_Dirty:")) // 1024


def test_a_worker_s_collections_do_not_copy_the_objects_it_was_forked_with():
    """kg.forked.frozen: a forked worker's garbage collection walks the objects it inherited (writing to
    each) unless they were frozen when it forked: then the pages holding them stay shared."""
    held = [[i, str(i)] for i in range(1_000_000)]  # about 150 MB of lists, which the collector tracks
    run = Forked(_private_dirty_mib, [None], workers=1)
    try:
        (private,) = list(run)
    finally:
        run.close()
    assert private < 40, private
    assert len(held) == 1_000_000


def _twice(x):
    return 2 * x


def _fails(x):
    raise ValueError(f"bad {x}")


def test_spawned_returns_the_result_or_raises_the_error_with_its_traceback_there():
    from kg.forked import spawned

    assert spawned(_twice, 21)() == 42
    failing = spawned(_fails, 3)
    for _ in range(2):  # the same error on a later call
        with pytest.raises(ValueError, match="bad 3") as raised:
            failing()
        assert "_fails" in str(raised.value.__cause__)  # where it was raised, in the spawned process


def test_spawned_work_cancelled_or_dead_is_an_error_not_a_wait_forever():
    import os

    from kg.forked import spawned

    sleeping = spawned(time.sleep, 60)
    sleeping.starting.join()  # started in a thread
    pid = sleeping.process.pid
    started = time.perf_counter()
    sleeping.cancel()
    assert time.perf_counter() - started < 10
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)  # ended and reaped
    with pytest.raises(RuntimeError, match="sleep was cancelled"):
        sleeping()
    with pytest.raises(RuntimeError, match=r"_exit ended without an answer \(exit code 3\)"):
        spawned(os._exit, 3)()
    done = spawned(_twice, 1)
    assert done() == 2
    done.cancel()  # once answered, cancelling changes nothing
    assert done() == 2


def test_spawned_work_whose_arguments_do_not_pickle_raises_when_called():
    from kg.forked import spawned

    unpicklable = spawned(_twice, lambda: None)  # started in a thread: the error comes when the result is asked
    with pytest.raises(Exception, match="pickle"):
        unpicklable()
    unpicklable.cancel()  # nothing to end
