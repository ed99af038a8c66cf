"""The models a server holds and their versions, kept as TF Serving's manager keeps them.

Each model has a base folder of numbered versions (``1/``, ``2/``, ...). The manager polls
it (every ``--file_system_poll_wait_seconds``) and serves the versions its policy asks
for — TF Serving's ``ServableVersionPolicy``:

    latest {num_versions: N}   the N highest (the default: N = 1)
    all {}                     every version on disk
    specific {versions: ...}   exactly these

A version the policy wants is loaded, then warmed up (``warmup.py``), and only then
answers; the versions it no longer wants are unloaded at the next poll, so there is never
a moment with nothing to answer (TF Serving's availability-preserving order). Labels
(``stable`` -> 3) name available versions. The states a client sees are TF Serving's:
LOADING, AVAILABLE, UNLOADING, END. A load that fails (a folder caught half copied, a
broken warm-up file, anything) is tried again as TF Serving tries it: up to
``max_num_load_retries`` more times, ``load_retry_interval`` seconds apart, the version
LOADING with the last error meanwhile and END with it after the last try; the poller
never waits for a retry. A request for a version that is not AVAILABLE is NOT_FOUND:
nothing is ever loaded on demand.

A ``Servable`` is one loaded version. Its ``predict`` is what REST, gRPC and warm-up
call: inputs by the signature's names, checked, batched (pixel signatures, with
batching on) or read one image per decode slot (image signatures); ``serving_explain``'s
three inputs are checked together and run at once, at most 8 images.
"""

from __future__ import annotations

import ctypes
import gc
import threading
import time
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from pathlib import Path

import numpy as np
import tensorflow as tf
from absl import logging

