"""A development server that speaks TensorFlow Serving's gRPC and REST APIs.

It implements ``tensorflow.serving.PredictionService`` (Predict, Classify, Regress,
GetModelMetadata) and ``tensorflow.serving.ModelService`` (GetModelStatus,
HandleReloadConfigRequest) from the official ``tensorflow-serving-api`` protos and service
definitions, and TF Serving's REST API (``serving/rest.py``), over the same
``<root>/<model>/<version>/`` folders TF Serving reads, so any TF Serving client works unchanged
against it. It is not TF Serving: it runs the SavedModel through TensorFlow's Python runtime, and
MultiInference is UNIMPLEMENTED. Requests go through :class:`Servables` (``serving/requests.py``
has the checks and TF Serving's status codes); optional batching as ``--enable_batching``; request
counts and latencies for Prometheus. Every request is handled independently: a bad request gets
its error and the next one is served.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import logging
import math
import threading
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from concurrent import futures
from typing import Any, TypeVar

import grpc
import numpy as np
from google.protobuf import any_pb2
from tensorflow.core.framework import tensor_pb2
from tensorflow_serving.apis import (
    classification_pb2,
    get_model_metadata_pb2,
    get_model_status_pb2,
    model_management_pb2,
    model_pb2,
    model_service_pb2_grpc,
    predict_pb2,
    prediction_service_pb2_grpc,
    regression_pb2,
    status_pb2,
)

from common.contract import EXAMPLE_SIGNATURE
from serving import requests
from serving.batching import Batcher, BatchingOptions, batch_key
from serving.metrics import ServingMetrics
from serving.model_store import (
    AVAILABLE,
    END,
    LOADING,
    LoadedVersion,
    ModelStore,
    ServableNotFoundError,
    UnknownVersionLabelError,
    sources_from_config,
)
from serving.requests import ModelRef, RequestError, Timer
from serving.tensors import TensorError, encode_predict_response, proto_shape, to_array

log = logging.getLogger(__name__)
T = TypeVar("T")

DEFAULT_SIGNATURE = EXAMPLE_SIGNATURE
DEFAULT_MAX_MESSAGE_MB = 64
DEFAULT_MAX_BATCH_SIZE = 1000  # TF Serving's default max_batch_size


def _handle(api: str):  # noqa: ANN202 - decorator factory of servicer methods
    """Turn errors into gRPC status codes, count the request; the server goes on serving."""

    def decorate(method):  # noqa: ANN001, ANN202
        async def wrapper(self: Any, request: Any, context: grpc.aio.ServicerContext) -> Any:
            timer, status, model = Timer(), "OK", getattr(getattr(request, "model_spec", None), "name", "")
            try:
                return await method(self, request, context)
            except RequestError as exc:
                status = exc.code.name
                await context.abort(exc.code, exc.message)
            except ServableNotFoundError as exc:
                status = "NOT_FOUND"
                await context.abort(grpc.StatusCode.NOT_FOUND, str(exc))
            except UnknownVersionLabelError as exc:
                status = "INVALID_ARGUMENT"
                await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
            except TensorError as exc:
                status = "INVALID_ARGUMENT"
                await context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"tensor parsing error: {exc}")
            except (grpc.aio.AbortError, asyncio.CancelledError):
                raise  # context.abort's own exception; a cancelled call
            except Exception as exc:  # noqa: BLE001 - a bug must not take the server down
                status = "INTERNAL"
                log.exception("%s failed", method.__name__)
                await context.abort(grpc.StatusCode.INTERNAL, f"{type(exc).__name__}: {exc}")
            finally:
                if api and self.metrics is not None:
                    self.metrics.request(model, status, api, "GRPC", timer.micros())

        wrapper.__name__ = method.__name__
        wrapper.__doc__ = method.__doc__
        return wrapper

    return decorate


def model_ref(model_spec: Any) -> ModelRef:
    """The ModelRef of a gRPC ``ModelSpec``."""
    choice = model_spec.WhichOneof("version_choice")
    return ModelRef(
        model_spec.name,
        version=model_spec.version.value if choice == "version" else None,
        label=model_spec.version_label if choice == "version_label" else None,
    )


def _fill_spec(spec: Any, loaded: LoadedVersion, signature_name: str) -> None:
    spec.name = loaded.model_name
    spec.version.value = loaded.version
    spec.signature_name = signature_name


class Servables:
    """The requests both front ends serve (gRPC here, REST in ``serving/rest.py``), on one ModelStore.

    Args:
        store: the loaded model versions.
        max_batch_size: the largest batch one request may send (None: no limit).
        batcher: run compatible requests together (``--enable-batching``), or None.
        metrics: where requests are counted and timed, or None.
    """

    def __init__(
        self,
        store: ModelStore,
        max_batch_size: int | None = DEFAULT_MAX_BATCH_SIZE,
        batcher: Batcher | None = None,
        metrics: ServingMetrics | None = None,
    ) -> None:
        self.store = store
        self.max_batch_size = max_batch_size
        self.batcher = batcher
        self.metrics = metrics

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
        requests.find_signature(loaded, signature_name, grpc_predict)
        specs = requests.signature_inputs(loaded, signature_name)
        shapes: dict[str, Any] = {}
        for name, value in inputs.items():
            if isinstance(value, tensor_pb2.TensorProto) and name in specs:
                requests.check_dtype(name, specs[name], value.dtype)
            shapes[name] = _parsed(name, value, proto_shape)
        requests.check_inputs(specs, shapes, self.max_batch_size)
        requests.check_output_filter(loaded, signature_name, output_filter)
        return loaded, {
            name: _parsed(name, value, functools.partial(to_array, shape=shapes[name]))
            for name, value in inputs.items()
        }

    def predict(
        self,
        ref: ModelRef,
        signature_name: str,
        inputs: dict[str, Any],
        output_filter: Sequence[str] = (),
        grpc_predict: bool = True,
    ) -> tuple[dict[str, np.ndarray], LoadedVersion]:
        """Run a signature on this thread (or in a batch, waiting for it); returns (outputs, version)."""
        loaded, arrays = self.prepare_predict(ref, signature_name, inputs, output_filter, grpc_predict)
        batched = self.batched(loaded, signature_name, arrays, "Predict")
        outputs = batched.result() if batched else self.run(loaded, signature_name, arrays, "Predict")  # type: ignore[union-attr]
        return filter_outputs(outputs, output_filter), loaded

    def run(
        self, loaded: LoadedVersion, signature_name: str, inputs: Mapping[str, np.ndarray], api: str
    ) -> dict[str, np.ndarray]:
        """Call the signature now (on this thread), timing the model call."""
        timer = Timer()
        outputs = requests.call_signature(loaded, signature_name, inputs)
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
            specs = requests.signature_inputs(loaded, signature_name)
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
        timer = Timer()
        classes, scores = requests.classify(loaded, signature_name, serialized)
        if self.metrics is not None:
            self.metrics.runtime(loaded.model_name, "Classify", timer.micros())
        return loaded, classes, scores

    def regress(self, ref: ModelRef, signature_name: str, serialized: Sequence[bytes]) -> Any:
        """(loaded version, values) for serialized examples."""
        loaded = ref.resolve(self.store)
        timer = Timer()
        values = requests.regress(loaded, signature_name, serialized)
        if self.metrics is not None:
            self.metrics.runtime(loaded.model_name, "Regress", timer.micros())
        return loaded, values

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
            raise RequestError(grpc.StatusCode.INVALID_ARGUMENT, "Missing ModelSpec name")
        response = get_model_status_pb2.GetModelStatusResponse()
        for status in self.store.status(name, version):
            entry = response.model_version_status.add()
            entry.version = status.version
            entry.state = _STATES[status.state]
            entry.status.SetInParent()  # OK, as TF Serving reports a healthy version
            if status.error:
                entry.status.error_code = grpc.StatusCode.UNKNOWN.value[0]
                entry.status.error_message = status.error
        return response


def _parsed(name: str, value: Any, parse: Callable[[tensor_pb2.TensorProto], Any]) -> Any:
    """``parse(value)`` for a TensorProto (its errors as INVALID_ARGUMENT); an array as it is."""
    if not isinstance(value, tensor_pb2.TensorProto):
        return value
    try:
        return parse(value)
    except TensorError as err:
        raise RequestError(grpc.StatusCode.INVALID_ARGUMENT, f"tensor parsing error: {name}: {err}") from None


def _rows(arrays: Mapping[str, np.ndarray]) -> int:
    """The batch size of a request: the first dimension of its largest input (1 for scalars)."""
    return max((len(a) if a.ndim else 1 for a in arrays.values()), default=1) or 1


def filter_outputs(outputs: dict[str, np.ndarray], output_filter: Sequence[str]) -> dict[str, np.ndarray]:
    """The outputs a request's ``output_filter`` asks for (all when it is empty)."""
    return {alias: outputs[alias] for alias in output_filter} if output_filter else outputs


