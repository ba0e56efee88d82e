"""A development server that speaks TensorFlow Serving's gRPC API.

It implements ``tensorflow.serving.PredictionService`` (Predict, Classify, Regress,
GetModelMetadata) and ``tensorflow.serving.ModelService`` (GetModelStatus,
HandleReloadConfigRequest) from the official ``tensorflow-serving-api`` protos and service
definitions, over the same ``<root>/<model>/<version>/`` folders TF Serving reads, so any TF
Serving client works unchanged against it. It is not TF Serving: no request batching, no
REST API, no MultiInference, and it runs the SavedModel through TensorFlow's Python runtime.

Status codes follow TF Serving's (``tensorflow_serving/servables/tensorflow/predict_util.cc``,
``classifier.cc``, ``regressor.cc``, ``get_model_metadata_impl.cc``):

* unknown model or version: NOT_FOUND (``Servable not found for request: Latest(m)``);
* unknown version label: INVALID_ARGUMENT (``Unrecognized servable version label``);
* unknown signature: FAILED_PRECONDITION for Predict (``Serving signature key "s" not found.``),
  INVALID_ARGUMENT for Classify/Regress (``No signature was found with the name``);
* wrong input names, dtypes or shapes, malformed tensors: INVALID_ARGUMENT.

Every request is handled independently: a bad request gets its error and the next one is served.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
from concurrent import futures
from typing import Any

import grpc
import numpy as np
import tensorflow as tf
from google.protobuf import any_pb2
from tensorflow.core.protobuf import meta_graph_pb2
from tensorflow_serving.apis import (
    classification_pb2,
    get_model_metadata_pb2,
    get_model_status_pb2,
    model_management_pb2,
    model_service_pb2_grpc,
    predict_pb2,
    prediction_service_pb2_grpc,
    regression_pb2,
    status_pb2,
)

from common.contract import CLASSIFY_METHOD_NAME, EXAMPLE_SIGNATURE, REGRESS_METHOD_NAME
from serving.model_store import (
    AVAILABLE,
    END,
    LOADING,
    LoadedVersion,
    ModelStore,
    ServableNotFoundError,
    UnknownVersionLabelError,
    sources_from_config,
)

log = logging.getLogger(__name__)

DEFAULT_SIGNATURE = EXAMPLE_SIGNATURE
DEFAULT_MAX_MESSAGE_MB = 64


class RequestError(Exception):
    """An error answered to the client with a gRPC status code."""

    def __init__(self, code: grpc.StatusCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _tf_to_grpc_code(error: tf.errors.OpError) -> grpc.StatusCode:
    # TensorFlow's error codes are gRPC's canonical codes, value for value.
    for code in grpc.StatusCode:
        if code.value[0] == error.error_code:
            return code
    return grpc.StatusCode.INTERNAL


def _handle(method):  # noqa: ANN001, ANN202 - decorator of servicer methods
    """Turn exceptions into gRPC status codes; the server goes on serving."""

    def wrapper(self: Any, request: Any, context: grpc.ServicerContext) -> Any:
        try:
            return method(self, request, context)
        except RequestError as exc:
            context.abort(exc.code, exc.message)
        except ServableNotFoundError as exc:
            context.abort(grpc.StatusCode.NOT_FOUND, str(exc))
        except UnknownVersionLabelError as exc:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
        except tf.errors.OpError as exc:
            context.abort(_tf_to_grpc_code(exc), exc.message)
        except Exception as exc:  # noqa: BLE001 - a bug must not take the server down
            log.exception("%s failed", method.__name__)
            context.abort(grpc.StatusCode.INTERNAL, f"{type(exc).__name__}: {exc}")

    wrapper.__name__ = method.__name__
    wrapper.__doc__ = method.__doc__
    return wrapper


def _resolve(store: ModelStore, model_spec: Any) -> LoadedVersion:
    if not model_spec.name:
        raise RequestError(grpc.StatusCode.INVALID_ARGUMENT, "Missing ModelSpec name")
    choice = model_spec.WhichOneof("version_choice")
    if choice == "version":
        return store.get(model_spec.name, version=model_spec.version.value)
    if choice == "version_label":
        return store.get(model_spec.name, label=model_spec.version_label)
    return store.get(model_spec.name)


def _fill_spec(spec: Any, loaded: LoadedVersion, signature_name: str) -> None:
    spec.name = loaded.model_name
    spec.version.value = loaded.version
    spec.signature_name = signature_name


def _input_specs(function: Any) -> dict[str, tf.TensorSpec]:
    return dict(function.structured_input_signature[1])


def _to_tensor(name: str, proto: Any, spec: tf.TensorSpec) -> tf.Tensor:
    try:
        array = tf.make_ndarray(proto)
    except Exception as exc:  # noqa: BLE001 - any malformed TensorProto
        message = f"input '{name}' is not a valid TensorProto: {exc}"
        raise RequestError(grpc.StatusCode.INVALID_ARGUMENT, message) from None
    got = tf.dtypes.as_dtype(proto.dtype) if proto.dtype else None
    if got != spec.dtype:
        raise RequestError(
            grpc.StatusCode.INVALID_ARGUMENT,
            f"Expects arg '{name}' to be {spec.dtype.name} but {got.name if got else 'no dtype'} is provided",
        )
    if not spec.shape.is_compatible_with(array.shape):
        expected = "[" + ",".join("?" if d is None else str(d) for d in spec.shape.as_list()) + "]"
        raise RequestError(
            grpc.StatusCode.INVALID_ARGUMENT,
            f"input '{name}' has shape {list(array.shape)}, which is not compatible with expected shape {expected}",
        )
    return tf.constant(array, dtype=spec.dtype)


def run_predict(loaded: LoadedVersion, request: predict_pb2.PredictRequest) -> predict_pb2.PredictResponse:
    """Run a PredictRequest on a loaded version, with TF Serving's checks and messages."""
    signature_name = request.model_spec.signature_name or DEFAULT_SIGNATURE
    if signature_name not in loaded.signature_defs:
        raise RequestError(grpc.StatusCode.FAILED_PRECONDITION, f'Serving signature key "{signature_name}" not found.')
    function = loaded.signature(signature_name)
    specs = _input_specs(function)
    sent, expected = set(request.inputs), set(specs)
    if len(sent) == len(expected) and sent != expected:
        alias = sorted(sent - expected)[0]
        raise RequestError(
            grpc.StatusCode.INVALID_ARGUMENT,
            f"input tensor alias not found in signature: {alias}. "
            f"Inputs expected to be in the set {{{','.join(sorted(expected))}}}.",
        )
    if sent != expected:
        raise RequestError(
            grpc.StatusCode.INVALID_ARGUMENT,
            f"input size does not match signature: {len(sent)}!={len(expected)} "
            f"len({{{','.join(sorted(sent))}}}) != len({{{','.join(sorted(expected))}}}). "
            f"Sent extra: {{{','.join(sorted(sent - expected))}}}. "
            f"Missing but required: {{{','.join(sorted(expected - sent))}}}.",
        )
    outputs_def = loaded.signature_defs[signature_name].outputs
    output_filter = list(request.output_filter)
    for alias in output_filter:
        if alias not in outputs_def:
            raise RequestError(
                grpc.StatusCode.INVALID_ARGUMENT,
                f"output tensor alias not found in signature: {alias} Outputs expected to be in the set "
                f"{{{','.join(sorted(outputs_def))}}}.",
            )
    if len(set(output_filter)) != len(output_filter):
        raise RequestError(grpc.StatusCode.INVALID_ARGUMENT, "duplicate output tensor alias")
    tensors = {name: _to_tensor(name, request.inputs[name], spec) for name, spec in specs.items()}
    outputs = function(**tensors)
    response = predict_pb2.PredictResponse()
    _fill_spec(response.model_spec, loaded, signature_name)
    for alias in output_filter or sorted(outputs):
        response.outputs[alias].CopyFrom(tf.make_tensor_proto(outputs[alias].numpy()))
    return response


