"""Serve SavedModels with TF Serving's REST (8501) and gRPC (8500) APIs, on this machine.

    mnist-convnet serve --model_dir=saved_models/mnist_convnet --model_name=mnist
    mnist-convnet serve --model_config_file=models.config --enable_batching
    curl -d '{"instances": [{"b64": "'$(base64 -w0 digit.png)'"}]}' \\
        http://127.0.0.1:8501/v1/models/mnist:predict

and open http://127.0.0.1:8501/ in a browser to draw digits for the model to read. New
versions in the base folder are served as they appear (mnist_convnet/serving/models.py).
"""

from __future__ import annotations

import dataclasses

from absl import app, flags

from mnist_convnet.commands import flags as shared
from mnist_convnet.errors import exit_on_user_error
from mnist_convnet.serving import batching, configs, options

shared.define_model_dir_flag(
    "A SavedModel base folder of versions, as TF Serving's --model_base_path (a version "
    "folder itself is refused); or give --model_config_file."
)
flags.DEFINE_string(
    "model_name", "mnist", "The <name> in /v1/models/<name> and in gRPC's model_spec."
)
flags.DEFINE_string(
    "model_config_file",
    "",
    "TF Serving's model config: a text ModelServerConfig (model_config_list { config { name, "
    "base_path, model_version_policy, version_labels } ... }); several models in one server.",
)
flags.DEFINE_string(
    "model_version_policy",
    "latest",
    "Which versions of --model_dir to serve: latest, latest:N, all, or specific:1,3 "
    "(TF Serving's ServableVersionPolicy).",
)
flags.DEFINE_string(
    "version_labels", "", "Labels for versions, e.g. stable=1,canary=2: /labels/stable."
)
flags.DEFINE_float(
    "file_system_poll_wait_seconds",
    1.0,
    "How often the base folders are polled for new versions (0: only at start).",
)
flags.DEFINE_integer(
    "max_num_load_retries",
    options.MAX_NUM_LOAD_RETRIES,
    "How many more times a version that failed to load (a folder caught half copied, say) "
    "is tried before it is END (TF Serving's flag and default).",
    lower_bound=0,
)
flags.DEFINE_integer(
    "load_retry_interval_micros",
    options.LOAD_RETRY_INTERVAL_MICROS,
    "Microseconds between those tries (TF Serving's flag and default: a minute).",
    lower_bound=0,
)
flags.DEFINE_string("host", "127.0.0.1", "Address to bind; 0.0.0.0 exposes it to the network.")
flags.DEFINE_integer(
    "port", 8501, "REST port (TF Serving's is 8501; 0: a free one).", lower_bound=0
)
flags.DEFINE_integer(
    "grpc_port",
    options.GRPC_PORT,
    "gRPC port (TF Serving's is 8500; 0: a free one; -1: no gRPC).",
    lower_bound=-1,
)
flags.DEFINE_integer(
    "max_body_bytes",
    options.MAX_BODY_BYTES,
    "Largest REST request body, and largest gRPC message received.",
)
flags.DEFINE_integer(
    "max_images_per_request",
    options.MAX_IMAGES,
    "Encoded images one request may send (each is read in its own turn of the "
    f"{options.MAX_DECODES} image readers, so a long request cannot hold them).",
    lower_bound=1,
)
flags.DEFINE_integer(
    "num_request_iterations_for_warmup",
    options.WARMUP_ITERATIONS,
    "How many times each request of a version's assets.extra/tf_serving_warmup_requests is "
    "replayed before the version takes traffic (TF Serving's flag; its default replays "
    "once, which leaves the next calls slower than warm ones: docs/serving.md).",
    lower_bound=1,
)
flags.DEFINE_enum(
    "server",
    "granian",
    list(options.SERVERS),
    "granian: HTTP parsed in Rust outside Python's GIL, in a worker process (mnist_convnet/"
    "serving/asgi.py); waitress: pure Python, a fixed pool of threads, keep-alive "
    "connections; werkzeug: its development server, a thread and a connection per request "
    "(measured: docs/serving.md).",
)
flags.DEFINE_integer(
    "threads",
    32,
    "Request threads, for REST and for gRPC: how many requests run the model or wait for a "
    "batch at once.",
    lower_bound=1,
)
flags.DEFINE_bool(
    "enable_batching",
    False,
    "Merge concurrent pixel requests into one model call (TF Serving's flag; the batching "
    "parameters below take TF Serving's names).",
)
shared.define_flags_of(batching.BatchingOptions)
flags.DEFINE_string(
    "monitoring_config_file",
    "",
    "TF Serving's monitoring config, e.g. prometheus_config { enable: true, path: \"/monitoring/"
    'prometheus/metrics" }: Prometheus metrics on the REST port.',
)
flags.DEFINE_bool(
    "enable_prometheus", False, "Shorthand: Prometheus metrics at /monitoring/prometheus/metrics."
)
flags.DEFINE_bool(
    "rest_api_enable_cors_support",
    False,
    "Add TF Serving's CORS headers to REST answers, so pages on other origins can call it.",
)


def batching_options(flags_obj: flags.FlagValues) -> batching.BatchingOptions | None:
    if not flags_obj.enable_batching:
        return None
    return shared.from_flags(batching.BatchingOptions, flags_obj)


def server_options(flags_obj: flags.FlagValues) -> options.ServerOptions:
    names = {f.name for f in dataclasses.fields(options.ServerOptions)} - {"batching"}
    values = {name: flags_obj[name].value for name in names}
    if flags_obj.model_config_file and not flags_obj["model_dir"].present:
        values["model_dir"] = ""  # the default base folder is not a second model
    return options.ServerOptions(**values, batching=batching_options(flags_obj))


def check(flags_obj: flags.FlagValues) -> None:
    """What is refused before TensorFlow starts (main.py calls it first): the options, the
    model configs, a base folder with no version, the monitoring config."""
    configs.check(server_options(flags_obj))


def main(argv: list[str]) -> None:
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
    with exit_on_user_error():
        told = server_options(flags.FLAGS)
        from mnist_convnet.serving import server  # TensorFlow: not for --help

        if told.server == "granian":
            server.serve_granian(told)
        else:
            server.serve_in_process(told)
