"""One loaded version of a model: what REST, gRPC and warm-up call.

A ``Servable``'s ``predict`` takes inputs by the signature's names, checks them, and
batches them (pixel signatures, with batching on) or reads one image per decode slot
(image signatures); ``serving_explain``'s three inputs are checked together and run at
once, at most 8 images. The versions a server holds are kept by ``core.py``.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from pathlib import Path

import numpy as np
import tensorflow as tf

from mnist_convnet import contract, versions
from mnist_convnet.errors import UserError
from mnist_convnet.export import warmup
from mnist_convnet.finder import refusals
from mnist_convnet.serving import inputs, tensors
from mnist_convnet.serving.batching import Batcher, BatcherClosed, BatchingOptions, QueueFull
from mnist_convnet.serving.bundle import SavedModelBundle
from mnist_convnet.serving.metrics import Metrics
from mnist_convnet.serving.options import MAX_IMAGES
from mnist_convnet.serving.status import ServingError, busy, invalid

LOADING, AVAILABLE, UNLOADING, END = "LOADING", "AVAILABLE", "UNLOADING", "END"
DECODE_WAIT_SECONDS = 10.0


class Servable:
    """One loaded version of a model: its signatures and their checked, batched calls."""

    def __init__(
        self,
        name: str,
        version: int,
        path: Path,
        batching: BatchingOptions | None,
        decodes: threading.Semaphore,
        metrics: Metrics,
        max_images: int = MAX_IMAGES,
    ) -> None:
        self.name, self.version, self.path = name, version, path
        self.bundle = SavedModelBundle(versions.resolve(path))
        self.signature_defs = self.bundle.signature_defs
        self.signatures = list(self.signature_defs)
        if contract.SERVING_DEFAULT not in self.signatures:
            raise UserError(f"SavedModel {path} has no {contract.SERVING_DEFAULT} signature")
        self.batching, self.decodes, self.metrics = batching, decodes, metrics
        self.max_images = max_images
        self._batchers: dict[str, Batcher] = {}
        self._closed = False
        self._lock = threading.Lock()

    def input_names(self, signature_name: str) -> list[str]:
        return list(self.signature_defs[signature_name].inputs)

    def predict(self, signature_name: str, request: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Runs a signature on inputs named as in it; ServingError for anything wrong."""
        return self.submit(signature_name, request).result()

    def submit(
        self,
        signature_name: str,
        request: dict[str, np.ndarray],
        executor: Executor | None = None,
    ) -> Future:
        """``predict`` as a future: still running when its rows wait for a batch (an event
        loop can await it); otherwise run on ``executor`` if given (the caller must not
        block: an event loop), or at once. Inputs are checked first, in the caller."""
        checked = self.check(signature_name, request)
        if checked.kind == inputs.ROWS and self.batching is not None:
            (rows,) = checked.values()
            if len(rows) <= self.batching.max_batch_size:
                try:
                    return self._batcher(signature_name).submit(rows)
                except QueueFull:
                    raise busy("the batching queue is full; try again") from None
                except BatcherClosed:  # unloaded while this request held it: run it alone
                    pass
        if executor is not None:
            return executor.submit(self._run, checked)
        done: Future = Future()
        try:
            done.set_result(self._run(checked))
        except ServingError as error:
            done.set_exception(error)
        return done

    def _run(self, checked: inputs.Checked) -> dict[str, np.ndarray]:
        if checked.kind == inputs.IMAGES:
            return self._read_images(checked.signature_name, *checked.values())
        return self._call(checked.signature_name, dict(checked))

    def check(self, signature_name: str, request: dict[str, np.ndarray]) -> inputs.Checked:
        """The request's inputs checked for the signature (``inputs.py``), unless they were."""
        if signature_name not in self.signatures:
            raise ServingError(
                "FAILED_PRECONDITION", f'Serving signature key "{signature_name}" not found.'
            )
        expected = self.input_names(signature_name)
        return inputs.check(signature_name, request, expected, self.max_images)

    def _call(self, signature_name: str, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        try:
            return self.bundle.run(signature_name, inputs)
        except tf.errors.InvalidArgumentError as error:
            message = refusals.error_message(error)
            raise invalid(f"the model rejected the input: {message}") from None

    def _batcher(self, signature_name: str) -> Batcher:
        """The signature's batcher, made on first use; none once the version is closed (a
        late request that still holds it runs alone, and no thread keeps it in memory)."""
        with self._lock:
            if self._closed:
                raise BatcherClosed
            if signature_name not in self._batchers:
                name = contract.INPUTS[signature_name]
                call = lambda rows: self._call(signature_name, {name: rows})
                observe = self.metrics.batch_observer(self.name, signature_name)
                self._batchers[signature_name] = Batcher(call, self.batching, observe)
            return self._batchers[signature_name]

    def _read_images(self, signature_name: str, images: np.ndarray) -> dict[str, np.ndarray]:
        """One image per decode slot: a request of many images cannot hold the slots for
        the whole of its reading, other requests' images take turns with its own."""
        parts = []
        for image in images:
            if not self.decodes.acquire(timeout=DECODE_WAIT_SECONDS):
                raise busy("too many images being read at once; try again")
            try:
                parts.append(self._call(signature_name, {contract.INPUTS[signature_name]: [image]}))
            finally:
                self.decodes.release()
        return {name: np.concatenate([p[name] for p in parts]) for name in parts[0]}

    def warm_up(self, iterations: int = 1) -> int:
        """Replays the version's warm-up requests (TF Serving's file) ``iterations`` times,
        each time all at once: each signature's first call is mostly one-threaded graph
        set-up, so side by side they take the time of the slowest; the next calls are still
        slower than a warm one (docs/serving.md). How many requests the file holds."""
        started = time.monotonic()
        requests = warmup.read(self.path)

        def replay(request) -> None:
            signature_name = request.model_spec.signature_name or contract.SERVING_DEFAULT
            arrays = {
                k: tensors.to_array(v, inputs.MAX_ELEMENTS) for k, v in request.inputs.items()
            }
            self.predict(signature_name, arrays)

        status = "OK"
        try:
            with ThreadPoolExecutor(max(1, len(requests)), thread_name_prefix="warmup") as pool:
                for _ in range(iterations):
                    list(pool.map(replay, requests))
        except ServingError as error:
            status = error.code
            raise UserError(f"warm-up of {self.path} failed: {error}") from None
        finally:
            self.metrics.warmup(str(self.path), status, time.monotonic() - started, len(requests))
        return len(requests)

    def close(self) -> None:
        """Stops the batch threads after the rows they hold. The session closes when the
        last request holding this version lets go of it (as TF Serving's handles do)."""
        with self._lock:
            self._closed = True
            batchers, self._batchers = list(self._batchers.values()), {}
        for batcher in batchers:
            batcher.close()
