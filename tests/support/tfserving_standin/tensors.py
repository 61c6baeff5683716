"""Predict outputs as TF Serving writes them into a PredictResponse (predict_util.cc,
PostProcessPredictionResult).

By default TF Serving writes each output with Tensor::AsProtoField: dtype, tensor_shape and every
value in the dtype's repeated field (`float_val`, `int64_val`, `string_val`, ...), never
`tensor_content`. Only with --enable_serialization_as_tensor_content (server.cc sets
kAsProtoContent) does it use Tensor::AsProtoTensorContent: the raw little-endian buffer, strings
as port::EncodeStringList (every length as a varint32, then the bytes).
tf.make_tensor_proto follows neither rule (tensor_content for most numeric arrays), so it is not
used here.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf
from tensorflow.core.framework import tensor_pb2

# TensorFlow's ProtoHelper<T> (core/framework/tensor.cc): the repeated field each dtype's values go in.
_FIELDS = {
    tf.float32: "float_val", tf.float64: "double_val", tf.int32: "int_val", tf.int16: "int_val",
    tf.int8: "int_val", tf.uint8: "int_val", tf.uint16: "int_val", tf.int64: "int64_val",
    tf.uint32: "uint32_val", tf.uint64: "uint64_val", tf.bool: "bool_val", tf.string: "string_val",
    tf.float16: "half_val", tf.bfloat16: "half_val", tf.complex64: "scomplex_val", tf.complex128: "dcomplex_val",
}


def output_proto(value, as_content: bool = False):
    """The TensorProto TF Serving answers for the output tensor `value` (an EagerTensor or array)."""
    tensor = tf.convert_to_tensor(value)
    proto = tensor_pb2.TensorProto(dtype=tensor.dtype.as_datatype_enum, tensor_shape=tensor.shape.as_proto())
    array = tensor.numpy()
    if as_content:
        proto.tensor_content = _content(array, tensor.dtype)
    else:
        getattr(proto, _field(tensor.dtype)).extend(_values(array, tensor.dtype))
    return proto


def _field(dtype: tf.DType) -> str:
    if dtype not in _FIELDS:
        raise TypeError(f"the stand-in cannot write a {dtype.name} output")
    return _FIELDS[dtype]


def _values(array: np.ndarray, dtype: tf.DType) -> list:
    flat = array.reshape(-1)
    if dtype in (tf.float16, tf.bfloat16):  # half_val holds the 16 bits as an int
        return flat.view(np.uint16).astype(np.int32).tolist()
    if dtype.is_complex:  # real, imaginary, real, ...
        return np.stack([flat.real, flat.imag], axis=-1).reshape(-1).tolist()
    return flat.tolist()


def _content(array: np.ndarray, dtype: tf.DType) -> bytes:
    if dtype == tf.string:
        items = [bytes(item) for item in array.reshape(-1)]
        return b"".join(_varint32(len(item)) for item in items) + b"".join(items)
    return array.astype(array.dtype.newbyteorder("<"), copy=False).tobytes()


def _varint32(number: int) -> bytes:
    out = bytearray()
    while number >= 0x80:
        out.append(number & 0x7F | 0x80)
        number >>= 7
    out.append(number)
    return bytes(out)
