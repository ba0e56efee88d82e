"""``tensorflow.serving.PredictionService`` on an asyncio gRPC server: Predict, Classify, Regress, GetModelMetadata.

TF Serving's ``prediction_service_impl``: each method reads its request proto, asks the
:class:`serving.core.ServingCore` and writes the response proto. Errors become status codes in
:func:`serving.status.grpc_method`. MultiInference is UNIMPLEMENTED (the generated base class
answers it).
"""

from __future__ import annotations

import asyncio
import functools
import math
import time
from collections.abc import Mapping
from concurrent import futures
from typing import Any

import grpc
import numpy as np
from tensorflow_serving.apis import (
    classification_pb2,
    get_model_metadata_pb2,
    predict_pb2,
    prediction_service_pb2_grpc,
    regression_pb2,
)

from common.contract import EXAMPLE_SIGNATURE
from serving import signatures
from serving.core import ServingCore, classification_response, filter_outputs, regression_response
from serving.metrics import served
from serving.servable import LoadedVersion, ModelRef
from serving.status import grpc_method, invalid
from serving.tensors import encode_predict_response

DEFAULT_SIGNATURE = EXAMPLE_SIGNATURE


def model_ref(model_spec: Any) -> ModelRef:
    """The ModelRef of a gRPC ``ModelSpec``."""
    choice = model_spec.WhichOneof("version_choice")
    return ModelRef(
        model_spec.name,
        version=model_spec.version.value if choice == "version" else None,
        label=model_spec.version_label if choice == "version_label" else None,
    )


def _rows(arrays: Mapping[str, np.ndarray]) -> int:
    """The batch size of a request: the first dimension of its largest input (1 for scalars)."""
    return max((len(a) if a.ndim else 1 for a in arrays.values()), default=1) or 1


