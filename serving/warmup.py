"""Warmup requests in TF Serving's format: written for a model before it is pushed, replayed when it loads.

``<version>/assets.extra/tf_serving_warmup_requests`` is a TFRecord file of ``PredictionLog`` protos
(TF Serving's format; the pipeline's infra validator writes it from real evaluation examples).
Each request runs once through the same code as a real request: the signature functions are
traced and their memory allocated before the version answers anyone. At most 1,000 records; a
request that fails, or more records, fail the load (the version is reported END with the error).
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import tensorflow as tf
from tensorflow_serving.apis import prediction_log_pb2

from common.contract import (
    CLASSIFY_SIGNATURE,
    EXAMPLE_SIGNATURE,
    EXAMPLES_INPUT,
    INFERENCE_INPUT,
    MAX_WARMUP_RECORDS,
    REGRESS_SIGNATURE,
    WARMUP_FILE,
)
from serving import signatures
from serving.servable import LoadedVersion, read_signature_defs
from serving.status import RequestError
from serving.tensors import TensorError, to_array, to_proto


class WarmupError(RuntimeError):
    """A warmup file or request that TF Serving would refuse; the version does not load."""


def replay_warmup(loaded: LoadedVersion) -> int:
    """Run the version's warmup requests (if it has any); returns how many ran."""
    path = os.path.join(loaded.path, WARMUP_FILE)
    if not os.path.isfile(path):
        return 0
    count = 0
    try:
        records = list(tf.data.TFRecordDataset(path).as_numpy_iterator())
    except tf.errors.OpError as err:
        raise WarmupError(f"{path}: {err.message}. Please verify your warmup data is in TFRecord format.") from None
    if len(records) > MAX_WARMUP_RECORDS:
        raise WarmupError(f"Number of warmup records exceeds the maximum ({MAX_WARMUP_RECORDS}) at {path}")
    for record in records:
        log = prediction_log_pb2.PredictionLog()
        try:
            log.ParseFromString(record)
        except Exception:  # noqa: BLE001 - protobuf's DecodeError
            raise WarmupError(f"Failed to parse warmup record from {path}") from None
        try:
            _replay(loaded, log)
        except (RequestError, TensorError) as err:
            raise WarmupError(f"warmup request {count + 1} of {path} failed: {err}") from None
        count += 1
    return count


def _replay(loaded: LoadedVersion, log: prediction_log_pb2.PredictionLog) -> None:
    kind = log.WhichOneof("log_type")
    if kind == "predict_log":
        request = log.predict_log.request
        signature = request.model_spec.signature_name or EXAMPLE_SIGNATURE
        signatures.find_signature(loaded, signature, grpc_predict=True)
        specs = signatures.signature_inputs(loaded, signature)
        inputs = {}
        for name, proto in request.inputs.items():
            if name in specs:
                signatures.check_dtype(name, specs[name], proto.dtype)
            inputs[name] = to_array(proto)
        signatures.check_inputs(specs, inputs, max_batch_size=None)
        signatures.call_signature(loaded, signature, inputs)
    elif kind == "classify_log":
        request = log.classify_log.request
        signatures.classify(
            loaded,
            request.model_spec.signature_name or EXAMPLE_SIGNATURE,
            signatures.serialized_examples(request.input),
        )
    elif kind == "regress_log":
        request = log.regress_log.request
        signatures.regress(
            loaded,
            request.model_spec.signature_name or EXAMPLE_SIGNATURE,
            signatures.serialized_examples(request.input),
        )
    elif kind is not None:
        raise WarmupError(f"Unsupported log_type for warmup: {kind}")


def _blank_input(info: Any) -> np.ndarray:
    """One example of an input's dtype and shape: zeros, or empty strings."""
    shape = [1 if d.size < 0 else d.size for d in info.tensor_shape.dim]
    dtype = tf.dtypes.as_dtype(info.dtype)
    if dtype == tf.string:
        return np.full(shape, b"", dtype=object)
    return np.zeros(shape, dtype=dtype.as_numpy_dtype)


def build_warmup_requests(model_dir: str, examples: list[bytes]) -> list[prediction_log_pb2.PredictionLog]:
    """Warmup records for every signature of a SavedModel, built from real examples where it takes them.

    Signatures that take serialized examples (Predict on ``serving_default``, Classify, Regress) get
    the examples, one alone and all together (two batch sizes); ``serving_raw`` gets the raw form of
    the same examples (:func:`serving.infra_checks.raw_inputs`), and a signature whose inputs cannot
    be built from them one blank example of its input shapes, which traces and allocates the same
    way. At most ``MAX_WARMUP_RECORDS``.
    """
    from serving.codec import signature_inputs
    from serving.contract import example_features
    from serving.infra_checks import RawInputError, raw_inputs

    features = example_features(model_dir)
    records = []
    for name, signature in sorted(read_signature_defs(model_dir).items()):
        takes_examples = set(signature.inputs) in ({EXAMPLES_INPUT}, {INFERENCE_INPUT})
        requests: list[tuple[list[bytes] | None, dict[str, Any] | None]]
        if takes_examples:
            requests = [(batch, None) for batch in (examples[:1], examples)]
        else:
            try:
                specs = signature_inputs(signature)
                requests = [(None, raw_inputs(batch, specs, features)) for batch in (examples[:1], examples)]
            except RawInputError:  # inputs that are not the example features by name: one blank example
                requests = [(None, None)]
        for batch, tensors in requests:
            log = prediction_log_pb2.PredictionLog()
            if name in (CLASSIFY_SIGNATURE, REGRESS_SIGNATURE) and signature.method_name.endswith(
                ("classify", "regress")
            ):
                request = log.classify_log.request if name == CLASSIFY_SIGNATURE else log.regress_log.request
                request.model_spec.signature_name = name
                request.input.example_list.examples.extend(tf.train.Example.FromString(e) for e in batch)
            else:
                request = log.predict_log.request
                request.model_spec.signature_name = name
                for input_name, info in signature.inputs.items():
                    if batch is not None:
                        value = np.array(batch, dtype=object)
                    else:
                        value = tensors[input_name] if tensors is not None else _blank_input(info)
                    request.inputs[input_name].CopyFrom(to_proto(value))
            records.append(log)
    return records[:MAX_WARMUP_RECORDS]


def write_warmup(model_dir: str, records: list[prediction_log_pb2.PredictionLog]) -> str:
    """Write ``assets.extra/tf_serving_warmup_requests`` into a SavedModel folder; returns its path."""
    path = os.path.join(model_dir, WARMUP_FILE)
    tf.io.gfile.makedirs(os.path.dirname(path))
    with tf.io.TFRecordWriter(path) as writer:
        for record in records:
            writer.write(record.SerializeToString())
    return path
