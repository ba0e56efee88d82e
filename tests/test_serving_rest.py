"""The REST API, metrics, limits, batching and warmup of the development server, on a tiny SavedModel.

The HTTP requests here are written from TF Serving's REST documentation with the standard library,
not with the project's client, so they check the API itself.
"""

from __future__ import annotations

import base64
import json
import socket
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import grpc
import numpy as np
import pytest
import tensorflow as tf
from helpers.dev_server import http, serving
from helpers.toy_model import toy_example, write_toy_model
from tensorflow_serving.apis import predict_pb2, prediction_log_pb2, prediction_service_pb2_grpc

from serving.batching import Batcher, BatchingOptions
from serving.client import ServingClient, ServingError
from serving.model_store import ModelStore, sources_from_root
from serving.rest_client import RestClient
from serving.server import PortInUseError, ServerOptions, ServingServer


@pytest.fixture()
def root(tmp_path: Path) -> Path:
    write_toy_model(str(tmp_path / "toy"), 1)
    return tmp_path


@pytest.fixture()
def server(root: Path) -> Iterator[ServingServer]:
    with serving(root, rest_api_port=-1, max_batch_size=100) as running:
        yield running


def test_status_and_metadata(server: ServingServer) -> None:
    code, kind, body = http(server, "GET", "/v1/models/toy")
    assert code == 200 and kind == "application/json"
    assert json.loads(body) == {
        "model_version_status": [
            {"version": "1", "state": "AVAILABLE", "status": {"error_code": "OK", "error_message": ""}}
        ]
    }
    assert json.loads(http(server, "GET", "/v1/models/toy/versions/1")[2])["model_version_status"][0]["version"] == "1"
    code, _, body = http(server, "GET", "/v1/models/toy/metadata")
    metadata = json.loads(body)
    assert code == 200 and metadata["model_spec"] == {"name": "toy", "signature_name": "", "version": "1"}
    raw = metadata["metadata"]["signature_def"]["signature_def"]["serving_raw"]
    assert raw["inputs"]["x"]["dtype"] == "DT_FLOAT" and raw["method_name"] == "tensorflow/serving/predict"
    assert [d["size"] for d in raw["inputs"]["x"]["tensor_shape"]["dim"]] == ["-1", "2"]


def test_predict_in_the_row_and_the_columnar_format(server: ServingServer) -> None:
    rows = {"signature_name": "serving_raw", "instances": [[1.0, 2.0], [0.5, 0.0]]}
    code, _, body = http(server, "POST", "/v1/models/toy:predict", rows)
    answer = json.loads(body)
    assert code == 200 and [p["y"] for p in answer["predictions"]] == [3.0, 0.5]
    assert len(answer["predictions"][0]["scores"]) == 2  # several outputs: one object per row
    columns = {"signature_name": "serving_raw", "inputs": {"x": [[1.0, 2.0]]}}
    assert json.loads(http(server, "POST", "/v1/models/toy/versions/1:predict", columns)[2])["outputs"]["y"] == [3.0]
    # serving_default takes serialized tf.Examples: binary strings are sent as {"b64": ...}.
    example = base64.b64encode(toy_example(1.0, 2.0).SerializeToString()).decode()
    answer = json.loads(http(server, "POST", "/v1/models/toy:predict", {"instances": [{"b64": example}]})[2])
    assert answer == {"predictions": [3.0]}  # one output: the values themselves


