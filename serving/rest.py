"""TensorFlow Serving's REST API on its own port, with tornado (a well-kept HTTP server, no hand-made parsing).

As TF Serving documents it (``g3doc/api_rest.md``) and implements it (``http_rest_api_handler.cc``,
``json_tensor.cc``):

* ``GET /v1/models/{model}[/versions/{v} | /labels/{label}]``: the model's version states;
* ``GET .../metadata``: its signatures;
* ``POST .../{model}[...]:predict`` with ``{"instances": [...]}`` (rows) or ``{"inputs": ...}``
  (columns), ``{"b64": "..."}`` for binary strings; answers ``{"predictions": [...]}`` or
  ``{"outputs": ...}``; outputs whose name ends in ``_bytes`` come back as ``{"b64": ...}``;
* ``POST ...:classify`` / ``...:regress`` with ``{"examples": [{feature: value}], "context": {...}}``;
  answers ``{"results": ...}``;
* ``GET /monitoring/prometheus/metrics``: the server's request counts and latencies;
* errors as ``{"error": "..."}`` with TF Serving's HTTP status for the gRPC code (400 for
  INVALID_ARGUMENT and FAILED_PRECONDITION, 404 NOT_FOUND, 429 RESOURCE_EXHAUSTED, 501 UNIMPLEMENTED,
  503 UNAVAILABLE, 500 INTERNAL ...); a wrong method or an unknown ``/v1/`` path is 400 ``Malformed
  request``, any other path 404.

The work of a request runs on a thread pool, through the same :class:`serving.server.Servables` as
gRPC, so checks, batching and metrics are the same on both transports.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import re
from concurrent.futures import Executor
from typing import Any

import grpc
import numpy as np
import tensorflow as tf
import tornado.httpserver
import tornado.netutil
import tornado.web
from google.protobuf import json_format
from tensorflow_serving.apis import get_model_metadata_pb2

from common.contract import EXAMPLE_SIGNATURE
from serving import requests
from serving.model_store import ServableNotFoundError, UnknownVersionLabelError
from serving.requests import ModelRef, RequestError, Timer
from serving.tensors import TensorError

PREDICT_PATH = re.compile(
    r"(?i)/v1/models/([^/:]+)(?:(?:/versions/(\d+))|(?:/labels/([^/:]+)))?:(classify|regress|predict)"
)
STATUS_PATH = re.compile(r"(?i)/v1/models(?:/([^/:]+))?(?:(?:/versions/(\d+))|(?:/labels/([^/:]+)))?(?:/(metadata))?")
METRICS_PATH = "/monitoring/prometheus/metrics"
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
_INVALID = grpc.StatusCode.INVALID_ARGUMENT


def _bad(message: str) -> RequestError:
    return RequestError(_INVALID, message)


def _is_b64(value: Any) -> bool:
    return isinstance(value, dict) and len(value) == 1 and isinstance(value.get("b64"), str)


def _leaf(value: Any, np_type: Any, dtype_name: str) -> Any:
    """One JSON scalar as the input's type, with TF Serving's type checks."""
    if np_type is object:
        if isinstance(value, str):
            return value.encode()
        if _is_b64(value):
            try:
                return base64.b64decode(value["b64"], validate=True)
            except (binascii.Error, ValueError):
                raise _bad("Unable to base64 decode") from None
        if isinstance(value, dict):
            raise _bad(f"JSON Value: {json.dumps(value)} not formatted correctly for base64 data")
    elif np_type is np.bool_:
        if isinstance(value, bool):
            return value
    elif np.issubdtype(np_type, np.integer):
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        return value
    kind = {bool: "Bool", str: "String", dict: "Object", list: "Array", type(None): "Null"}.get(type(value), "Number")
    raise _bad(f"JSON Value: {json.dumps(value)} Type: {kind} is not of expected type: {dtype_name}")


def json_tensor(value: Any, np_type: Any, dtype_name: str) -> np.ndarray:
    """A JSON value (scalar or nested lists) as a dense array; ragged lists are refused."""
    shape: list[int] = []
    probe = value
    while isinstance(probe, list):
        shape.append(len(probe))
        probe = probe[0] if probe else None
    flat: list[Any] = []

    def walk(item: Any, level: int) -> None:
        if level == len(shape):
            if isinstance(item, list):
                raise _bad(f"Encountered list at unexpected level: {level} expected < {len(shape)}")
            flat.append(_leaf(item, np_type, dtype_name))
            return
        if not isinstance(item, list):
            raise _bad(
                f"JSON Value: {json.dumps(item)} found at incorrect level: {level + 1} in the JSON DOM. "
                f"Expected at level: {len(shape)}"
            )
        if len(item) != shape[level]:
            raise _bad(
                f"Encountered list at unexpected size: {len(item)} at level: {level} expected size: {shape[level]}"
            )
        for element in item:
            walk(element, level + 1)

    walk(value, 0)
    array = np.array(flat, dtype=np_type) if flat else np.zeros(0, dtype=np_type)
    return array.reshape(shape)


def parse_predict(body: Any, signature: dict[str, requests.InputInfo]) -> tuple[dict[str, np.ndarray], bool]:
    """(inputs, row format?) of a predict request body, as TF Serving's FillPredictRequestFromJson."""
    if not isinstance(body, dict):
        raise _bad(f"JSON Value: {json.dumps(body)} Is not object")
    types = {name: (requests.numpy_dtype(info), _dtype_name(info)) for name, info in signature.items()}
    if "instances" in body and "inputs" in body:
        raise _bad("Not formatted correctly expecting only one of 'inputs' or 'instances' keys to exist ")
    if "instances" in body:
        rows = body["instances"]
        if not isinstance(rows, list):
            raise _bad("Expecting 'instances' to be an list/array")
        if not rows:
            raise _bad("No values in 'instances' array")
        named = isinstance(rows[0], dict) and not _is_b64(rows[0])
        if not named:
            if len(signature) != 1:
                raise _bad(
                    "instances is a plain list, but expecting list of objects as multiple input tensors required "
                    "as per tensorinfo_map"
                )
            (name,) = signature
            return {name: json_tensor(rows, *types[name])}, True
        for index, row in enumerate(rows):
            if not isinstance(row, dict) or _is_b64(row):
                raise _bad(f"Expecting object but got list at item {index} of input list")
            if set(row) != set(signature):
                raise _bad(
                    f"Failed to process element: {index} of 'instances' list. JSON object: {json.dumps(row)} keys "
                    f"must be equal to: {','.join(sorted(signature))}"
                )
        return {name: json_tensor([row[name] for row in rows], *types[name]) for name in signature}, True
    if "inputs" in body:
        columns = body["inputs"]
        if isinstance(columns, dict) and not _is_b64(columns):
            missing = sorted(set(signature) - set(columns))
            if missing:
                raise _bad(f"Missing named input: {missing[0]} in 'inputs' object.")
            return {name: json_tensor(columns[name], *types[name]) for name in signature}, False
        if len(signature) != 1:
            raise _bad(
                "inputs is a plain value/list, but expecting an object as multiple input tensors required as per "
                "tensorinfo_map"
            )
        (name,) = signature
        return {name: json_tensor(columns, *types[name])}, False
    raise _bad("Missing 'inputs' or 'instances' key")


