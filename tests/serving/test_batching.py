"""serving/batching.py: concurrent requests merged into one call, each caller given its own rows,
errors kept with their request, a full queue refused at once."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from mnist_convnet.errors import UserError
from mnist_convnet.serving.batching import Batcher, BatcherClosed, BatchingOptions, QueueFull


class Recorder:
    """fn(rows) = {"double": 2 * rows}, remembering each call's row count; negative rows
    are refused, as a model refuses a bad instance."""

    def __init__(self, delay: float = 0.0) -> None:
        self.calls: list[int] = []
        self.delay = delay

    def __call__(self, rows: np.ndarray) -> dict[str, np.ndarray]:
        if (rows < 0).any():
            raise ValueError("negative row")
        self.calls.append(len(rows))
        time.sleep(self.delay)
        return {"double": 2 * rows}


def _submit_together(batcher, requests: list[np.ndarray]):
    """Every request from its own thread, released at the same moment."""
    start = threading.Barrier(len(requests))

    def one(rows):
        start.wait()
        return batcher(rows)

    with ThreadPoolExecutor(len(requests)) as pool:
        futures = [pool.submit(one, rows) for rows in requests]
        return [f.exception() or f.result() for f in futures]


def test_concurrent_requests_share_a_call_and_each_gets_its_own_rows():
    fn = Recorder()
    batcher = Batcher(fn, BatchingOptions(max_batch_size=64, batch_timeout_micros=200_000))
    requests = [np.full((1, 3), i, np.int64) for i in range(16)]
    answers = _submit_together(batcher, requests)
    batcher.close()
    for rows, answer in zip(requests, answers):
        np.testing.assert_array_equal(answer["double"], 2 * rows)
    assert sum(fn.calls) == 16 and len(fn.calls) <= 4  # not 16 calls of one row


def test_no_call_is_larger_than_max_batch_size():
    fn = Recorder()
    batcher = Batcher(fn, BatchingOptions(max_batch_size=8, batch_timeout_micros=100_000))
    requests = [np.full((3, 2), i, np.int64) for i in range(10)]
    answers = _submit_together(batcher, requests)
    batcher.close()
    assert max(fn.calls) <= 8 and sum(fn.calls) == 30
    for rows, answer in zip(requests, answers):
        np.testing.assert_array_equal(answer["double"], 2 * rows)


def test_a_request_larger_than_a_batch_runs_alone():
    fn = Recorder()
    batcher = Batcher(fn, BatchingOptions(max_batch_size=4))
    rows = np.arange(10).reshape(10, 1)
    np.testing.assert_array_equal(batcher(rows)["double"], 2 * rows)
    batcher.close()
    assert fn.calls == [10]


def test_one_bad_request_fails_alone():
    fn = Recorder()
    batcher = Batcher(fn, BatchingOptions(max_batch_size=64, batch_timeout_micros=200_000))
    requests = [np.full((1, 2), 1 if i != 5 else -1, np.int64) for i in range(12)]
    answers = _submit_together(batcher, requests)
    batcher.close()
    assert isinstance(answers[5], ValueError)
    for i, answer in enumerate(answers):
        if i != 5:
            np.testing.assert_array_equal(answer["double"], [[2, 2]])


def test_a_lone_request_waits_no_longer_than_the_timeout():
    batcher = Batcher(Recorder(), BatchingOptions(batch_timeout_micros=50_000))
    start = time.perf_counter()
    batcher(np.ones((1, 1)))
    assert time.perf_counter() - start < 2.0  # 50 ms, with room for a busy machine
    batcher.close()


def test_a_full_queue_refuses_at_once():
    release = threading.Event()
    calls = []

    def blocked(rows):
        calls.append(len(rows))
        release.wait(timeout=30)
        return {"rows": rows}

    options = BatchingOptions(
        max_batch_size=2, batch_timeout_micros=0, num_batch_threads=1, max_enqueued_batches=1
    )
    batcher = Batcher(blocked, options)
    with ThreadPoolExecutor(3) as pool:
        first = pool.submit(batcher, np.ones((2, 1)))  # taken by the only batch thread
        while not calls:
            time.sleep(0.001)
        queued = pool.submit(batcher, np.ones((2, 1)))  # fills the one queued batch
        while batcher._queued_rows < 2:
            time.sleep(0.001)
        start = time.perf_counter()
        with pytest.raises(QueueFull):
            batcher(np.ones((1, 1)))
        assert time.perf_counter() - start < 1.0
        release.set()
        assert len(first.result()["rows"]) == 2 and len(queued.result()["rows"]) == 2
    batcher.close()


@pytest.mark.parametrize(
    "name, value",
    [
        ("max_batch_size", 0),
        ("num_batch_threads", 0),
        ("batch_timeout_micros", -1),
        ("max_enqueued_batches", 0),
    ],
)
def test_options_are_checked(name, value):
    with pytest.raises(UserError, match=name):
        BatchingOptions(**{name: value})


def test_submit_gives_a_future_that_an_event_loop_can_await():
    import asyncio

    batcher = Batcher(Recorder(), BatchingOptions(max_batch_size=4))

    async def both():
        first = asyncio.wrap_future(batcher.submit(np.array([1, 2])))
        second = asyncio.wrap_future(batcher.submit(np.array([-1])))
        return await first, await asyncio.gather(second, return_exceptions=True)

    try:
        outputs, (error,) = asyncio.run(both())
        np.testing.assert_array_equal(outputs["double"], [2, 4])
        assert isinstance(error, ValueError)  # the bad rows fail their own future only
        with pytest.raises(ValueError, match="more than max_batch_size"):
            batcher.submit(np.zeros(5))
    finally:
        batcher.close()


def test_submit_after_close_is_refused_instead_of_hanging():
    """A closed batcher has no thread left to serve a request: say so, never a future that
    nobody will resolve."""
    batcher = Batcher(Recorder(), BatchingOptions(max_batch_size=4))
    batcher.close()
    with pytest.raises(BatcherClosed):
        batcher.submit(np.ones((1, 2)))


def test_the_observer_sees_each_batch_and_what_is_left_queued():
    seen = []
    options = BatchingOptions(max_batch_size=4, batch_timeout_micros=50_000)
    batcher = Batcher(Recorder(), options, observe=lambda *a: seen.append(a))
    futures = [batcher.submit(np.ones((1, 2))) for _ in range(4)]
    [f.result(timeout=10) for f in futures]
    batcher.close()
    assert sum(rows for rows, _, _ in seen) == 4
    assert all(waited >= 0 and queued >= 0 for _, waited, queued in seen)
