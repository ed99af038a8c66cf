"""Serve a SavedModel over HTTP with TF Serving's REST API, on this machine.

    mnist-convnet serve --model_dir=saved_models/mnist_convnet --model_name=mnist --port=8501
    mnist-convnet serve --enable_batching --max_batch_size=32 --batch_timeout_micros=2000
    curl -d '{"instances": [{"b64": "'$(base64 -w0 digit.png)'"}]}' \\
        http://127.0.0.1:8501/v1/models/mnist:predict

and open http://127.0.0.1:8501/ in a browser to draw digits for the model to read.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import socket
import sys

from absl import app, flags, logging

from mnist_convnet import asgi, batching, export, rest
from mnist_convnet.commands import flags as shared
from mnist_convnet.errors import UserError, exit_on_user_error

SERVERS = ("granian", "waitress", "werkzeug")

shared.define_model_dir_flag(
    "A SavedModel base folder of versions, as TF Serving's model base path: its latest "
    "version is served (a version folder itself is refused)."
)
flags.DEFINE_string("model_name", "mnist", "The <name> in /v1/models/<name>.")
flags.DEFINE_string("host", "127.0.0.1", "Address to bind; 0.0.0.0 exposes it to the network.")
flags.DEFINE_integer("port", 8501, "TCP port (TF Serving's REST port is 8501).", lower_bound=0)
flags.DEFINE_integer("max_body_bytes", rest.MAX_BODY_BYTES, "Largest request body accepted.")
flags.DEFINE_enum(
    "server",
    "granian",
    list(SERVERS),
    "granian: HTTP parsed in Rust outside Python's GIL, in a worker process (mnist_convnet/"
    "asgi.py); waitress: pure Python, a fixed pool of threads, keep-alive connections; "
    "werkzeug: its development server, a thread and a connection per request. granian and "
    "waitress read each body before a thread is taken (measured: docs/serving.md).",
)
flags.DEFINE_integer(
    "threads",
    32,
    "Request threads (granian, waitress): how many requests run the model or wait for a "
    "batch at once.",
    lower_bound=1,
)
flags.DEFINE_bool(
    "enable_batching",
    False,
    "Merge concurrent pixel requests into one model call (TF Serving's flag; the batching "
    "parameters below take TF Serving's names).",
)
for _field in dataclasses.fields(batching.BatchingOptions):
    flags.DEFINE_integer(_field.name, _field.default, _field.metadata["help"])


def batching_options(flags_obj: flags.FlagValues) -> batching.BatchingOptions | None:
    if not flags_obj.enable_batching:
        return None
    names = [f.name for f in dataclasses.fields(batching.BatchingOptions)]
    return batching.BatchingOptions(**{name: flags_obj[name].value for name in names})


def make_server(application, host: str, port: int, server: str, threads: int):
    """A waitress or werkzeug server in this process, with ``.port``, ``.serve_forever()``
    and ``.close()`` (granian runs its own worker process: ``serve_granian``)."""
    try:
        if server == "werkzeug":
            from werkzeug.serving import make_server as werkzeug_server

            made = werkzeug_server(host, port, application, threaded=True)
            made.close = made.shutdown
            return made
        import waitress

        # Waitress reads each body in its I/O loop before a thread takes the request (a
        # slow client holds no thread) and refuses one over the limit from its header.
        made = waitress.create_server(
            application,
            host=host,
            port=port,
            threads=threads,
            max_request_body_size=application.max_body_bytes,
            clear_untrusted_proxy_headers=True,
            connection_limit=1000,  # waitress' 100 would leave clients waiting in the backlog
            backlog=1024,
            asyncore_use_poll=True,  # select() slows with many open connections
        )
        made.port = made.effective_port
        made.serve_forever = made.run
        made.close = _closer(made)
        return made
    except OSError as error:  # port taken, address not on this machine
        raise UserError(f"cannot listen on {host}:{port}: {error.strerror}") from None


def _closer(made):
    """A ``close`` that stops ``serve_forever``: waitress' own closes only the listening
    socket, and its loop goes on serving the connections still open."""
    close_listener = made.close

    def close() -> None:
        made.task_dispatcher.shutdown(cancel_pending=False)  # requests under way finish
        for channel in list(made._map.values()):
            if channel is not made:
                channel.close()
        close_listener()  # the map is now empty: the loop ends

    return close


def free_port(host: str, port: int) -> int:
    """``port``, checked free on ``host`` (or a free one for 0), before granian binds it:
    its workers bind the address themselves, each its own socket, so 0 would give each
    worker another port, and a port in use would fail inside the worker."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        try:
            probe.bind((host, port))
        except OSError as error:
            raise UserError(f"cannot listen on {host}:{port}: {error.strerror}") from None
        return probe.getsockname()[1]


def granian_app(
    model_dir: str, name: str, max_body_bytes: int, batching_options, threads: int, url: str
):
    """Builds the ASGI app in granian's worker process (the model loads there, not in the
    parent that forks it). A model that cannot be loaded is one ``error:`` line; the worker
    exits, and with it granian's parent, non-zero."""
    try:
        application = rest.ModelServer(model_dir, name, max_body_bytes, batching_options)
    except UserError as error:
        print(f"error: {error}", file=sys.stderr, flush=True)
        os._exit(error.exit_code)
    logging.info("serving version %s of %s", application.latest, model_dir)
    _announce(name, url)
    return asgi.AsgiApp(application, max_body_bytes, threads, application.submit_batched)


def serve_granian(FLAGS: flags.FlagValues) -> None:
    """granian in front of the app: a parent that watches one worker process, which loads
    the model and serves (Ctrl-C or SIGTERM stops both)."""
    from granian.constants import Interfaces
    from granian.log import LogLevels
    from granian.server import Server

    export.latest_version_dir(FLAGS.model_dir)  # no model: refused before any process starts
    port = free_port(FLAGS.host, FLAGS.port)
    loader = functools.partial(
        granian_app,
        FLAGS.model_dir,
        FLAGS.model_name,
        FLAGS.max_body_bytes,
        batching_options(FLAGS),
        FLAGS.threads,
        f"http://{FLAGS.host}:{port}",
    )
    server = Server(
        "mnist_convnet.asgi",  # a label only: the loader builds the app
        address=FLAGS.host,
        port=port,
        interface=Interfaces.ASGI,
        workers=1,  # one model in memory; two cores are busy with one worker already
        backlog=1024,
        log_level=LogLevels.warning,
    )
    server.serve(target_loader=loader, wrap_loader=False)


def _announce(name: str, url: str) -> None:
    print(f"serving {name!r} on {url}/v1/models/{name}; draw a digit at {url}/", flush=True)


def main(argv: list[str]) -> None:
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
    FLAGS = flags.FLAGS
    if FLAGS.server == "granian":
        with exit_on_user_error():
            serve_granian(FLAGS)
        return
    with exit_on_user_error():
        application = rest.ModelServer(
            FLAGS.model_dir, FLAGS.model_name, FLAGS.max_body_bytes, batching_options(FLAGS)
        )
        server = make_server(application, FLAGS.host, FLAGS.port, FLAGS.server, FLAGS.threads)
    logging.info("serving version %s of %s", application.latest, FLAGS.model_dir)
    _announce(FLAGS.model_name, f"http://{FLAGS.host}:{server.port}")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        application.close()
