"""The same client as :class:`serving.client.ServingClient`, over TensorFlow Serving's REST API.

Requests are written from TF Serving's REST documentation (``g3doc/api_rest.md``): the columnar
``{"inputs": ...}`` format, ``{"b64": ...}`` for binary strings, ``{"examples": [...]}`` for Classify
and Regress, GET for status and metadata. Errors are :class:`serving.client.ServingError` with the
gRPC code that the HTTP status stands for, so code written for one transport works with the other.
The REST API does not say which version answered a Predict; ``predict`` returns None for it.
"""

from __future__ import annotations

import base64
import json
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from typing import Any

import grpc
import numpy as np
from google.protobuf import json_format
from tensorflow.core.protobuf import meta_graph_pb2

from serving.client import ServingError, WaitsUntilReady

# TF Serving's HTTP status for each gRPC code, reversed (400 is INVALID_ARGUMENT, its most common cause).
_CODES = {
    400: grpc.StatusCode.INVALID_ARGUMENT,
    401: grpc.StatusCode.UNAUTHENTICATED,
    403: grpc.StatusCode.PERMISSION_DENIED,
    404: grpc.StatusCode.NOT_FOUND,
    409: grpc.StatusCode.ABORTED,
    429: grpc.StatusCode.RESOURCE_EXHAUSTED,
    499: grpc.StatusCode.CANCELLED,
    501: grpc.StatusCode.UNIMPLEMENTED,
    503: grpc.StatusCode.UNAVAILABLE,
    504: grpc.StatusCode.DEADLINE_EXCEEDED,
}


def _json_input(value: Any) -> Any:
    array = np.asarray(value)
    if array.dtype.kind in "OSU":
        return _strings(array)
    return array.tolist()


def _strings(array: Any) -> Any:
    """Strings as ``{"b64": ...}`` (they may be binary, e.g. serialized examples), nested as the array."""
    if isinstance(array, np.ndarray) and array.ndim > 0:
        return [_strings(item) for item in array]
    item = array.item() if isinstance(array, np.ndarray) else array
    return {"b64": base64.b64encode(item if isinstance(item, bytes) else str(item).encode()).decode()}


def _array(value: Any) -> np.ndarray:
    """A JSON output as an array: strings become bytes (as from gRPC), ``{"b64": ...}`` decoded."""

    def convert(item: Any) -> Any:
        if isinstance(item, list):
            return [convert(v) for v in item]
        if isinstance(item, dict) and "b64" in item:
            return base64.b64decode(item["b64"])
        if isinstance(item, str):
            return item.encode()
        return item

    converted = convert(value)
    probe = converted
    while isinstance(probe, list) and probe:
        probe = probe[0]
    return np.array(converted, dtype=object if isinstance(probe, bytes) else None)


