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
