"""The development server over a folder of models, as the serving tests start it (one place, every test file)."""

from __future__ import annotations

import contextlib
import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

from serving.client import ServingClient
from serving.model_store import ModelStore, sources_from_root
from serving.server import ServerOptions, ServingServer


@contextlib.contextmanager
def serving(root: Path, poll_seconds: float = 3600.0, **options: object) -> Iterator[ServingServer]:
    """A running server over ``root``'s models: gRPC on a free port (and REST on one with ``rest_api_port=-1``).

    ``poll_seconds=3600``: no background polls, a test polls the folders itself (``ModelStore.poll``).
    """
    store = ModelStore(lambda: sources_from_root(str(root)), poll_seconds=poll_seconds)
    with ServingServer(store, ServerOptions(port=0, **options)) as running:  # type: ignore[arg-type]
        yield running


@contextlib.contextmanager
def grpc_client(server: ServingServer, timeout: float = 10) -> Iterator[ServingClient]:
    """A gRPC client of ``server``."""
    with ServingClient(server.target, timeout=timeout) as client:
        yield client


def http(server: ServingServer, method: str, path: str, body: object = None, raw: bytes | None = None) -> tuple:
    """(status, Content-Type, body) of one HTTP request to the server's REST port (JSON ``body``, or ``raw`` bytes)."""
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    request = urllib.request.Request(f"{server.rest_url}{path}", data=data, method=method)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.headers.get("Content-Type"), response.read()
    except urllib.error.HTTPError as err:
        return err.code, err.headers.get("Content-Type"), err.read()
