"""A request against a signature: its checks, and the call (Predict, Classify, Regress), whatever the transport.

Inputs arrive as NumPy arrays (the gRPC API reads TensorProtos, the REST one JSON). The checks read
the signature's inputs once per loaded version; the call binds the arguments once per signature.
Errors are :class:`serving.status.RequestError` with the status code TF Serving gives for the same
mistake:

* unknown model or version: NOT_FOUND (``Servable not found for request: Latest(m)``);
* unknown version label: INVALID_ARGUMENT (``Unrecognized servable version label``);
* unknown signature: FAILED_PRECONDITION for gRPC Predict (``Serving signature key "s" not found.``),
  INVALID_ARGUMENT for REST Predict and for Classify/Regress (``No signature was found with the name``);
* wrong input names, dtypes or shapes, malformed tensors, an unparsable tf.Example: INVALID_ARGUMENT;
* a batch larger than ``max_batch_size``: INVALID_ARGUMENT (``Task size N is larger than maximum
  input batch size M``, TF Serving's batching message); an empty batch: INVALID_ARGUMENT.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import grpc
import numpy as np
import tensorflow as tf

from common.contract import CLASSIFY_METHOD_NAME, REGRESS_METHOD_NAME
from serving.servable import LoadedVersion
from serving.status import RequestError, invalid, tf_error_code
from serving.tensors import DTYPES, dtype_name


@dataclasses.dataclass(frozen=True)
class InputInfo:
    """One signature input: its dtype (a DataType enum value) and shape (None: any size)."""

    dtype: int
    shape: tuple[int | None, ...] | None  # None: unknown rank

    def check_shape(self, name: str, shape: Sequence[int]) -> None:
        """INVALID_ARGUMENT unless ``shape`` fits this input's shape."""
        if self.shape is None:
            return
        if len(shape) != len(self.shape) or any(
            e is not None and e != s for e, s in zip(self.shape, shape, strict=True)
        ):
            expected = "[" + ",".join("?" if d is None else str(d) for d in self.shape) + "]"
            raise invalid(
                f"input '{name}' has shape {list(shape)}, which is not compatible with expected shape {expected}",
            )


def signature_inputs(loaded: LoadedVersion, signature_name: str) -> dict[str, InputInfo]:
    """The inputs of a signature, read once per loaded version (not per request)."""
    cached = loaded.cache.get(("inputs", signature_name))
    if cached is None:
        signature = loaded.signature_defs[signature_name]
        cached = {}
        for name, info in signature.inputs.items():
            rank_known = not info.tensor_shape.unknown_rank
            shape = tuple(None if d.size < 0 else int(d.size) for d in info.tensor_shape.dim) if rank_known else None
            cached[name] = InputInfo(info.dtype, shape)
        loaded.cache[("inputs", signature_name)] = cached
    return cached


def check_inputs(signature: Mapping[str, InputInfo], inputs: Mapping[str, Any], max_batch_size: int | None) -> None:
    """Names as TF Serving checks them, then each input's shape, then the batch size."""
    sent, expected = set(inputs), set(signature)
    if len(sent) == len(expected) and sent != expected:
        alias = sorted(sent - expected)[0]
        raise invalid(
            f"input tensor alias not found in signature: {alias}. "
            f"Inputs expected to be in the set {{{','.join(sorted(expected))}}}.",
        )
    if sent != expected:
        raise invalid(
            f"input size does not match signature: {len(sent)}!={len(expected)} "
            f"len({{{','.join(sorted(sent))}}}) != len({{{','.join(sorted(expected))}}}). "
            f"Sent extra: {{{','.join(sorted(sent - expected))}}}. "
            f"Missing but required: {{{','.join(sorted(expected - sent))}}}.",
        )
    for name, info in signature.items():
        shape = inputs[name] if isinstance(inputs[name], tuple) else np.shape(inputs[name])
        info.check_shape(name, shape)
        batched = info.shape is not None and len(info.shape) > 0 and info.shape[0] is None
        if batched and shape[0] == 0:
            raise invalid(
                f"input '{name}' is an empty batch (its first dimension is 0): send at least one example",
            )
        if batched and max_batch_size and shape[0] > max_batch_size:
            raise invalid(
                f"Task size {shape[0]} is larger than maximum input batch size {max_batch_size}",
            )


def check_dtype(name: str, info: InputInfo, dtype: int) -> None:
    """INVALID_ARGUMENT unless the sent dtype is the signature's."""
    if dtype != info.dtype:
        raise invalid(
            f"Expects arg '{name}' to be {dtype_name(info.dtype)} but {dtype_name(dtype) if dtype else 'no dtype'} "
            "is provided",
        )


def numpy_dtype(info: InputInfo) -> Any:
    """The NumPy dtype of an input (object for strings)."""
    if info.dtype not in DTYPES:
        raise RequestError(grpc.StatusCode.UNIMPLEMENTED, f"inputs of dtype {dtype_name(info.dtype)} are not supported")
    return DTYPES[info.dtype][0]


def find_signature(loaded: LoadedVersion, signature_name: str, grpc_predict: bool) -> None:
    """The missing-signature error as TF Serving words it for each API."""
    if signature_name in loaded.signature_defs:
        return
    if grpc_predict:
        raise RequestError(grpc.StatusCode.FAILED_PRECONDITION, f'Serving signature key "{signature_name}" not found.')
    raise invalid(f'Serving signature name: "{signature_name}" not found in signature def')