def _dtype_name(info: requests.InputInfo) -> str:
    from serving.tensors import dtype_name

    return dtype_name(info.dtype)


def json_value(name: str, array: np.ndarray) -> Any:
    """An output array as JSON values.

    Strings as text (``{"b64": ...}`` if the name ends in ``_bytes``), float32 with the shortest
    decimals that read back the same float32.
    """
    if array.dtype == object or array.dtype.kind == "S":
        if name.endswith("_bytes"):
            return _map(array, lambda v: {"b64": base64.b64encode(v).decode()})
        return _map(array, lambda v: v.decode("utf-8", errors="replace") if isinstance(v, bytes) else str(v))
    if array.dtype == np.float32:
        return _map(array, lambda v: float(np.format_float_scientific(np.float32(v), unique=True)))
    return array.tolist()


def _map(array: np.ndarray, convert: Any) -> Any:
    if array.ndim == 0:
        return convert(array.item())
    return [_map(item, convert) for item in array] if array.ndim > 1 else [convert(v) for v in array.tolist()]


def predict_response(outputs: dict[str, np.ndarray], rows: bool) -> dict[str, Any]:
    """``{"predictions": ...}`` for a row request, ``{"outputs": ...}`` for a columnar one."""
    if not outputs:
        raise _bad("Cannot convert empty tensor map to JSON")
    if not rows:
        if len(outputs) == 1:
            ((name, value),) = outputs.items()
            return {"outputs": json_value(name, value)}
        return {"outputs": {name: json_value(name, value) for name, value in sorted(outputs.items())}}
    batch = None
    for name, value in outputs.items():
        if value.ndim == 0:
            raise _bad(f"Tensor name: {name} has no shape information ")
        if batch is not None and value.shape[0] != batch:
            raise _bad(f"Tensor name: {name} has inconsistent batch size: {value.shape[0]} expecting: {batch}")
        batch = value.shape[0]
    columns = {name: json_value(name, value) for name, value in sorted(outputs.items())}
    if len(columns) == 1:
        return {"predictions": next(iter(columns.values()))}
    return {"predictions": [{name: column[i] for name, column in columns.items()} for i in range(batch or 0)]}


