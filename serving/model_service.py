"""``tensorflow.serving.ModelService``: version states (GetModelStatus) and config reloads.

TF Serving's ``model_service_impl``. TF Serving counts no request of this service in its metrics,
so neither does this one. A config reload changes which folders are served, and TF Serving takes
it from any client; here it is refused (PERMISSION_DENIED) unless the server was started with
``--allow-reload-config``, and the new models load on a worker thread, not on the event loop that
answers every request.
"""

from __future__ import annotations

import asyncio
from concurrent import futures
from typing import Any

import grpc
from tensorflow_serving.apis import get_model_status_pb2, model_management_pb2, model_service_pb2_grpc, status_pb2

from serving.core import ServingCore
from serving.model_store import sources_from_config
from serving.status import RequestError, grpc_method, invalid


class ModelService(model_service_pb2_grpc.ModelServiceServicer):
    """``tensorflow.serving.ModelService``: version states and config reloads."""

    def __init__(self, core: ServingCore, executor: futures.Executor, allow_reload: bool = False) -> None:
        self.core = core
        self.executor = executor
        self.allow_reload = allow_reload
        self.metrics = None  # TF Serving counts only Predict, Classify and Regress on gRPC

    @grpc_method("")
    async def GetModelStatus(
        self, request: get_model_status_pb2.GetModelStatusRequest, _context: grpc.aio.ServicerContext
    ) -> Any:
        """State of every version of a model (or of one version)."""
        spec = request.model_spec
        version = spec.version.value if spec.WhichOneof("version_choice") == "version" else None
        return self.core.status(spec.name, version)

    @grpc_method("")
    async def HandleReloadConfigRequest(
        self, request: model_management_pb2.ReloadConfigRequest, _context: grpc.aio.ServicerContext
    ) -> Any:
        """Replace the served models with the request's ``model_config_list`` (if reloads are allowed)."""
        if not self.allow_reload:
            raise RequestError(
                grpc.StatusCode.PERMISSION_DENIED,
                "reloading the model config is off on this server: start it with --allow-reload-config",
            )
        try:
            sources = sources_from_config(request.config)
        except ValueError as exc:
            raise invalid(str(exc)) from exc
        await asyncio.get_running_loop().run_in_executor(self.executor, self.core.store.set_sources, sources)
        return model_management_pb2.ReloadConfigResponse(status=status_pb2.StatusProto(error_code=0))
