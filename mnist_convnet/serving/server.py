"""Starting a server: the models, REST on granian (or waitress, werkzeug), gRPC beside it.

``ServerOptions`` is everything ``mnist-convnet serve`` was told; ``build`` makes the
model manager and the REST API from it, and each way of serving starts gRPC in the
process that holds the model, so both APIs share its versions, batchers and limits:

- granian: a parent that watches one worker process, and starts a new one if it dies
  once serving; the worker loads the models, starts gRPC and the version poller, and
  serves REST through ``asgi.AsgiApp``;
- waitress, werkzeug: all in this process.
"""

from __future__ import annotations

import dataclasses
import functools
import gc
import os
import signal
import socket
import sys
from pathlib import Path

from absl import logging

from mnist_convnet.errors import UserError
from mnist_convnet.serving import asgi, grpc_api, rest
from mnist_convnet.serving.configs import check, metrics_path, model_configs
from mnist_convnet.serving.core import ModelManager
from mnist_convnet.serving.options import LINGER_BYTES, ServerOptions


def build(options: ServerOptions) -> rest.RestApi:
    """The model manager (models loaded and warmed up) and the REST API over it."""
    manager = ModelManager(
        model_configs(options),
        options.batching,
        max_images=options.max_images_per_request,
        warmup_iterations=options.num_request_iterations_for_warmup,
        max_num_load_retries=options.max_num_load_retries,
        load_retry_interval=options.load_retry_interval_micros / 1e6,
    )
    return rest.RestApi(
        manager,
        options.max_body_bytes,
        metrics_path(options),
        options.rest_api_enable_cors_support,
    )


def build_after_freezing(options: ServerOptions) -> rest.RestApi:
    """``build`` in a process that will serve: first ``gc.freeze()`` what start-up made.

    Unloading a version ends in ``gc.collect()`` (its graph is held in reference cycles),
    and a full collection walks every tracked object, ~320,000 of them TensorFlow's and
    the other imports', holding the GIL, which stalled the first requests on the new
    version (docs/serving.md). Frozen objects are never scanned again, so it walks only
    what came after; freeing the old version is the rest (a session's graph since
    ``bundle.py``). The versions load
    after the freeze, so each is still collected when it is unloaded; only what start-up
    made stays for good, as it would.
    """
    gc.collect()  # nothing that is already garbage is frozen with the rest
    gc.freeze()
    return build(options)


def start_beside(rest_api: rest.RestApi, options: ServerOptions) -> str:
    """Starts polling and gRPC for a built API; returns how gRPC is reached, for the log."""
    rest_api.manager.start_polling(options.file_system_poll_wait_seconds)
    if options.model_config_file:
        rest_api.manager.watch_config_file(
            Path(options.model_config_file), options.model_config_file_poll_wait_seconds
        )
    if options.grpc_port < 0:
        return ""
    grpc_server = grpc_api.start(
        rest_api.manager, options.host, options.grpc_port, options.threads, options.max_body_bytes
    )
    rest_api.closers.append(grpc_server.stop)
    return f"{options.host}:{grpc_server.port}"


def announce(rest_api: rest.RestApi, url: str, grpc_address: str) -> None:
    name = rest_api.manager.names[0]
    where = f", gRPC on {grpc_address}" if grpc_address else ""
    print(f"serving {name!r} on {url}/v1/models/{name}{where}; draw a digit at {url}/", flush=True)


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
        # slow client holds no thread), spilling large ones to a temporary file; the API
        # answers one over its limit with its 413. Waitress itself refuses bodies over
        # LINGER_BYTES from the header and closes at once, as its own limit.
        made = waitress.create_server(
            application,
            host=host,
            port=port,
            threads=threads,
            max_request_body_size=max(application.max_body_bytes, LINGER_BYTES),
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


def granian_app(options: ServerOptions, url: str):
    """Builds the ASGI app in granian's worker process (the models load there, not in the
    parent that forks it). A model that cannot be loaded, or a gRPC port taken, is one
    ``error:`` line; the worker exits, and with it granian's parent, non-zero."""
    try:
        rest_api = build_after_freezing(options)
        grpc_address = start_beside(rest_api, options)
    except UserError as error:
        os.kill(os.getppid(), GIVE_UP)  # a worker that cannot start is not to be respawned
        print(f"error: {error}", file=sys.stderr, flush=True)
        os._exit(error.exit_code)
    announce(rest_api, url, grpc_address)
    os.kill(os.getppid(), SERVING)  # from now on, a worker that dies is respawned
    return asgi.AsgiApp(rest_api, options.threads)


SERVING, GIVE_UP = signal.SIGUSR1, signal.SIGUSR2  # worker -> granian's parent process


def respawn_once_serving(server) -> None:
    """granian's parent respawns a worker that dies (``kill -9``, the OOM killer) once a
    worker has loaded the models and answered: before that, a worker that exits has
    found a model it cannot load, and a respawn would only fail again. A respawned worker
    that cannot load them either (the folder gone meanwhile) ends the server, non-zero."""
    signal.signal(SERVING, lambda *_: setattr(server, "respawn_failed_workers", True))
    signal.signal(GIVE_UP, lambda *_: setattr(server, "respawn_failed_workers", False))


def serve_granian(options: ServerOptions) -> None:
    """granian in front of the app: a parent that watches one worker process, which loads
    the models and serves (Ctrl-C or SIGTERM stops both)."""
    from granian.constants import Interfaces
    from granian.log import LogLevels
    from granian.server import Server

    check(options)  # no model: refused before any process starts
    port = free_port(options.host, options.port)
    if options.grpc_port == 0:  # chosen here, so that a respawned worker takes the same one
        options = dataclasses.replace(options, grpc_port=free_port(options.host, 0))
    loader = functools.partial(granian_app, options, f"http://{options.host}:{port}")
    server = Server(
        "mnist_convnet.serving.asgi",  # a label only: the loader builds the app
        address=options.host,
        port=port,
        interface=Interfaces.ASGI,
        workers=1,  # one model in memory, one batcher: requests merge across all clients
        backlog=1024,
        log_level=LogLevels.warning,
        respawn_failed_workers=False,  # until the worker serves: respawn_once_serving
    )
    respawn_once_serving(server)
    server.serve(target_loader=loader, wrap_loader=False)


def serve_in_process(options: ServerOptions) -> None:
    """waitress or werkzeug, with gRPC and the poller, in this process until Ctrl-C."""
    rest_api = build_after_freezing(options)
    try:
        server = make_server(rest_api, options.host, options.port, options.server, options.threads)
        grpc_address = start_beside(rest_api, options)
    except UserError:
        rest_api.close()
        raise
    logging.info("serving %s", ", ".join(rest_api.manager.names))
    announce(rest_api, f"http://{options.host}:{server.port}", grpc_address)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        rest_api.close()
