"""TensorProto <-> NumPy without TensorFlow's per-call conversions, with the checks a server needs.

``tf.make_ndarray`` / ``tf.make_tensor_proto`` go through TensorFlow's Python layers on every call;
a numeric tensor is just its bytes in ``tensor_content`` (or a repeated field), so reading it is a
``np.frombuffer`` and writing it a ``tobytes``. Used by the server (requests in, answers out) and by
the Python client, both ways.

A Predict answer can also be written straight to its wire bytes (:func:`encode_predict_response`):
protobuf's C++ runtime serializes a ``map<string, TensorProto>`` slowly (a three-output response
costs ~20 µs to build and serialize, on the event loop that every request needs), while the bytes
of a numeric output are a cached header and the array's ``tobytes()``.

A tensor's content must match its declared shape. TF Serving pads a short repeated field with its
last value (or zeros when it is empty) and truncates a long one; this server refuses both, so a
55-byte request cannot declare a 20,000-image batch and make the model compute it.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from tensorflow.core.framework import tensor_pb2, types_pb2

# DataType enum -> (NumPy dtype, the TensorProto field that holds values when tensor_content is empty).
DTYPES: dict[int, tuple[Any, str]] = {
    types_pb2.DT_FLOAT: (np.float32, "float_val"),
    types_pb2.DT_DOUBLE: (np.float64, "double_val"),
    types_pb2.DT_INT32: (np.int32, "int_val"),
    types_pb2.DT_UINT8: (np.uint8, "int_val"),
    types_pb2.DT_INT16: (np.int16, "int_val"),
    types_pb2.DT_INT8: (np.int8, "int_val"),
    types_pb2.DT_UINT16: (np.uint16, "int_val"),
    types_pb2.DT_INT64: (np.int64, "int64_val"),
    types_pb2.DT_UINT32: (np.uint32, "uint32_val"),
    types_pb2.DT_UINT64: (np.uint64, "uint64_val"),
    types_pb2.DT_BOOL: (np.bool_, "bool_val"),
    types_pb2.DT_STRING: (object, "string_val"),
}
NAMES = {dtype: types_pb2.DataType.Name(dtype).removeprefix("DT_").lower() for dtype in DTYPES}
NAMES[types_pb2.DT_FLOAT] = "float32"
NAMES[types_pb2.DT_DOUBLE] = "float64"
NAMES[types_pb2.DT_STRING] = "string"
_ITEMSIZE = {np_type: np.dtype(np_type).itemsize for np_type, _ in DTYPES.values()}
_BY_NUMPY = {np.dtype(np_type): dtype for dtype, (np_type, _) in DTYPES.items() if np_type is not object}


class TensorError(ValueError):
    """A tensor that cannot be used: the message says why (the server answers INVALID_ARGUMENT)."""


def dtype_name(dtype: int) -> str:
    """``float32``, ``uint8``, ``string`` ... for a DataType enum value."""
    return NAMES.get(dtype, types_pb2.DataType.Name(dtype) if dtype in types_pb2.DataType.values() else str(dtype))


def proto_shape(proto: tensor_pb2.TensorProto) -> tuple[int, ...]:
    """The declared shape, checked (no unknown rank, no negative sizes)."""
    tensor_shape = proto.tensor_shape
    if tensor_shape.unknown_rank:
        raise TensorError("its shape has an unknown rank")
    shape = tuple([d.size for d in tensor_shape.dim])
    if shape and min(shape) < 0:
        raise TensorError(f"its shape {list(shape)} has a negative size")
    return shape


def to_array(proto: tensor_pb2.TensorProto, shape: Sequence[int] | None = None) -> np.ndarray:
    """The tensor's values as an array of its declared shape; its content must hold exactly that many."""
    known = DTYPES.get(proto.dtype)
    if known is None:
        raise TensorError(f"dtype {dtype_name(proto.dtype)} is not supported")
    np_type, field = known
    shape = tuple(proto_shape(proto) if shape is None else shape)
    count = math.prod(shape)
    content = proto.tensor_content  # a copy each time it is read: read once
    if content:
        if np_type is object:
            raise TensorError("a string tensor cannot use tensor_content")
        expected = count * _ITEMSIZE[np_type]
        if len(content) != expected:
            raise TensorError(f"tensor_content has {len(content)} bytes, the shape {list(shape)} needs {expected}")
        return np.frombuffer(content, dtype=np_type).reshape(shape)
    values = getattr(proto, field)
    if len(values) != count:
        raise TensorError(f"it carries {len(values)} values, its shape {list(shape)} needs {count}")
    if np_type is object:
        return np.array(values, dtype=object).reshape(shape)
    return np.asarray(values, dtype=np_type).reshape(shape)


