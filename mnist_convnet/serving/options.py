"""What a server is told, and its limits: plain values, no TensorFlow (``--help`` reads them).

``ServerOptions`` is everything ``mnist-convnet serve`` was told (``server.py`` starts
what it describes); the limits are the defaults of its flags, each where it bites in
``models.py``, ``rest.py`` or ``grpc_api.py``.
"""

from __future__ import annotations

import dataclasses

from mnist_convnet.serving.batching import BatchingOptions

REST_PORT = 8501  # TF Serving's
GRPC_PORT = 8500  # TF Serving's
MAX_BODY_BYTES = 4 * 1024 * 1024  # a REST body, a gRPC message received
# A body over the limit is answered 413 and then read to its end and dropped, up to this
# much (nginx's lingering close), so that a client that sends its whole body before it
# reads (Python's urllib) reads the 413 instead of a broken pipe.
LINGER_BYTES = 64 * 1024 * 1024
MAX_IMAGES = 32  # encoded images per request: each costs 10-100 ms of a decode slot
MAX_DECODES = 2  # image readings at once: more would only queue for the cores
# Replays of each warm-up request before a version takes traffic. TF Serving replays once
# by default (--num_request_iterations_for_warmup); here the call after one replay still
# took 2-4x a warm one, after three 1.3-1.7x (measured in docs/serving.md).
WARMUP_ITERATIONS = 3
MAX_NUM_LOAD_RETRIES = 5  # TF Serving's defaults: a failed load is tried 5 more times,
LOAD_RETRY_INTERVAL_MICROS = 60_000_000  # a minute apart

SERVERS = ("granian", "waitress", "werkzeug")


@dataclasses.dataclass(frozen=True)
class ServerOptions:
    """What to serve and how (the flags of ``mnist-convnet serve``)."""

    model_dir: str = ""
    model_name: str = "mnist"
    model_config_file: str = ""
    model_version_policy: str = "latest"
    version_labels: str = ""
    host: str = "127.0.0.1"
    port: int = 8501
    grpc_port: int = GRPC_PORT  # -1: no gRPC
    server: str = "granian"
    threads: int = 32
    max_body_bytes: int = MAX_BODY_BYTES
    max_images_per_request: int = MAX_IMAGES
    num_request_iterations_for_warmup: int = WARMUP_ITERATIONS
    batching: BatchingOptions | None = None
    file_system_poll_wait_seconds: float = 1.0
    max_num_load_retries: int = MAX_NUM_LOAD_RETRIES
    load_retry_interval_micros: int = LOAD_RETRY_INTERVAL_MICROS
    monitoring_config_file: str = ""
    enable_prometheus: bool = False
    rest_api_enable_cors_support: bool = False
