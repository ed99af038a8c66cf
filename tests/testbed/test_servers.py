"""testing/servers.py: a WSGI app on a loopback port for as long as the block runs."""

from __future__ import annotations

import pytest
import requests

from testbed.servers import serve_in_thread, wait_until_answering


def _hello(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [environ["PATH_INFO"].encode()]


def test_an_app_answers_inside_the_block_and_not_after():
    with serve_in_thread(_hello) as url:
        assert url.startswith("http://127.0.0.1:")
        wait_until_answering(url + "/ready")
        assert requests.get(url + "/path", timeout=5).text == "/path"
    with pytest.raises(requests.ConnectionError):
        requests.get(url + "/path", timeout=5)


def test_waiting_for_a_server_that_never_answers_gives_up():
    with serve_in_thread(_hello) as url:
        pass  # closed: nothing listens on its port now
    with pytest.raises(requests.ConnectionError):
        wait_until_answering(url, seconds=0.3)
