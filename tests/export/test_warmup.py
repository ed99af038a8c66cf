"""warmup.py: TF Serving's warm-up file, in its format, written by every export."""

from __future__ import annotations

import tensorflow as tf
from tensorflow_serving.apis import prediction_log_pb2

from mnist_convnet import contract
from mnist_convnet.export import warmup


def test_every_export_has_one_predict_log_per_signature(exported):
    path = exported / "assets.extra" / "tf_serving_warmup_requests"
    logs = [
        prediction_log_pb2.PredictionLog.FromString(record.numpy())
        for record in tf.data.TFRecordDataset(str(path))
    ]
    assert [log.WhichOneof("log_type") for log in logs] == ["predict_log"] * 5
    requests = [log.predict_log.request for log in logs]
    names = sorted(r.model_spec.signature_name for r in requests)
    assert names == sorted(contract.SIGNATURE_INPUTS)
    for request in requests:
        wanted = contract.SIGNATURE_INPUTS[request.model_spec.signature_name]
        assert sorted(request.inputs) == sorted(wanted)
    assert [r.SerializeToString() for r in warmup.read(exported)] == [
        r.SerializeToString() for r in requests
    ]


def test_replayed_on_the_saved_model_each_request_is_answered(exported, saved_model):
    """What TF Serving does with the file: every request runs, none is refused (a refused
    warm-up request would fail the version's load there)."""
    for request in warmup.read(exported):
        signature = saved_model.signatures[request.model_spec.signature_name]
        inputs = {k: tf.make_ndarray(v) for k, v in request.inputs.items()}
        outputs = signature(**{k: tf.constant(v) for k, v in inputs.items()})
        if request.model_spec.signature_name == contract.SERVING_NUMBER:
            assert outputs["number"].numpy()[0] == b"11"
        elif request.model_spec.signature_name == contract.SERVING_EXPLAIN:
            assert outputs["label"].numpy()[0] == 1  # the predicted class, explained
        else:
            assert outputs["classes"].numpy()[0] == 1  # a drawn "1"


def test_no_file_no_requests(tmp_path):
    assert warmup.read(tmp_path) == []
