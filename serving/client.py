"""A Python client for TensorFlow Serving's gRPC API (the real server or ``tfx-keras serve``).

``ServingClient`` speaks the generic API: tensors in, tensors out, with timeouts, retries on
UNAVAILABLE only (the server is starting or restarting; any other error is the request's fault
and retrying would not help), and ``wait_until_ready``. ``AsyncServingClient`` is the same for
asyncio code (a web service awaiting predictions, a load generator): many requests in flight on
one thread, none holding a thread while it waits. ``serving/rest_client.py`` is the same client
over the REST API, and ``serving/codec.py`` builds requests from natural inputs on top of either.

Long because the sync and async gRPC clients share retries, deadlines and TLS; each is a thin layer over the stub.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

import grpc
import numpy as np
import tensorflow as tf
from tensorflow_serving.apis import (
    classification_pb2,
    get_model_metadata_pb2,
    get_model_status_pb2,
    model_service_pb2_grpc,
    predict_pb2,
    prediction_service_pb2_grpc,
    regression_pb2,
)

from serving.tensors import to_array, to_proto

T = TypeVar("T")
AVAILABLE = get_model_status_pb2.ModelVersionStatus.AVAILABLE


def _fill_spec(spec: Any, model: str, signature: str | None, version: int | None, label: str | None) -> None:
    spec.name = model
    if signature:
        spec.signature_name = signature
    if version is not None and label:
        raise ValueError("give a version or a version label, not both")
    if version is not None:
        spec.version.value = version
    elif label:
        spec.version_label = label


def predict_request(
    model: str,
    inputs: Mapping[str, Any],
    signature: str = "serving_default",
    version: int | None = None,
    label: str | None = None,
    output_filter: Sequence[str] = (),
) -> predict_pb2.PredictRequest:
    """A ``PredictRequest``: each input (array-like) as a TensorProto, numbers as raw bytes."""
    request = predict_pb2.PredictRequest()
    _fill_spec(request.model_spec, model, signature, version, label)
    for name, value in inputs.items():
        to_proto(value, out=request.inputs[name])
    request.output_filter.extend(output_filter)
    return request


def predict_result(response: predict_pb2.PredictResponse) -> tuple[dict[str, np.ndarray], int]:
    """(outputs as arrays, the version that answered) of a ``PredictResponse``."""
    return {name: to_array(proto) for name, proto in response.outputs.items()}, response.model_spec.version.value


def _retry(error: grpc.RpcError, attempt: int, retries: int) -> bool:
    """Retry UNAVAILABLE only (the server is starting or restarting), while attempts are left."""
    return error.code() == grpc.StatusCode.UNAVAILABLE and attempt < retries


class ServingError(RuntimeError):
    """A request the server refused or could not answer; ``code`` is the gRPC status code."""

    def __init__(self, code: grpc.StatusCode, details: str, target: str) -> None:
        hint = {
            grpc.StatusCode.UNAVAILABLE: f" (is a server running on {target}? start one with `tfx-keras serve`)",
            grpc.StatusCode.NOT_FOUND: " (is the model pushed under the server's root, and its name right?)",
            grpc.StatusCode.DEADLINE_EXCEEDED: " (raise the timeout, or send smaller batches)",
        }.get(code, "")
        super().__init__(f"{code.name}: {details}{hint}")
        self.code = code
        self.details = details


def ready_version(states: Mapping[int, str], version: int | None) -> int | None:
    """The newest AVAILABLE version (or ``version`` if it is AVAILABLE), or None."""
    ready = [v for v, s in states.items() if s == "AVAILABLE" and (version is None or v == version)]
    return max(ready) if ready else None


class _Readiness:
    """One ``wait_until_ready``: what each status answer means, and the error when time is up."""

    PAUSE = 0.2  # seconds between status requests

    def __init__(self, target: str, model: str, timeout: float, version: int | None) -> None:
        self.target, self.model, self.timeout, self.version = target, model, timeout, version
        self.deadline = time.monotonic() + timeout
        self.last = "no answer"

    def waiting(self) -> bool:
        """Time is left."""
        return time.monotonic() < self.deadline

    def ready(self, answer: dict[int, str] | ServingError) -> int | None:
        """The ready version from a status request's answer (or error), or None to ask again."""
        if isinstance(answer, ServingError):
            if answer.code not in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.NOT_FOUND):
                raise answer
            self.last = str(answer)
            return None
        self.last = f"versions {answer}"
        return ready_version(answer, self.version)

    def error(self) -> TimeoutError:
        """What to raise when time is up."""
        return TimeoutError(
            f"model {self.model!r} was not ready on {self.target} within {self.timeout:.0f} s: {self.last}"
        )


