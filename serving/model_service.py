"""``tensorflow.serving.ModelService``: version states (GetModelStatus) and config reloads.

TF Serving's ``model_service_impl``. TF Serving counts no request of this service in its metrics,
so neither does this one.
"""

from __future__ import annotations

from typing import Any

import grpc
from tensorflow_serving.apis import get_model_status_pb2, model_management_pb2, model_service_pb2_grpc, status_pb2

from serving.core import ServingCore
from serving.model_store import sources_from_config
from serving.status import grpc_method, invalid


class ModelService(model_service_pb2_grpc.ModelServiceServicer):
    """``tensorflow.serving.ModelService``: version states and config reloads."""

    def __init__(self, core: ServingCore) -> None:
        self.core = core
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
        """Replace the served models with the request's ``model_config_list``."""
        try:
            sources = sources_from_config(request.config)
        except ValueError as exc:
            raise invalid(str(exc)) from exc
        self.core.store.set_sources(sources)
        return model_management_pb2.ReloadConfigResponse(status=status_pb2.StatusProto(error_code=0))
