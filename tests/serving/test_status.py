"""serving/status.py: one refusal, TF Serving's code for gRPC and its HTTP status for REST."""

from __future__ import annotations

from mnist_convnet.serving import status


def test_codes_map_to_tf_servings_http_statuses():
    assert (status.invalid("x").code, status.invalid("x").status) == ("INVALID_ARGUMENT", 400)
    assert (status.not_found("x").code, status.not_found("x").status) == ("NOT_FOUND", 404)
    busy = status.busy("full")
    assert (busy.code, busy.status, str(busy)) == ("RESOURCE_EXHAUSTED", 503, "full")
    assert status.ServingError("FAILED_PRECONDITION", "x").status == 400
    assert status.ServingError("UNIMPLEMENTED", "x").status == 501