class WaitsUntilReady:
    """``wait_until_ready`` for a client with ``status(model)`` and ``target`` (the gRPC and the REST client)."""

    target: str

    def status(self, model: str) -> dict[int, str]:
        """Version -> state name; the client implements it."""
        raise NotImplementedError

    def wait_until_ready(self, model: str, timeout: float = 60.0, version: int | None = None) -> int:
        """Block until a version of ``model`` (or ``version``) is AVAILABLE; returns its number."""
        wait = _Readiness(self.target, model, timeout, version)
        while wait.waiting():
            try:
                answer: dict[int, str] | ServingError = self.status(model)
            except ServingError as exc:
                answer = exc
            if (ready := wait.ready(answer)) is not None:
                return ready
            time.sleep(wait.PAUSE)
        raise wait.error()


class _GrpcClient:
    """What both gRPC clients hold: the settings, one channel and the two service stubs (arguments: ServingClient's)."""

    _grpc: Any = grpc  # the module whose channels it opens: grpc, or grpc.aio

    def __init__(
        self,
        target: str = "127.0.0.1:8500",
        *,
        timeout: float = 10.0,
        retries: int = 3,
        backoff: float = 0.2,
        root_certificates: bytes | None = None,
        client_cert: tuple[bytes, bytes] | None = None,
        max_message_mb: int = 64,
    ) -> None:
        self.target = target
        self.timeout = timeout
        self.retries = retries
        self.backoff = backoff
        limit = max_message_mb * 1024 * 1024
        options = [("grpc.max_receive_message_length", limit), ("grpc.max_send_message_length", limit)]
        if root_certificates is not None:
            key, cert = client_cert if client_cert else (None, None)
            credentials = grpc.ssl_channel_credentials(root_certificates, key, cert)
            self._channel = self._grpc.secure_channel(target, credentials, options=options)
        else:
            self._channel = self._grpc.insecure_channel(target, options=options)
        self.predictions = prediction_service_pb2_grpc.PredictionServiceStub(self._channel)
        self.models = model_service_pb2_grpc.ModelServiceStub(self._channel)


class ServingClient(_GrpcClient, WaitsUntilReady):
    """A client of one server.

    Args:
        target: ``host:port`` of the gRPC endpoint (TF Serving's default port is 8500).
        timeout: seconds per call.
        retries: extra attempts after UNAVAILABLE, with exponential backoff from ``backoff``.
        root_certificates: PEM CA certificate for TLS (None: plaintext).
        client_cert: ``(key PEM, certificate PEM)`` if the server requires client certificates.
        max_message_mb: the largest message sent or received.
    """

    def close(self) -> None:
        """Close the channel."""
        self._channel.close()

    def __enter__(self) -> ServingClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- plumbing ----------------------------------------------------------------------------
    def _call(self, method: Callable[..., T], request: Any, timeout: float | None = None) -> T:
        delay = self.backoff
        for attempt in range(self.retries + 1):
            try:
                return method(request, timeout=timeout or self.timeout)
            except grpc.RpcError as exc:
                if _retry(exc, attempt, self.retries):
                    time.sleep(delay)
                    delay *= 2
                    continue
                raise ServingError(exc.code(), exc.details() or "", self.target) from None
        raise AssertionError("unreachable")

    # -- API ---------------------------------------------------------------------------------
    def predict(
        self,
        model: str,
        inputs: Mapping[str, Any],
        *,
        signature: str = "serving_default",
        version: int | None = None,
        label: str | None = None,
        output_filter: Sequence[str] = (),
    ) -> tuple[dict[str, np.ndarray], int]:
        """Run ``signature`` on ``inputs`` (name -> array-like); returns (outputs, model version)."""
        request = predict_request(model, inputs, signature, version, label, output_filter)
        return predict_result(self._call(self.predictions.Predict, request))

    def classify(
        self, model: str, examples: Sequence[tf.train.Example], *, signature: str = "classification"
    ) -> list[list[tuple[str, float]]]:
        """Classify examples; per example, ``(label, score)`` for every class."""
        request = classification_pb2.ClassificationRequest()
        _fill_spec(request.model_spec, model, signature, None, None)
        request.input.example_list.examples.extend(examples)
        response = self._call(self.predictions.Classify, request)
        return [[(c.label, c.score) for c in r.classes] for r in response.result.classifications]

    def regress(
        self, model: str, examples: Sequence[tf.train.Example], *, signature: str = "regression"
    ) -> list[float]:
        """One regression value per example."""
        request = regression_pb2.RegressionRequest()
        _fill_spec(request.model_spec, model, signature, None, None)
        request.input.example_list.examples.extend(examples)
        response = self._call(self.predictions.Regress, request)
        return [r.value for r in response.result.regressions]

    def signatures(self, model: str, version: int | None = None) -> dict[str, Any]:
        """The model's ``SignatureDef`` protos, by name (GetModelMetadata)."""
        request = get_model_metadata_pb2.GetModelMetadataRequest(metadata_field=["signature_def"])
        _fill_spec(request.model_spec, model, None, version, None)
        response = self._call(self.predictions.GetModelMetadata, request)
        signature_map = get_model_metadata_pb2.SignatureDefMap()
        response.metadata["signature_def"].Unpack(signature_map)
        return dict(signature_map.signature_def)

    def status(self, model: str) -> dict[int, str]:
        """Version -> state name (AVAILABLE, LOADING, END ...)."""
        request = get_model_status_pb2.GetModelStatusRequest()
        request.model_spec.name = model
        response = self._call(self.models.GetModelStatus, request)
        names = get_model_status_pb2.ModelVersionStatus.State.Name
        return {s.version: names(s.state) for s in response.model_version_status}


