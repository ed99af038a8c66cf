"""A server for a test or a benchmark to talk to: a WSGI app on a loopback port in a thread,
and waiting for a server process until it answers."""

from __future__ import annotations

import contextlib
import threading
import time


@contextlib.contextmanager
def serve_in_thread(app):
    """A WSGI app on a free loopback port in a background thread; yields its base URL."""
    from werkzeug.serving import make_server

    httpd = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.port}"
    finally:
        httpd.shutdown()


def wait_until_answering(url: str, seconds: float = 30.0) -> None:
    """Polls ``url`` until it answers: granian's worker announces its URL once the model is
    loaded, a moment before its socket listens."""
    import requests

    deadline = time.monotonic() + seconds
    while True:
        try:
            requests.get(url, timeout=5)
            return
        except requests.ConnectionError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)
