"""Request logging (TF Serving's ``logging_config``): sampled PredictionLog records, bounded in memory and on disk.

The logger's own tests drive it with records of known size; the server's tests send real gRPC and
REST requests to the development server and read the files back as TF Serving's protos.
"""

from __future__ import annotations

import json
import random
import threading
import urllib.request
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
from google.protobuf import text_format
from helpers.dev_server import grpc_client
from helpers.toy_model import toy_example, write_toy_model
from tensorflow_serving.apis import predict_pb2, regression_pb2
from tensorflow_serving.config import model_server_config_pb2

from serving.metrics import MAX_VERSIONS, ServingMetrics
from serving.model_store import ModelSource, ModelStore, read_model_config_file
from serving.request_log import LogConfig, RequestLogger, log_files, logging_proto, read_logs
from serving.server import ServerOptions, ServingServer
from serving.tensors import to_array


def _record(size: int = 200) -> bytes:
    return b"x" * size


def _logger(tmp_path: Path, rate: float, **options: object) -> tuple[RequestLogger, dict[tuple[str, str], int]]:
    counts: dict[tuple[str, str], int] = {}

    def count(model: str, outcome: str) -> None:
        counts[(model, outcome)] = counts.get((model, outcome), 0) + 1

    config = LogConfig(str(tmp_path / "logs" / "m" / "requests"), rate)
    logger = RequestLogger(lambda name: config if name == "m" else None, count=count, **options)  # type: ignore[arg-type]
    return logger, counts


def _offer(logger: RequestLogger, version: int = 1, size: int = 200) -> bool:
    return logger.offer("m", version, "serving_raw", "predict", lambda: _record(size), lambda: b"")


def test_requests_are_logged_at_the_sampling_rate(tmp_path: Path) -> None:
    logger, counts = _logger(tmp_path, 0.3, rng=random.Random(7))
    sampled = 0
    for _ in range(10_000):
        if logger.sample("m") is not None:
            sampled += 1
            assert _offer(logger)
    assert logger.sample("other") is None  # a model without logging_config is never sampled
    assert logger.flush()
    logger.stop()
    records = read_logs(log_files(str(tmp_path / "logs")))
    assert abs(sampled / 10_000 - 0.3) <= 0.02 and len(records) == sampled == counts[("m", "written")]
    meta = records[0].log_metadata
    assert (
        meta.model_spec.name == "m" and meta.model_spec.version.value == 1 and meta.sampling_config.sampling_rate == 0.3
    )
    assert records[0].predict_log.request.SerializeToString() == _record()  # the request's bytes, as they were


def test_the_disk_bound_deletes_the_oldest_files(tmp_path: Path) -> None:
    # 10 KB files, 40 KB in all: 2,000 records of ~260 bytes (520 KB) leave the newest four files.
    logger, counts = _logger(tmp_path, 1.0, max_file_mb=10 / 1024, max_total_mb=40 / 1024)
    for version in range(2000):
        _offer(logger, version=version)
    logger.stop()
    files = log_files(str(tmp_path / "logs" / "m" / "requests"))
    total = sum(Path(f).stat().st_size for f in files)
    assert total <= 40 * 1024 and len(files) >= 3 and counts[("m", "deleted_files")] >= 40
    versions = [r.log_metadata.model_spec.version.value for r in read_logs(files)]
    assert versions == sorted(versions) and versions[-1] == 1999  # what is left is the newest, in order
    assert not list((tmp_path / "logs" / "m").glob("*.partial"))  # every file closed and renamed


@pytest.mark.reliability
def test_a_full_queue_drops_records_and_never_waits(tmp_path: Path) -> None:
    taken, release = threading.Event(), threading.Event()

    def held() -> bytes:  # the writer takes this record first and waits in it
        taken.set()
        assert release.wait(30)
        return _record()

    logger, counts = _logger(tmp_path, 1.0, queue_records=5)
    logger.offer("m", 1, "serving_raw", "predict", held, lambda: b"")
    assert taken.wait(30)
    accepted = [_offer(logger) for _ in range(20)]  # a blocking offer would never return: the writer is held
    release.set()
    logger.stop()
    assert accepted == [True] * 5 + [False] * 15 and counts[("m", "dropped")] == 15
    assert counts[("m", "written")] == 6


def test_logging_config_is_read_from_the_model_config_and_bad_ones_are_named(tmp_path: Path) -> None:
    config = model_server_config_pb2.ModelServerConfig()
    entry = config.model_config_list.config.add(name="toy", base_path=str(tmp_path / "toy"))
    entry.logging_config.CopyFrom(logging_proto(str(tmp_path / "logs"), "toy", 0.25))
    path = tmp_path / "models.config"
    path.write_text(text_format.MessageToString(config))
    (source,) = read_model_config_file(str(path))
    assert source.request_log == LogConfig(str(tmp_path / "logs" / "toy" / "requests"), 0.25)
    entry.logging_config.log_collector_config.type = "kafka"
    path.write_text(text_format.MessageToString(config))
    with pytest.raises(ValueError, match=r"type 'kafka' is not one this server has: it writes TFRecord files"):
        read_model_config_file(str(path))
    entry.logging_config.log_collector_config.type = ""
    entry.logging_config.sampling_config.sampling_rate = 1.5
    path.write_text(text_format.MessageToString(config))
    with pytest.raises(ValueError, match="sampling_rate must be between 0 and 1, got 1.5"):
        read_model_config_file(str(path))