def _serialized_examples(request_input: Any) -> list[bytes]:
    kind = request_input.WhichOneof("kind")
    if kind == "example_list":
        examples = list(request_input.example_list.examples)
    elif kind == "example_list_with_context":
        context = request_input.example_list_with_context.context
        examples = []
        for example in request_input.example_list_with_context.examples:
            merged = tf.train.Example()
            merged.CopyFrom(context)
            merged.MergeFrom(example)  # the example's own features win over the context's
            examples.append(merged)
    else:
        examples = []
    if not examples:
        raise RequestError(grpc.StatusCode.INVALID_ARGUMENT, "Input is empty.")
    return [e.SerializeToString() for e in examples]


def _inference_signature(
    loaded: LoadedVersion, signature_name: str, method: str, kind: str
) -> tuple[Any, meta_graph_pb2.SignatureDef]:
    signature_def = loaded.signature_defs.get(signature_name)
    if signature_def is None:
        raise RequestError(grpc.StatusCode.INVALID_ARGUMENT, f"No signature was found with the name: {signature_name}")
    if signature_def.method_name != method:
        raise RequestError(
            grpc.StatusCode.INVALID_ARGUMENT,
            f"Expected {kind} signature method_name to be {method}. Was: {signature_def.method_name}",
        )
    if list(signature_def.inputs) != ["inputs"]:
        raise RequestError(grpc.StatusCode.INVALID_ARGUMENT, "Expected one input Tensor named 'inputs'.")
    return loaded.signature(signature_name), signature_def


