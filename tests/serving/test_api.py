"""serving/api.py: the messages gRPC returns are the JSON REST prints."""

from __future__ import annotations

import pytest
from tensorflow_serving.apis import get_model_metadata_pb2, get_model_status_pb2, predict_pb2

from mnist_convnet.serving import api, configs, core
from mnist_convnet.serving.status import ServingError


def test_status_as_tf_servings_rest_prints_it(exported):
    manager = core.ModelManager([configs.ModelConfig("mnist", exported.parent)])
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


def _refusal(call) -> str:
    with pytest.raises(ServingError) as refused:
        call()
    assert refused.value.code == "INVALID_ARGUMENT"
    return str(refused.value)


def test_requests_without_a_model_spec_or_a_metadata_field_are_refused_as_tf_serving_does():
    """TF Serving checks these before it looks for a model (predict_impl.cc,
    get_model_metadata_impl.cc); no manager is needed to refuse them."""
    predict = predict_pb2.PredictRequest()
    assert _refusal(lambda: api.start_predict(None, predict)) == "Missing ModelSpec"
    metadata = get_model_metadata_pb2.GetModelMetadataRequest()
    metadata.model_spec.name = "mnist"
    assert _refusal(lambda: api.metadata(None, metadata)) == (
        "GetModelMetadataRequest must specify at least one metadata_field"
    )
