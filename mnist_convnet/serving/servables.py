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
from mnist_convnet.serving import protocol, tensors
from mnist_convnet.serving.batching import Batcher, BatcherClosed, BatchingOptions, QueueFull
from mnist_convnet.serving.bundle import SavedModelBundle
from mnist_convnet.serving.metrics import Metrics
from mnist_convnet.serving.options import (
    MAX_IMAGES,
)
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

    def predict(self, signature_name: str, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Runs a signature on inputs named as in it; ServingError for anything wrong."""
        return self.submit(signature_name, inputs).result()

    def submit(
        self,
        signature_name: str,
        inputs: dict[str, np.ndarray],
        executor: Executor | None = None,
    ) -> Future:
        """``predict`` as a future: still running when its rows wait for a batch (an event
        loop can await it); otherwise run on ``executor`` if given (the caller must not
        block: an event loop), or at once. Inputs are checked first, in the caller."""
        kind, checked = self._checked(signature_name, inputs)
        if kind == "rows" and self.batching is not None:
            (rows,) = checked.values()
            if len(rows) <= self.batching.max_batch_size:
                try:
                    return self._batcher(signature_name).submit(rows)
                except QueueFull:
                    raise busy("the batching queue is full; try again") from None
                except BatcherClosed:  # unloaded while this request held it: run it alone
                    pass
        if executor is not None:
            return executor.submit(self._run, kind, signature_name, checked)
        done: Future = Future()
        try:
            done.set_result(self._run(kind, signature_name, checked))
        except ServingError as error:
            done.set_exception(error)
        return done

    def _run(self, kind: str, signature_name: str, checked: dict[str, np.ndarray]):
        if kind == "images":
            return self._read_images(signature_name, *checked.values())
        return self._call(signature_name, checked)

    def _checked(self, signature_name: str, inputs: dict[str, np.ndarray]):
        """("rows" | "images" | "explain", the inputs checked as the signature takes them)."""
        if signature_name not in self.signatures:
            raise ServingError(
                "FAILED_PRECONDITION", f'Serving signature key "{signature_name}" not found.'
            )
        expected = self.input_names(signature_name)
        if sorted(inputs) != sorted(expected):
            raise invalid(
                f"{signature_name} takes the input(s) {', '.join(expected)}; "
                f"got {', '.join(sorted(inputs)) or 'none'}"
            )
        if signature_name == contract.SERVING_EXPLAIN:
            return "explain", _explain_inputs(inputs)
        ((name, value),) = inputs.items()
        if signature_name in contract.IMAGE_SIGNATURES:
            return "images", {name: _images(value, self.max_images)}
        return "rows", {name: _rows(value, floats=signature_name == contract.SERVING_FLOAT)}

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
            inputs = {
                k: tensors.to_array(v, protocol.MAX_ELEMENTS) for k, v in request.inputs.items()
            }
            self.predict(signature_name, inputs)

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


def _rows(value: np.ndarray, floats: bool) -> np.ndarray:
    """A pixel input checked: [B, 28, 28] or [B, 28, 28, 1], 1 <= B <= MAX_INSTANCES."""
    if value.dtype == object or value.dtype.kind not in "iuf":
        raise invalid(f"pixels must be numbers, not {value.dtype}")
    shape = list(value.shape)
    if shape[1:] not in ([28, 28], [28, 28, 1]) or (floats and shape[1:] != [28, 28, 1]):
        wanted = "[batch, 28, 28, 1]" if floats else "[batch, 28, 28] or [batch, 28, 28, 1]"
        raise invalid(f"the input must have shape {wanted}, got {shape}")
    if not 1 <= shape[0] <= protocol.MAX_INSTANCES:
        raise invalid(f"a request holds 1 to {protocol.MAX_INSTANCES} rows, got {shape[0]}")
    return protocol.check_pixel_values(value, floats)


def _explain_inputs(inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """serving_explain's inputs checked: 1 to MAX_EXPLANATIONS images in [0, 1], a label
    (0-9, or -1 for the prediction) and a step size (0 to MAX_LEARNING_RATE) for each."""
    images_name, label_name, rate_name = contract.EXPLAIN_INPUTS
    images = _rows(inputs[images_name], floats=True)
    count = len(images)
    if count > protocol.MAX_EXPLANATIONS:
        raise invalid(f"at most {protocol.MAX_EXPLANATIONS} images per explanation, got {count}")
    label, rate = np.asarray(inputs[label_name]), np.asarray(inputs[rate_name])
    for name, value in ((label_name, label), (rate_name, rate)):
        if value.shape != (count,) or value.dtype == object or value.dtype.kind not in "iuf":
            raise invalid(f"{name} must be {count} number(s), one for each image")
    if np.any(label != np.round(label)) or label.min() < contract.PREDICTED or label.max() > 9:
        raise invalid("label must be a digit 0-9 (or -1: the predicted one)")
    if not np.all(np.isfinite(rate)) or rate.min() < 0 or rate.max() > contract.MAX_LEARNING_RATE:
        raise invalid(f"learning_rate must be a number from 0 to {contract.MAX_LEARNING_RATE:g}")
    checked = (images, label.astype(np.int64), rate.astype(np.float32))
    return dict(zip(contract.EXPLAIN_INPUTS, checked))


def _images(value: np.ndarray, most: int) -> np.ndarray:
    """An image input checked: encoded images as a vector of 1 to ``most`` byte strings."""
    if value.ndim != 1 or not value.size or value.dtype != object:
        raise invalid(f"images must be a vector of encoded images (strings), got {value.dtype}")
    if len(value) > most:
        raise invalid(f"at most {most} images per request (got {len(value)})")
    return value
