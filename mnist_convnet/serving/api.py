"""TF Serving's API on the model manager, in TF Serving's own messages.

``Predict``, ``GetModelMetadata`` and ``GetModelStatus`` build the responses of
``tensorflow-serving-api`` here, once: gRPC returns them as they are, and REST prints the
status and metadata ones as JSON (TF Serving's REST handler prints the same messages with
protobuf's JSON printer), so the two APIs cannot drift apart.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Executor, Future

from google.protobuf import json_format
from tensorflow_serving.apis import (
    get_model_metadata_pb2,
    get_model_status_pb2,
    model_pb2,
    predict_pb2,
)

from mnist_convnet import contract
from mnist_convnet.serving import inputs, tensors
from mnist_convnet.serving.core import ModelManager
from mnist_convnet.serving.servables import Servable
from mnist_convnet.serving.status import invalid

SIGNATURE_DEF = "signature_def"  # the one metadata field TF Serving knows
_STATES = get_model_status_pb2.ModelVersionStatus.State


def find(manager: ModelManager, spec: model_pb2.ModelSpec) -> Servable:
    """The servable a ModelSpec names: by version, by version label, or the latest."""
    which = spec.WhichOneof("version_choice")
    return manager.servable(
        spec.name,
        version=spec.version.value if which == "version" else None,
        label=spec.version_label if which == "version_label" else None,
    )


def model_spec(servable: Servable, signature_name: str | None = None) -> model_pb2.ModelSpec:
    """The response's model_spec, as TF Serving's MakeModelSpec fills it."""
    spec = model_pb2.ModelSpec(name=servable.name)
    spec.version.value = servable.version
    if signature_name is not None:
        spec.signature_name = signature_name
    return spec


def predict(
    manager: ModelManager, request: predict_pb2.PredictRequest
) -> predict_pb2.PredictResponse:
    """PredictionService.Predict: inputs by their aliases, ``output_filter`` honoured."""
    future, finish = start_predict(manager, request)
    return finish(future.result())


def start_predict(
    manager: ModelManager,
    request: predict_pb2.PredictRequest,
    executor: Executor | None = None,
) -> tuple[Future, Callable[[dict], predict_pb2.PredictResponse]]:
    """``predict`` in two halves, for a caller that awaits the model (gRPC's event loop):
    the request checked and submitted (its future), and outputs -> the response. A model
    call that no batch takes runs on ``executor`` if given, not in the caller."""
    if not request.HasField("model_spec"):
        raise invalid("Missing ModelSpec")
    servable = find(manager, request.model_spec)
    signature_name = request.model_spec.signature_name or contract.SERVING_DEFAULT
    arrays = {
        alias: tensors.to_array(t, inputs.MAX_ELEMENTS) for alias, t in request.inputs.items()
    }
    wanted = list(request.output_filter)
    if len(set(wanted)) != len(wanted):
        raise invalid("duplicate output tensor alias in output_filter")
    if signature_name in servable.signature_defs:  # else submit says it is not found
        outputs = servable.signature_defs[signature_name].outputs
        for alias in wanted:
            if alias not in outputs:
                raise invalid(
                    f"output tensor alias not found in signature: {alias} Outputs expected to "
                    f"be in the set {{{','.join(sorted(outputs))}}}."
                )
    future = servable.submit(signature_name, arrays, executor)

    def finish(outputs: dict) -> predict_pb2.PredictResponse:
        response = predict_pb2.PredictResponse(model_spec=model_spec(servable, signature_name))
        for alias in wanted or outputs:
            response.outputs[alias].CopyFrom(tensors.to_proto(outputs[alias]))
        return response

    return future, finish


def metadata(
    manager: ModelManager, request: get_model_metadata_pb2.GetModelMetadataRequest
) -> get_model_metadata_pb2.GetModelMetadataResponse:
    """PredictionService.GetModelMetadata: the SignatureDefMap, packed in an Any."""
    if not request.HasField("model_spec"):
        raise invalid("Missing ModelSpec")
    if not request.metadata_field:
        raise invalid("GetModelMetadataRequest must specify at least one metadata_field")
    for field in request.metadata_field:
        if field != SIGNATURE_DEF:
            raise invalid(f"MetadataField {field} is not supported")
    servable = find(manager, request.model_spec)
    response = get_model_metadata_pb2.GetModelMetadataResponse(model_spec=model_spec(servable))
    signatures = get_model_metadata_pb2.SignatureDefMap()
    for name, signature_def in servable.signature_defs.items():
        signatures.signature_def[name].CopyFrom(signature_def)
    response.metadata[SIGNATURE_DEF].Pack(signatures)
    return response


def status(
    manager: ModelManager, request: get_model_status_pb2.GetModelStatusRequest
) -> get_model_status_pb2.GetModelStatusResponse:
    """ModelService.GetModelStatus: every version's state, or one version's."""
    if not request.HasField("model_spec"):
        raise invalid("Missing ModelSpec")
    spec = request.model_spec
    version = spec.version.value if spec.HasField("version") else None
    if spec.WhichOneof("version_choice") == "version_label":
        version = find(manager, spec).version
    response = get_model_status_pb2.GetModelStatusResponse()
    for number, state, message in manager.status(spec.name, version):
        entry = response.model_version_status.add(version=number, state=_STATES.Value(state))
        entry.status.SetInParent()  # OK is printed too, as TF Serving's REST prints it
        if message:
            entry.status.error_code = 2  # UNKNOWN, as TF Serving reports a failed load
            entry.status.error_message = message
    return response


def as_json(message) -> dict:
    """A response as TF Serving's REST API prints it."""
    return json_format.MessageToDict(
        message, preserving_proto_field_name=True, always_print_fields_with_no_presence=True
    )


def model_spec_for(name: str, version: int | None, label: str | None) -> model_pb2.ModelSpec:
    """A REST path's model, version and label as the ModelSpec gRPC would carry."""
    spec = model_pb2.ModelSpec(name=name)
    if version is not None:
        spec.version.value = version
    elif label is not None:
        spec.version_label = label
    return spec


def status_request(spec: model_pb2.ModelSpec) -> get_model_status_pb2.GetModelStatusRequest:
    """What REST's GET /v1/models/<name> asks, as the gRPC request."""
    return get_model_status_pb2.GetModelStatusRequest(model_spec=spec)


def metadata_request(spec: model_pb2.ModelSpec) -> get_model_metadata_pb2.GetModelMetadataRequest:
    """What REST's GET .../metadata asks, as the gRPC request (the one field TF Serving has)."""
    return get_model_metadata_pb2.GetModelMetadataRequest(
        model_spec=spec, metadata_field=[SIGNATURE_DEF]
    )