class AsyncServingClient(_GrpcClient):
    """:class:`ServingClient` for asyncio: ``predict``, ``status`` and ``wait_until_ready`` as coroutines.

    One channel carries any number of concurrent requests. Make it on the event loop that uses it
    (``grpc.aio`` binds a channel to the current loop), as
    ``async with AsyncServingClient(target) as client: outputs, version = await client.predict(...)``.
    Same arguments, timeouts, retries (UNAVAILABLE only) and errors (:class:`ServingError`) as
    :class:`ServingClient`.
    """

    _grpc = grpc.aio

    async def close(self) -> None:
        """Close the channel (requests in flight are cancelled)."""
        await self._channel.close()

    async def __aenter__(self) -> AsyncServingClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def _call(self, method: Callable[..., Any], request: Any) -> Any:
        delay = self.backoff
        for attempt in range(self.retries + 1):
            try:
                return await method(request, timeout=self.timeout)
            except grpc.RpcError as exc:
                if _retry(exc, attempt, self.retries):
                    await asyncio.sleep(delay)
                    delay *= 2
                    continue
                raise ServingError(exc.code(), exc.details() or "", self.target) from None
        raise AssertionError("unreachable")

    async def predict(
        self,
        model: str,
        inputs: Mapping[str, Any],
        *,
        signature: str = "serving_default",
        version: int | None = None,
        label: str | None = None,
        output_filter: Sequence[str] = (),
    ) -> tuple[dict[str, np.ndarray], int]:
        """Run ``signature`` on ``inputs`` (name -> array-like); returns (outputs, model version)."""
        request = predict_request(model, inputs, signature, version, label, output_filter)
        return predict_result(await self._call(self.predictions.Predict, request))

    async def status(self, model: str) -> dict[int, str]:
        """Version -> state name (AVAILABLE, LOADING, END ...)."""
        request = get_model_status_pb2.GetModelStatusRequest()
        request.model_spec.name = model
        response = await self._call(self.models.GetModelStatus, request)
        names = get_model_status_pb2.ModelVersionStatus.State.Name
        return {s.version: names(s.state) for s in response.model_version_status}

    async def wait_until_ready(self, model: str, timeout: float = 60.0, version: int | None = None) -> int:
        """Wait until a version of ``model`` (or ``version``) is AVAILABLE; returns its number."""
        wait = _Readiness(self.target, model, timeout, version)
        while wait.waiting():
            try:
                answer: dict[int, str] | ServingError = await self.status(model)
            except ServingError as exc:
                answer = exc
            if (ready := wait.ready(answer)) is not None:
                return ready
            await asyncio.sleep(wait.PAUSE)
        raise wait.error()
