"""serving/options.py: what a server is told, with TF Serving's defaults, without TensorFlow."""

from __future__ import annotations

import subprocess
import sys

from mnist_convnet.serving import options


def test_the_defaults_are_tf_servings():
    told = options.ServerOptions()
    assert (told.port, told.grpc_port, told.file_system_poll_wait_seconds) == (8501, 8500, 1.0)
    assert told.model_version_policy == "latest" and told.batching is None
    # TF Serving replays its warm-up file once; three here (measured: docs/serving.md)
    assert told.num_request_iterations_for_warmup == options.WARMUP_ITERATIONS == 3


def test_reading_the_options_loads_no_tensorflow():
    code = "import sys, mnist_convnet.serving.options; print('tensorflow' in sys.modules)"
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert run.stdout == "False\n", run.stderr


def test_a_bad_value_is_one_sentence_as_training_settings_are():
    """ServerOptions is declared with settings.option, as Config is: the same rules for the
    Python API and for the flags made from it."""
    import pytest

    from mnist_convnet.errors import UserError

    for bad, sentence in (
        ({"threads": 0}, "threads must be at least 1, not 0"),
        ({"grpc_port": -2}, "grpc_port must be at least -1, not -2"),
        ({"server": "nginx"}, "server must be one of granian, waitress, werkzeug"),
        ({"max_num_load_retries": -1}, "max_num_load_retries must be at least 0"),
    ):
        with pytest.raises(UserError, match=sentence):
            options.ServerOptions(**bad)


def test_every_option_but_the_shared_and_the_made_ones_is_a_flag_of_serve():
    import dataclasses

    from absl import flags

    from mnist_convnet.commands import serve

    names = {f.name for f in dataclasses.fields(options.ServerOptions)}
    assert names - {"model_dir", "batching"} <= set(flags.FLAGS)
    assert flags.FLAGS["threads"].help.startswith("Request threads") and serve
