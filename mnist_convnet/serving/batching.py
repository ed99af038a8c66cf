"""Dynamic batching, as TF Serving does it: concurrent requests merged into one model call.

A model call on 1 image and on 32 costs nearly the same fixed overhead (graph dispatch,
thread hand-offs), so under load a server that runs each request alone spends most of
its CPU on that overhead. With batching, each request's rows wait in a queue; a batch
thread takes the oldest, waits up to ``batch_timeout_micros`` (counted from that
request's arrival) for more, runs the model once on up to ``max_batch_size`` rows, and
hands each caller its own slice of the outputs. The option names and meanings are TF
Serving's (``--enable_batching`` with a batching parameters file):

    max_batch_size        rows per model call at most (a larger request runs alone)
    batch_timeout_micros  how long the oldest request may wait for others to join it
    num_batch_threads     model calls that may run at once
    max_enqueued_batches  queue capacity, in batches of max_batch_size rows; a request
                          that does not fit is refused at once (``QueueFull`` -> 503)

Errors stay with their request: when a merged call fails, each request in it is run
alone, so one bad instance fails only its own request.
"""

from __future__ import annotations

import collections
import dataclasses
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future

import numpy as np

from mnist_convnet import settings
from mnist_convnet.settings import option

Outputs = dict[str, np.ndarray]


@dataclasses.dataclass(frozen=True)
class BatchingOptions:
    """TF Serving's batching parameters; the defaults are what served best under load
    (docs/serving.md): no waiting (requests that arrive while the model runs form the next
    batch), one batch thread (a second only added contention on the machines measured
    there). Checked as ``Config`` is (``settings.py``); the flags come from these fields."""

    max_batch_size: int = option(32, "Rows (instances) per merged model call at most.", at_least=1)
    batch_timeout_micros: int = option(
        0, "How long the oldest waiting request may wait for others to join it.", at_least=0
    )
    num_batch_threads: int = option(1, "Merged model calls that may run at once.", at_least=1)
    max_enqueued_batches: int = option(
        16, "Queue capacity in batches; a request beyond it gets 503 at once.", at_least=1
    )

    def __post_init__(self) -> None:
        settings.check(self)


class QueueFull(Exception):
    """The batching queue holds ``max_enqueued_batches`` batches already: try again later."""


class BatcherClosed(Exception):
    """``close()`` was called: no batch thread is left to serve a new request."""


# Told of each batch as it is taken: (its rows, seconds its oldest request waited, rows
# still queued). ``metrics.Metrics.batch_observer`` makes one.
Observer = Callable[[int, float, int], None]


class _Request:
    """One caller's rows, and the future that gets its slice of a batch's outputs."""

    def __init__(self, rows: np.ndarray) -> None:
        self.rows = rows
        self.arrived = time.monotonic()
        self.future: Future[Outputs] = Future()


class Batcher:
    """Runs ``fn(rows) -> {name: array with a leading row axis}`` on merged batches."""

    def __init__(
        self,
        fn: Callable[[np.ndarray], Outputs],
        options: BatchingOptions,
        observe: Observer | None = None,
    ) -> None:
        self.fn, self.options, self.observe = fn, options, observe
        self._queue: collections.deque[_Request] = collections.deque()
        self._queued_rows = 0
        self._capacity = options.max_enqueued_batches * options.max_batch_size
        self._ready = threading.Condition()
        self._closed = False
        self._threads = [
            threading.Thread(target=self._serve, name=f"batch-{i}", daemon=True)
            for i in range(options.num_batch_threads)
        ]
        for thread in self._threads:
            thread.start()

    def __call__(self, rows: np.ndarray) -> Outputs:
        """This request's outputs, computed in a batch with whatever else is waiting."""
        if len(rows) > self.options.max_batch_size:
            return self.fn(rows)  # a batch of its own already
        return self.submit(rows).result()

    def submit(self, rows: np.ndarray) -> Future[Outputs]:
        """Queues at most ``max_batch_size`` rows; the future gets their outputs (an event
        loop awaits it without holding a thread: ``asyncio.wrap_future``)."""
        if len(rows) > self.options.max_batch_size:
            raise ValueError(f"{len(rows)} rows: more than max_batch_size, call directly")
        request = _Request(rows)
        with self._ready:
            if self._closed:
                raise BatcherClosed("this batcher is closed")
            if self._queued_rows + len(rows) > self._capacity:
                raise QueueFull(f"{self._queued_rows} rows already waiting")
            self._queue.append(request)
            self._queued_rows += len(rows)
            self._ready.notify_all()
        return request.future

    def close(self) -> None:
        with self._ready:
            self._closed = True
            self._ready.notify_all()
        for thread in self._threads:
            thread.join(timeout=5)

    def _serve(self) -> None:
        while True:
            batch = self._take()
            if not batch:
                return
            self._run(batch)

    def _take(self) -> list[_Request]:
        """The next batch: the oldest request and what joins it before its timeout."""
        options = self.options
        with self._ready:
            while True:  # another batch thread may empty the queue while this one waits
                while not self._queue and not self._closed:
                    self._ready.wait()
                if not self._queue:
                    return []  # closed, and nothing left to serve
                deadline = self._queue[0].arrived + options.batch_timeout_micros / 1e6
                while self._queued_rows < options.max_batch_size and not self._closed:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0 or not self._ready.wait(remaining):
                        break
                batch, rows = [], 0
                while self._queue and rows + len(self._queue[0].rows) <= options.max_batch_size:
                    request = self._queue.popleft()
                    batch.append(request)
                    rows += len(request.rows)
                self._queued_rows -= rows
                if batch:
                    if self.observe is not None:
                        waited = time.monotonic() - batch[0].arrived
                        self.observe(rows, waited, self._queued_rows)
                    return batch

    def _run(self, batch: list[_Request]) -> None:
        try:
            outputs = self.fn(np.concatenate([r.rows for r in batch]))
        except Exception as error:
            if len(batch) == 1:
                batch[0].future.set_exception(error)
                return
            for request in batch:  # find whose rows failed: each alone
                self._run([request])
            return
        start = 0
        for request in batch:
            end = start + len(request.rows)
            request.future.set_result({name: value[start:end] for name, value in outputs.items()})
            start = end