def _feature(name: str, value: Any) -> tf.train.Feature:
    values = value if isinstance(value, list) else [value]
    kinds = set()
    for v in values:
        if isinstance(v, str) or _is_b64(v):
            kinds.add("bytes")
        elif isinstance(v, bool) or isinstance(v, int):
            kinds.add("int64")
        elif isinstance(v, float):
            kinds.add("float")
        else:
            kind = {dict: "Object", list: "Array", type(None): "Null"}.get(type(v), type(v).__name__)
            raise _bad(f"Feature: {name} has element with unexpected JSON type: {kind}")
    if len(kinds) > 1:
        raise _bad(f"Unexpected element type in feature: {name} expecting type: {sorted(kinds)[0]}")
    if not kinds:  # `[]`: a feature with no kind, missing whatever its type (as TF Serving's json_tensor.cc)
        return tf.train.Feature()
    kind = kinds.pop()
    if kind == "bytes":
        data = [_leaf(v, object, "string") for v in values]
        return tf.train.Feature(bytes_list=tf.train.BytesList(value=data))
    if kind == "int64":
        return tf.train.Feature(int64_list=tf.train.Int64List(value=[int(v) for v in values]))
    return tf.train.Feature(float_list=tf.train.FloatList(value=values))


def parse_examples(body: Any) -> list[bytes]:
    """The serialized tf.Examples of a classify/regress body (``examples``, and ``context`` merged in)."""
    if not isinstance(body, dict):
        raise _bad(f"JSON Value: {json.dumps(body)} Is not object")
    if "examples" not in body:
        raise _bad("When method is classify, key 'examples' is expected and was not found")
    examples = body["examples"]
    if not isinstance(examples, list):
        raise _bad("Expecting 'examples' value to be an list/array")
    if not examples:
        raise _bad("'examples' value is an empty array")
    context = body.get("context") or {}
    serialized = []
    for example in examples:
        if not isinstance(example, dict):
            raise _bad(f"Example must be JSON object but got JSON {type(example).__name__}")
        features = {name: _feature(name, value) for name, value in {**context, **example}.items()}
        serialized.append(tf.train.Example(features=tf.train.Features(feature=features)).SerializeToString())
    return serialized


def _json_body(text: bytes) -> Any:
    if not text.strip():
        raise _bad("JSON Parse error: The document is empty")
    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        raise _bad(f"JSON Parse error: {err.msg} at offset: {err.pos}") from None
    except UnicodeDecodeError as err:
        raise _bad(f"JSON Parse error: the body is not UTF-8 ({err.reason}) at offset: {err.start}") from None


