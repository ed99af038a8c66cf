"""serving/tensors.py: TensorProto <-> NumPy as TF Serving writes tensors on gRPC."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf
from tensorflow.core.framework import tensor_pb2, tensor_shape_pb2, types_pb2

from mnist_convnet.serving import tensors
from mnist_convnet.serving.status import ServingError


@pytest.mark.parametrize(
    "array, field",
    [
        (np.array([[0.25, 0.75]], np.float32), "float_val"),
        (np.array([3, 7], np.int64), "int64_val"),
        (np.array([[1, 2]], np.int32), "int_val"),
        (np.zeros((1, 2, 2), np.uint8), "int_val"),
        (np.array([b"4071", b""], dtype=object), "string_val"),
    ],
)
def test_outputs_go_in_the_typed_fields_and_read_back(array, field):
    proto = tensors.to_proto(array)
    assert not proto.tensor_content and len(getattr(proto, field)) == array.size
    back = tf.make_ndarray(proto)
    assert back.shape == array.shape
    np.testing.assert_array_equal(back, array)


def test_a_tensor_promising_more_than_allowed_is_refused_before_allocation():
    proto = tf.make_tensor_proto(np.zeros((1, 28, 28), np.uint8))
    proto.tensor_shape.dim[0].size = 10**9
    with pytest.raises(ServingError, match="elements; at most") as refused:
        tensors.to_array(proto, max_elements=1_000_000)
    assert refused.value.code == "INVALID_ARGUMENT"
    unknown = tf.make_tensor_proto(np.zeros(3, np.float32))
    unknown.tensor_shape.unknown_rank = True
    with pytest.raises(ServingError, match="known shape"):
        tensors.to_array(unknown, max_elements=10)
    np.testing.assert_array_equal(tensors.to_array(tf.make_tensor_proto([1, 2]), 10), [1, 2])


@pytest.mark.parametrize("dtype", sorted(types_pb2.DataType.values()))
@pytest.mark.parametrize("values", [{}, {"tensor_content": b"\x01" * 3}, {"int_val": [1]}])
def test_a_tensor_of_any_dtype_is_an_array_or_invalid_argument(dtype, values):
    """A client can put any DataType in a request (DT_RESOURCE and DT_VARIANT once raised
    KeyError inside make_ndarray: an INTERNAL answer)."""
    shape = tensor_shape_pb2.TensorShapeProto(dim=[tensor_shape_pb2.TensorShapeProto.Dim(size=1)])
    proto = tensor_pb2.TensorProto(dtype=dtype, tensor_shape=shape, **values)
    try:
        assert isinstance(tensors.to_array(proto, 10), np.ndarray)
    except ServingError as error:
        assert error.code == "INVALID_ARGUMENT" and "input tensor" in str(error)


@pytest.mark.parametrize("field", ["float_val", "int_val", "int64_val", "string_val"])
def test_more_values_than_the_shape_holds_is_named_as_such(field):
    """numpy's own words for this were "index can't contain negative values"."""
    dtype = {"float_val": "DT_FLOAT", "int_val": "DT_INT32", "int64_val": "DT_INT64"}
    value = b"x" if field == "string_val" else 1
    shape = tensor_shape_pb2.TensorShapeProto(
        dim=[tensor_shape_pb2.TensorShapeProto.Dim(size=s) for s in (1, 28, 28)]
    )
    proto = tensor_pb2.TensorProto(
        dtype=types_pb2.DataType.Value(dtype.get(field, "DT_STRING")),
        tensor_shape=shape,
        **{field: [value] * 1000},
    )
    with pytest.raises(ServingError, match="holds 1000 values for shape \\[1, 28, 28\\] \\(784\\)"):
        tensors.to_array(proto, 10_000)
