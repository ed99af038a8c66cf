"""The models a server holds and their versions, kept as TF Serving's manager keeps them.

Each model has a base folder of numbered versions (``1/``, ``2/``, ...). The manager polls
it (every ``--file_system_poll_wait_seconds``) and serves the versions its policy asks
for — TF Serving's ``ServableVersionPolicy``:

    latest {num_versions: N}   the N highest (the default: N = 1)
    all {}                     every version on disk
    specific {versions: ...}   exactly these

A version the policy wants is loaded (``servables.py``), then warmed up from the export's
warm-up records, and only then answers; the versions it no longer wants are unloaded at
the next poll, so there is never a moment with nothing to answer (TF Serving's
availability-preserving order). Labels (``stable`` -> 3) name available versions. The
states a client sees are TF Serving's: LOADING, AVAILABLE, UNLOADING, END. A load that
fails (a folder caught half copied, a broken warm-up file, anything) is tried again as
TF Serving tries it: up to ``max_num_load_retries`` more times, ``load_retry_interval``
seconds apart, the version LOADING with the last error meanwhile and END with it after
the last try; the poller never waits for a retry. A request for a version that is not
AVAILABLE is NOT_FOUND: nothing is ever loaded on demand.
"""

from __future__ import annotations

import ctypes
import dataclasses
import gc
import threading
import time
from pathlib import Path

from absl import logging

from mnist_convnet import versions
from mnist_convnet.errors import UserError
from mnist_convnet.serving.batching import BatchingOptions
from mnist_convnet.serving.configs import ModelConfig, read_model_config_file
from mnist_convnet.serving.metrics import Metrics
from mnist_convnet.serving.options import (
    LOAD_RETRY_INTERVAL_MICROS,
    MAX_DECODES,
    MAX_IMAGES,
    MAX_NUM_LOAD_RETRIES,
    WARMUP_ITERATIONS,
)
from mnist_convnet.serving.servables import (
    AVAILABLE,
    END,
    LOADING,
    UNLOADING,
    Servable,
)
from mnist_convnet.serving.status import ServingError, not_found


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
        go at the next poll. Unloading takes a while (batch threads joined, session
        closed, a collection, memory trimmed) and, right at the switch, it landed on the
        new version's first requests, slowing them; with the unload a poll later they are
        as fast as warm ones (docs/serving.md, "Hot swap, the old version's requests")."""
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

    def reconfigure(self, models: list[ModelConfig]) -> None:
        """A model config read again: each served model's version policy and labels as it
        now says (the next poll loads and unloads by the policy). A model added, removed
        or moved to another base folder is logged and left as it is: that takes a restart."""
        new = {m.name: m for m in models}
        if new.keys() != self.configs.keys() or any(
            new[n].base_path != c.base_path for n, c in self.configs.items()
        ):
            logging.warning("the model config adds, removes or moves a model: restart to apply")
        self.configs = {
            name: dataclasses.replace(config, policy=new[name].policy, labels=new[name].labels)
            if name in new and new[name].base_path == config.base_path
            else config
            for name, config in self.configs.items()
        }

    def watch_config_file(self, path: Path, seconds: float) -> None:
        """Reads TF Serving's ``--model_config_file`` again every ``seconds`` and applies
        it (``reconfigure``); a file that cannot be read or parsed is logged, and the
        config in force stays (0 or less: never)."""
        if seconds <= 0:
            return
        last = [path.read_bytes() if path.is_file() else b""]

        def run() -> None:
            while not self._stop.wait(seconds):
                try:
                    content = path.read_bytes()
                    if content != last[0]:
                        self.reconfigure(read_model_config_file(path))
                        last[0] = content
                        logging.info("model config %s read again", path)
                except (OSError, UserError) as error:
                    logging.error("model config %s not applied: %s", path, error)

        threading.Thread(target=run, name="config-watcher", daemon=True).start()

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
