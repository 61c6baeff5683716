"""facecore.tensors against TensorFlow: the same bytes out, the same arrays back."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf
from tensorflow.core.framework import tensor_pb2, tensor_shape_pb2, types_pb2

from facecore.tensors import dtype_name, dtype_number, fill_tensor, to_array
from facecore.tfserving_api import serving_api

ARRAYS = {
    "faces [N, S, S, 1]": np.random.default_rng(0).random((3, 8, 8, 1), dtype=np.float32),
    "one face": np.random.default_rng(1).random((1, 8, 8, 1), dtype=np.float32),
    "probabilities [N, C]": np.array([[0.25, 0.75], [1.0, 0.0]], np.float32),
    "one value": np.array([0.5], np.float32),
    "scalar": np.float32(-1.5),
    "empty batch": np.zeros((0, 8, 8, 1), np.float32),
    "rows [1]": np.zeros((1,), np.int32),
    "int32 [N]": np.array([-2, 0, 7, 2**31 - 1], np.int32),
    "empty int32": np.zeros((0,), np.int32),
    "bytes [N]": np.array([b'{"class_names": ["a"]}', b"", "\u00e9".encode()], dtype=object),
    "str [N]": np.array(["\u00e4", "b"]),
    "empty strings": np.array([], dtype=object),
}


def new_tensor():
    """An empty TensorProto of facecore.tfserving_api's pool."""
    return serving_api().message("tensorflow.TensorProto")()


def assert_identical(got: np.ndarray, expected: np.ndarray) -> None:
    assert (got.dtype, got.shape) == (expected.dtype, expected.shape)
    if expected.dtype == object:
        assert got.tolist() == expected.tolist()
    else:
        assert got.tobytes() == expected.tobytes()


@pytest.mark.parametrize("name", ARRAYS)
def test_written_as_tensorflow_writes(name):
    proto = new_tensor()
    fill_tensor(proto, ARRAYS[name])
    assert proto.SerializeToString() == tf.make_tensor_proto(ARRAYS[name]).SerializeToString()


@pytest.mark.parametrize("name", ARRAYS)
def test_read_as_tensorflow_reads(name):
    sent = tf.make_tensor_proto(ARRAYS[name])
    assert_identical(to_array(new_tensor().FromString(sent.SerializeToString())), tf.make_ndarray(sent))


def tf_tensor(dtype: int, shape: list[int], **values) -> tensor_pb2.TensorProto:
    dims = [tensor_shape_pb2.TensorShapeProto.Dim(size=size) for size in shape]
    return tensor_pb2.TensorProto(dtype=dtype, tensor_shape=tensor_shape_pb2.TensorShapeProto(dim=dims), **values)


# Values in the typed fields instead of tensor_content, as other clients (and TF Serving) may send.
SHORT_FORMS = {
    "float_val, all values": tf_tensor(types_pb2.DT_FLOAT, [2, 2], float_val=[0.1, 0.2, 0.3, 0.4]),
    "float_val, one for all": tf_tensor(types_pb2.DT_FLOAT, [2, 3], float_val=[1.5]),
    "float_val, none": tf_tensor(types_pb2.DT_FLOAT, [2]),
    "int_val, last repeated": tf_tensor(types_pb2.DT_INT32, [4], int_val=[1, 2]),
    "int_val, one for all": tf_tensor(types_pb2.DT_INT32, [3], int_val=[7]),
    "string_val, one for all": tf_tensor(types_pb2.DT_STRING, [3], string_val=[b"x"]),
    "no values, empty batch": tf_tensor(types_pb2.DT_FLOAT, [0, 4]),
}


@pytest.mark.parametrize("name", SHORT_FORMS)
def test_typed_value_fields_read_as_tensorflow_reads(name):
    sent = SHORT_FORMS[name]
    assert_identical(to_array(new_tensor().FromString(sent.SerializeToString())), tf.make_ndarray(sent))


def test_dtype_numbers_and_names_come_from_the_descriptor():
    proto = new_tensor()
    for name in ("DT_FLOAT", "DT_INT32", "DT_STRING"):
        assert dtype_number(proto, name) == types_pb2.DataType.Value(name)
        proto.dtype = dtype_number(proto, name)
        assert dtype_name(proto) == name
    assert dtype_name(tensor_pb2.TensorProto(dtype=types_pb2.DT_HALF)) == "DT_HALF"  # TF's own classes too


@pytest.mark.parametrize("array", [np.zeros(2, np.float64), np.zeros(2, np.int64), np.array([1, "a"], object)])
def test_other_dtypes_are_refused(array):
    with pytest.raises(TypeError):
        fill_tensor(new_tensor(), array)


def test_reading_an_unsupported_dtype_is_refused():
    sent = tf.make_tensor_proto(np.zeros(2, np.float64))
    with pytest.raises(TypeError, match="DT_DOUBLE"):
        to_array(new_tensor().FromString(sent.SerializeToString()))
