"""TF Serving's REST API handler (``http_rest_api_handler.cc``): routes, and the work of each request.

* ``GET /v1/models/{model}[/versions/{v} | /labels/{label}]``: the model's version states;
* ``GET .../metadata``: its signatures;
* ``POST .../{model}[...]:predict``, ``:classify``, ``:regress``: bodies and answers as
  :mod:`serving.json_tensor` reads and writes them;
* ``GET /monitoring/prometheus/metrics``: the server's request counts and latencies;
* ``GET /healthz`` (the process answers) and ``GET /readyz`` (every configured model serves a
  version, loaded and its warmup replayed; 503 until then): probes that name no model;
* errors as ``{"error": "..."}`` with TF Serving's HTTP status for the gRPC code
  (:mod:`serving.status`); a wrong method or an unknown ``/v1/`` path is 400 ``Malformed
  request``, any other path 404.

Parsing and checks run on the server's worker threads, through the same
:class:`serving.core.ServingCore` as gRPC, so checks, batching and metrics are the same on both
APIs; a Predict waits for its batch without holding a thread.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Callable
from concurrent.futures import Executor
from typing import Any
from urllib.parse import unquote

import numpy as np
import tornado.web
from google.protobuf import json_format
from tensorflow.core.framework import types_pb2
from tensorflow_serving.apis import get_model_metadata_pb2

from common.contract import EXAMPLE_SIGNATURE
from serving import json_tensor, signatures
from serving.core import ServingCore, classification_response, regression_response
from serving.metrics import Timer, begin_request, served
from serving.servable import LoadedVersion, ModelRef
from serving.status import http_status, invalid, status_of
from serving.tensors import delimited, encode_predict_request, encode_predict_response

PREDICT_PATH = re.compile(
    r"(?i)/v1/models/([^/:]+)(?:(?:/versions/(\d+))|(?:/labels/([^/:]+)))?:(classify|regress|predict)"
)
STATUS_PATH = re.compile(r"(?i)/v1/models(?:/([^/:]+))?(?:(?:/versions/(\d+))|(?:/labels/([^/:]+)))?(?:/(metadata))?")
METRICS_PATH = "/monitoring/prometheus/metrics"
HEALTH_PATH, READY_PATH = "/healthz", "/readyz"  # a probe that knows no model name (Kubernetes' liveness, readiness)
NOT_FOUND_PAGE = "<HTML><HEAD>\n<TITLE>404 Not Found</TITLE>\n</HEAD><BODY>\n<H1>Not Found</H1>\n</BODY></HTML>\n"


class RestHandler(tornado.web.RequestHandler):
    """Every path and method of the REST port; dispatched as TF Serving's HttpRestApiHandler does."""

    def initialize(self, core: ServingCore, executor: Executor) -> None:
        """Bind to the server's core and worker threads (tornado's hook)."""
        self.core = core
        self.executor = executor

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
        metrics = self.core.metrics
        if path == METRICS_PATH:
            self.set_header("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
            self.finish(metrics.exposition() if metrics else b"")
            return
        if path in (HEALTH_PATH, READY_PATH) and method == "GET":
            if path == HEALTH_PATH:  # the process and its event loop answer
                self._reply(200, {"status": "alive"})
                return
            models = self.core.store.readiness()
            ready = self.core.store.is_ready()
            waiting = [name for name, version in models.items() if version is None]
            self._reply(200 if ready else 503, {
                "status": "ready" if ready else "not ready",
                "models": {name: {"version": version} for name, version in models.items()},
                **({"waiting_for": waiting} if waiting else {}),
                **({} if models else {"reason": "no model is configured"}),
            })  # fmt: skip
            return
        if not re.fullmatch(r"(?i)/v1/.*", path):
            self.set_status(404)
            self.set_header("Content-Type", "text/html")
            self.finish(NOT_FOUND_PAGE)
            return
        timer, model, api, status = Timer(), "", "", "OK"
        answered = begin_request()
        try:
            predict, listing = PREDICT_PATH.fullmatch(path), STATUS_PATH.fullmatch(path)
            if method == "POST" and predict and predict.group(4) in ("predict", "classify", "regress"):
                model, api = unquote(predict.group(1)), predict.group(4)
                ref = _model_ref(model, predict.group(2), predict.group(3))
                body = self.request.body
                if api == "predict":
                    result = await self._predict(ref, body)
                else:
                    loaded, signature_name, result, logged = await self._off_loop(
                        lambda: inference(self.core, api, ref, body)
                    )
                    served(loaded.version, ref.label)
                    self.core.log(loaded, signature_name, api, *logged)
            elif method == "GET" and listing:
                model = unquote(listing.group(1) or "")
                if not model:
                    raise invalid("Missing model name in request.")
                ref = _model_ref(model, listing.group(2), listing.group(3))
                describe = metadata if listing.group(4) == "metadata" else model_status  # as TF Serving: case matters
                result = await self._off_loop(lambda: describe(self.core, ref))
            else:
                raise invalid(f"Malformed request: {method} {path}")
            self._reply(200, result)
        except Exception as err:  # noqa: BLE001 - every error becomes TF Serving's JSON error
            code, message = status_of(err, f"REST {method} {path}")
            status = code.name
            self._reply(http_status(code), {"error": message})
        finally:
            if metrics is not None:
                metrics.request(model, status, api, "REST", timer.micros(), *answered)

    async def _off_loop(self, work: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self.executor, work)

    async def _predict(self, ref: ModelRef, body: bytes) -> dict[str, Any]:
        """Parse and check on a worker thread; wait for a batch without holding one; answer."""
        core = self.core
        loaded, signature_name, arrays, rows = await self._off_loop(lambda: prepare_predict(core, ref, body))
        batched = core.batched(loaded, signature_name, arrays, "Predict", asyncio.get_running_loop())
        if batched is not None:
            outputs = await batched
        else:
            outputs = await self._off_loop(lambda: core.run(loaded, signature_name, arrays, "Predict"))
        served(loaded.version, ref.label)
        spec = core.model_spec(loaded, signature_name)  # logged as the gRPC Predict it stands for
        core.log(
            loaded,
            signature_name,
            "predict",
            lambda: encode_predict_request(spec, arrays),
            lambda: encode_predict_response(spec, outputs),
        )
        return json_tensor.predict_response(outputs, rows)

    def _reply(self, code: int, payload: Any) -> None:
        self.set_status(code)
        self.set_header("Content-Type", "application/json")
        self.finish(payload if isinstance(payload, str) else json.dumps(payload))


def _model_ref(model: str, version: str | None, label: str | None) -> ModelRef:
    if version is not None and len(version) > 18:
        raise invalid(f"Failed to convert version: {version} to numeric.")
    return ModelRef(model, int(version) if version is not None else None, unquote(label) if label else None)


def _body(text: bytes) -> tuple[Any, str]:
    """(parsed JSON body, its signature name)."""
    parsed = json_tensor.json_body(text)
    signature_name = parsed.get("signature_name", EXAMPLE_SIGNATURE) if isinstance(parsed, dict) else ""
    if not isinstance(signature_name, str):
        raise invalid("not formatted correctly. 'signature_name' key must be a string value.")
    return parsed, signature_name


# The longest JSON text of one number a client needs (-1.2345678901234567e-308, and its comma).
JSON_NUMBER_BYTES = 32
_SIGNATURE_NAME = re.compile(rb'"signature_name"\s*:\s*"([^"\\]*)"')


def _check_body_size(loaded: LoadedVersion, body: bytes, max_rows: int | None) -> None:
    """Refuse, before it is parsed, a ``:predict`` body longer than its signature could ever need.

    A signature whose inputs are all numbers of fixed size per row takes at most ``max_rows`` rows;
    written as JSON, that is at most ``JSON_NUMBER_BYTES`` per number. A longer body cannot be a
    valid request, and parsing it would cost seconds and hundreds of MB (ten million numbers: 13 s,
    +476 MB). The signature is found by its name in the text; inputs of strings, or of a size not
    fixed, set no bound.
    """
    if not max_rows:
        return
    match = _SIGNATURE_NAME.search(body)
    name = match.group(1).decode(errors="replace") if match else EXAMPLE_SIGNATURE
    if name not in loaded.signature_defs:
        return  # the parse below gives TF Serving's error
    numbers = 0
    for info in signatures.signature_inputs(loaded, name).values():
        dims = info.shape[1:] if info.shape and info.shape[0] is None else info.shape
        if info.dtype == types_pb2.DT_STRING or dims is None or any(d is None for d in dims):
            return
        numbers += int(np.prod(dims, dtype=np.int64)) * (max_rows if info.shape and info.shape[0] is None else 1)
    limit = numbers * JSON_NUMBER_BYTES + 4096
    if len(body) > limit:
        raise invalid(
            f"the body is {len(body):,} bytes: signature '{name}' takes at most {max_rows:,} rows, "
            f"{numbers:,} numbers, never more than {limit:,} bytes as JSON; send fewer rows per request"
        )


def prepare_predict(
    core: ServingCore, ref: ModelRef, body: bytes
) -> tuple[LoadedVersion, str, dict[str, np.ndarray], bool]:
    """``:predict``'s body parsed and checked: (version, signature name, input arrays, row format?)."""
    loaded = ref.resolve(core.store)
    _check_body_size(loaded, body, core.max_batch_size)
    parsed, signature_name = _body(body)
    signatures.find_signature(loaded, signature_name, grpc_predict=False)
    inputs, rows = json_tensor.parse_predict(
        parsed, signatures.signature_inputs(loaded, signature_name), core.max_batch_size
    )
    loaded, arrays = core.prepare_predict(ref, signature_name, inputs, grpc_predict=False)
    return loaded, signature_name, arrays, rows


def inference(
    core: ServingCore, api: str, ref: ModelRef, body: bytes
) -> tuple[LoadedVersion, str, dict[str, Any], tuple[Callable[[], bytes], Callable[[], bytes]]]:
    """``:classify`` or ``:regress``: (version, signature, JSON answer, the request and response protos' bytes).

    The protos are those of the gRPC call the request stands for (what the request log keeps).
    """
    parsed, signature_name = _body(body)
    serialized = json_tensor.parse_examples(parsed)
    if api == "classify":
        loaded, classes, scores = core.classify(ref, signature_name, serialized)
        result = json_tensor.classify_results(classes, scores)
        response = lambda: classification_response(core.model_spec(loaded, signature_name), classes, scores)  # noqa: E731
    else:
        loaded, values = core.regress(ref, signature_name, serialized)
        result = json_tensor.regress_results(values)
        response = lambda: regression_response(core.model_spec(loaded, signature_name), values)  # noqa: E731

    def request() -> bytes:  # Classification/RegressionRequest: model_spec = 1, input = 2 {example_list = 1}
        examples = b"".join(delimited(1, example) for example in serialized)
        return delimited(1, core.model_spec(loaded, signature_name)) + delimited(2, delimited(1, examples))

    return loaded, signature_name, result, (request, lambda: response().SerializeToString())


def model_status(core: ServingCore, ref: ModelRef) -> str:
    """Version states, as TF Serving prints GetModelStatusResponse (labels are ignored, as there)."""
    response = core.status(ref.name, ref.version)
    return json_format.MessageToJson(response, including_default_value_fields=True, indent=1)


def metadata(core: ServingCore, ref: ModelRef) -> dict[str, Any]:
    """``{"model_spec": ..., "metadata": {"signature_def": ...}}`` as TF Serving builds it."""
    response = core.metadata(ref)
    signature_map = get_model_metadata_pb2.SignatureDefMap()
    response.metadata["signature_def"].Unpack(signature_map)
    options = {"including_default_value_fields": True, "preserving_proto_field_name": True}
    return {
        "model_spec": json_format.MessageToDict(response.model_spec, **options),
        "metadata": {"signature_def": json_format.MessageToDict(signature_map, **options)},
    }
