"""serving/api.py: the messages gRPC returns are the JSON REST prints."""

from __future__ import annotations

from tensorflow_serving.apis import get_model_status_pb2

from mnist_convnet.serving import api, models


def test_status_as_tf_servings_rest_prints_it(exported):
    manager = models.ModelManager([models.ModelConfig("mnist", exported.parent)])
    request = get_model_status_pb2.GetModelStatusRequest(
        model_spec=api.model_spec_for("mnist", None, None)
    )
    assert api.as_json(api.status(manager, request)) == {
        "model_version_status": [
            {
                "version": "1",
                "state": "AVAILABLE",
                "status": {"error_code": "OK", "error_message": ""},
            }
        ]
    }
    spec = api.model_spec_for("mnist", None, "stable")
    assert spec.WhichOneof("version_choice") == "version_label"
    manager.close()
