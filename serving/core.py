"""What both APIs do with a request, whatever its transport: the core of the gRPC and REST servers.

A request names a model version (:class:`serving.servable.ModelRef`); the core resolves it in the
:class:`serving.model_store.ModelStore`, checks the inputs against the signature
(:mod:`serving.signatures`), runs the signature on this thread or in a batch
(:mod:`serving.batching`), and times the model call. Classify, Regress, GetModelMetadata and
GetModelStatus answer with TF Serving's protos; the REST handler turns them into JSON. Checks cost
microseconds and allocate nothing before they pass; only the model call is slow.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable, Mapping, Sequence
from concurrent import futures
from typing import Any

import grpc
import numpy as np
from google.protobuf import any_pb2
from tensorflow.core.framework import tensor_pb2
from tensorflow_serving.apis import (
    classification_pb2,
    get_model_metadata_pb2,
    get_model_status_pb2,
    model_pb2,
    regression_pb2,
)

from common.contract import EXAMPLES_INPUT
from serving import signatures
from serving.batching import Batcher, batch_key
from serving.image_headers import DEFAULT_MAX_IMAGE_PIXELS, check_examples, check_images
from serving.metrics import ServingMetrics, Timer
from serving.model_store import AVAILABLE, END, LOADING, ModelStore
from serving.request_log import RequestLogger
from serving.servable import LoadedVersion, ModelRef
from serving.status import for_client, invalid
from serving.tensors import TensorError, proto_shape, to_array

DEFAULT_MAX_BATCH_SIZE = 1000  # TF Serving's default max_batch_size

_STATES = {
    LOADING: get_model_status_pb2.ModelVersionStatus.LOADING,
    AVAILABLE: get_model_status_pb2.ModelVersionStatus.AVAILABLE,
    END: get_model_status_pb2.ModelVersionStatus.END,
}


class ServingCore:
    """What both APIs do with a request, on one ModelStore: find the version, check, run, describe.

    Args:
        store: the loaded model versions.
        max_batch_size: the largest batch one request may send (None: no limit).
        batcher: run compatible requests together (``--enable-batching``), or None.
        metrics: where requests are counted and timed, or None.
        max_image_pixels: an encoded image in a request (raw, or in a tf.Example) claiming more pixels
            is refused from its header, before the model decodes it.
        request_log: where answered requests are sampled and logged (``logging_config``), or None.
    """

    def __init__(
        self,
        store: ModelStore,
        max_batch_size: int | None = DEFAULT_MAX_BATCH_SIZE,
        batcher: Batcher | None = None,
        metrics: ServingMetrics | None = None,
        max_image_pixels: int = DEFAULT_MAX_IMAGE_PIXELS,
        request_log: RequestLogger | None = None,
    ) -> None:
        self.store = store
        self.max_batch_size = max_batch_size
        self.batcher = batcher
        self.metrics = metrics
        self.max_image_pixels = max_image_pixels
        self.request_log = request_log

    def log(
        self,
        loaded: LoadedVersion,
        signature_name: str,
        kind: str,
        request: Callable[[], bytes],
        response: Callable[[], bytes],
    ) -> None:
        """Sample an answered request into the request log (a random draw; the rest on the log's thread)."""
        logger = self.request_log
        if logger is not None and logger.sample(loaded.model_name) is not None:
            logger.offer(loaded.model_name, loaded.version, signature_name, kind, request, response)

    def prepare_predict(
        self,
        ref: ModelRef,
        signature_name: str,
        inputs: dict[str, Any],
        output_filter: Sequence[str] = (),
        grpc_predict: bool = True,
    ) -> tuple[LoadedVersion, dict[str, np.ndarray]]:
        """Check a Predict request; returns the version and the input arrays (cheap: no model call).

        ``inputs`` are arrays, or TensorProtos, read only after the checks (no allocation before).
        """
        loaded = ref.resolve(self.store)
        signatures.find_signature(loaded, signature_name, grpc_predict)
        specs = signatures.signature_inputs(loaded, signature_name)
        shapes: dict[str, Any] = {}
        for name, value in inputs.items():
            if isinstance(value, tensor_pb2.TensorProto) and name in specs:
                signatures.check_dtype(name, specs[name], value.dtype)
            shapes[name] = _parsed(name, value, proto_shape)
        signatures.check_inputs(specs, shapes, self.max_batch_size)
        signatures.check_output_filter(loaded, signature_name, output_filter)
        arrays = {
            name: _parsed(name, value, functools.partial(to_array, shape=shapes[name]))
            for name, value in inputs.items()
        }
        for name, array in arrays.items():
            if array.dtype == object:
                values = array.ravel()
                if name == EXAMPLES_INPUT:
                    check_examples(values, self.max_image_pixels)
                else:
                    check_images(values, self.max_image_pixels, f"input '{name}'")
        return loaded, arrays

    def run(
        self, loaded: LoadedVersion, signature_name: str, inputs: Mapping[str, np.ndarray], api: str
    ) -> dict[str, np.ndarray]:
        """Call the signature now (on this thread), timing the model call."""
        timer = Timer()
        outputs = signatures.call_signature(loaded, signature_name, inputs)
        if self.metrics is not None:
            self.metrics.runtime(loaded.model_name, api, timer.micros())
        return outputs

    def batched(
        self,
        loaded: LoadedVersion,
        signature_name: str,
        inputs: dict[str, np.ndarray],
        api: str,
        loop: asyncio.AbstractEventLoop | None = None,
    ) -> futures.Future | asyncio.Future | None:
        """Queue the call for batching (the outputs' future), or None when batching is off or does not apply.

        From an event loop's thread, pass the loop: the future is then an asyncio future to await.
        """
        if self.batcher is None:
            return None
        run = loaded.cache.get(("batched_run", signature_name, api))
        if run is None:  # once per version and signature: can it be batched, and the call to make
            specs = signatures.signature_inputs(loaded, signature_name)
            batchable = all(s.shape and s.shape[0] is None for s in specs.values())
            run = functools.partial(self.run, loaded, signature_name, api=api) if batchable else False
            loaded.cache[("batched_run", signature_name, api)] = run
        if run is False:
            return None
        key = batch_key(loaded.model_name, loaded.version, signature_name, inputs)
        return self.batcher.submit(key, inputs, run, loop)

    def classify(self, ref: ModelRef, signature_name: str, serialized: Sequence[bytes]) -> Any:
        """(loaded version, classes, scores) for serialized examples."""
        loaded = ref.resolve(self.store)
        check_examples(serialized, self.max_image_pixels)
        timer = Timer()
        classes, scores = signatures.classify(loaded, signature_name, serialized)
        if self.metrics is not None:
            self.metrics.runtime(loaded.model_name, "Classify", timer.micros())
        return loaded, classes, scores

    def regress(self, ref: ModelRef, signature_name: str, serialized: Sequence[bytes]) -> Any:
        """(loaded version, values) for serialized examples."""
        loaded = ref.resolve(self.store)
        check_examples(serialized, self.max_image_pixels)
        timer = Timer()
        values = signatures.regress(loaded, signature_name, serialized)
        if self.metrics is not None:
            self.metrics.runtime(loaded.model_name, "Regress", timer.micros())
        return loaded, values

    def model_spec(self, loaded: LoadedVersion, signature_name: str) -> bytes:
        """The serialized ``ModelSpec`` of an answer (name, version, signature), built once per version."""
        spec = loaded.cache.get(("model_spec", signature_name))
        if spec is None:
            message = model_pb2.ModelSpec(name=loaded.model_name, signature_name=signature_name)
            message.version.value = loaded.version
            spec = loaded.cache[("model_spec", signature_name)] = message.SerializeToString()
        return spec

    def metadata(self, ref: ModelRef) -> get_model_metadata_pb2.GetModelMetadataResponse:
        """The signature definitions of a model version (``metadata_field: "signature_def"``)."""
        loaded = ref.resolve(self.store)
        response = get_model_metadata_pb2.GetModelMetadataResponse()
        response.model_spec.name = loaded.model_name
        response.model_spec.version.value = loaded.version
        signature_map = get_model_metadata_pb2.SignatureDefMap()
        for name, signature_def in loaded.signature_defs.items():
            signature_map.signature_def[name].CopyFrom(signature_def)
        packed = any_pb2.Any()
        packed.Pack(signature_map)
        response.metadata["signature_def"].CopyFrom(packed)
        return response

    def status(self, name: str, version: int | None) -> get_model_status_pb2.GetModelStatusResponse:
        """State of every version of a model (or of one version), newest first."""
        if not name:
            raise invalid("Missing ModelSpec name")
        response = get_model_status_pb2.GetModelStatusResponse()
        for status in self.store.status(name, version):
            entry = response.model_version_status.add()
            entry.version = status.version
            entry.state = _STATES[status.state]
            entry.status.SetInParent()  # OK, as TF Serving reports a healthy version
            if status.error:
                entry.status.error_code = grpc.StatusCode.UNKNOWN.value[0]
                entry.status.error_message = for_client(status.error)  # the log has the path
        return response


def _parsed(name: str, value: Any, parse: Callable[[tensor_pb2.TensorProto], Any]) -> Any:
    """``parse(value)`` for a TensorProto (its errors as INVALID_ARGUMENT); an array as it is."""
    if not isinstance(value, tensor_pb2.TensorProto):
        return value
    try:
        return parse(value)
    except TensorError as err:
        raise invalid(f"tensor parsing error: {name}: {err}") from None


def filter_outputs(outputs: dict[str, np.ndarray], output_filter: Sequence[str]) -> dict[str, np.ndarray]:
    """The outputs a request's ``output_filter`` asks for (all when it is empty)."""
    return {alias: outputs[alias] for alias in output_filter} if output_filter else outputs


def classification_response(
    model_spec: bytes, classes: np.ndarray | None, scores: np.ndarray | None
) -> classification_pb2.ClassificationResponse:
    """TF Serving's ``ClassificationResponse`` of a Classify call's classes and scores."""
    response = classification_pb2.ClassificationResponse()
    response.model_spec.ParseFromString(model_spec)
    num_rows, num_classes = (classes if classes is not None else scores).shape
    for i in range(num_rows):
        result = response.result.classifications.add()
        for c in range(num_classes):
            entry = result.classes.add()
            if classes is not None:
                entry.label = classes[i, c].decode()
            if scores is not None:
                entry.score = float(scores[i, c])
    return response


def regression_response(model_spec: bytes, values: np.ndarray) -> regression_pb2.RegressionResponse:
    """TF Serving's ``RegressionResponse`` of a Regress call's values."""
    response = regression_pb2.RegressionResponse()
    response.model_spec.ParseFromString(model_spec)
    for value in values:
        response.result.regressions.add().value = float(value)
    return response