from mnist_convnet import contract, versions
from mnist_convnet.errors import UserError
from mnist_convnet.export import warmup
from mnist_convnet.finder import refusals
from mnist_convnet.serving import protocol, tensors
from mnist_convnet.serving.batching import Batcher, BatcherClosed, BatchingOptions, QueueFull
from mnist_convnet.serving.bundle import SavedModelBundle
from mnist_convnet.serving.configs import ModelConfig
from mnist_convnet.serving.metrics import Metrics
from mnist_convnet.serving.options import (
    LOAD_RETRY_INTERVAL_MICROS,
    MAX_DECODES,
    MAX_IMAGES,
    MAX_NUM_LOAD_RETRIES,
    WARMUP_ITERATIONS,
)
from mnist_convnet.serving.status import ServingError, busy, invalid, not_found

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
        set-up (~1.4 s for the image ones here), so side by side they take the time of the
        slowest; the second and third calls are still 2-4x and ~1.5x a warm one. How many
        requests the file holds."""
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
    images = _rows(inputs["images"], floats=True)
    count = len(images)
    if count > protocol.MAX_EXPLANATIONS:
        raise invalid(f"at most {protocol.MAX_EXPLANATIONS} images per explanation, got {count}")
    label, rate = np.asarray(inputs["label"]), np.asarray(inputs["learning_rate"])
    for name, value in (("label", label), ("learning_rate", rate)):
        if value.shape != (count,) or value.dtype == object or value.dtype.kind not in "iuf":
            raise invalid(f"{name} must be {count} number(s), one for each image")
    if np.any(label != np.round(label)) or label.min() < contract.PREDICTED or label.max() > 9:
        raise invalid("label must be a digit 0-9 (or -1: the predicted one)")
    if not np.all(np.isfinite(rate)) or rate.min() < 0 or rate.max() > contract.MAX_LEARNING_RATE:
        raise invalid(f"learning_rate must be a number from 0 to {contract.MAX_LEARNING_RATE:g}")
    return {
        "images": images,
        "label": label.astype(np.int64),
        "learning_rate": rate.astype(np.float32),
    }


def _images(value: np.ndarray, most: int) -> np.ndarray:
    """An image input checked: encoded images as a vector of 1 to ``most`` byte strings."""
    if value.ndim != 1 or not value.size or value.dtype != object:
        raise invalid(f"images must be a vector of encoded images (strings), got {value.dtype}")
    if len(value) > most:
        raise invalid(f"at most {most} images per request (got {len(value)})")
    return value


def _return_freed_memory() -> None:
    """glibc keeps freed memory in its arenas; ``malloc_trim`` hands it back, so an unloaded
    version's ~120 MB leave the process's RSS (measured in docs/serving.md)."""
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc: the memory is reused, not returned
        pass


class ModelManager:
    """The versions of every model, polled from disk, loaded and unloaded by policy."""

    def __init__(
        self,
        models: list[ModelConfig],
        batching: BatchingOptions | None = None,
        metrics: Metrics | None = None,
        max_images: int = MAX_IMAGES,
        warmup_iterations: int = WARMUP_ITERATIONS,
        max_num_load_retries: int = MAX_NUM_LOAD_RETRIES,
        load_retry_interval: float = LOAD_RETRY_INTERVAL_MICROS / 1e6,
    ) -> None:
        self.configs = {m.name: m for m in models}
        self.max_num_load_retries = max_num_load_retries
        self.load_retry_interval = load_retry_interval
        # (name, version) of a load that failed -> (tries so far, when to try again)
        self._retries: dict[tuple[str, int], tuple[int, float]] = {}
        self.warmup_iterations = warmup_iterations
        self.batching = batching
        self.metrics = metrics or Metrics()
        self.max_images = max_images
        self._decodes = threading.BoundedSemaphore(MAX_DECODES)
        self._servables: dict[str, dict[int, Servable]] = {m.name: {} for m in models}
        self._states: dict[str, dict[int, tuple[str, str]]] = {m.name: {} for m in models}
        self._lock = threading.Lock()  # guards the two dicts above; never held to load
        self._poll_lock = threading.Lock()
        self._stop = threading.Event()
        self._poller: threading.Thread | None = None
        for config in models:
            if not versions.complete(config.base_path):
                raise UserError(f"no SavedModel versions (1/, 2/, ...) found in {config.base_path}")
        self.poll()  # load now: fail at start-up, not at the first request
        for config in models:
            if not self._servables[config.name]:
                _, message = next(iter(self._states[config.name].values()), ("", ""))
                raise UserError(message or f"no version of {config.name!r} could be loaded")

    @property
    def names(self) -> list[str]:
        return list(self.configs)

    # --- requests -----------------------------------------------------------------------

    def servable(self, name: str, version: int | None = None, label: str | None = None) -> Servable:
        """The servable a request names: the latest, a version, or a label's version."""
        if name not in self.configs:
            raise not_found(f"model {name!r} not found (this server has {', '.join(self.names)})")
        with self._lock:
            available = self._servables[name]
            if label is not None:
                if label not in self.configs[name].labels:
                    raise not_found(f"no version of model {name!r} is labelled {label!r}")
                version = self.configs[name].labels[label]
            if version is None:
                if not available:
                    raise ServingError("UNAVAILABLE", f"no version of model {name!r} is loaded")
                return available[max(available)]
            if version not in available:
                raise not_found(f"version {version} of model {name!r} is not being served")
            return available[version]

    def status(self, name: str, version: int | None = None) -> list[tuple[int, str, str]]:
        """``(version, state, error message)`` newest first, as GetModelStatus lists them."""
        if name not in self.configs:
            raise not_found(f"model {name!r} not found (this server has {', '.join(self.names)})")
        with self._lock:
            states = dict(self._states[name])
        if version is not None:
            if version not in states:
                raise not_found(f"Could not find version {version} of model {name}")
            states = {version: states[version]}
        if not states:
            raise not_found(f"Could not find any versions of model {name}")
        return [(v, *states[v]) for v in sorted(states, reverse=True)]

    # --- versions -----------------------------------------------------------------------

    def poll(self) -> None:
        """One look at every base folder: load what the policy wants, unload the rest.

        A poll that loaded a version of a model unloads none of it: the versions leaving
        go at the next poll. Unloading takes up to ~0.5 s (batch threads joined,
        session closed, a collection, memory trimmed) and, right at the switch, it landed
        on the new version's first requests: 2-4x a warm one, 1.0x with the unload a
        poll later (docs/serving.md, "Hot swap, the old version's requests")."""
        with self._poll_lock:
            for config in self.configs.values():
                wanted = config.policy.choose(versions.complete(config.base_path))
                arriving = [v for v in wanted if self._to_load(config.name, v)]
                for version in arriving:
                    self._load(config, version)
                if arriving:
                    continue
                with self._lock:
                    going = [v for v in self._servables[config.name] if v not in wanted]
                    if not self._servables[config.name].keys() - set(going):
                        going = []  # never unload the last one for a version that failed
                for version in going:
                    self._unload(config.name, version)

    def _set(self, name: str, version: int, state: str, message: str = "") -> None:
        with self._lock:
            self._states[name][version] = (state, message)

    def _to_load(self, name: str, version: int) -> bool:
        """Whether a wanted version is to be loaded now: new, or its retry is due."""
        if version not in self._states[name]:
            return True
        _, due = self._retries.get((name, version), (0, float("inf")))
        return time.monotonic() >= due

    def _load(self, config: ModelConfig, version: int) -> None:
        state = self._states[config.name].get(version, (LOADING, ""))
        self._set(config.name, version, LOADING, state[1])
        started = time.monotonic()
        servable = None
        try:
            servable = Servable(
                config.name,
                version,
                config.base_path / str(version),
                self.batching,
                self._decodes,
                self.metrics,
                self.max_images,
            )
            loaded = time.monotonic()
            servable.warm_up(self.warmup_iterations)
        except Exception as error:  # any failure: retried, then END, never LOADING for ever
            if servable is not None:
                servable.close()  # batch threads a failed warm-up started
            self._failed(config.name, version, error)
            return
        self._retries.pop((config.name, version), None)
        with self._lock:
            self._servables[config.name][version] = servable
            self._states[config.name][version] = (AVAILABLE, "")
        logging.info(
            "serving version %s of %r (loaded in %.2f s, warmed up in %.2f s)",
            version,
            config.name,
            loaded - started,
            time.monotonic() - loaded,
        )

    def _failed(self, name: str, version: int, error: Exception) -> None:
        """A failed load: LOADING with its error until the next try, END after the last."""
        message = str(error) if isinstance(error, UserError) else f"{type(error).__name__}: {error}"
        tries, _ = self._retries.get((name, version), (0, 0.0))
        if tries < self.max_num_load_retries:
            due = time.monotonic() + self.load_retry_interval
            self._retries[(name, version)] = (tries + 1, due)
            self._set(name, version, LOADING, message)
            logging.warning(
                "version %s of %r not loaded (retry %d of %d in %g s): %s",
                version,
                name,
                tries + 1,
                self.max_num_load_retries,
                self.load_retry_interval,
                message,
            )
            return
        self._retries.pop((name, version), None)
        self._set(name, version, END, message)
        logging.error("version %s of %r not loaded: %s", version, name, message)

    def _unload(self, name: str, version: int) -> None:
        with self._lock:
            servable = self._servables[name].pop(version)
            self._states[name][version] = (UNLOADING, "")
        servable.close()
        del servable
        gc.collect()  # the graph and its weights go now, not at some later collection
        _return_freed_memory()
        self._set(name, version, END)
        logging.info("unloaded version %s of %r", version, name)

    def start_polling(self, seconds: float) -> None:
        """Polls every ``seconds`` in a thread (TF Serving's file_system_poll_wait_seconds;
        0 or less: never, the versions found at start are the ones served)."""
        if seconds <= 0 or self._poller is not None:
            return

        def run() -> None:
            while not self._stop.wait(seconds):
                try:
                    self.poll()
                except Exception:  # a bad folder must not stop the polling
                    logging.exception("polling the model folders failed")

        self._poller = threading.Thread(target=run, name="version-poller", daemon=True)
        self._poller.start()

    def close(self) -> None:
        self._stop.set()
        if self._poller is not None:
            self._poller.join(timeout=30)
        with self._lock:
            servables = [s for by in self._servables.values() for s in by.values()]
        for servable in servables:
            servable.close()