class PredictionService(prediction_service_pb2_grpc.PredictionServiceServicer):
    """``tensorflow.serving.PredictionService`` over :class:`Servables`, on an asyncio gRPC server.

    Checks and conversions run on the event loop (microseconds); model calls wait for a batch
    without holding a thread, or run as :meth:`_run_unbatched` decides.
    """

    SHARED_SECONDS = 0.05  # after two Predicts were seen at once, model calls go to the workers this long
    INLINE_MAX_SECONDS = 0.003  # a model call expected to take longer runs on the workers

    def __init__(self, servables: Servables, executor: futures.Executor) -> None:
        self.servables = servables
        self.metrics = servables.metrics
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
            return self.servables.run(loaded, signature_name, arrays, "Predict")
        finally:
            loaded.cache[("row_seconds", signature_name)] = (time.perf_counter() - began) / rows

    @_handle("Predict")
    async def Predict(self, request: predict_pb2.PredictRequest, _context: grpc.aio.ServicerContext) -> Any:
        """Run a signature on input tensors; the ``PredictResponse`` as its wire bytes."""
        signature_name = request.model_spec.signature_name or DEFAULT_SIGNATURE
        output_filter = list(request.output_filter)
        loaded, arrays = self.servables.prepare_predict(
            model_ref(request.model_spec), signature_name, dict(request.inputs), output_filter
        )
        batched = self.servables.batched(loaded, signature_name, arrays, "Predict", asyncio.get_running_loop())
        outputs = await batched if batched is not None else await self._run_unbatched(loaded, signature_name, arrays)
        spec = loaded.cache.get(("model_spec", signature_name))
        if spec is None:
            message = model_pb2.ModelSpec()
            _fill_spec(message, loaded, signature_name)
            spec = loaded.cache[("model_spec", signature_name)] = message.SerializeToString()
        return encode_predict_response(spec, filter_outputs(outputs, output_filter))  # bytes: see add_to_server

    @_handle("Classify")
    async def Classify(
        self, request: classification_pb2.ClassificationRequest, _context: grpc.aio.ServicerContext
    ) -> Any:
        """Classify tf.Examples with a classification signature."""
        signature_name = request.model_spec.signature_name or DEFAULT_SIGNATURE
        serialized = requests.serialized_examples(request.input)
        loaded, classes, scores = await self._off_loop(
            self.servables.classify, model_ref(request.model_spec), signature_name, serialized
        )
        response = classification_pb2.ClassificationResponse()
        _fill_spec(response.model_spec, loaded, signature_name)
        num_classes = (classes if classes is not None else scores).shape[1]
        for i in range(len(serialized)):
            result = response.result.classifications.add()
            for c in range(num_classes):
                entry = result.classes.add()
                if classes is not None:
                    entry.label = classes[i, c].decode()
                if scores is not None:
                    entry.score = float(scores[i, c])
        return response

    @_handle("Regress")
    async def Regress(self, request: regression_pb2.RegressionRequest, _context: grpc.aio.ServicerContext) -> Any:
        """Regress tf.Examples with a regression signature."""
        signature_name = request.model_spec.signature_name or DEFAULT_SIGNATURE
        serialized = requests.serialized_examples(request.input)
        loaded, values = await self._off_loop(
            self.servables.regress, model_ref(request.model_spec), signature_name, serialized
        )
        response = regression_pb2.RegressionResponse()
        _fill_spec(response.model_spec, loaded, signature_name)
        for value in values:
            response.result.regressions.add().value = float(value)
        return response

    @_handle("")
    async def GetModelMetadata(
        self, request: get_model_metadata_pb2.GetModelMetadataRequest, _context: grpc.aio.ServicerContext
    ) -> Any:
        """The signature definitions of a model version (``metadata_field: "signature_def"``)."""
        if not request.metadata_field:
            raise RequestError(
                grpc.StatusCode.INVALID_ARGUMENT, "GetModelMetadataRequest must specify at least one metadata_field"
            )
        for field in request.metadata_field:
            if field != "signature_def":
                raise RequestError(grpc.StatusCode.INVALID_ARGUMENT, f"Metadata field {field} is not supported")
        return self.servables.metadata(model_ref(request.model_spec))


