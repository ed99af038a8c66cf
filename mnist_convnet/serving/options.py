"""What a server is told, and its limits: plain values, no TensorFlow (``--help`` reads them).

``ServerOptions`` is everything ``mnist-convnet serve`` was told (``server.py`` starts
what it describes); the limits are the defaults of its flags, each where it bites in
``core.py``, ``rest.py`` or ``grpc_api.py``.
"""

from __future__ import annotations

import dataclasses

from mnist_convnet import settings
from mnist_convnet.serving.batching import BatchingOptions
from mnist_convnet.settings import option

REST_PORT = 8501  # TF Serving's
GRPC_PORT = 8500  # TF Serving's
MAX_BODY_BYTES = 4 * 1024 * 1024  # a REST body, a gRPC message received
# A body over the limit is answered 413 and then read to its end and dropped, up to this
# much (nginx's lingering close), so that a client that sends its whole body before it
# reads (Python's urllib) reads the 413 instead of a broken pipe.
LINGER_BYTES = 64 * 1024 * 1024
MAX_IMAGES = 32  # encoded images per request: each holds a decode slot while read
MAX_DECODES = 2  # image readings at once: more would only queue for the cores
# Replays of each warm-up request before a version takes traffic. TF Serving replays once
# by default (--num_request_iterations_for_warmup); after one replay the next call is
# still much slower than a warm one, after three close to it (docs/serving.md).
WARMUP_ITERATIONS = 3
MAX_NUM_LOAD_RETRIES = 5  # TF Serving's defaults: a failed load is tried 5 more times,
LOAD_RETRY_INTERVAL_MICROS = 60_000_000  # a minute apart

SERVERS = ("granian", "waitress", "werkzeug")


@dataclasses.dataclass(frozen=True)
class ServerOptions:
    """What to serve and how: the flags of ``mnist-convnet serve`` (``commands/serve.py``
    makes one from each field but ``model_dir``, a flag the commands share, and
    ``batching``, which ``--enable_batching`` and ``BatchingOptions``' flags make). Checked
    as ``Config`` is (``settings.py``): a bad value is one sentence, before TensorFlow."""

    model_dir: str = option("", "A SavedModel base folder of versions.", flag=False)
    model_name: str = option("mnist", "The <name> in /v1/models/<name> and in gRPC's model_spec.")
    model_config_file: str = option(
        "",
        "TF Serving's model config: a text ModelServerConfig (model_config_list { config { "
        "name, base_path, model_version_policy, version_labels } ... }); several models in "
        "one server.",
    )
    model_version_policy: str = option(
        "latest",
        "Which versions of --model_dir to serve: latest, latest:N, all, or specific:1,3 "
        "(TF Serving's ServableVersionPolicy).",
    )
    version_labels: str = option("", "Labels for versions, e.g. stable=1,canary=2: /labels/stable.")
    host: str = option("127.0.0.1", "Address to bind; 0.0.0.0 exposes it to the network.")
    port: int = option(REST_PORT, "REST port (TF Serving's is 8501; 0: a free one).", at_least=0)
    grpc_port: int = option(
        GRPC_PORT, "gRPC port (TF Serving's is 8500; 0: a free one; -1: no gRPC).", at_least=-1
    )
    server: str = option(
        "granian",
        "granian: HTTP parsed in Rust outside Python's GIL, in a worker process that is "
        "restarted if it dies (mnist_convnet/serving/asgi.py); waitress: pure Python, a "
        "fixed pool of threads, keep-alive connections; werkzeug: its development server, a "
        "thread and a connection per request (docs/serving.md).",
        choices=SERVERS,
    )
    threads: int = option(
        32,
        "Request threads, for REST and for gRPC: how many requests run the model or wait "
        "for a batch at once.",
        at_least=1,
    )
    max_body_bytes: int = option(
        MAX_BODY_BYTES, "Largest REST request body, and largest gRPC message received.", at_least=1
    )
    max_images_per_request: int = option(
        MAX_IMAGES,
        f"Encoded images one request may send (each is read in its own turn of the "
        f"{MAX_DECODES} image readers, so a long request cannot hold them).",
        at_least=1,
    )
    num_request_iterations_for_warmup: int = option(
        WARMUP_ITERATIONS,
        "How many times each request of a version's assets.extra/tf_serving_warmup_requests "
        "is replayed before the version takes traffic (TF Serving's flag; its default "
        "replays once, which leaves the next calls slower than warm ones: docs/serving.md).",
        at_least=1,
    )
    file_system_poll_wait_seconds: float = option(
        1.0, "How often the base folders are polled for new versions (0: only at start)."
    )
    model_config_file_poll_wait_seconds: float = option(
        0.0,
        "How often --model_config_file is read again: its models' labels and version "
        "policies apply from then on (`personalize --label` names a new version there; "
        "0: read once, at start). Adding or removing a model takes a restart.",
    )
    max_num_load_retries: int = option(
        MAX_NUM_LOAD_RETRIES,
        "How many more times a version that failed to load (a folder caught half copied, "
        "say) is tried before it is END (TF Serving's flag and default).",
        at_least=0,
    )
    load_retry_interval_micros: int = option(
        LOAD_RETRY_INTERVAL_MICROS,
        "Microseconds between those tries (TF Serving's flag and default: a minute).",
        at_least=0,
    )
    monitoring_config_file: str = option(
        "",
        "TF Serving's monitoring config, e.g. prometheus_config { enable: true, path: "
        '"/monitoring/prometheus/metrics" }: Prometheus metrics on the REST port.',
    )
    enable_prometheus: bool = option(
        False, "Shorthand: Prometheus metrics at /monitoring/prometheus/metrics."
    )
    rest_api_enable_cors_support: bool = option(
        False,
        "Add TF Serving's CORS headers to REST answers, so pages on other origins can call it.",
    )
    batching: BatchingOptions | None = None  # --enable_batching and its flags

    def __post_init__(self) -> None:
        settings.check(self)
