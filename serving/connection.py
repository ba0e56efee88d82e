"""One address, one client: gRPC for ``host:port``, REST for ``http(s)://host:port``, the same methods on both."""

from __future__ import annotations

from typing import Any

from serving.client import ServingClient
from serving.rest_client import RestClient


def connect(server: str, *, timeout: float = 10.0, root_certificates: bytes | None = None) -> Any:
    """A :class:`serving.rest_client.RestClient` for ``http(s)://host:port``, else a gRPC :class:`ServingClient`."""
    if server.startswith(("http://", "https://")):
        return RestClient(server, timeout=timeout)
    return ServingClient(server, timeout=timeout, root_certificates=root_certificates)