def test_classify_and_regress(server: ServingServer) -> None:
    body = {"signature_name": "classification", "examples": [{"x": [1.0, 2.0]}, {"x": [-1.0, -2.0]}]}
    code, _, answer = http(server, "POST", "/v1/models/toy:classify", body)
    results = json.loads(answer)["results"]
    assert code == 200 and [max(r, key=lambda e: e[1])[0] for r in results] == ["high", "low"]
    body = {"signature_name": "regression", "context": {"x": [0.0, 1.0]}, "examples": [{}, {"x": [2.0, 3.0]}]}
    assert json.loads(http(server, "POST", "/v1/models/toy:regress", body)[2]) == {"results": [1.0, 5.0]}


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "message"),
    [
        ("GET", "/v1/models/nope", None, 404, "Could not find any versions of model nope"),
        ("POST", "/v1/models/nope:predict", {"instances": [1]}, 404, "Servable not found for request: Latest(nope)"),
        ("POST", "/v1/models/toy/versions/9:predict", {"instances": [1]}, 404, "Specific(toy, 9)"),
        (
            "POST",
            "/v1/models/toy/labels/canary:predict",
            {"instances": [1]},
            400,
            "Unrecognized servable version label",
        ),
        ("POST", "/v1/models/toy:predict", {"signature_name": "nope", "instances": [1]}, 400, 'name: "nope" not found'),
        (
            "POST",
            "/v1/models/toy:predict",
            {"signature_name": "serving_raw"},
            400,
            "Missing 'inputs' or 'instances' key",
        ),
        (
            "POST",
            "/v1/models/toy:predict",
            {"signature_name": "serving_raw", "instances": [[1.0]], "inputs": [[1.0]]},
            400,
            "expecting only one of 'inputs' or 'instances'",
        ),
        (
            "POST",
            "/v1/models/toy:predict",
            {"signature_name": "serving_raw", "instances": [[1.0, 2.0], [1.0]]},
            400,
            "Encountered list at unexpected size: 1 at level: 1 expected size: 2",
        ),
        (
            "POST",
            "/v1/models/toy:predict",
            {"signature_name": "serving_raw", "instances": [["a", "b"]]},
            400,
            "Type: String is not of expected type: float32",
        ),
        (
            "POST",
            "/v1/models/toy:predict",
            {"signature_name": "serving_raw", "instances": [[1.0, 2.0]] * 101},
            400,
            "Task size 101 is larger than maximum input batch size 100",
        ),
        ("POST", "/v1/models/toy:predict", {"instances": [{"b64": "not base64!"}]}, 400, "Unable to base64 decode"),
        ("POST", "/v1/models/toy:regress", {"examples": []}, 400, "'examples' value is an empty array"),
        ("POST", "/v1/models/toy:predict", {"signature_name": "serving_raw", "instances": []}, 400, "No values in"),
        ("GET", "/v1/models/toy:predict", None, 400, "Malformed request: GET /v1/models/toy:predict"),
        ("DELETE", "/v1/models/toy", None, 400, "Malformed request: DELETE /v1/models/toy"),
        ("GET", "/v1/models", None, 400, "Missing model name in request."),
    ],
)
@pytest.mark.reliability
def test_errors_have_tf_servings_http_status_and_json(
    server: ServingServer, method: str, path: str, body: object, status: int, message: str
) -> None:
    code, kind, answer = http(server, method, path, body)
    assert (code, kind) == (status, "application/json")
    assert message in json.loads(answer)["error"]
    assert http(server, "GET", "/v1/models/toy")[0] == 200  # and the server serves on


@pytest.mark.reliability
def test_malformed_json_an_invalid_example_and_unknown_paths(server: ServingServer) -> None:
    code, _, answer = http(server, "POST", "/v1/models/toy:predict", raw=b'{"instances": [1,')
    assert code == 400 and json.loads(answer)["error"].startswith("JSON Parse error: ")
    assert json.loads(http(server, "POST", "/v1/models/toy:predict", raw=b"")[2])["error"] == (
        "JSON Parse error: The document is empty"
    )
    bad = base64.b64encode(b"\xff\xffnot a proto").decode()
    code, _, answer = http(server, "POST", "/v1/models/toy:predict", {"instances": [{"b64": bad}]})
    assert code == 400 and "Could not parse example input" in json.loads(answer)["error"]
    code, kind, _ = http(server, "GET", "/v2/models/toy")
    assert code == 404 and kind == "text/html"


