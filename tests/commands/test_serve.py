"""commands/serve.py in the test process: the flags make the batcher, the server answers.

tests/test_rest.py tests the REST API itself, and `mnist-convnet serve` as a child process.
"""

from __future__ import annotations

import socket
import threading

import pytest
import requests
from absl.testing import flagsaver

from mnist_convnet import rest
from mnist_convnet.commands import serve
from mnist_convnet.errors import UserError
from tests.helpers import parsed_flags


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