def run_classify(
    loaded: LoadedVersion, request: classification_pb2.ClassificationRequest
) -> classification_pb2.ClassificationResponse:
    """Run a ClassificationRequest on a ``tensorflow/serving/classify`` signature."""
    signature_name = request.model_spec.signature_name or DEFAULT_SIGNATURE
    function, _ = _inference_signature(loaded, signature_name, CLASSIFY_METHOD_NAME, "classification")
    serialized = _serialized_examples(request.input)
    outputs = function(inputs=tf.constant(serialized))
    classes = outputs["classes"].numpy() if "classes" in outputs else None
    scores = outputs["scores"].numpy() if "scores" in outputs else None
    response = classification_pb2.ClassificationResponse()
    _fill_spec(response.model_spec, loaded, signature_name)
    num_classes = (classes if classes is not None else scores).shape[1]
    for i in range(len(serialized)):
        result = response.result.classifications.add()
        for c in range(num_classes):
            entry = result.classes.add()
            if classes is not None:
                entry.label = classes[i, c].decode()
            if scores is not None:
                entry.score = float(scores[i, c])
    return response


def run_regress(loaded: LoadedVersion, request: regression_pb2.RegressionRequest) -> regression_pb2.RegressionResponse:
    """Run a RegressionRequest on a ``tensorflow/serving/regress`` signature."""
    signature_name = request.model_spec.signature_name or DEFAULT_SIGNATURE
    function, _ = _inference_signature(loaded, signature_name, REGRESS_METHOD_NAME, "regression")
    serialized = _serialized_examples(request.input)
    values = np.reshape(function(inputs=tf.constant(serialized))["outputs"].numpy(), [len(serialized), -1])
    if values.shape[1] != 1:
        raise RequestError(
            grpc.StatusCode.INVALID_ARGUMENT, f"Expected one output value per example, got {values.shape}"
        )
    response = regression_pb2.RegressionResponse()
    _fill_spec(response.model_spec, loaded, signature_name)
    for value in values[:, 0]:
        response.result.regressions.add().value = float(value)
    return response


class PredictionService(prediction_service_pb2_grpc.PredictionServiceServicer):
    """``tensorflow.serving.PredictionService`` over a ``ModelStore``."""

    def __init__(self, store: ModelStore) -> None:
        self.store = store

    @_handle
    def Predict(self, request: predict_pb2.PredictRequest, _context: grpc.ServicerContext) -> Any:
        """Run a signature on input tensors."""
        return run_predict(_resolve(self.store, request.model_spec), request)

    @_handle
    def Classify(self, request: classification_pb2.ClassificationRequest, _context: grpc.ServicerContext) -> Any:
        """Classify tf.Examples with a classification signature."""
        return run_classify(_resolve(self.store, request.model_spec), request)

    @_handle
    def Regress(self, request: regression_pb2.RegressionRequest, _context: grpc.ServicerContext) -> Any:
        """Regress tf.Examples with a regression signature."""
        return run_regress(_resolve(self.store, request.model_spec), request)

    @_handle
    def GetModelMetadata(
        self, request: get_model_metadata_pb2.GetModelMetadataRequest, _context: grpc.ServicerContext
    ) -> Any:
        """The signature definitions of a model version (``metadata_field: "signature_def"``)."""
        if not request.metadata_field:
            raise RequestError(
                grpc.StatusCode.INVALID_ARGUMENT, "GetModelMetadataRequest must specify at least one metadata_field"
            )
        for field in request.metadata_field:
            if field != "signature_def":
                raise RequestError(grpc.StatusCode.INVALID_ARGUMENT, f"Metadata field {field} is not supported")
        loaded = _resolve(self.store, request.model_spec)
        response = get_model_metadata_pb2.GetModelMetadataResponse()
        response.model_spec.name = loaded.model_name
        response.model_spec.version.value = loaded.version
        signature_map = get_model_metadata_pb2.SignatureDefMap()
        for name, signature_def in loaded.signature_defs.items():
            signature_map.signature_def[name].CopyFrom(signature_def)
        packed = any_pb2.Any()
        packed.Pack(signature_map)
        response.metadata["signature_def"].CopyFrom(packed)
        return response


_STATES = {
    LOADING: get_model_status_pb2.ModelVersionStatus.LOADING,
    AVAILABLE: get_model_status_pb2.ModelVersionStatus.AVAILABLE,
    END: get_model_status_pb2.ModelVersionStatus.END,
}