_STATES = {
    LOADING: get_model_status_pb2.ModelVersionStatus.LOADING,
    AVAILABLE: get_model_status_pb2.ModelVersionStatus.AVAILABLE,
    END: get_model_status_pb2.ModelVersionStatus.END,
}


class ModelService(model_service_pb2_grpc.ModelServiceServicer):
    """``tensorflow.serving.ModelService``: version states and config reloads."""

    def __init__(self, servables: Servables) -> None:
        self.servables = servables
        self.metrics = None  # TF Serving counts only Predict, Classify and Regress on gRPC

    @_handle("")
    async def GetModelStatus(
        self, request: get_model_status_pb2.GetModelStatusRequest, _context: grpc.aio.ServicerContext
    ) -> Any:
        """State of every version of a model (or of one version)."""
        spec = request.model_spec
        version = spec.version.value if spec.WhichOneof("version_choice") == "version" else None
        return self.servables.status(spec.name, version)

    @_handle("")
    async def HandleReloadConfigRequest(
        self, request: model_management_pb2.ReloadConfigRequest, _context: grpc.aio.ServicerContext
    ) -> Any:
        """Replace the served models with the request's ``model_config_list``."""
        try:
            sources = sources_from_config(request.config)
        except ValueError as exc:
            raise RequestError(grpc.StatusCode.INVALID_ARGUMENT, str(exc)) from exc
        self.servables.store.set_sources(sources)
        return model_management_pb2.ReloadConfigResponse(status=status_pb2.StatusProto(error_code=0))


