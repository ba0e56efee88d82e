"""One mapping from errors to statuses, for both APIs: gRPC status codes and TF Serving's HTTP codes.

Every error a request can meet ends here. A :class:`RequestError` carries the gRPC code TF Serving
gives for the same mistake; a malformed TensorProto is INVALID_ARGUMENT; anything else is a bug of
the server, INTERNAL (logged with its traceback), and the server goes on serving. The gRPC
services answer through :func:`grpc_method`, the REST handler through :func:`status_of` and
:data:`HTTP_STATUS` (TF Serving's ``ToHTTPStatusCode``).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import re
from collections.abc import Callable
from typing import Any

import grpc

from serving.metrics import Timer, begin_request
from serving.tensors import TensorError

log = logging.getLogger(__name__)

HTTP_STATUS = {  # TF Serving's ToHTTPStatusCode (model_servers/http_server.cc)
    "OK": 200,
    "CANCELLED": 499,
    "UNKNOWN": 500,
    "INVALID_ARGUMENT": 400,
    "DEADLINE_EXCEEDED": 504,
    "NOT_FOUND": 404,
    "ALREADY_EXISTS": 409,
    "PERMISSION_DENIED": 403,
    "RESOURCE_EXHAUSTED": 429,
    "FAILED_PRECONDITION": 400,
    "ABORTED": 409,
    "OUT_OF_RANGE": 400,
    "UNIMPLEMENTED": 501,
    "INTERNAL": 500,
    "UNAVAILABLE": 503,
    "DATA_LOSS": 500,
    "UNAUTHENTICATED": 401,
}


class RequestError(Exception):
    """An error answered to the client with a status code."""

    def __init__(self, code: grpc.StatusCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class ServableNotFoundError(RequestError, LookupError):
    """No loaded version matches the request (NOT_FOUND)."""

    def __init__(self, message: str) -> None:
        super().__init__(grpc.StatusCode.NOT_FOUND, message)


class UnknownVersionLabelError(RequestError, ValueError):
    """The request names a version label the model config does not define (INVALID_ARGUMENT)."""

    def __init__(self, message: str) -> None:
        super().__init__(grpc.StatusCode.INVALID_ARGUMENT, message)


def invalid(message: str) -> RequestError:
    """An INVALID_ARGUMENT error: the client sent something the model cannot take."""
    return RequestError(grpc.StatusCode.INVALID_ARGUMENT, message)


def tf_error_code(error: Any) -> grpc.StatusCode:
    """The gRPC code of a ``tf.errors.OpError``: TensorFlow's codes are gRPC's, value for value."""
    for code in grpc.StatusCode:
        if code.value[0] == error.error_code:
            return code
    return grpc.StatusCode.INTERNAL


_PATH = re.compile(r"(?<![\w:/])/(?:[\w.+-]+/)*[\w.+-]+")
_TRACEBACK = re.compile(r"\s*(Traceback \(most recent call last\)|File \"[^\"]*\", line \d+)")


def for_client(message: str) -> str:
    """``message`` as a client may see it: no Python traceback, no path of this server's file system.

    A traceback (Python's, or one TensorFlow quotes from a ``py_function``) is cut off; an absolute
    path whose first folder exists here (``/tmp/...``, ``/home/...``) becomes ``<server path>``; URL
    paths such as ``/v1/models/m`` are kept. The full message goes to the server's log.
    """
    cut = _TRACEBACK.search(message)
    if cut:
        message = message[: cut.start()].rstrip(" :\n") + " (details in the server log)"

    def hide(match: re.Match[str]) -> str:
        path = match.group(0)
        first = path.split("/")[1]
        return "<server path>" if first and os.path.isdir("/" + first) else path

    return _PATH.sub(hide, message)


def status_of(err: BaseException, where: str = "request") -> tuple[grpc.StatusCode, str]:
    """(code, message) a client is answered for ``err`` (:func:`for_client`); the full error goes to the log.

    A server bug is logged with its traceback and ``where``.
    """
    if isinstance(err, RequestError):
        code, message = err.code, err.message
    elif isinstance(err, TensorError):
        code, message = grpc.StatusCode.INVALID_ARGUMENT, f"tensor parsing error: {err}"
    elif isinstance(err, RecursionError):
        code, message = grpc.StatusCode.INVALID_ARGUMENT, "the request is nested too deeply"
    else:
        log.error("%s failed", where, exc_info=err)
        code, message = grpc.StatusCode.INTERNAL, f"{type(err).__name__}: {err}"
    client = for_client(message)
    if client != message:
        log.warning("%s: %s", where, message)
    return code, client


def http_status(code: grpc.StatusCode) -> int:
    """The HTTP status TF Serving's REST API answers for a gRPC code."""
    return HTTP_STATUS.get(code.name, 500)


def grpc_method(api: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Decorate a servicer method: its errors become the call's status, the call is counted under ``api``.

    ``api`` is empty for calls TF Serving does not count (metadata, status, reload). The servicer
    has a ``metrics`` attribute (a ServingMetrics, or None).
    """

    def decorate(method: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(method)
        async def wrapper(self: Any, request: Any, context: grpc.aio.ServicerContext) -> Any:
            timer, status, model = Timer(), "OK", getattr(getattr(request, "model_spec", None), "name", "")
            answered = begin_request()
            try:
                return await method(self, request, context)
            except (grpc.aio.AbortError, asyncio.CancelledError):
                raise  # context.abort's own exception; a cancelled call
            except Exception as err:  # noqa: BLE001 - every error is answered; the server goes on
                code, message = status_of(err, method.__name__)
                status = code.name
                await context.abort(code, message)
            finally:
                if api and self.metrics is not None:
                    self.metrics.request(model, status, api, "GRPC", timer.micros(), *answered)

        return wrapper

    return decorate
