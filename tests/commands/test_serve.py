"""commands/serve.py in the test process: the flags make the batcher, the server answers.

tests/test_rest.py tests the REST API itself, and `mnist-convnet serve` as a child process.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import threading

import pytest
import requests
from absl.testing import flagsaver

from mnist_convnet import rest
from mnist_convnet.commands import serve
from mnist_convnet.errors import UserError
from tests.helpers import parsed_flags, user_env


def test_batching_flags_become_tf_servings_options():
    flags = parsed_flags()
    with flagsaver.flagsaver(enable_batching=False):
        assert serve.batching_options(flags) is None
    with flagsaver.flagsaver(enable_batching=True, max_batch_size=8, batch_timeout_micros=500):
        options = serve.batching_options(flags)
    assert (options.max_batch_size, options.batch_timeout_micros) == (8, 500)


def test_the_waitress_server_answers_a_prediction_and_close_stops_it(exported, test_digits):
    pixels, labels = test_digits
    application = rest.ModelServer(exported.parent, "mnist")
    server = serve.make_server(application, "127.0.0.1", 0, "waitress", threads=4)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        answer = requests.post(
            f"http://127.0.0.1:{server.port}/v1/models/mnist:predict",
            json={"instances": [pixels[0].tolist()]},
            timeout=60,
        )
    finally:
        server.close()
        application.close()
        thread.join(timeout=10)
    assert not thread.is_alive()  # serve_forever returned
    assert answer.status_code == 200, answer.text
    assert answer.json()["predictions"][0]["classes"] == int(labels[0])


def test_a_port_in_use_is_one_clear_error(exported):
    application = rest.ModelServer(exported.parent, "mnist")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(UserError, match=f"cannot listen on 127.0.0.1:{port}"):
            serve.make_server(application, "127.0.0.1", port, "waitress", threads=1)


def test_granian_gets_a_port_checked_free_before_it_starts():
    port = serve.free_port("127.0.0.1", 0)
    assert port > 0
    assert serve.free_port("127.0.0.1", port) == port  # still free: the probe let it go
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", port))
        taken.listen()
        with pytest.raises(UserError, match=f"cannot listen on 127.0.0.1:{port}"):
            serve.free_port("127.0.0.1", port)


def _serve(model_dir) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "mnist_convnet", "serve", f"--model_dir={model_dir}"]
    return subprocess.run(
        [*command, "--port=0"], capture_output=True, text=True, timeout=120, env=user_env()
    )


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
