"""A development server that speaks TensorFlow Serving's gRPC and REST APIs: its options and its lifecycle.

It serves the ``<root>/<model>/<version>/`` folders TF Serving reads, with TF Serving's services
from the official ``tensorflow-serving-api`` protos, so any TF Serving client works unchanged
against it. It is not TF Serving: it runs the SavedModel through TensorFlow's Python runtime.

The parts, as TF Serving splits them: the versions on disk and their loading
(:mod:`serving.model_store`), what both APIs do with a request (:mod:`serving.core`), the gRPC
services (:mod:`serving.prediction_service`, :mod:`serving.model_service`), the REST handler and its
JSON (:mod:`serving.rest_handler`, :mod:`serving.json_tensor`), errors to status codes
(:mod:`serving.status`), batching (:mod:`serving.batching`) and Prometheus metrics
(:mod:`serving.metrics`), the REST port (:mod:`serving.rest_server`). This module binds the ports
and runs both APIs on one event loop.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable, Sequence
from concurrent import futures
from typing import Any, TypeVar

import grpc
from grpc_health.v1 import _async as health_async
from grpc_health.v1 import health_pb2, health_pb2_grpc
from pydantic import Field, model_validator
from tensorflow_serving.apis import model_service_pb2_grpc

from common.settings import Settings
from serving.batching import Batcher, BatchingOptions
from serving.core import DEFAULT_MAX_BATCH_SIZE, ServingCore
from serving.image_headers import DEFAULT_MAX_IMAGE_PIXELS
from serving.metrics import ServingMetrics
from serving.model_service import ModelService
from serving.model_store import AVAILABLE, ModelStore
from serving.prediction_service import PredictionService
from serving.request_log import RequestLogger
from serving.rest_server import RestServer
from serving.status import ServableNotFoundError
from serving.tls import server_credentials

T = TypeVar("T")

DEFAULT_MAX_MESSAGE_MB = 64
HEALTH_POLL_SECONDS = 0.2  # how soon grpc.health.v1 follows a model becoming (un)available
SERVING, NOT_SERVING = health_pb2.HealthCheckResponse.SERVING, health_pb2.HealthCheckResponse.NOT_SERVING


class ServerOptions(Settings):
    """How the server listens and what it accepts.

    Defaults: loopback only, gRPC on 8500, no REST API, 64 MB messages, 8 worker threads, at most
    1,000 examples per request (TF Serving's default ``max_batch_size``), no batching, no TLS.
    """

    host: str = "127.0.0.1"
    port: int = Field(8500, ge=0, le=65535)  # 0: a free port
    rest_api_port: int = Field(0, ge=-1, le=65535)  # 0: no REST API (`tfx-keras serve` uses 8501); -1: a free port
    max_message_mb: int = Field(DEFAULT_MAX_MESSAGE_MB, ge=1)
    workers: int = Field(8, ge=1)
    max_batch_size: int = Field(DEFAULT_MAX_BATCH_SIZE, ge=1)
    max_image_pixels: int = Field(DEFAULT_MAX_IMAGE_PIXELS, ge=1)  # an encoded image claiming more: refused unread
    batching: BatchingOptions | None = None  # --enable-batching
    tls_cert: str | None = None  # PEM files; both or neither
    tls_key: str | None = None
    tls_client_ca: str | None = None  # if given, clients must present a certificate signed by it
    # ModelService.HandleReloadConfigRequest: TF Serving accepts it from any client; here it is off
    # unless asked for, since it changes which folders are served.
    allow_reload_config: bool = False
    # REST connections: one idle (or sending its body) longer than this is closed; at most this many open
    # at once (a slow-loris client cannot hold every file descriptor).
    rest_idle_seconds: float = Field(60.0, gt=0)
    rest_max_connections: int = Field(512, ge=1)
    # Request logging (a model's logging_config): a file is closed at this size or age; the oldest files of a
    # model are deleted beyond the total; sampled requests beyond the queue are dropped (and counted).
    request_log_file_mb: float = Field(64.0, gt=0)
    request_log_max_mb: float = Field(1024.0, gt=0)
    request_log_rotate_seconds: float = Field(60.0, gt=0)
    request_log_queue: int = Field(10_000, ge=1)

    @model_validator(mode="after")
    def _consistent(self) -> ServerOptions:
        if self.rest_api_port > 0 and self.rest_api_port == self.port:
            raise ValueError(f"the REST API port cannot be the gRPC port ({self.port}); use another --rest-api-port")
        if bool(self.tls_cert) != bool(self.tls_key):
            raise ValueError("TLS needs both a certificate (--tls-cert) and its private key (--tls-key)")
        if self.tls_client_ca and not self.tls_cert:
            raise ValueError("--tls-client-ca needs --tls-cert and --tls-key")
        if self.request_log_max_mb < self.request_log_file_mb:
            raise ValueError(
                f"--request-log-max-mb ({self.request_log_max_mb}) must be at least --request-log-file-mb "
                f"({self.request_log_file_mb}): the disk bound holds whole files"
            )
        return self


class _Health(health_async.HealthServicer):
    """``grpc.health.v1.Health`` whose Check reads the models' state now (Watch follows it every 0.2 s)."""

    def __init__(self, update: Callable[[], Awaitable[None]]) -> None:
        super().__init__()
        self._update = update

    async def Check(self, request: health_pb2.HealthCheckRequest, context: grpc.aio.ServicerContext) -> Any:  # noqa: D102
        await self._update()
        return await super().Check(request, context)


class PortInUseError(OSError):
    """The port is taken: the server refuses to start rather than share it."""


class ServingServer:
    """The gRPC server (and the REST API on its own port) over one ``ModelStore``. Use as a context manager.

    Both front ends run on one asyncio event loop, on a thread of its own (``grpc.aio`` and tornado);
    model calls run on ``workers`` threads, so requests in flight never hold a thread while they
    wait for a batch. A port that is in use is refused (gRPC's default ``SO_REUSEPORT`` is turned
    off), so a second server cannot silently share a port with the first.
    """

    def __init__(self, store: ModelStore, options: ServerOptions | None = None) -> None:
        options = options or ServerOptions()
        self.store = store
        self.options = options
        self.metrics = ServingMetrics(known=store.has_model)
        self.batcher = Batcher(options.batching) if options.batching else None
        self.request_log = RequestLogger(
            store.request_log,
            max_file_mb=options.request_log_file_mb,
            max_total_mb=options.request_log_max_mb,
            rotate_seconds=options.request_log_rotate_seconds,
            queue_records=options.request_log_queue,
            count=self.metrics.count_request_log,
        )
        self.core = ServingCore(
            store, options.max_batch_size, self.batcher, self.metrics, options.max_image_pixels, self.request_log
        )
        self.executor = futures.ThreadPoolExecutor(max_workers=options.workers, thread_name_prefix="serving")
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="serving-loop", daemon=True)
        self._thread.start()
        self._health_statuses: dict[str, int] = {}
        self._health_task: futures.Future | None = None
        self.rest = None
        try:
            self._server, self.port = self._on_loop(self._bind())
            if options.rest_api_port:
                port = max(options.rest_api_port, 0)  # -1: any free port (tests, infra validation)
                self.rest = RestServer(
                    self.core,
                    options.host,
                    port,
                    self.executor,
                    self._loop,
                    options.max_message_mb * 1024 * 1024,
                    idle_seconds=options.rest_idle_seconds,
                    max_connections=options.rest_max_connections,
                )
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
        PredictionService(self.core, self.executor).add_to_server(server)
        self.health = _Health(self._update_health)
        await self._update_health()
        health_pb2_grpc.add_HealthServicer_to_server(self.health, server)
        model_service = ModelService(self.core, self.executor, allow_reload=self.options.allow_reload_config)
        model_service_pb2_grpc.add_ModelServiceServicer_to_server(model_service, server)
        address = f"{options.host}:{options.port}"
        credentials = (
            server_credentials(options.tls_cert, options.tls_key or "", options.tls_client_ca)
            if options.tls_cert
            else None
        )
        try:
            if credentials is not None:
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

    async def _update_health(self) -> None:
        """``grpc.health.v1``: "" SERVING when every model serves a version (as ``/readyz``), each model by name."""
        statuses = {"": SERVING if self.store.is_ready() else NOT_SERVING}
        for name, version in self.store.readiness().items():
            statuses[name] = SERVING if version is not None else NOT_SERVING
        known = self._health_statuses
        for service, status in statuses.items():
            if known.get(service) != status:
                await self.health.set(service, status)
        for service in set(known) - set(statuses):  # a model no longer configured
            await self.health.set(service, health_pb2.HealthCheckResponse.SERVICE_UNKNOWN)
        self._health_statuses = statuses

    async def _watch_health(self) -> None:
        while True:
            await asyncio.sleep(HEALTH_POLL_SECONDS)
            await self._update_health()

    @property
    def target(self) -> str:
        """``host:port`` of the gRPC API."""
        return f"{self.options.host}:{self.port}"

    @property
    def rest_url(self) -> str | None:
        """``http://host:port`` of the REST API (None when it is off)."""
        return self.rest.url if self.rest else None

    def start(self) -> ServingServer:
        """Open both APIs, load the models (replaying their warmup requests), then poll; returns once loaded.

        The ports answer while the models load, as TF Serving's do: ``/healthz`` 200, ``/readyz`` 503 and
        ``grpc.health.v1`` NOT_SERVING until every model serves a version; a request for a model not
        loaded yet is NOT_FOUND.
        """
        self._on_loop(self._server.start())
        if self.rest:
            self.rest.start()
        self._health_task = asyncio.run_coroutine_threadsafe(self._watch_health(), self._loop)
        self.store.start()
        self._on_loop(self._update_health())
        return self

    def stop(self, grace: float = 2.0) -> None:
        """Finish in-flight requests (up to ``grace`` seconds), then stop."""
        if self.rest:
            self.rest.stop()
        self._on_loop(self.health.enter_graceful_shutdown())  # probes see NOT_SERVING while requests finish
        if self._health_task is not None:
            self._health_task.cancel()
        self._on_loop(self._server.stop(grace))
        if self.batcher:
            self.batcher.stop()
        self.store.stop()
        self._close()

    def _close(self) -> None:
        self.request_log.stop()  # what was sampled is written, its files closed
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