def test_the_server_logs_grpc_and_rest_requests_as_tf_serving_prediction_logs(tmp_path: Path) -> None:
    write_toy_model(str(tmp_path / "serving" / "toy"), 3)
    logged = LogConfig(str(tmp_path / "logs" / "toy" / "requests"), 1.0)
    store = ModelStore([ModelSource("toy", str(tmp_path / "serving" / "toy"), request_log=logged)], 3600)
    x = np.array([[1.0, 2.0], [3.0, 4.0]], np.float32)
    with ServingServer(store, ServerOptions(port=0, rest_api_port=-1)) as server:
        with grpc_client(server) as client:
            grpc_answer, _ = client.predict("toy", {"x": x}, signature="serving_raw")
            regressed = client.regress("toy", [toy_example(1.0, 1.0)])
        body = json.dumps({"signature_name": "serving_raw", "instances": x.tolist()}).encode()
        with urllib.request.urlopen(f"{server.rest_url}/v1/models/toy:predict", data=body, timeout=30) as response:
            rest_answer = json.loads(response.read())["predictions"]
        bad = json.dumps({"signature_name": "serving_raw", "instances": [["text"]]}).encode()
        with pytest.raises(urllib.error.HTTPError):  # an error is not an answer: not logged
            urllib.request.urlopen(f"{server.rest_url}/v1/models/toy:predict", data=bad, timeout=30)
        assert server.request_log.flush()
        metrics = urllib.request.urlopen(f"{server.rest_url}/monitoring/prometheus/metrics", timeout=30).read().decode()
    records = read_logs(log_files(str(tmp_path / "logs")))
    assert [r.WhichOneof("log_type") for r in records] == ["predict_log", "regress_log", "predict_log"]
    assert ':tfx_keras:request_log_records_total{model_name="toy",outcome="written"} 3.0' in metrics
    for record, answer in ((records[0], grpc_answer["y"]), (records[2], [row["y"] for row in rest_answer])):
        assert record.log_metadata.model_spec.version.value == 3
        request, response = record.predict_log.request, record.predict_log.response
        assert isinstance(request, predict_pb2.PredictRequest) and request.model_spec.signature_name == "serving_raw"
        np.testing.assert_array_equal(to_array(request.inputs["x"]), x)
        np.testing.assert_allclose(to_array(response.outputs["y"]), answer)
    regress = records[1].regress_log
    assert isinstance(regress.response, regression_pb2.RegressionResponse)
    assert [r.value for r in regress.response.result.regressions] == list(regressed) == [6.0]  # version 3: x3
    example = tf.train.Example.FromString(regress.request.input.example_list.examples[0].SerializeToString())
    assert list(example.features.feature["x"].float_list.value) == [1.0, 1.0]


def test_metrics_name_the_version_and_label_and_keep_the_newest_versions() -> None:
    metrics = ServingMetrics(known=lambda name: name == "m")
    for version in range(1, MAX_VERSIONS + 3):
        metrics.request("m", "OK", "Predict", "GRPC", 100.0, str(version), "stable" if version == 2 else "")
    text = metrics.exposition().decode()
    newest = range(3, MAX_VERSIONS + 3)
    assert all(f'version="{v}"' in text for v in newest) and 'version="1"' not in text and 'version="2"' not in text
    metrics.request("nope", "NOT_FOUND", "Predict", "GRPC", None, "7", "x")
    assert 'model_name="<unknown>",status="NOT_FOUND",version=""' in metrics.exposition().decode()


@pytest.mark.slow  # 10,000 real requests: about ten seconds
def test_10000_real_requests_are_logged_at_the_sampling_rate(tmp_path: Path) -> None:
    import asyncio

    from serving.client import AsyncServingClient

    write_toy_model(str(tmp_path / "serving" / "toy"), 1)
    logged = LogConfig(str(tmp_path / "logs" / "toy" / "requests"), 0.3)
    store = ModelStore([ModelSource("toy", str(tmp_path / "serving" / "toy"), request_log=logged)], 3600)
    x = {"x": np.ones((1, 2), np.float32)}

    async def ask(target: str) -> None:
        async with AsyncServingClient(target, timeout=60) as client:
            pending = iter(range(10_000))

            async def worker() -> None:
                for _ in pending:
                    await client.predict("toy", x, signature="serving_raw")

            await asyncio.gather(*(worker() for _ in range(16)))

    with ServingServer(store, ServerOptions(port=0, rest_api_port=-1)) as server:
        asyncio.run(ask(server.target))
        assert server.request_log.flush()
        metrics = urllib.request.urlopen(f"{server.rest_url}/monitoring/prometheus/metrics", timeout=30).read().decode()
    records = len(read_logs(log_files(str(tmp_path / "logs"))))
    assert abs(records / 10_000 - 0.3) <= 0.02, records
    assert f':tfx_keras:request_log_records_total{{model_name="toy",outcome="written"}} {float(records)}' in metrics
