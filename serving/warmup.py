"""Replay a SavedModel's warmup requests when a version loads, as TF Serving does.

``<version>/assets.extra/tf_serving_warmup_requests`` is a TFRecord file of ``PredictionLog`` protos
(TF Serving's format; the pipeline's infra validator writes it from real evaluation examples).
Each request runs once through the same code as a real request: the signature functions are
traced and their memory allocated before the version answers anyone. At most 1,000 records; a
request that fails, or more records, fail the load (the version is reported END with the error).
"""

from __future__ import annotations

import os

import tensorflow as tf
from tensorflow_serving.apis import prediction_log_pb2

from common.contract import EXAMPLE_SIGNATURE, MAX_WARMUP_RECORDS, WARMUP_FILE
from serving import requests
from serving.model_store import LoadedVersion
from serving.tensors import TensorError, to_array


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
        except (requests.RequestError, TensorError) as err:
            raise WarmupError(f"warmup request {count + 1} of {path} failed: {err}") from None
        count += 1
    return count


def _replay(loaded: LoadedVersion, log: prediction_log_pb2.PredictionLog) -> None:
    kind = log.WhichOneof("log_type")
    if kind == "predict_log":
        request = log.predict_log.request
        signature = request.model_spec.signature_name or EXAMPLE_SIGNATURE
        requests.find_signature(loaded, signature, grpc_predict=True)
        specs = requests.signature_inputs(loaded, signature)
        inputs = {}
        for name, proto in request.inputs.items():
            if name in specs:
                requests.check_dtype(name, specs[name], proto.dtype)
            inputs[name] = to_array(proto)
        requests.check_inputs(specs, inputs, max_batch_size=None)
        requests.call_signature(loaded, signature, inputs)
    elif kind == "classify_log":
        request = log.classify_log.request
        requests.classify(
            loaded, request.model_spec.signature_name or EXAMPLE_SIGNATURE, requests.serialized_examples(request.input)
        )
    elif kind == "regress_log":
        request = log.regress_log.request
        requests.regress(
            loaded, request.model_spec.signature_name or EXAMPLE_SIGNATURE, requests.serialized_examples(request.input)
        )
    elif kind is not None:
        raise WarmupError(f"Unsupported log_type for warmup: {kind}")