class PredictionService(prediction_service_pb2_grpc.PredictionServiceServicer):
    """``tensorflow.serving.PredictionService`` over :class:`ServingCore`, on an asyncio gRPC server.

    Checks and conversions run on the event loop (microseconds); model calls wait for a batch
    without holding a thread, or run as :meth:`_run_unbatched` decides.
    """

    SHARED_SECONDS = 0.05  # after two Predicts were seen at once, model calls go to the workers this long
    INLINE_MAX_SECONDS = 0.003  # a model call expected to take longer runs on the workers

    def __init__(self, core: ServingCore, executor: futures.Executor) -> None:
        self.core = core
        self.metrics = core.metrics
        self.executor = executor
        self._unbatched = 0  # Predicts in _run_unbatched
        self._shared_until = 0.0

    async def _off_loop(self, work: Any, *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self.executor, functools.partial(work, *args))

    async def _run_unbatched(
        self, loaded: LoadedVersion, signature_name: str, arrays: dict[str, np.ndarray]
    ) -> dict[str, np.ndarray]:
        """A model call without batching: on the event loop when it is short and no other Predict waits.

        On the loop the call skips two thread hand-overs (0.25-0.3 ms of a 2.5 ms batch-1 round trip
        on a 2-core machine), but the loop serves nothing else meanwhile (other Predicts, REST,
        status). So the loop takes only calls expected to take under ``INLINE_MAX_SECONDS``: the
        signature's last time per row, times the rows asked for (a signature not yet timed here runs
        on the workers); for a longer call the hand-over does not matter and holding the loop would.
        And only while no other Predict is here: once two are seen at once, calls go to the worker
        threads, side by side, for ``SHARED_SECONDS``. The ``sleep(0)`` first lets requests that
        arrived during a call on the loop show up; without it a backlog would look like one request at
        a time and keep the loop busy (measured: -30% at 8 clients).
        """
        self._unbatched += 1
        try:
            await asyncio.sleep(0)
            now = time.perf_counter()
            if self._unbatched > 1:
                self._shared_until = now + self.SHARED_SECONDS
            rows = _rows(arrays)
            expected = loaded.cache.get(("row_seconds", signature_name), math.inf) * rows
            if expected < self.INLINE_MAX_SECONDS and now >= self._shared_until:
                return self._timed_run(loaded, signature_name, arrays, rows)
            return await self._off_loop(self._timed_run, loaded, signature_name, arrays, rows)
        finally:
            self._unbatched -= 1

    def add_to_server(self, server: grpc.aio.Server) -> None:
        """Register the service, as the generated ``add_PredictionServiceServicer_to_server`` does, except Predict.

        Predict answers with the bytes :func:`encode_predict_response` writes (no response serializer):
        a handler registered first answers its method, so Predict is registered on its own, before the rest.
        """
        predict = grpc.unary_unary_rpc_method_handler(
            self.Predict, request_deserializer=predict_pb2.PredictRequest.FromString
        )
        server.add_generic_rpc_handlers(
            (grpc.method_handlers_generic_handler("tensorflow.serving.PredictionService", {"Predict": predict}),)
        )
        prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(self, server)

    def _timed_run(
        self, loaded: LoadedVersion, signature_name: str, arrays: dict[str, np.ndarray], rows: int
    ) -> dict[str, np.ndarray]:
        began = time.perf_counter()
        try:
            return self.core.run(loaded, signature_name, arrays, "Predict")
        finally:
            loaded.cache[("row_seconds", signature_name)] = (time.perf_counter() - began) / rows

    @grpc_method("Predict")
    async def Predict(self, request: predict_pb2.PredictRequest, _context: grpc.aio.ServicerContext) -> Any:
        """Run a signature on input tensors; the ``PredictResponse`` as its wire bytes."""
        signature_name = request.model_spec.signature_name or DEFAULT_SIGNATURE
        output_filter = list(request.output_filter)
        ref = model_ref(request.model_spec)
        loaded, arrays = self.core.prepare_predict(ref, signature_name, dict(request.inputs), output_filter)
        batched = self.core.batched(loaded, signature_name, arrays, "Predict", asyncio.get_running_loop())
        outputs = await batched if batched is not None else await self._run_unbatched(loaded, signature_name, arrays)
        answer = encode_predict_response(
            self.core.model_spec(loaded, signature_name), filter_outputs(outputs, output_filter)
        )
        served(loaded.version, ref.label)
        self.core.log(loaded, signature_name, "predict", request.SerializeToString, lambda: answer)
        return answer  # bytes: see add_to_server

    @grpc_method("Classify")
    async def Classify(
        self, request: classification_pb2.ClassificationRequest, _context: grpc.aio.ServicerContext
    ) -> Any:
        """Classify tf.Examples with a classification signature."""
        signature_name = request.model_spec.signature_name or DEFAULT_SIGNATURE
        serialized = signatures.serialized_examples(request.input)
        ref = model_ref(request.model_spec)
        loaded, classes, scores = await self._off_loop(self.core.classify, ref, signature_name, serialized)
        response = classification_response(self.core.model_spec(loaded, signature_name), classes, scores)
        served(loaded.version, ref.label)
        self.core.log(loaded, signature_name, "classify", request.SerializeToString, response.SerializeToString)
        return response

    @grpc_method("Regress")
    async def Regress(self, request: regression_pb2.RegressionRequest, _context: grpc.aio.ServicerContext) -> Any:
        """Regress tf.Examples with a regression signature."""
        signature_name = request.model_spec.signature_name or DEFAULT_SIGNATURE
        serialized = signatures.serialized_examples(request.input)
        ref = model_ref(request.model_spec)
        loaded, values = await self._off_loop(self.core.regress, ref, signature_name, serialized)
        response = regression_response(self.core.model_spec(loaded, signature_name), values)
        served(loaded.version, ref.label)
        self.core.log(loaded, signature_name, "regress", request.SerializeToString, response.SerializeToString)
        return response

    @grpc_method("")
    async def GetModelMetadata(
        self, request: get_model_metadata_pb2.GetModelMetadataRequest, _context: grpc.aio.ServicerContext
    ) -> Any:
        """The signature definitions of a model version (``metadata_field: "signature_def"``)."""
        if not request.metadata_field:
            raise invalid("GetModelMetadataRequest must specify at least one metadata_field")
        for field in request.metadata_field:
            if field != "signature_def":
                raise invalid(f"Metadata field {field} is not supported")
        return self.core.metadata(model_ref(request.model_spec))
