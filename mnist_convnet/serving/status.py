"""One error for every refusal, with TF Serving's status code and its HTTP status.

REST and gRPC answer the same refusal in their own words: ``{"error": "..."}`` with an
HTTP status, or a gRPC status code with the same sentence. The code names are TF
Serving's (``tensorflow::error::Code``, which gRPC shares), and HTTP follows TF Serving's
``ToHTTPStatusCode``, except where a REST client here relied on another status before
(a full queue is 503, "try again", as it always was on this server).
"""

from __future__ import annotations

# TF Serving's ToHTTPStatusCode (model_servers/http_server.cc), for the codes we raise.
HTTP_STATUS = {
    "INVALID_ARGUMENT": 400,
    "FAILED_PRECONDITION": 400,
    "NOT_FOUND": 404,
    "RESOURCE_EXHAUSTED": 429,
    "UNIMPLEMENTED": 501,
    "UNAVAILABLE": 503,
    "INTERNAL": 500,
}


class ServingError(Exception):
    """A request refused: ``code`` (TF Serving's name for it), ``status`` (HTTP), message."""

    def __init__(
        self, code: str, message: str, status: int | None = None, headers: tuple = ()
    ) -> None:
        super().__init__(message)
        self.code = code
        self.status = status if status is not None else HTTP_STATUS[code]
        self.headers = headers  # HTTP headers the answer needs (a 405's Allow)


def invalid(message: str) -> ServingError:
    """Something in the request itself is wrong: its body, an input, an image."""
    return ServingError("INVALID_ARGUMENT", message)


def not_found(message: str) -> ServingError:
    """No such model, version, label or endpoint."""
    return ServingError("NOT_FOUND", message)


def busy(message: str) -> ServingError:
    """Full: the batching queue or the image readers. Retrying later will work."""
    return ServingError("RESOURCE_EXHAUSTED", message, status=503)