class RestHandler(tornado.web.RequestHandler):
    """Every path and method; dispatched as TF Serving's HttpRestApiHandler does."""

    def initialize(self, server: RestServer) -> None:
        """Bind to the server (tornado's hook)."""
        self.server = server

    async def get(self) -> None:  # noqa: D102 - tornado's verbs all dispatch the same way
        await self._dispatch()

    async def post(self) -> None:  # noqa: D102
        await self._dispatch()

    async def put(self) -> None:  # noqa: D102
        await self._dispatch()

    async def delete(self) -> None:  # noqa: D102
        await self._dispatch()

    async def patch(self) -> None:  # noqa: D102
        await self._dispatch()

    async def _dispatch(self) -> None:
        path, method = self.request.path, self.request.method
        if path == METRICS_PATH:
            self.set_header("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
            self.finish(self.server.servables.metrics.exposition() if self.server.servables.metrics else b"")
            return
        if not re.fullmatch(r"(?i)/v1/.*", path):
            self.set_status(404)
            self.set_header("Content-Type", "text/html")
            self.finish(
                "<HTML><HEAD>\n<TITLE>404 Not Found</TITLE>\n</HEAD><BODY>\n<H1>Not Found</H1>\n</BODY></HTML>\n"
            )
            return
        timer, model, api, status = Timer(), "", "", "OK"
        try:
            predict, listing = PREDICT_PATH.fullmatch(path), STATUS_PATH.fullmatch(path)
            if method == "POST" and predict and predict.group(4) in ("predict", "classify", "regress"):
                model, api = _unquote(predict.group(1)), predict.group(4)
                ref = ModelRef(model, _version(predict.group(2)), _unquote(predict.group(3)) or None)
                body = self.request.body
                if api == "predict":
                    result = await self._predict(ref, body)
                else:
                    result = await self._off_loop(lambda: self.server.handle_inference(api, ref, body))
            elif method == "GET" and listing:
                model = _unquote(listing.group(1) or "")
                if not model:
                    raise _bad("Missing model name in request.")
                ref = ModelRef(model, _version(listing.group(2)), _unquote(listing.group(3)) or None)
                if listing.group(4) == "metadata":
                    result = await self._off_loop(lambda: self.server.metadata(ref))
                else:
                    result = await self._off_loop(lambda: self.server.status(ref))
            else:
                raise _bad(f"Malformed request: {method} {path}")
            self._reply(200, result)
        except Exception as err:  # noqa: BLE001 - every error becomes TF Serving's JSON error
            code, message = error_status(err)
            status = code
            self._reply(HTTP_STATUS.get(code, 500), {"error": message})
        finally:
            if self.server.servables.metrics is not None:
                self.server.servables.metrics.request(model, status, api, "REST", timer.micros())

    async def _off_loop(self, work: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self.server.executor, work)

    async def _predict(self, ref: ModelRef, body: bytes) -> dict[str, Any]:
        """Parse and check on a worker thread; wait for a batch without holding one; answer."""
        servables = self.server.servables
        loaded, signature_name, arrays, rows = await self._off_loop(lambda: self.server.prepare_predict(ref, body))
        batched = servables.batched(loaded, signature_name, arrays, "Predict", asyncio.get_running_loop())
        if batched is not None:
            outputs = await batched
        else:
            outputs = await self._off_loop(lambda: servables.run(loaded, signature_name, arrays, "Predict"))
        return predict_response(outputs, rows)

    def _reply(self, code: int, payload: Any) -> None:
        self.set_status(code)
        self.set_header("Content-Type", "application/json")
        self.finish(payload if isinstance(payload, str) else json.dumps(payload))


def _unquote(value: str | None) -> str | None:
    from urllib.parse import unquote

    return unquote(value) if value is not None else None


def _version(text: str | None) -> int | None:
    if text is None:
        return None
    if len(text) > 18:
        raise _bad(f"Failed to convert version: {text} to numeric.")
    return int(text)


def error_status(err: BaseException) -> tuple[str, str]:
    """(gRPC code name, message) of an error, as the gRPC front end would answer it."""
    if isinstance(err, RequestError):
        return err.code.name, err.message
    if isinstance(err, ServableNotFoundError):
        return "NOT_FOUND", str(err)
    if isinstance(err, (UnknownVersionLabelError, TensorError)):
        return "INVALID_ARGUMENT", str(err)
    return "INTERNAL", f"{type(err).__name__}: {err}"


class RestServer:
    """TF Serving's REST API for :class:`serving.server.Servables`, on a port of its own (tornado).

    It runs on the event loop it is given (the gRPC server's), and the work of each request on
    ``executor``'s threads. The port is bound when this object is made, so a port in use fails at
    once with OSError.
    """

    def __init__(
        self, servables: Any, host: str, port: int, executor: Executor, loop: asyncio.AbstractEventLoop
    ) -> None:
        self.servables = servables
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
            app = tornado.web.Application([(r"/.*", RestHandler, {"server": self})])
            self._http = tornado.httpserver.HTTPServer(app, max_body_size=256 * 1024 * 1024)
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

    # -- the work of each request (on the executor's threads) ---------------------------------------------
    @staticmethod
    def _signature_name(parsed: Any) -> str:
        signature_name = parsed.get("signature_name", EXAMPLE_SIGNATURE) if isinstance(parsed, dict) else ""
        if not isinstance(signature_name, str):
            raise _bad("not formatted correctly. 'signature_name' key must be a string value.")
        return signature_name

    def prepare_predict(self, ref: ModelRef, body: bytes) -> tuple[Any, str, dict[str, np.ndarray], bool]:
        """``:predict``'s body parsed and checked: (version, signature name, input arrays, row format?)."""
        parsed = _json_body(body)
        signature_name = self._signature_name(parsed)
        loaded = ref.resolve(self.servables.store)
        requests.find_signature(loaded, signature_name, grpc_predict=False)
        inputs, rows = parse_predict(parsed, requests.signature_inputs(loaded, signature_name))
        loaded, arrays = self.servables.prepare_predict(ref, signature_name, inputs, grpc_predict=False)
        return loaded, signature_name, arrays, rows

    def handle_inference(self, api: str, ref: ModelRef, body: bytes) -> dict[str, Any]:
        """``:classify`` or ``:regress``."""
        parsed = _json_body(body)
        signature_name = self._signature_name(parsed)
        serialized = parse_examples(parsed)
        if api == "classify":
            _, classes, scores = self.servables.classify(ref, signature_name, serialized)
            count = (classes if classes is not None else scores).shape
            results = [
                [
                    [
                        classes[i, c].decode() if classes is not None else "",
                        float(np.float32(scores[i, c])) if scores is not None else 0.0,
                    ]
                    for c in range(count[1])
                ]
                for i in range(count[0])
            ]
            return {"results": results}
        _, values = self.servables.regress(ref, signature_name, serialized)
        return {"results": [float(np.format_float_scientific(np.float32(v), unique=True)) for v in values]}

    def status(self, ref: ModelRef) -> str:
        """Version states, as TF Serving prints GetModelStatusResponse (labels are ignored, as there)."""
        response = self.servables.status(ref.name, ref.version)
        return json_format.MessageToJson(response, including_default_value_fields=True, indent=1)

    def metadata(self, ref: ModelRef) -> dict[str, Any]:
        """``{"model_spec": ..., "metadata": {"signature_def": ...}}`` as TF Serving builds it."""
        response = self.servables.metadata(ref)
        signature_map = get_model_metadata_pb2.SignatureDefMap()
        response.metadata["signature_def"].Unpack(signature_map)
        options = {"including_default_value_fields": True, "preserving_proto_field_name": True}
        return {
            "model_spec": json_format.MessageToDict(response.model_spec, **options),
            "metadata": {"signature_def": json_format.MessageToDict(signature_map, **options)},
        }
