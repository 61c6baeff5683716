"""TensorProto <-> numpy without TensorFlow, for the dtypes the service exchanges.

float32, int32 and strings, written and read as tf.make_tensor_proto and tf.make_ndarray do:
numbers in little-endian `tensor_content` (or, for one value or none, in `float_val`/`int_val`),
strings in `string_val`. Works on messages of any descriptor pool (TensorFlow's or
facecore.tfserving_api's): DataType numbers come from the message's own enum descriptor.
"""

from __future__ import annotations

import numpy as np

STRING = "DT_STRING"
# DataType name -> (numpy dtype on the wire, repeated field holding values without tensor_content)
NUMBERS = {"DT_FLOAT": (np.dtype("<f4"), "float_val"), "DT_INT32": (np.dtype("<i4"), "int_val")}
NUMPY_KINDS = {("f", 4): "DT_FLOAT", ("i", 4): "DT_INT32"}


def dtype_name(message) -> str:
    """The DataType name of `message.dtype` (a TensorProto or TensorInfo), e.g. "DT_FLOAT"."""
    value = _data_types(message).values_by_number.get(message.dtype)
    return value.name if value is not None else f"DataType {message.dtype}"


def dtype_number(message, name: str) -> int:
    """The number of DataType `name` in the enum of `message`'s `dtype` field."""
    return _data_types(message).values_by_name[name].number


def fill_tensor(proto, array) -> None:
    """Write `array` (float32, int32, bytes or str) into the empty TensorProto `proto`."""
    array = np.asarray(array)
    proto.tensor_shape.SetInParent()  # present even for a scalar, as TF writes it
    for size in array.shape:
        proto.tensor_shape.dim.add(size=size)
    if array.dtype.kind in "OSU":
        proto.dtype = dtype_number(proto, STRING)
        proto.string_val.extend(_as_bytes(value) for value in array.flat)
        return
    name = NUMPY_KINDS.get((array.dtype.kind, array.dtype.itemsize))
    if name is None:
        raise TypeError(f"cannot send a {array.dtype} tensor: only float32, int32 and strings")
    wire, field = NUMBERS[name]
    proto.dtype = dtype_number(proto, name)
    if array.size > 1:
        proto.tensor_content = array.astype(wire, copy=False).tobytes()
    else:  # TF writes a single value (or none) in the typed field
        getattr(proto, field).extend(array.ravel().tolist())


def to_array(proto) -> np.ndarray:
    """The array in TensorProto `proto`; short `*_val` lists repeat their last value, as in TF."""
    shape = tuple(dim.size for dim in proto.tensor_shape.dim)
    name = dtype_name(proto)
    if name == STRING:
        return np.array(_padded(list(proto.string_val), shape, b""), dtype=object).reshape(shape)
    if name not in NUMBERS:
        raise TypeError(f"cannot read a {name} tensor: only float32, int32 and strings")
    wire, field = NUMBERS[name]
    native = wire.newbyteorder("=")
    if proto.tensor_content:
        return np.frombuffer(proto.tensor_content, wire).astype(native).reshape(shape)
    return np.array(_padded(list(getattr(proto, field)), shape, 0), dtype=native).reshape(shape)


def _padded(values: list, shape: tuple[int, ...], empty) -> list:
    """`values` extended to fill `shape` with copies of the last one (`empty` when there is none)."""
    missing = int(np.prod(shape, dtype=np.int64)) - len(values)
    return values + [values[-1] if values else empty] * max(missing, 0)


def _as_bytes(value) -> bytes:
    if isinstance(value, str):
        return value.encode()
    if isinstance(value, bytes):
        return bytes(value)
    raise TypeError(f"a string tensor holds {type(value).__name__} {value!r}")


def _data_types(message):
    return message.DESCRIPTOR.fields_by_name["dtype"].enum_type