class ModelService(model_service_pb2_grpc.ModelServiceServicer):
    """``tensorflow.serving.ModelService``: version states and config reloads."""

    def __init__(self, store: ModelStore) -> None:
        self.store = store

    @_handle
    def GetModelStatus(
        self, request: get_model_status_pb2.GetModelStatusRequest, _context: grpc.ServicerContext
    ) -> Any:
        """State of every version of a model (or of one version)."""
        spec = request.model_spec
        if not spec.name:
            raise RequestError(grpc.StatusCode.INVALID_ARGUMENT, "Missing ModelSpec name")
        version = spec.version.value if spec.WhichOneof("version_choice") == "version" else None
        response = get_model_status_pb2.GetModelStatusResponse()
        for status in self.store.status(spec.name, version):
            entry = response.model_version_status.add()
            entry.version = status.version
            entry.state = _STATES[status.state]
            if status.error:
                entry.status.error_code = grpc.StatusCode.UNKNOWN.value[0]
                entry.status.error_message = status.error
        return response

    @_handle
    def HandleReloadConfigRequest(
        self, request: model_management_pb2.ReloadConfigRequest, _context: grpc.ServicerContext
    ) -> Any:
        """Replace the served models with the request's ``model_config_list``."""
        try:
            sources = sources_from_config(request.config)
        except ValueError as exc:
            raise RequestError(grpc.StatusCode.INVALID_ARGUMENT, str(exc)) from exc
        self.store.set_sources(sources)
        return model_management_pb2.ReloadConfigResponse(status=status_pb2.StatusProto(error_code=0))


@dataclasses.dataclass(frozen=True)
class ServerOptions:
    """How the server listens. Defaults: loopback only, 64 MB messages, 8 worker threads, no TLS."""

    host: str = "127.0.0.1"
    port: int = 8500
    max_message_mb: int = DEFAULT_MAX_MESSAGE_MB
    workers: int = 8
    tls_cert: str | None = None  # PEM files; both or neither
    tls_key: str | None = None
    tls_client_ca: str | None = None  # if given, clients must present a certificate signed by it

    def validate(self) -> None:
        """Refuse bad values with a message that names the fix."""
        if not 0 <= self.port <= 65535:
            raise ValueError(f"port {self.port} is not in 0..65535 (0 picks a free port)")
        if self.max_message_mb < 1:
            raise ValueError(f"max_message_mb must be >= 1, got {self.max_message_mb}")
        if self.workers < 1:
            raise ValueError(f"workers must be >= 1, got {self.workers}")
        if bool(self.tls_cert) != bool(self.tls_key):
            raise ValueError("TLS needs both a certificate (--tls-cert) and its private key (--tls-key)")
        if self.tls_client_ca and not self.tls_cert:
            raise ValueError("--tls-client-ca needs --tls-cert and --tls-key")


class ServingServer:
    """The gRPC server: both services over one ``ModelStore``. Use as a context manager."""

    def __init__(self, store: ModelStore, options: ServerOptions = ServerOptions()) -> None:
        options.validate()
        self.store = store
        self.options = options
        limit = options.max_message_mb * 1024 * 1024
        self._server = grpc.server(
            futures.ThreadPoolExecutor(max_workers=options.workers, thread_name_prefix="serving"),
            options=[("grpc.max_receive_message_length", limit), ("grpc.max_send_message_length", limit)],
        )
        prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(PredictionService(store), self._server)
        model_service_pb2_grpc.add_ModelServiceServicer_to_server(ModelService(store), self._server)
        address = f"{options.host}:{options.port}"
        if options.tls_cert:
            credentials = grpc.ssl_server_credentials(
                [(_read(options.tls_key), _read(options.tls_cert))],
                root_certificates=_read(options.tls_client_ca) if options.tls_client_ca else None,
                require_client_auth=bool(options.tls_client_ca),
            )
            self.port = self._server.add_secure_port(address, credentials)
        else:
            self.port = self._server.add_insecure_port(address)
        if self.port == 0:
            raise OSError(f"could not listen on {address} (is the port in use?)")

    @property
    def target(self) -> str:
        """``host:port`` for clients."""
        return f"{self.options.host}:{self.port}"

    def start(self) -> ServingServer:
        """Load the models, start polling and serving."""
        self.store.start()
        self._server.start()
        return self

    def stop(self, grace: float = 2.0) -> None:
        """Finish in-flight requests (up to ``grace`` seconds), then stop."""
        self._server.stop(grace).wait()
        self.store.stop()

    def wait(self) -> None:
        """Block until the server stops."""
        self._server.wait_for_termination()

    def __enter__(self) -> ServingServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _read(path: str | None) -> bytes:
    with open(path, "rb") as f:  # type: ignore[arg-type]
        return f.read()


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
