"""Serve SavedModels with TF Serving's REST (8501) and gRPC (8500) APIs, on this machine.

    mnist-convnet serve --model_dir=saved_models/mnist_convnet --model_name=mnist
    mnist-convnet serve --model_config_file=models.config --enable_batching
    curl -d '{"instances": [{"b64": "'$(base64 -w0 digit.png)'"}]}' \\
        http://127.0.0.1:8501/v1/models/mnist:predict

and open http://127.0.0.1:8501/ in a browser to draw digits for the model to read. New
versions in the base folder are served as they appear (mnist_convnet/serving/core.py).
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
shared.define_flags_of(options.ServerOptions)
flags.DEFINE_bool(
    "enable_batching",
    False,
    "Merge concurrent pixel requests into one model call (TF Serving's flag; the batching "
    "parameters below take TF Serving's names).",
)
shared.define_flags_of(batching.BatchingOptions)


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
