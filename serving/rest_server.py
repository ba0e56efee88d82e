"""TF Serving's REST port (``http_server.cc``): tornado over the REST handler, with bounded connections.

A body is bounded by ``--max-message-mb`` (a gzip body once it decompresses past it), a connection
idle or sending its body for longer than ``idle_seconds`` is closed, and at most ``max_connections``
are open at once, so slow clients cannot hold every file descriptor of the server.
"""

from __future__ import annotations

import asyncio
from concurrent import futures
from typing import Any

import tornado.httpserver
import tornado.netutil
import tornado.web

from serving.core import ServingCore
from serving.rest_handler import RestHandler

DEFAULT_MAX_BODY_BYTES = 64 * 1024 * 1024


class _BoundedHTTPServer(tornado.httpserver.HTTPServer):
    """Tornado's HTTP server, closing a new connection at once while ``max_connections`` are open."""

    def initialize(self, *args: Any, max_connections: int = 512, **kwargs: Any) -> None:  # noqa: D102
        self.max_connections = max_connections
        super().initialize(*args, **kwargs)

    def handle_stream(self, stream: Any, address: Any) -> None:  # noqa: D102 - tornado's hook
        if len(self._connections) >= self.max_connections:
            stream.close()  # the client sees the connection closed, and may retry
            return
        super().handle_stream(stream, address)


class RestServer:
    """TF Serving's REST API for a :class:`serving.core.ServingCore`, on a port of its own (tornado).

    It runs on the event loop it is given (the gRPC server's), and the work of each request on
    ``executor``'s threads. The port is bound when this object is made, so a port in use fails at
    once with OSError.
    """

    def __init__(
        self,
        core: ServingCore,
        host: str,
        port: int,
        executor: futures.Executor,
        loop: asyncio.AbstractEventLoop,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
        idle_seconds: float = 60.0,
        max_connections: int = 512,
    ) -> None:
        self.core = core
        self.max_body_bytes = max_body_bytes
        self.idle_seconds = idle_seconds
        self.max_connections = max_connections
        self.host = host
        try:
            self._sockets = tornado.netutil.bind_sockets(port, address=host, reuse_port=False)
        except OSError as err:
            raise OSError(
                f"could not listen on {host}:{port} for the REST API ({err.strerror}): the port is in use "
                "(another server?); choose another --rest-api-port, or 0 to turn the REST API off"
            ) from None
        self.port = self._sockets[0].getsockname()[1]
        self.executor = executor
        self._loop = loop
        self._http: tornado.httpserver.HTTPServer | None = None

    @property
    def url(self) -> str:
        """``http://host:port``."""
        return f"http://{self.host}:{self.port}"

    def start(self) -> None:
        """Accept connections; returns once it does."""

        async def listen() -> None:
            app = tornado.web.Application([(r"/.*", RestHandler, {"core": self.core, "executor": self.executor})])
            # --max-message-mb bounds a REST body as it bounds a gRPC message: a larger one is refused unread,
            # and a gzip body (Content-Encoding: gzip, as TF Serving takes it) once it decompresses past it.
            self._http = _BoundedHTTPServer(
                app,
                max_connections=self.max_connections,
                max_body_size=self.max_body_bytes,
                decompress_request=True,
                idle_connection_timeout=self.idle_seconds,
                body_timeout=self.idle_seconds,
            )
            self._http.add_sockets(self._sockets)

        asyncio.run_coroutine_threadsafe(listen(), self._loop).result(timeout=30)

    def stop(self) -> None:
        """Stop accepting requests."""

        async def close() -> None:
            if self._http is not None:
                self._http.stop()

        if self._loop.is_running():
            asyncio.run_coroutine_threadsafe(close(), self._loop).result(timeout=30)
        for sock in self._sockets:
            sock.close()