def _string_values(array: np.ndarray) -> list[bytes]:
    """A string tensor's values, flat: bytes as they are, anything else as UTF-8 text."""
    return [v if isinstance(v, bytes) else str(v).encode() for v in array.reshape(-1).tolist()]


def to_proto(array: Any, dtype: int | None = None, out: tensor_pb2.TensorProto | None = None) -> tensor_pb2.TensorProto:
    """An array (or nested lists) as a TensorProto: numbers in ``tensor_content``, strings in ``string_val``.

    ``out``: an empty TensorProto to fill in place (a field of a response: no copy), else a new one.
    """
    array = np.asarray(array)
    proto = tensor_pb2.TensorProto() if out is None else out
    if dtype is None:
        if array.dtype.kind in "OSU":
            dtype = types_pb2.DT_STRING
        elif array.dtype in _BY_NUMPY:
            dtype = _BY_NUMPY[array.dtype]
        else:
            raise TensorError(f"dtype {array.dtype} is not supported")
    proto.dtype = dtype
    dims = proto.tensor_shape.dim
    for size in array.shape:
        dims.add().size = size
    np_type, _ = DTYPES[dtype]
    if np_type is object:
        proto.string_val.extend(_string_values(array))
    else:
        proto.tensor_content = np.ascontiguousarray(array, dtype=np_type).tobytes()
    return proto


# -- wire format (https://protobuf.dev/programming-guides/encoding/) ----------------------------------------------
# TensorProto: dtype = 1 (varint), tensor_shape = 2 (TensorShapeProto: dim = 2, each Dim: size = 1), tensor_content = 4,
# string_val = 8. PredictResponse: outputs = 1 (map entries: key = 1, value = 2), model_spec = 2.


def _varint(value: int) -> bytes:
    if value < 0x80:
        return bytes((value,))
    out = bytearray()
    while value >= 0x80:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def delimited(field: int, payload: bytes) -> bytes:
    """A length-delimited field: tag (wire type 2), length, payload."""
    return _varint(field << 3 | 2) + _varint(len(payload)) + payload


@functools.lru_cache(maxsize=4096)
def _tensor_head(dtype: int, shape: tuple[int, ...]) -> bytes:
    """A TensorProto's dtype and shape fields (no shape field for a scalar, as :func:`to_proto` leaves it)."""
    dims = b"".join(delimited(2, b"\x08" + _varint(size) if size else b"") for size in shape)
    return b"\x08" + _varint(dtype) + (delimited(2, dims) if shape else b"")


@functools.lru_cache(maxsize=4096)
def _numeric_entry_head(alias: str, dtype: int, shape: tuple[int, ...], nbytes: int) -> bytes:
    """Everything of an ``outputs`` map entry before a numeric tensor's content (its length is fixed by the shape)."""
    tensor_head = _tensor_head(dtype, shape) + (b"\x22" + _varint(nbytes) if nbytes else b"")
    entry_head = delimited(1, alias.encode()) + b"\x12" + _varint(len(tensor_head) + nbytes) + tensor_head
    return b"\x0a" + _varint(len(entry_head) + nbytes) + entry_head


def encode_predict_response(model_spec: bytes, outputs: Mapping[str, Any]) -> bytes:
    """The wire bytes of a ``PredictResponse`` with ``outputs`` (arrays, encoded as :func:`to_proto` fills them).

    ``model_spec``: the serialized ``ModelSpec`` of the answer. Parsing the bytes gives the message that
    ``to_proto`` and ``SerializeToString`` would have sent.
    """
    parts = []
    for alias, value in outputs.items():
        array = np.asarray(value)
        if array.dtype.kind in "OSU":
            strings = b"".join(delimited(8, v) for v in _string_values(array))
            tensor = _tensor_head(types_pb2.DT_STRING, array.shape) + strings
            parts.append(delimited(1, delimited(1, alias.encode()) + delimited(2, tensor)))
            continue
        dtype = _BY_NUMPY.get(array.dtype)
        if dtype is None:
            raise TensorError(f"dtype {array.dtype} is not supported")
        content = np.ascontiguousarray(array).tobytes()
        parts.append(_numeric_entry_head(alias, dtype, array.shape, len(content)))
        parts.append(content)
    parts.append(delimited(2, model_spec))
    return b"".join(parts)


def encode_predict_request(model_spec: bytes, inputs: Mapping[str, Any]) -> bytes:
    """The wire bytes of a ``PredictRequest`` (``model_spec`` = 1, ``inputs`` = 2) with ``inputs`` as arrays.

    What a REST ``:predict`` would have been over gRPC (the request log keeps it in this form).
    """
    entries = [
        delimited(2, delimited(1, name.encode()) + delimited(2, to_proto(value).SerializeToString()))
        for name, value in inputs.items()
    ]
    return delimited(1, model_spec) + b"".join(entries)