@dataclasses.dataclass(frozen=True)
class ServerOptions:
    """How the server listens and what it accepts.

    Defaults: loopback only, gRPC on 8500, no REST API, 64 MB messages, 8 worker threads, at most
    1,000 examples per request (TF Serving's default ``max_batch_size``), no batching, no TLS.
    """

    host: str = "127.0.0.1"
    port: int = 8500
    rest_api_port: int = 0  # 0: no REST API (`tfx-keras serve` defaults to 8501); -1: a free port
    max_message_mb: int = DEFAULT_MAX_MESSAGE_MB
    workers: int = 8
    max_batch_size: int = DEFAULT_MAX_BATCH_SIZE
    batching: BatchingOptions | None = None  # --enable-batching
    tls_cert: str | None = None  # PEM files; both or neither
    tls_key: str | None = None
    tls_client_ca: str | None = None  # if given, clients must present a certificate signed by it

    def validate(self) -> None:
        """Refuse bad values with a message that names the fix."""
        if not 0 <= self.port <= 65535:
            raise ValueError(f"port {self.port} is not in 0..65535 (0 picks a free port)")
        if not -1 <= self.rest_api_port <= 65535:
            raise ValueError(f"rest_api_port {self.rest_api_port} is not in 0..65535 (0 turns the REST API off)")
        if self.rest_api_port > 0 and self.rest_api_port == self.port:
            raise ValueError(f"the REST API port cannot be the gRPC port ({self.port}); use another --rest-api-port")
        if self.max_message_mb < 1:
            raise ValueError(f"max_message_mb must be >= 1, got {self.max_message_mb}")
        if self.workers < 1:
            raise ValueError(f"workers must be >= 1, got {self.workers}")
        if self.max_batch_size < 1:
            raise ValueError(f"max_batch_size must be >= 1, got {self.max_batch_size}")
        if self.batching is not None:
            self.batching.validate()
        if bool(self.tls_cert) != bool(self.tls_key):
            raise ValueError("TLS needs both a certificate (--tls-cert) and its private key (--tls-key)")
        if self.tls_client_ca and not self.tls_cert:
            raise ValueError("--tls-client-ca needs --tls-cert and --tls-key")


class PortInUseError(OSError):
    """The port is taken: the server refuses to start rather than share it."""


