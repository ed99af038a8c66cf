"""Serve a SavedModel over HTTP with TF Serving's REST API, on this machine.

    mnist-convnet serve --model_dir=saved_models/mnist_convnet --model_name=mnist --port=8501
    curl -d '{"instances": [{"b64": "'$(base64 -w0 digit.png)'"}]}' \
        http://127.0.0.1:8501/v1/models/mnist:predict

and open http://127.0.0.1:8501/ in a browser to draw digits for the model to read.
"""

from __future__ import annotations

from absl import app, flags, logging
from werkzeug.serving import make_server

from mnist_convnet import rest
from mnist_convnet.commands import flags as shared
from mnist_convnet.errors import UserError, exit_on_user_error

shared.define_model_dir_flag()
flags.DEFINE_string("model_name", "mnist", "The <name> in /v1/models/<name>.")
flags.DEFINE_string("host", "127.0.0.1", "Address to bind; 0.0.0.0 exposes it to the network.")
flags.DEFINE_integer("port", 8501, "TCP port (TF Serving's REST port is 8501).", lower_bound=0)
flags.DEFINE_integer("max_body_bytes", rest.MAX_BODY_BYTES, "Largest request body accepted.")


def main(argv: list[str]) -> None:
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
    FLAGS = flags.FLAGS
    with exit_on_user_error():
        application = rest.ModelServer(FLAGS.model_dir, FLAGS.model_name, FLAGS.max_body_bytes)
        try:
            server = make_server(FLAGS.host, FLAGS.port, application, threaded=True)
        except OSError as error:  # port taken, address not on this machine
            raise UserError(
                f"cannot listen on {FLAGS.host}:{FLAGS.port}: {error.strerror}"
            ) from None
    logging.info("serving version %s of %s", application.latest, FLAGS.model_dir)
    url = f"http://{FLAGS.host}:{server.port}"
    print(
        f"serving {FLAGS.model_name!r} on {url}/v1/models/{FLAGS.model_name}; "
        f"draw a digit at {url}/",
        flush=True,
    )
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
