"""JSON <-> tensors for TF Serving's REST API, as ``json_tensor.cc`` reads and writes them.

* ``:predict`` bodies: ``{"instances": [...]}`` (rows) or ``{"inputs": ...}`` (columns), with
  ``{"b64": "..."}`` for binary strings, each value checked against the signature's dtype and the
  lists against a dense shape (ragged lists are refused, with TF Serving's words);
* answers: ``{"predictions": [...]}`` for rows, ``{"outputs": ...}`` for columns; outputs whose
  name ends in ``_bytes`` as ``{"b64": ...}``; float32 with the shortest decimals that read back
  the same float32;
* ``:classify`` / ``:regress`` bodies: ``{"examples": [{feature: value}], "context": {...}}`` as
  serialized tf.Examples, and their ``{"results": ...}``.

Every refusal is INVALID_ARGUMENT (:func:`serving.status.invalid`).

Long because TF Serving's JSON has three request forms (rows, columns, examples) and their answers,
each refused in TF Serving's own words.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

import numpy as np
import tensorflow as tf

from common.contract import MISSING_FLOAT, MISSING_INT, MISSING_TEXT
from serving import signatures
from serving.status import invalid
from serving.tensors import dtype_name


def _is_b64(value: Any) -> bool:
    return isinstance(value, dict) and len(value) == 1 and isinstance(value.get("b64"), str)


def _leaf(value: Any, np_type: Any, dtype_name: str) -> Any:
    """One JSON scalar as the input's type, with TF Serving's type checks.

    ``null`` is the input's missing marker (:data:`common.contract.MISSING_FLOAT`, ``MISSING_INT`` for
    int64, ``MISSING_TEXT``), which TF Serving refuses: a model's optional columns take it, a required
    one answers which column needs a value. Other types have no marker: ``null`` stays an error.
    """
    if value is None:
        if np_type is object:
            return MISSING_TEXT.encode()
        if np_type in (np.float16, np.float32, np.float64):
            return MISSING_FLOAT
        if np_type is np.int64:
            return MISSING_INT
    if np_type is object:
        if isinstance(value, str):
            return value.encode()
        if _is_b64(value):
            try:
                return base64.b64decode(value["b64"], validate=True)
            except (binascii.Error, ValueError):
                raise invalid("Unable to base64 decode") from None
        if isinstance(value, dict):
            raise invalid(f"JSON Value: {json.dumps(value)} not formatted correctly for base64 data")
    elif np_type is np.bool_:
        if isinstance(value, bool):
            return value
    elif np.issubdtype(np_type, np.integer):
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        return value
    kind = {bool: "Bool", str: "String", dict: "Object", list: "Array", type(None): "Null"}.get(type(value), "Number")
    raise invalid(f"JSON Value: {json.dumps(value)} Type: {kind} is not of expected type: {dtype_name}")


def json_tensor(
    value: Any,
    np_type: Any,
    dtype_name: str,
    name: str = "",
    info: signatures.InputInfo | None = None,
    max_rows: int | None = None,
) -> np.ndarray:
    """A JSON value (scalar or nested lists) as a dense array of input ``name``; ragged lists are refused.

    With the input's ``info``, the lists' shape (read from their first elements, in microseconds) is
    checked against the signature's before any value is read, and the rows against ``max_rows``: a
    body of ten million numbers for a 784-number input is refused before it is walked. Numbers out
    of the input type's range are refused, never wrapped (300 is no uint8).
    """
    shape: list[int] = []
    probe = value
    while isinstance(probe, list):
        shape.append(len(probe))
        probe = probe[0] if probe else None
    if info is not None:
        info.check_shape(name, shape)
        if shape and max_rows and info.shape and info.shape[0] is None and shape[0] > max_rows:
            raise invalid(f"Task size {shape[0]} is larger than maximum input batch size {max_rows}")
    flat: list[Any] = []

    def walk(item: Any, level: int) -> None:
        if level == len(shape):
            if isinstance(item, list):
                raise invalid(f"Encountered list at unexpected level: {level} expected < {len(shape)}")
            flat.append(_leaf(item, np_type, dtype_name))
            return
        if not isinstance(item, list):
            raise invalid(
                f"JSON Value: {json.dumps(item)} found at incorrect level: {level + 1} in the JSON DOM. "
                f"Expected at level: {len(shape)}"
            )
        if len(item) != shape[level]:
            raise invalid(
                f"Encountered list at unexpected size: {len(item)} at level: {level} expected size: {shape[level]}"
            )
        for element in item:
            walk(element, level + 1)

    walk(value, 0)
    return _typed(flat, np_type, dtype_name, name).reshape(shape)


def _typed(flat: list[Any], np_type: Any, dtype_name: str, name: str) -> np.ndarray:
    """The values as an array of ``np_type``; a number the type cannot hold is INVALID_ARGUMENT."""
    if not flat:
        return np.zeros(0, dtype=np_type)
    if np_type is object or np_type is np.bool_:
        return np.array(flat, dtype=np_type)
    integer = np.issubdtype(np_type, np.integer)
    try:
        wide = np.array(flat, dtype=None if integer else np.float64)
    except OverflowError:  # a number beyond float64
        wide = np.array(flat, dtype=object)
    limits = np.iinfo(np_type) if integer else np.finfo(np_type)
    if wide.dtype == object or wide.min() < limits.min or wide.max() > limits.max:
        worst = max(flat, key=lambda v: abs(v))
        bounds = f"{limits.min}..{limits.max}" if integer else f"at most {limits.max:.4g} in magnitude"
        raise invalid(f"input '{name}': {worst} is out of range for {dtype_name} ({bounds})")
    return wide.astype(np_type)


def parse_predict(
    body: Any, signature: dict[str, signatures.InputInfo], max_rows: int | None = None
) -> tuple[dict[str, np.ndarray], bool]:
    """(inputs, row format?) of a predict request body, as TF Serving's FillPredictRequestFromJson.

    Each input's lists are checked against the signature's shape, and rows against ``max_rows``, before
    their values are read.
    """
    if not isinstance(body, dict):
        raise invalid(f"JSON Value: {json.dumps(body)} Is not object")
    types = {
        name: (signatures.numpy_dtype(info), _dtype_name(info), name, info, max_rows)
        for name, info in signature.items()
    }
    if "instances" in body and "inputs" in body:
        raise invalid("Not formatted correctly expecting only one of 'inputs' or 'instances' keys to exist ")
    if "instances" in body:
        rows = body["instances"]
        if not isinstance(rows, list):
            raise invalid("Expecting 'instances' to be an list/array")
        if not rows:
            raise invalid("No values in 'instances' array")
        named = isinstance(rows[0], dict) and not _is_b64(rows[0])
        if not named:
            if len(signature) != 1:
                raise invalid(
                    "instances is a plain list, but expecting list of objects as multiple input tensors required "
                    "as per tensorinfo_map"
                )
            (name,) = signature
            return {name: json_tensor(rows, *types[name])}, True
        for index, row in enumerate(rows):
            if not isinstance(row, dict) or _is_b64(row):
                raise invalid(f"Expecting object but got list at item {index} of input list")
            if set(row) != set(signature):
                raise invalid(
                    f"Failed to process element: {index} of 'instances' list. JSON object: {json.dumps(row)} keys "
                    f"must be equal to: {','.join(sorted(signature))}"
                )
        return {name: json_tensor([row[name] for row in rows], *types[name]) for name in signature}, True
    if "inputs" in body:
        columns = body["inputs"]
        if isinstance(columns, dict) and not _is_b64(columns):
            missing = sorted(set(signature) - set(columns))
            if missing:
                raise invalid(f"Missing named input: {missing[0]} in 'inputs' object.")
            return {name: json_tensor(columns[name], *types[name]) for name in signature}, False
        if len(signature) != 1:
            raise invalid(
                "inputs is a plain value/list, but expecting an object as multiple input tensors required as per "
                "tensorinfo_map"
            )
        (name,) = signature
        return {name: json_tensor(columns, *types[name])}, False
    raise invalid("Missing 'inputs' or 'instances' key")


def _dtype_name(info: signatures.InputInfo) -> str:
    return dtype_name(info.dtype)


def json_value(name: str, array: np.ndarray) -> Any:
    """An output array as JSON values.

    Strings as text (``{"b64": ...}`` if the name ends in ``_bytes``), float32 with the shortest
    decimals that read back the same float32.
    """
    if array.dtype == object or array.dtype.kind == "S":
        if name.endswith("_bytes"):
            return _map(array, lambda v: {"b64": base64.b64encode(v).decode()})
        return _map(array, lambda v: v.decode("utf-8", errors="replace") if isinstance(v, bytes) else str(v))
    if array.dtype == np.float32:
        return _map(array, lambda v: float(np.format_float_scientific(np.float32(v), unique=True)))
    return array.tolist()


def _map(array: np.ndarray, convert: Any) -> Any:
    if array.ndim == 0:
        return convert(array.item())
    return [_map(item, convert) for item in array] if array.ndim > 1 else [convert(v) for v in array.tolist()]


def predict_response(outputs: dict[str, np.ndarray], rows: bool) -> dict[str, Any]:
    """``{"predictions": ...}`` for a row request, ``{"outputs": ...}`` for a columnar one."""
    if not outputs:
        raise invalid("Cannot convert empty tensor map to JSON")
    if not rows:
        if len(outputs) == 1:
            ((name, value),) = outputs.items()
            return {"outputs": json_value(name, value)}
        return {"outputs": {name: json_value(name, value) for name, value in sorted(outputs.items())}}
    batch = None
    for name, value in outputs.items():
        if value.ndim == 0:
            raise invalid(f"Tensor name: {name} has no shape information ")
        if batch is not None and value.shape[0] != batch:
            raise invalid(f"Tensor name: {name} has inconsistent batch size: {value.shape[0]} expecting: {batch}")
        batch = value.shape[0]
    columns = {name: json_value(name, value) for name, value in sorted(outputs.items())}
    if len(columns) == 1:
        return {"predictions": next(iter(columns.values()))}
    return {"predictions": [{name: column[i] for name, column in columns.items()} for i in range(batch or 0)]}


def _feature(name: str, value: Any) -> tf.train.Feature:
    values = value if isinstance(value, list) else [value]
    kinds = set()
    for v in values:
        if isinstance(v, str) or _is_b64(v):
            kinds.add("bytes")
        elif isinstance(v, bool) or isinstance(v, int):
            kinds.add("int64")
        elif isinstance(v, float):
            kinds.add("float")
        else:
            kind = {dict: "Object", list: "Array", type(None): "Null"}.get(type(v), type(v).__name__)
            raise invalid(f"Feature: {name} has element with unexpected JSON type: {kind}")
    if len(kinds) > 1:
        raise invalid(f"Unexpected element type in feature: {name} expecting type: {sorted(kinds)[0]}")
    if not kinds:  # `[]`: a feature with no kind, missing whatever its type (as TF Serving's json_tensor.cc)
        return tf.train.Feature()
    kind = kinds.pop()
    if kind == "bytes":
        data = [_leaf(v, object, "string") for v in values]
        return tf.train.Feature(bytes_list=tf.train.BytesList(value=data))
    if kind == "int64":
        return tf.train.Feature(int64_list=tf.train.Int64List(value=[int(v) for v in values]))
    return tf.train.Feature(float_list=tf.train.FloatList(value=values))


def parse_examples(body: Any) -> list[bytes]:
    """The serialized tf.Examples of a classify/regress body (``examples``, and ``context`` merged in)."""
    if not isinstance(body, dict):
        raise invalid(f"JSON Value: {json.dumps(body)} Is not object")
    if "examples" not in body:
        raise invalid("When method is classify, key 'examples' is expected and was not found")
    examples = body["examples"]
    if not isinstance(examples, list):
        raise invalid("Expecting 'examples' value to be an list/array")
    if not examples:
        raise invalid("'examples' value is an empty array")
    context = body.get("context") or {}
    serialized = []
    for example in examples:
        if not isinstance(example, dict):
            raise invalid(f"Example must be JSON object but got JSON {type(example).__name__}")
        features = {name: _feature(name, value) for name, value in {**context, **example}.items()}
        serialized.append(tf.train.Example(features=tf.train.Features(feature=features)).SerializeToString())
    return serialized


def json_body(text: bytes) -> Any:
    """The parsed JSON of a request body; an empty or malformed body is INVALID_ARGUMENT."""
    if not text.strip():
        raise invalid("JSON Parse error: The document is empty")
    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        raise invalid(f"JSON Parse error: {err.msg} at offset: {err.pos}") from None
    except RecursionError:
        raise invalid("JSON Parse error: the document is nested too deeply") from None
    except UnicodeDecodeError as err:
        raise invalid(f"JSON Parse error: the body is not UTF-8 ({err.reason}) at offset: {err.start}") from None


def classify_results(classes: np.ndarray | None, scores: np.ndarray | None) -> dict[str, Any]:
    """``{"results": [[[label, score], ...], ...]}``, as TF Serving writes a ClassificationResult."""
    count = (classes if classes is not None else scores).shape  # type: ignore[union-attr]
    results = [
        [
            [
                classes[i, c].decode() if classes is not None else "",
                float(np.float32(scores[i, c])) if scores is not None else 0.0,
            ]
            for c in range(count[1])
        ]
        for i in range(count[0])
    ]
    return {"results": results}


def regress_results(values: np.ndarray) -> dict[str, Any]:
    """``{"results": [value, ...]}``, as TF Serving writes a RegressionResult."""
    return {"results": [float(np.format_float_scientific(np.float32(v), unique=True)) for v in values]}
