"""serving/server.py: what to serve from the options, and the servers that run in-process."""

from __future__ import annotations

import gc
import shutil
import socket
import threading
import weakref

import pytest
import requests

from mnist_convnet.errors import UserError
from mnist_convnet.serving import rest, server


def test_the_waitress_server_answers_a_prediction_and_close_stops_it(exported, test_digits):
    pixels, labels = test_digits
    application = rest.for_folder(exported.parent, "mnist")
    made = server.make_server(application, "127.0.0.1", 0, "waitress", threads=4)
    thread = threading.Thread(target=made.serve_forever, daemon=True)
    thread.start()
    try:
        answer = requests.post(
            f"http://127.0.0.1:{made.port}/v1/models/mnist:predict",
            json={"instances": [pixels[0].tolist()]},
            timeout=60,
        )
    finally:
        made.close()
        application.close()
        thread.join(timeout=10)
    assert not thread.is_alive()  # serve_forever returned
    assert answer.status_code == 200, answer.text
    assert answer.json()["predictions"][0]["classes"] == int(labels[0])


def test_a_port_in_use_is_one_clear_error(exported):
    application = rest.for_folder(exported.parent, "mnist")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(UserError, match=f"cannot listen on 127.0.0.1:{port}"):
            server.make_server(application, "127.0.0.1", port, "waitress", threads=1)


def test_granian_gets_a_port_checked_free_before_it_starts():
    port = server.free_port("127.0.0.1", 0)
    assert port > 0
    assert server.free_port("127.0.0.1", port) == port  # still free: the probe let it go
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", port))
        taken.listen()
        with pytest.raises(UserError, match=f"cannot listen on 127.0.0.1:{port}"):
            server.free_port("127.0.0.1", port)


def test_a_serving_process_freezes_start_up_and_still_collects_what_it_unloads(exported, tmp_path):
    """build_after_freezing: start-up's objects are frozen (an unload's collection skips
    them), the versions load after the freeze, so the manager's own gc.collect on unload
    still frees a version's graph: nothing here collects for it."""
    base = tmp_path / "mnist_convnet"
    shutil.copytree(exported, base / "1")
    try:
        rest_api = server.build_after_freezing(server.ServerOptions(model_dir=str(base)))
        assert gc.get_freeze_count() > 10_000  # TensorFlow's modules, at least
        manager = rest_api.manager
        # A signature's graph is held in reference cycles: only a collection frees it, and
        # never if it was frozen (the loaded object itself goes by reference counting).
        graph = weakref.ref(manager.servable("mnist").bundle.graph)
        shutil.copytree(exported, base / "2")
        manager.poll()  # latest:1: version 2 in
        manager.poll()  # version 1 unloaded
        assert manager.servable("mnist").version == 2
        assert graph() is None, "version 1 was frozen with start-up: it can never be freed"
        rest_api.close()
    finally:
        gc.unfreeze()  # the rest of the test session collects as usual
