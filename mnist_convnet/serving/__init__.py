"""Serving SavedModels as TF Serving does: its REST and gRPC APIs, versions, metrics.

protocol.py   TF Serving's REST JSON <-> arrays (no TensorFlow, no HTTP)
tensors.py    TensorProto <-> arrays, as TF Serving writes them on gRPC
inputs.py     what each signature takes, checked once per request, whichever door
status.py     one error for every refusal: TF Serving's code and its HTTP status
bundle.py     one version as TF Serving loads it: a session over its MetaGraph
configs.py    which models and versions to serve: config file, policies, labels (no TF)
core.py       the model manager: versions polled, loaded, warmed up, unloaded by policy
servables.py  one loaded version: checked inputs batched or decoded, warm-up replayed
batching.py   dynamic batching: concurrent requests merged into one model call
metrics.py    Prometheus metrics under TF Serving's names
api.py        Predict, GetModelMetadata, GetModelStatus in TF Serving's messages
rest.py       the REST route table and answers (WSGI)
static.py     the draw-a-digit page, reader.tflite and LiteRT.js, served beside the API
asgi.py       rest.py behind granian: bodies on the event loop, batches awaited there
grpc_api.py   the gRPC servicers, on tensorflow-serving-api's generated base classes
options.py    what a server is told (ServerOptions) and its limits, without TensorFlow
server.py     starting it all: ``mnist-convnet serve``
"""