def test_prometheus_metrics_count_requests_by_model_and_status(server: ServingServer) -> None:
    http(server, "POST", "/v1/models/toy:predict", {"signature_name": "serving_raw", "instances": [[1.0, 2.0]]})
    http(server, "POST", "/v1/models/toy:predict", {"signature_name": "serving_raw", "instances": [["x"]]})
    with ServingClient(server.target) as client:
        client.predict("toy", {"x": np.ones((1, 2), np.float32)}, signature="serving_raw")
    code, kind, text = http(server, "GET", "/monitoring/prometheus/metrics")
    text = text.decode()
    assert code == 200 and kind.startswith("text/plain")
    assert ':tensorflow:serving:request_count_total{label="",model_name="toy",status="OK",version="1"} 2.0' in text
    assert (
        ':tensorflow:serving:request_count_total{label="",model_name="toy",status="INVALID_ARGUMENT",version=""} 1.0'
        in text
    )
    latency = (
        ':tensorflow:serving:request_latency_count{API="%s",entrypoint="%s",label="",model_name="toy",version="1"} 1.0'
    )
    assert latency % ("predict", "REST") in text and latency % ("Predict", "GRPC") in text
    assert ':tensorflow:serving:runtime_latency_bucket{API="Predict",le="+Inf",model_name="toy",runtime="TF2"}' in text


def test_the_rest_client_works_like_the_grpc_one(server: ServingServer) -> None:
    with RestClient(server.rest_url) as rest, ServingClient(server.target) as grpc_client:
        x = np.array([[1.0, 2.0], [3.0, 4.0]], np.float32)
        rest_out, _ = rest.predict("toy", {"x": x}, signature="serving_raw")
        grpc_out, _ = grpc_client.predict("toy", {"x": x}, signature="serving_raw")
        np.testing.assert_allclose(rest_out["scores"], grpc_out["scores"], rtol=1e-6)
        assert rest.signatures("toy")["serving_raw"].inputs["x"].dtype == tf.float32.as_datatype_enum
        assert rest.status("toy") == {1: "AVAILABLE"} and rest.regress("toy", [toy_example(1.0, 1.0)]) == [2.0]
        with pytest.raises(ServingError) as error:
            rest.predict("nope", {"x": x})
        assert error.value.code == grpc.StatusCode.NOT_FOUND


def _grpc_predict(server: ServingServer, tensor: object) -> grpc.RpcError:
    request = predict_pb2.PredictRequest()
    request.model_spec.name, request.model_spec.signature_name = "toy", "serving_raw"
    request.inputs["x"].CopyFrom(tensor)
    with grpc.insecure_channel(server.target) as channel, pytest.raises(grpc.RpcError) as error:
        prediction_service_pb2_grpc.PredictionServiceStub(channel).Predict(request, timeout=10)
    return error.value


@pytest.mark.reliability
def test_a_tiny_request_cannot_ask_for_a_huge_batch(server: ServingServer) -> None:
    """55 bytes declaring 20,000 rows and carrying no values: refused before anything is allocated or run."""
    tensor = tf.make_tensor_proto(np.zeros((0,), np.float32))
    tensor.tensor_shape.Clear()
    tensor.tensor_shape.dim.add(size=20000)
    tensor.tensor_shape.dim.add(size=2)
    error = _grpc_predict(server, tensor)
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert error.details() == "Task size 20000 is larger than maximum input batch size 100"
    tensor.tensor_shape.dim[0].size = 50  # within the limit, but it carries no values: refused, not zero-filled
    error = _grpc_predict(server, tensor)
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "it carries 0 values, its shape [50, 2] needs 100" in error.details()
    empty = tf.make_tensor_proto(np.zeros((0, 2), np.float32))
    error = _grpc_predict(server, empty)
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT and "empty batch" in error.details()


