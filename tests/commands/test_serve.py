"""commands/serve.py: the flags make the options, and `mnist-convnet serve` as a user runs it.

tests/serving/ tests the server's parts; here it runs as a child process, on granian.
"""

from __future__ import annotations

import subprocess
import sys

import pytest
import requests
from absl.testing import flagsaver

from mnist_convnet.commands import serve
from testbed.servers import wait_until_answering
from tests.helpers import parsed_flags, user_env


def test_batching_flags_become_tf_servings_options():
    flags = parsed_flags()
    with flagsaver.flagsaver(enable_batching=False):
        assert serve.batching_options(flags) is None
    with flagsaver.flagsaver(enable_batching=True, max_batch_size=8, batch_timeout_micros=500):
        options = serve.batching_options(flags)
    assert (options.max_batch_size, options.batch_timeout_micros) == (8, 500)


def test_the_flags_become_server_options(tmp_path):
    flags = parsed_flags()
    with flagsaver.flagsaver(
        grpc_port=9000,
        model_version_policy="latest:2",
        rest_api_enable_cors_support=True,
        num_request_iterations_for_warmup=5,
        max_num_load_retries=2,
        load_retry_interval_micros=1500,
    ):
        options = serve.server_options(flags)
    assert (options.grpc_port, options.model_version_policy) == (9000, "latest:2")
    assert options.num_request_iterations_for_warmup == 5
    assert (options.max_num_load_retries, options.load_retry_interval_micros) == (2, 1500)
    assert options.rest_api_enable_cors_support and options.batching is None
    with flagsaver.flagsaver(model_config_file=str(tmp_path / "m.config")):
        assert serve.server_options(flags).model_dir == ""  # the default is not a second model


def _serve(model_dir) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "mnist_convnet", "serve", f"--model_dir={model_dir}"]
    return subprocess.run(
        [*command, "--port=0"], capture_output=True, text=True, timeout=120, env=user_env()
    )


# serve as a user runs it, with an audit hook that writes down every module imported.
_LOGGED_SERVE = """
import runpy, sys
log = open(sys.argv.pop(1), "w", buffering=1)  # the command may end by os._exit
sys.addaudithook(lambda event, args: event == "import" and log.write(args[0] + "\\n"))
sys.argv[0] = "mnist-convnet"
runpy.run_module("mnist_convnet", run_name="__main__")
"""


def test_a_folder_without_versions_is_refused_before_tensorflow_starts(tmp_path):
    """serve checks what it can before TensorFlow: a base folder with no version, or a bad
    policy, is one error line from a process that never imported TensorFlow."""
    (tmp_path / "models").mkdir()
    for flag in ("", "--model_version_policy=newest"):
        log = tmp_path / "imported.txt"
        flags = [f"--model_dir={tmp_path / 'models'}", "--port=0", *filter(None, [flag])]
        done = subprocess.run(
            [sys.executable, "-c", _LOGGED_SERVE, str(log), "serve", *flags],
            capture_output=True, text=True, timeout=120, env=user_env(),
        )  # fmt: skip
        lines = done.stderr.strip().splitlines()
        assert done.returncode == 2 and lines[-1].startswith("error: "), done.stderr[-2000:]
        assert ("version policy" if flag else "no SavedModel versions") in lines[-1]
        imported = set(log.read_text().split())
        assert "mnist_convnet.serving.configs" in imported  # the check ran
        assert "tensorflow" not in imported


@pytest.mark.slow
def test_a_model_granian_cannot_load_is_one_error_line_and_a_failed_exit(exported, tmp_path):
    """The parent refuses a folder without versions; a version that is not a SavedModel
    fails in granian's worker, which says why in one line, and the server exits non-zero."""
    empty = _serve(tmp_path)
    assert empty.returncode == 2
    assert empty.stderr.strip().splitlines()[-1].startswith("error: no SavedModel versions")
    (tmp_path / "1").mkdir()
    (tmp_path / "1" / "saved_model.pb").write_bytes(b"not a protobuf")
    broken = _serve(tmp_path)
    assert broken.returncode != 0
    errors = [line for line in broken.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "cannot load SavedModel" in errors[0]
    assert "Traceback" not in broken.stderr


@pytest.mark.slow
def test_make_serve_speaks_rest_and_grpc_with_metrics_and_cors(exported, test_digits, tmp_path):
    """`mnist-convnet serve` on granian, as `make serve` runs it: it announces both ports,
    a TF Serving client's gRPC stub gets REST's answer, a path outside Latin-1 is a 404,
    CORS headers come when asked, and the metrics count both entry points."""
    import re

    import grpc
    import numpy as np
    import tensorflow as tf
    from prometheus_client.parser import text_string_to_metric_families
    from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

    config = tmp_path / "monitoring.config"
    config.write_text('prometheus_config { enable: true, path: "/monitoring/prometheus/metrics" }')
    command = [
        sys.executable, "-m", "mnist_convnet", "serve", f"--model_dir={exported.parent}",
        "--port=0", "--grpc_port=0", "--enable_batching", f"--monitoring_config_file={config}",
        "--rest_api_enable_cors_support",
    ]  # fmt: skip
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=user_env()
    )
    try:
        line = process.stdout.readline()
        url, grpc_address = re.search(
            r"on (http://\S+/v1/models/mnist), gRPC on (\S+);", line
        ).groups()
        wait_until_answering(url)
        pixels = test_digits[0][:3]
        by_rest = requests.post(url + ":predict", json={"instances": pixels.tolist()}, timeout=60)
        assert by_rest.headers["Access-Control-Allow-Origin"] == "*"
        request = predict_pb2.PredictRequest()
        request.model_spec.name = "mnist"
        request.inputs["pixels"].CopyFrom(tf.make_tensor_proto(pixels))
        with grpc.insecure_channel(grpc_address) as channel:
            stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
            by_grpc = stub.Predict(request, timeout=60)
        np.testing.assert_allclose(
            tf.make_ndarray(by_grpc.outputs["probabilities"]),
            [p["probabilities"] for p in by_rest.json()["predictions"]],
            atol=1e-6,
        )
        base = url.split("/v1/")[0]
        odd = requests.post(base + "/v1/models/模:predict", json={"instances": []}, timeout=60)
        assert odd.status_code == 404 and "not found" in odd.json()["error"]
        preflight = requests.options(url + ":predict", headers={"Origin": "http://x"}, timeout=60)
        assert preflight.status_code == 200
        scrape = requests.get(base + "/monitoring/prometheus/metrics", timeout=60).text
        families = {f.name: f for f in text_string_to_metric_families(scrape)}
        entrypoints = {
            s.labels["entrypoint"]
            for s in families[":tensorflow:serving:request_latency"].samples
            if s.name.endswith("_count")
        }
        assert entrypoints == {"REST", "GRPC"}
    finally:
        process.terminate()
        process.wait(timeout=30)