def check_output_filter(loaded: LoadedVersion, signature_name: str, output_filter: Sequence[str]) -> None:
    """Every requested output must exist, once."""
    outputs = loaded.signature_defs[signature_name].outputs
    for alias in output_filter:
        if alias not in outputs:
            raise invalid(
                f"output tensor alias not found in signature: {alias} Outputs expected to be in the set "
                f"{{{','.join(sorted(outputs))}}}.",
            )
    if len(set(output_filter)) != len(output_filter):
        raise invalid("duplicate output tensor alias")


def call_signature(
    loaded: LoadedVersion, signature_name: str, inputs: Mapping[str, np.ndarray]
) -> dict[str, np.ndarray]:
    """Run one signature on NumPy inputs; NumPy outputs. TensorFlow errors keep their status code."""
    function = loaded.cache.get(("function", signature_name))
    if function is None:
        function = loaded.cache[("function", signature_name)] = signature_caller(loaded.signature(signature_name))
    try:
        outputs = function(inputs)
    except tf.errors.OpError as err:
        raise RequestError(tf_error_code(err), err.message) from None
    except UnicodeDecodeError:
        # TensorFlow failed to *word* its InvalidArgument error: ParseExample quotes the bad bytes in its
        # message and the message is not UTF-8. The request is at fault, as TF Serving answers.
        raise invalid(
            "Could not parse example input: a value is not a serialized tf.train.Example",
        ) from None
    return {name: value.numpy() for name, value in outputs.items()}


def signature_caller(function: Any) -> Callable[[Mapping[str, Any]], Mapping[str, tf.Tensor]]:
    """A call of a loaded signature on its inputs by name, with the argument binding done once.

    ``ConcreteFunction.__call__`` binds keyword arguments against the signature's ``FunctionType``
    on every call: 40-60 µs of Python per call (the batch-1 MNIST model's own work is about
    550 µs), under the GIL that the server's other threads need. A signature takes flat tensors in
    the order of its ``_arg_keywords``; TensorFlow's own flat-signature path calls ``_call_flat``
    with them (``concrete_function.py``, TF 2.16), and so does this, after the checks that binding
    would have made: every input given, each shape compatible with the signature's
    (INVALID_ARGUMENT otherwise, as the Predict checks word it). If a future TensorFlow lacks those
    attributes, the public call is used.
    """
    keywords = getattr(function, "_arg_keywords", None)
    call_flat = getattr(function, "_call_flat", None)
    _, named = function.structured_input_signature
    if call_flat is None or keywords is None or sorted(keywords) != sorted(named):
        return lambda inputs: function(**inputs)
    order = [str(k) for k in keywords]
    specs = [
        (name, named[name].dtype, InputInfo(named[name].dtype.as_datatype_enum, _dims(named[name].shape)))
        for name in order
    ]

    def call(inputs: Mapping[str, Any]) -> Mapping[str, tf.Tensor]:
        if len(inputs) != len(order) or any(name not in inputs for name in order):
            raise invalid(f"the signature takes {sorted(order)}, got {sorted(inputs)}")
        tensors = []
        for name, dtype, info in specs:
            value = inputs[name]
            info.check_shape(name, np.shape(value))
            tensors.append(tf.constant(value, dtype=dtype))
        return call_flat(tensors, function.captured_inputs)

    return call


def _dims(shape: tf.TensorShape) -> tuple[int | None, ...] | None:
    return None if shape.rank is None else tuple(shape.as_list())


def serialized_examples(request_input: Any) -> list[bytes]:
    """The tf.Examples of a Classify/Regress ``Input`` (the context merged into each), serialized."""
    kind = request_input.WhichOneof("kind")
    if kind == "example_list":
        examples = list(request_input.example_list.examples)
    elif kind == "example_list_with_context":
        context = request_input.example_list_with_context.context
        examples = []
        for example in request_input.example_list_with_context.examples:
            merged = tf.train.Example()
            merged.CopyFrom(context)
            merged.MergeFrom(example)  # the example's own features win over the context's
            examples.append(merged)
    else:
        examples = []
    if not examples:
        raise invalid("Input is empty.")
    return [e.SerializeToString() for e in examples]


def inference_signature(loaded: LoadedVersion, signature_name: str, method: str, kind: str) -> None:
    """Classify/Regress: the signature must exist, have that method name and one input named ``inputs``."""
    signature_def = loaded.signature_defs.get(signature_name)
    if signature_def is None:
        raise invalid(f"No signature was found with the name: {signature_name}")
    if signature_def.method_name != method:
        raise invalid(
            f"Expected {kind} signature method_name to be {method}. Was: {signature_def.method_name}",
        )
    if list(signature_def.inputs) != ["inputs"]:
        raise invalid("Expected one input Tensor named 'inputs'.")


def classify(
    loaded: LoadedVersion, signature_name: str, serialized: Sequence[bytes]
) -> tuple[np.ndarray | None, np.ndarray | None]:
    """(classes ``[n, k]`` or None, scores ``[n, k]`` or None) for serialized examples."""
    inference_signature(loaded, signature_name, CLASSIFY_METHOD_NAME, "classification")
    outputs = call_signature(loaded, signature_name, {"inputs": np.array(serialized, dtype=object)})
    return outputs.get("classes"), outputs.get("scores")


def regress(loaded: LoadedVersion, signature_name: str, serialized: Sequence[bytes]) -> np.ndarray:
    """One value per serialized example."""
    inference_signature(loaded, signature_name, REGRESS_METHOD_NAME, "regression")
    values = call_signature(loaded, signature_name, {"inputs": np.array(serialized, dtype=object)})["outputs"]
    values = np.reshape(values, [len(serialized), -1])
    if values.shape[1] != 1:
        raise invalid(f"Expected one output value per example, got {values.shape}")
    return values[:, 0]