class RestClient(WaitsUntilReady):
    """A client of one server's REST API (``http://host:8501``).

    Args:
        url: the REST API's address, e.g. ``http://127.0.0.1:8501``.
        timeout: seconds per call.
        retries: extra attempts when the server is unreachable or answers 503, with backoff.
    """

    def __init__(self, url: str = "http://127.0.0.1:8501", *, timeout: float = 10.0, retries: int = 3) -> None:
        self.target = url.rstrip("/")
        self.timeout = timeout
        self.retries = retries

    def close(self) -> None:
        """Nothing to close (one connection per request)."""

    def __enter__(self) -> RestClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _call(self, method: str, path: str, body: Any = None) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        delay = 0.2
        for attempt in range(self.retries + 1):
            request = urllib.request.Request(f"{self.target}{path}", data=data, method=method)
            request.add_header("Content-Type", "application/json")
            try:
                with urllib.request.urlopen(request, timeout=self.timeout) as response:
                    return json.loads(response.read())
            except urllib.error.HTTPError as err:
                text = err.read().decode("utf-8", errors="replace")
                try:
                    message = json.loads(text).get("error", text)
                except (json.JSONDecodeError, AttributeError):
                    message = text
                code = _CODES.get(err.code, grpc.StatusCode.INTERNAL)
                if code != grpc.StatusCode.UNAVAILABLE or attempt == self.retries:
                    raise ServingError(code, message, self.target) from None
            except (urllib.error.URLError, ConnectionError, TimeoutError) as err:
                if attempt == self.retries:
                    reason = getattr(err, "reason", err)
                    raise ServingError(grpc.StatusCode.UNAVAILABLE, str(reason), self.target) from None
            time.sleep(delay)
            delay *= 2
        raise AssertionError("unreachable")

    @staticmethod
    def _path(model: str, version: int | None, label: str | None) -> str:
        if version is not None and label:
            raise ValueError("give a version or a version label, not both")
        suffix = f"/versions/{version}" if version is not None else f"/labels/{label}" if label else ""
        return f"/v1/models/{model}{suffix}"

    def predict(
        self,
        model: str,
        inputs: Mapping[str, Any],
        *,
        signature: str = "serving_default",
        version: int | None = None,
        label: str | None = None,
        output_filter: Sequence[str] = (),
    ) -> tuple[dict[str, np.ndarray], int | None]:
        """Run ``signature`` on ``inputs`` (columnar format); returns (outputs, None: REST does not say the version)."""
        body = {"signature_name": signature, "inputs": {name: _json_input(v) for name, v in inputs.items()}}
        answer = self._call("POST", f"{self._path(model, version, label)}:predict", body)["outputs"]
        if not isinstance(answer, dict):  # one output: the tensor itself
            signatures = self.signatures(model, version)
            (name,) = signatures[signature].outputs
            answer = {name: answer}
        outputs = {name: _array(value) for name, value in answer.items()}
        if output_filter:
            outputs = {name: outputs[name] for name in output_filter}
        return outputs, None

    def classify(
        self, model: str, examples: Sequence[Any], *, signature: str = "classification"
    ) -> list[list[tuple[str, float]]]:
        """Classify tf.Examples; per example, ``(label, score)`` for every class."""
        body = {"signature_name": signature, "examples": [_example_json(e) for e in examples]}
        results = self._call("POST", f"/v1/models/{model}:classify", body)["results"]
        return [[(label, float(score)) for label, score in result] for result in results]

    def regress(self, model: str, examples: Sequence[Any], *, signature: str = "regression") -> list[float]:
        """One regression value per tf.Example."""
        body = {"signature_name": signature, "examples": [_example_json(e) for e in examples]}
        return [float(v) for v in self._call("POST", f"/v1/models/{model}:regress", body)["results"]]

    def signatures(self, model: str, version: int | None = None) -> dict[str, meta_graph_pb2.SignatureDef]:
        """The model's ``SignatureDef`` protos, by name (the metadata endpoint)."""
        metadata = self._call("GET", f"{self._path(model, version, None)}/metadata")
        signature_map = metadata["metadata"]["signature_def"]["signature_def"]
        return {
            name: json_format.ParseDict(value, meta_graph_pb2.SignatureDef()) for name, value in signature_map.items()
        }

    def status(self, model: str) -> dict[int, str]:
        """Version -> state name (AVAILABLE, LOADING, END ...)."""
        answer = self._call("GET", f"/v1/models/{model}")
        return {int(s["version"]): s["state"] for s in answer.get("model_version_status", [])}


def _example_json(example: Any) -> dict[str, Any]:
    """A tf.train.Example as REST's example object (bytes as ``{"b64": ...}``)."""
    out: dict[str, Any] = {}
    for name, feature in example.features.feature.items():
        kind = feature.WhichOneof("kind")
        values = list(getattr(feature, kind).value) if kind else []
        if kind == "bytes_list":
            values = [{"b64": base64.b64encode(v).decode()} for v in values]
        out[name] = values
    return out
