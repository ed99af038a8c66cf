"""TensorProto <-> NumPy, as TF Serving reads and writes tensors on gRPC.

TF Serving answers in the typed fields (``Tensor::AsProtoField``): ``float_val`` for
float32, ``int64_val`` for int64, ``int_val`` for the small integer types,
``string_val`` for strings — what ``tf.make_ndarray`` and every client read. A request
may use either form; its shape is checked against ``max_elements`` before anything is
allocated, because a few bytes of proto can promise a tensor of billions of elements
(``make_ndarray`` would fill them all from one value).
"""

from __future__ import annotations

import math

import numpy as np
import tensorflow as tf
from tensorflow.core.framework import tensor_pb2, tensor_shape_pb2, types_pb2

from mnist_convnet.serving.status import invalid

_FIELDS = {
    np.dtype(np.float32): (types_pb2.DT_FLOAT, "float_val"),
    np.dtype(np.float64): (types_pb2.DT_DOUBLE, "double_val"),
    np.dtype(np.int64): (types_pb2.DT_INT64, "int64_val"),
    np.dtype(np.int32): (types_pb2.DT_INT32, "int_val"),
    np.dtype(np.uint8): (types_pb2.DT_UINT8, "int_val"),
    np.dtype(np.bool_): (types_pb2.DT_BOOL, "bool_val"),
}

# Types that name a handle inside a running TensorFlow, not values a request can carry:
# make_ndarray has no NumPy type for them (a KeyError, not a ValueError).
_HANDLES = frozenset(
    types_pb2.DataType.Value(name)
    for name in ("DT_RESOURCE", "DT_VARIANT", "DT_RESOURCE_REF", "DT_VARIANT_REF")
)

# A TensorProto's typed value fields, and how many of its numbers make one element
# (complex values are pairs).
_VALUE_FIELDS = {
    field.name: 2 if "complex" in field.name else 1
    for field in tensor_pb2.TensorProto.DESCRIPTOR.fields
    if field.name.endswith("_val")
}


def to_array(proto: tensor_pb2.TensorProto, max_elements: int) -> np.ndarray:
    """A request's tensor as an array; an impossible or oversized one is INVALID_ARGUMENT."""
    dims = [d.size for d in proto.tensor_shape.dim]
    if proto.tensor_shape.unknown_rank or any(d < 0 for d in dims):
        raise invalid("an input tensor must have a known shape (tensor_shape.dim sizes)")
    if proto.dtype in _HANDLES:
        name = types_pb2.DataType.Name(proto.dtype)
        raise invalid(f"an input tensor cannot be a {name}: it is a handle, not values")
    elements = math.prod(dims)
    if elements > max_elements:
        raise invalid(f"an input tensor has {elements} elements; at most {max_elements}")
    values = max(len(getattr(proto, field)) // per for field, per in _VALUE_FIELDS.items())
    if values > elements:  # fewer are allowed: TensorFlow repeats the last one
        raise invalid(f"an input tensor holds {values} values for shape {dims} ({elements})")
    try:
        return tf.make_ndarray(proto)
    except (TypeError, ValueError) as error:
        raise invalid(f"an input tensor cannot be read: {error}") from None


def to_proto(array: np.ndarray) -> tensor_pb2.TensorProto:
    """An output in TF Serving's typed fields (strings as bytes in ``string_val``)."""
    shape = tensor_shape_pb2.TensorShapeProto(
        dim=[tensor_shape_pb2.TensorShapeProto.Dim(size=s) for s in array.shape]
    )
    if array.dtype == object or array.dtype.kind in "SU":
        values = [v if isinstance(v, bytes) else str(v).encode() for v in array.ravel()]
        return tensor_pb2.TensorProto(
            dtype=types_pb2.DT_STRING, tensor_shape=shape, string_val=values
        )
    dtype, field = _FIELDS[array.dtype]
    proto = tensor_pb2.TensorProto(dtype=dtype, tensor_shape=shape)
    getattr(proto, field).extend(array.ravel().tolist())
    return proto