class ServingServer:
    """The gRPC server (and the REST API on its own port) over one ``ModelStore``. Use as a context manager.

    Both front ends run on one asyncio event loop, on a thread of its own (``grpc.aio`` and tornado);
    model calls run on ``workers`` threads, so requests in flight never hold a thread while they
    wait for a batch. A port that is in use is refused (gRPC's default ``SO_REUSEPORT`` is turned
    off), so a second server cannot silently share a port with the first.
    """

    def __init__(self, store: ModelStore, options: ServerOptions = ServerOptions()) -> None:
        options.validate()
        self.store = store
        self.options = options
        self.metrics = ServingMetrics()
        self.batcher = Batcher(options.batching) if options.batching else None
        self.servables = Servables(store, options.max_batch_size, self.batcher, self.metrics)
        self.executor = futures.ThreadPoolExecutor(max_workers=options.workers, thread_name_prefix="serving")
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="serving-loop", daemon=True)
        self._thread.start()
        self.rest = None
        try:
            self._server, self.port = self._on_loop(self._bind())
            if options.rest_api_port:
                from serving.rest import RestServer

                port = max(options.rest_api_port, 0)  # -1: any free port (tests, infra validation)
                self.rest = RestServer(self.servables, options.host, port, self.executor, self._loop)
        except BaseException:
            self._close()
            raise

    def _on_loop(self, coroutine: Awaitable[T]) -> T:
        """Run a coroutine on the server's event loop and wait for its result."""
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result()  # type: ignore[arg-type]

    async def _bind(self) -> tuple[grpc.aio.Server, int]:
        options = self.options
        limit = options.max_message_mb * 1024 * 1024
        server = grpc.aio.server(
            options=[
                ("grpc.max_receive_message_length", limit),
                ("grpc.max_send_message_length", limit),
                ("grpc.so_reuseport", 0),
            ],
        )
        PredictionService(self.servables, self.executor).add_to_server(server)
        model_service_pb2_grpc.add_ModelServiceServicer_to_server(ModelService(self.servables), server)
        address = f"{options.host}:{options.port}"
        try:
            if options.tls_cert:
                credentials = grpc.ssl_server_credentials(
                    [(_read(options.tls_key), _read(options.tls_cert))],
                    root_certificates=_read(options.tls_client_ca) if options.tls_client_ca else None,
                    require_client_auth=bool(options.tls_client_ca),
                )
                port = server.add_secure_port(address, credentials)
            else:
                port = server.add_insecure_port(address)
        except RuntimeError:  # grpcio raises when it cannot bind
            port = 0
        if port == 0:
            raise PortInUseError(
                f"could not listen on {address}: the port is in use (another server?) or the address is not "
                "this machine's; choose another --port"
            )
        return server, port

    @property
    def target(self) -> str:
        """``host:port`` of the gRPC API."""
        return f"{self.options.host}:{self.port}"

    @property
    def rest_url(self) -> str | None:
        """``http://host:port`` of the REST API (None when it is off)."""
        return self.rest.url if self.rest else None

    def start(self) -> ServingServer:
        """Load the models (replaying their warmup requests), start polling and serving."""
        self.store.start()
        self._on_loop(self._server.start())
        if self.rest:
            self.rest.start()
        return self

    def stop(self, grace: float = 2.0) -> None:
        """Finish in-flight requests (up to ``grace`` seconds), then stop."""
        if self.rest:
            self.rest.stop()
        self._on_loop(self._server.stop(grace))
        if self.batcher:
            self.batcher.stop()
        self.store.stop()
        self._close()

    def _close(self) -> None:
        self.executor.shutdown(wait=False)
        if self._loop.is_running():
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=10)
        if not self._loop.is_closed():
            self._loop.close()

    def wait(self) -> None:
        """Block until the server stops."""
        self._thread.join()

    def __enter__(self) -> ServingServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _read(path: str | None) -> bytes:
    with open(path, "rb") as f:  # type: ignore[arg-type]
        return f.read()


def describe_models(store: ModelStore) -> Sequence[str]:
    """One line per model: served versions and signatures (what ``serve`` prints at start)."""
    lines = []
    for name in store.model_names():
        try:
            statuses = store.status(name)
        except ServableNotFoundError:
            lines.append(f"{name}: no versions on disk yet")
            continue
        available = [s.version for s in statuses if s.state == AVAILABLE]
        failed = [f"{s.version} ({s.error})" for s in statuses if s.error]
        line = f"{name}: serving version(s) {available or 'none'}"
        if available:
            line += f", signatures {sorted(store.get(name, version=max(available)).signature_defs)}"
        if failed:
            line += f"; failed to load: {'; '.join(failed)}"
        lines.append(line)
    return lines