@pytest.mark.reliability
def test_a_second_server_on_a_busy_port_refuses_to_start(server: ServingServer, root: Path) -> None:
    store = ModelStore(lambda: sources_from_root(str(root)))
    with pytest.raises(PortInUseError, match="the port is in use"):
        ServingServer(store, ServerOptions(port=server.port))
    with pytest.raises(OSError, match="for the REST API .* the port is in use"):
        ServingServer(store, ServerOptions(port=0, rest_api_port=server.rest.port))
    with socket.create_connection(("127.0.0.1", server.port), timeout=5):
        pass  # the first server still owns its port


def test_batching_runs_concurrent_requests_in_fewer_model_calls(root: Path) -> None:
    store = ModelStore(lambda: sources_from_root(str(root)), poll_seconds=3600)
    # Two worker threads, twelve clients: a request waiting for its batch holds no thread.
    batching = BatchingOptions(max_batch_size=16, batch_timeout_micros=50_000)
    options = ServerOptions(port=0, workers=2, batching=batching)
    with ServingServer(store, options) as server:
        answers: dict[int, float] = {}
        barrier = threading.Barrier(12)

        def send(i: int) -> None:
            with ServingClient(server.target) as client:
                barrier.wait()
                y = client.predict("toy", {"x": np.full((1, 2), i, np.float32)}, signature="serving_raw")[0]["y"]
                answers[i] = float(y[0])

        threads = [threading.Thread(target=send, args=(i,)) for i in range(12)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert answers == {i: 2.0 * i for i in range(12)}  # each client got its own row back
        assert server.batcher.batches <= 4  # not one call per request, nor one per worker thread


@pytest.mark.reliability
def test_a_failing_request_does_not_fail_its_batch_neighbours() -> None:
    batcher = Batcher(BatchingOptions(max_batch_size=8, batch_timeout_micros=50_000, num_batch_threads=1))

    def run(inputs: dict) -> dict:
        if (inputs["x"] < 0).any():
            raise ValueError("negative")
        return {"y": inputs["x"] * 2}

    results: dict[int, object] = {}

    def send(i: int) -> None:
        try:
            results[i] = batcher.run("k", {"x": np.array([[i]])}, run)["y"].tolist()
        except ValueError as err:
            results[i] = str(err)

    threads = [threading.Thread(target=send, args=(i,)) for i in (1, -1, 2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    batcher.stop()
    assert results == {1: [[2]], -1: "negative", 2: [[4]]}


def test_batcher_answers_asyncio_requests_and_runs_a_full_batch_without_waiting_for_the_timeout() -> None:
    import asyncio

    # A full batch must not wait for the (huge) timeout; a request its client cancelled gets nothing.
    batcher = Batcher(BatchingOptions(max_batch_size=4, batch_timeout_micros=600_000_000, num_batch_threads=1))
    calls: list[int] = []

    def run(inputs: dict) -> dict:
        calls.append(len(inputs["x"]))
        return {"y": inputs["x"] * 2}

    async def scenario() -> list:
        loop = asyncio.get_running_loop()
        waiting = [batcher.submit("k", {"x": np.array([[i]])}, run, loop) for i in range(4)]
        assert all(isinstance(f, asyncio.Future) for f in waiting)
        waiting[0].cancel()  # the client went away
        answers = await asyncio.wait_for(asyncio.gather(*waiting[1:]), timeout=60)
        return [a["y"].tolist() for a in answers]

    try:
        assert asyncio.run(scenario()) == [[[2]], [[4]], [[6]]]
        assert calls == [4]  # one model call for the four requests
    finally:
        batcher.stop()


@pytest.mark.reliability
def test_a_batch_whose_outputs_cannot_be_split_runs_each_request_alone_and_odd_errors_reach_their_request() -> None:
    # One batch thread, three requests in one batch: the first call returns a summary without a row per
    # input (not splittable), so each request runs alone; one of them raises StopIteration, which a
    # future cannot carry: that request gets a RuntimeError naming it, the others their own answers,
    # and the thread serves on.
    batcher = Batcher(BatchingOptions(max_batch_size=3, batch_timeout_micros=600_000_000, num_batch_threads=1))
    calls: list[int] = []

    def run(inputs: dict) -> dict:
        calls.append(len(inputs["x"]))
        if (inputs["x"] == 7).any() and len(inputs["x"]) == 1:
            raise StopIteration("seven")
        return {"total": np.sum(inputs["x"], axis=0)}

    try:
        waiting = [batcher.submit("k", {"x": np.array([[i]])}, run) for i in (1, 7, 2)]
        assert waiting[0].result(timeout=60)["total"].tolist() == [1]
        assert waiting[2].result(timeout=60)["total"].tolist() == [2]
        with pytest.raises(RuntimeError, match="StopIteration: seven"):
            waiting[1].result(timeout=60)
        assert calls == [3, 1, 1, 1]  # the joined call, then each request alone
        again = [batcher.submit("k", {"x": np.array([[i]])}, run) for i in (3, 4, 5)]
        assert [f.result(timeout=60)["total"].tolist() for f in again] == [[3], [4], [5]]
    finally:
        batcher.stop()


def _warmup(model_dir: Path, records: list[prediction_log_pb2.PredictionLog]) -> None:
    (model_dir / "assets.extra").mkdir(exist_ok=True)
    with tf.io.TFRecordWriter(str(model_dir / "assets.extra" / "tf_serving_warmup_requests")) as writer:
        for record in records:
            writer.write(record.SerializeToString())


def _predict_log(x: list[list[float]]) -> prediction_log_pb2.PredictionLog:
    log = prediction_log_pb2.PredictionLog()
    log.predict_log.request.model_spec.signature_name = "serving_raw"
    log.predict_log.request.inputs["x"].CopyFrom(tf.make_tensor_proto(np.array(x, np.float32)))
    return log


@pytest.mark.reliability
def test_warmup_requests_are_replayed_before_a_version_serves_and_a_bad_one_fails_the_load(root: Path) -> None:
    good = Path(write_toy_model(str(root / "warm"), 1))
    classify = prediction_log_pb2.PredictionLog()
    classify.classify_log.request.model_spec.signature_name = "classification"
    classify.classify_log.request.input.example_list.examples.add().CopyFrom(toy_example(1.0, 2.0))
    _warmup(good, [_predict_log([[1.0, 2.0]]), classify])
    bad = Path(write_toy_model(str(root / "broken_warmup"), 1))
    _warmup(bad, [_predict_log([[1.0, 2.0, 3.0]])])  # the wrong shape for this model
    store = ModelStore(lambda: sources_from_root(str(root)))
    store.poll(settle=False)
    assert store.get("warm").warmup_records == 2 and store.get("toy").warmup_records == 0
    (status,) = store.status("broken_warmup")
    assert status.state == "END" and "warmup request 1" in status.error and "expected shape [?,2]" in status.error


def test_an_empty_feature_list_is_a_missing_value_of_any_type() -> None:
    """``{"age": []}`` in a classify/regress example: a feature with no kind, as TF Serving's json_tensor.cc makes."""
    from serving.json_tensor import parse_examples

    (serialized,) = parse_examples({"examples": [{"age": [], "name": ["x"]}]})
    parsed = tf.io.parse_example([serialized], {"age": tf.io.VarLenFeature(tf.float32)})
    assert parsed["age"].values.numpy().tolist() == []  # not refused as "Actual type: string"


@pytest.mark.reliability
def test_hostile_json_is_a_400_naming_the_problem(server: ServingServer) -> None:
    """Deep nesting, numbers beyond the input's type: 400 with the reason, never a 500."""
    deep = b"[" * 100_000 + b"]" * 100_000
    code, _, body = http(server, "POST", "/v1/models/toy:predict", raw=deep)
    assert code == 400 and "nested too deeply" in json.loads(body)["error"]
    huge = {"instances": [[10**400, 1]], "signature_name": "serving_raw"}  # beyond float64, let alone float32
    code, _, body = http(server, "POST", "/v1/models/toy:predict", huge)
    assert code == 400 and "input 'x'" in json.loads(body)["error"] and "out of range for float32" in body.decode()


@pytest.mark.reliability
def test_integers_out_of_an_inputs_range_are_refused_not_wrapped() -> None:
    """300 as uint8 would silently become 44 and change the answer; -1 would become 255."""
    from serving.json_tensor import json_tensor
    from serving.status import RequestError

    assert json_tensor([[0, 255]], np.uint8, "uint8", "image").tolist() == [[0, 255]]
    for value in (300, -1, 10**30):
        with pytest.raises(RequestError, match=rf"input 'image': {value} is out of range for uint8 \(0\.\.255\)"):
            json_tensor([[0, value]], np.uint8, "uint8", "image")


@pytest.mark.reliability
def test_a_misshapen_or_oversized_body_is_refused_before_its_values_are_read(
    server: ServingServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The lists' shape is checked against the signature's first: no value of a refused body is converted."""
    from serving import json_tensor

    read = []
    real_leaf = json_tensor._leaf
    monkeypatch.setattr(json_tensor, "_leaf", lambda *a: read.append(1) or real_leaf(*a))
    wide = {"instances": [[1.0] * 10] * 5, "signature_name": "serving_raw"}  # rows of 10 for an input of 2
    code, _, body = http(server, "POST", "/v1/models/toy:predict", wide)
    assert code == 400 and "not compatible with expected shape [?,2]" in json.loads(body)["error"]
    many = {"instances": [[1.0, 2.0]] * 101, "signature_name": "serving_raw"}  # the fixture's limit is 100 rows
    code, _, body = http(server, "POST", "/v1/models/toy:predict", many)
    assert code == 400 and "Task size 101 is larger than maximum input batch size 100" in body.decode()
    assert read == []
    assert (
        http(server, "POST", "/v1/models/toy:predict", {"instances": [[1.0, 2.0]], "signature_name": "serving_raw"})[0]
        == 200
    )


@pytest.mark.reliability
def test_made_up_model_names_do_not_grow_the_metrics(server: ServingServer) -> None:
    for i in range(30):
        http(server, "GET", f"/v1/models/nope{i}")
    http(server, "GET", "/v1/models/toy")
    metrics = http(server, "GET", "/monitoring/prometheus/metrics")[2].decode()
    assert 'model_name="<unknown>",status="NOT_FOUND",version=""} 30.0' in metrics
    assert "nope" not in metrics and 'model_name="toy"' in metrics


@pytest.mark.reliability
def test_no_error_a_client_gets_carries_a_server_path_or_a_traceback(server: ServingServer, root: Path) -> None:
    """A broken version's status, and the errors of every kind of bad request, over REST and gRPC."""
    from helpers.dev_server import grpc_client

    ones = np.ones((2, 2), np.float32)
    broken = root / "toy" / "9"
    broken.mkdir()
    (broken / "saved_model.pb").write_bytes(b"not a SavedModel")
    server.store.poll(settle=False)
    answers = [http(server, "GET", "/v1/models/toy")[2].decode()]
    for body in (b"{", b"[" * 5000, b'{"instances": [[1, "a"]], "signature_name": "serving_raw"}', b'{"x": 1}'):
        answers.append(http(server, "POST", "/v1/models/toy:predict", raw=body)[2].decode())
    answers.append(http(server, "POST", "/v1/models/toy:classify", {"examples": [{"x": [[1]]}]})[2].decode())
    answers.append(http(server, "GET", "/v1/models/toy/versions/9/metadata")[2].decode())
    with grpc_client(server) as client:
        for call in (
            lambda: client.predict("toy", {"x": np.ones((2, 3), np.float32)}, signature="serving_raw"),
            lambda: client.predict("toy", {"x": ones}, signature="nope"),
            lambda: client.predict("missing", {"x": ones}),
        ):
            with pytest.raises(ServingError) as error:
                call()
            answers.append(str(error.value))
    assert "failed to load" in answers[0] or "END" in answers[0]
    for answer in answers:
        assert str(root) not in answer and "/tmp" not in answer and "Traceback" not in answer, answer


@pytest.mark.reliability
def test_max_message_mb_bounds_a_rest_body_as_it_bounds_a_grpc_message(root: Path) -> None:
    body = json.dumps({"instances": [[1.0, 2.0]] * 120_000, "signature_name": "serving_raw"}).encode()  # ~1.4 MB
    assert len(body) > 1024 * 1024
    with serving(root, rest_api_port=-1, max_message_mb=1) as server:
        try:
            code = http(server, "POST", "/v1/models/toy:predict", raw=body)[0]
        except (urllib.error.URLError, ConnectionError):
            code = None  # the server closed the connection on a body over its limit
        assert code != 200
        assert http(server, "GET", "/v1/models/toy")[0] == 200  # and goes on serving


@pytest.mark.reliability
def test_a_decompression_bomb_is_refused_from_its_header_on_every_api(server: ServingServer) -> None:
    """A 20,000 x 20,000 PNG in a tf.Example (classify, Predict on examples) or as a raw string: refused unread."""
    from helpers.data import png_claiming
    from helpers.dev_server import grpc_client

    from serving.image_headers import image_size

    bomb = png_claiming(20_000, 20_000)
    assert image_size(bomb) == ("PNG", 20_000, 20_000) and image_size(b"not an image") is None
    example = tf.train.Example()
    example.features.feature["x"].bytes_list.value.append(bomb)
    b64 = base64.b64encode(bomb).decode()
    code, _, body = http(server, "POST", "/v1/models/toy:classify", {"examples": [{"x": {"b64": b64}}]})
    assert code == 400 and "feature 'x' of example 0 is a 20000 x 20000 PNG" in json.loads(body)["error"]
    with grpc_client(server) as client:
        for call in (
            lambda: client.classify("toy", [example]),
            lambda: client.predict("toy", {"examples": np.array([example.SerializeToString()], dtype=object)}),
        ):
            with pytest.raises(ServingError, match="20000 x 20000 PNG, more than this server decodes") as error:
                call()
            assert error.value.code == grpc.StatusCode.INVALID_ARGUMENT


@pytest.mark.reliability
def test_a_body_longer_than_its_signature_could_need_is_refused_unparsed(
    server: ServingServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ten million numbers for an input of 2 per row (at most 100 rows here): refused before json.loads."""
    from serving import json_tensor

    parsed = []
    real = json_tensor.json_body
    monkeypatch.setattr(json_tensor, "json_body", lambda text: parsed.append(1) or real(text))
    body = b'{"signature_name": "serving_raw", "instances": [' + b"[0.5, 0.5], " * 200_000 + b"[0.5, 0.5]]}"
    code, _, answer = http(server, "POST", "/v1/models/toy:predict", raw=body)
    assert code == 400 and parsed == []
    assert "signature 'serving_raw' takes at most 100 rows, 200 numbers" in json.loads(answer)["error"]
    ok = {"signature_name": "serving_raw", "instances": [[-1.2345678901234567e-300, 2.0]] * 100}  # the most it takes
    assert http(server, "POST", "/v1/models/toy:predict", ok)[0] == 200


@pytest.mark.reliability
def test_a_gzip_body_is_uncompressed_as_tf_serving_does_and_a_bomb_is_refused(root: Path) -> None:
    import gzip

    with serving(root, rest_api_port=-1, max_message_mb=1) as running:
        rows = {"signature_name": "serving_raw", "instances": [[1.0, 2.0], [0.5, 0.0]]}
        request = urllib.request.Request(
            f"{running.rest_url}/v1/models/toy:predict",
            data=gzip.compress(json.dumps(rows).encode()),
            headers={"Content-Encoding": "gzip"},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            assert [p["y"] for p in json.loads(response.read())["predictions"]] == [3.0, 0.5]
        bomb = gzip.compress(b"[" + b" " * (8 * 1024 * 1024) + b"]")  # 8 MB once uncompressed, over the 1 MB limit
        request = urllib.request.Request(
            f"{running.rest_url}/v1/models/toy:predict", data=bomb, headers={"Content-Encoding": "gzip"}, method="POST"
        )
        with pytest.raises((urllib.error.HTTPError, urllib.error.URLError, ConnectionError)):
            urllib.request.urlopen(request, timeout=30)
        assert http(running, "GET", "/v1/models/toy")[0] == 200  # and the server goes on


@pytest.mark.reliability
def test_idle_connections_are_closed_and_their_number_is_bounded(root: Path) -> None:
    """A slow-loris client: sockets that never finish a request are closed, and cannot hold every descriptor."""
    import socket
    import time

    with serving(root, rest_api_port=-1, rest_idle_seconds=0.5, rest_max_connections=4) as running:
        host, port = running.rest_url.removeprefix("http://").rsplit(":", 1)
        dribbling = [socket.create_connection((host, int(port)), timeout=10) for _ in range(6)]
        for sock in dribbling:
            sock.sendall(b"POST /v1/models/toy:predict HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{")
        closed = 0
        deadline = time.monotonic() + 10
        for sock in dribbling:  # every one is closed by the server: over the limit at once, the others when idle
            sock.settimeout(max(0.1, deadline - time.monotonic()))
            try:
                closed += sock.recv(1024) == b""
            except ConnectionResetError:
                closed += 1
            sock.close()
        assert closed == 6
        assert http(running, "GET", "/v1/models/toy")[0] == 200  # a new client is served


@pytest.mark.reliability
def test_predict_batch_longer_than_the_servers_limit_is_sent_in_requests_it_takes(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    """`Task size 250 is larger than maximum input batch size 100` was the answer; now four requests are sent."""
    from pipelines.cli import main

    class Rows(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([None], tf.float32, name="a")])
        def raw(self, a: tf.Tensor) -> dict[str, tf.Tensor]:
            return {"y": a + 1.0}

    rows = Rows()
    models = tmp_path / "models"
    tf.saved_model.save(
        rows, str(models / "rows" / "1"), signatures={"serving_default": rows.raw, "serving_raw": rows.raw}
    )
    batch = tmp_path / "rows.jsonl"
    batch.write_text("".join(json.dumps({"a": float(i)}) + "\n" for i in range(250)))
    with serving(models, max_batch_size=100) as running:
        argv = ["predict", "rows", "--batch", str(batch), "--server", running.target, "--json"]
        assert main(argv) == 2  # one request of 250 rows: the server's limit, named
        assert "larger than maximum input batch size 100" in capsys.readouterr().err
        assert main([*argv, "--request-rows", "100"]) == 0
    answers = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert len(answers) == 250 and answers[249]["input"] == f"{batch}:250"
    assert [a["values"]["y"] for a in answers[:3]] == [pytest.approx(1.0), pytest.approx(2.0), pytest.approx(3.0)]


def test_liveness_and_readiness_need_no_model_name_and_readiness_waits_for_the_load(tmp_path: Path) -> None:
    """`/readyz` is 503 while a configured model serves no version (loading, its warmup replaying), then 200."""
    (tmp_path / "toy").mkdir()  # a model folder without a version yet
    with serving(tmp_path, rest_api_port=-1) as running:
        assert http(running, "GET", "/healthz")[:1] == (200,)
        code, kind, body = http(running, "GET", "/readyz")
        assert code == 503 and kind == "application/json"
        assert json.loads(body) == {"status": "not ready", "models": {"toy": {"version": None}}, "waiting_for": ["toy"]}
        write_toy_model(str(tmp_path / "toy"), 3)
        running.store.poll()  # seen, not yet settled: LOADING
        assert http(running, "GET", "/readyz")[0] == 503
        running.store.poll()  # loaded, its warmup replayed: AVAILABLE
        code, _, body = http(running, "GET", "/readyz")
        assert code == 200 and json.loads(body) == {"status": "ready", "models": {"toy": {"version": 3}}}
        assert http(running, "POST", "/readyz")[0] == 404  # probes are GETs; other methods: any other path
