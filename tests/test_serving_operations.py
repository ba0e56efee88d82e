"""Operating what is served, on a running server: probes while models load, a label flip and a rollback under load.

32 client threads keep asking while the label moves or the version is rolled back: every request must be
answered (0 lost), and the change must reach every client within a second (the server polls every 0.1 s).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import grpc
import numpy as np
import pytest
from google.protobuf import text_format
from grpc_health.v1 import health_pb2, health_pb2_grpc
from helpers import ui_store
from helpers.dev_server import http, serving
from helpers.toy_model import write_toy_model

from pipelines.cli import main
from serving.client import ServingClient
from serving.model_store import ModelStore, load_version, read_model_config_file, sources_from_root
from serving.server import ServerOptions, ServingServer
from serving.tf_serving_config import build_model_config, set_label

CLIENTS = 32
X = {"x": np.ones((1, 2), np.float32)}


def _health(server: ServingServer, service: str = "") -> int:
    with grpc.insecure_channel(server.target) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        return stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=10).status


def test_probes_answer_while_the_models_load_and_readiness_waits_for_the_warmup(tmp_path: Path) -> None:
    write_toy_model(str(tmp_path / "toy"), 1)
    loading, release = threading.Event(), threading.Event()

    def slow_loader(name: str, version: int, path: str) -> object:  # the warmup replay, held back
        loading.set()
        assert release.wait(30)
        return load_version(name, version, path)

    store = ModelStore(lambda: sources_from_root(str(tmp_path)), poll_seconds=3600, loader=slow_loader)
    server = ServingServer(store, ServerOptions(port=0, rest_api_port=-1))
    started = threading.Thread(target=server.start)
    started.start()
    try:
        assert loading.wait(30)  # the ports are open from here on
        assert http(server, "GET", "/healthz")[0] == 200
        assert http(server, "GET", "/readyz")[0] == 503
        not_serving = health_pb2.HealthCheckResponse.NOT_SERVING
        assert _health(server) == not_serving and _health(server, "toy") == not_serving
        release.set()
        started.join(30)
        assert http(server, "GET", "/readyz")[0] == 200
        assert _health(server) == health_pb2.HealthCheckResponse.SERVING == _health(server, "toy")
        with pytest.raises(grpc.RpcError) as unknown:
            _health(server, "nope")
        assert unknown.value.code() == grpc.StatusCode.NOT_FOUND
    finally:
        release.set()
        started.join(30)
        server.stop()


class _Load:
    """CLIENTS threads asking without pause; each answer's version and time, and every error."""

    def __init__(self, ask: Callable[[ServingClient], int], target: str) -> None:
        self.answers: list[tuple[float, int]] = []
        self.errors: list[str] = []
        self._stop = threading.Event()
        self._lock = threading.Condition()  # notified at every answer
        self._threads = [threading.Thread(target=self._run, args=(ask, target)) for _ in range(CLIENTS)]

    def _run(self, ask: Callable[[ServingClient], int], target: str) -> None:
        with ServingClient(target, timeout=30) as client:
            while not self._stop.is_set():
                try:
                    version = ask(client)
                except Exception as err:  # noqa: BLE001 - every failure is counted, the test says which
                    with self._lock:
                        self.errors.append(f"{type(err).__name__}: {err}")
                    continue
                with self._lock:
                    self.answers.append((time.monotonic(), version))
                    self._lock.notify_all()

    def __enter__(self) -> _Load:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(60)

    def wait_for(self, version: int, after: float, timeout: float = 30) -> None:
        """Until the clients have answered from ``version`` after ``after`` (3 answers a client), or the timeout."""
        with self._lock:
            self._lock.wait_for(
                lambda: sum(1 for t, v in self.answers if t > after and v == version) >= CLIENTS * 3, timeout
            )

    def switch_seconds(self, old: int, after: float) -> float:
        """From ``after`` to the last answer from ``old``."""
        return max((t for t, v in self.answers if v == old), default=after) - after


@pytest.fixture()
def two_versions(tmp_path: Path) -> Iterator[Path]:
    for version in (1, 2):
        write_toy_model(str(tmp_path / "serving" / "toy"), version)
    config = tmp_path / "models.config"
    config.write_text(text_format.MessageToString(build_model_config(["toy"], str(tmp_path / "serving"))))
    set_label(str(config), "toy", "stable", 1)
    yield config


@pytest.mark.slow
def test_a_label_flip_under_32_clients_loses_no_request_takes_effect_within_a_second_and_outlives_a_restart(
    two_versions: Path,
) -> None:
    config = str(two_versions)
    store = ModelStore(lambda: read_model_config_file(config), poll_seconds=0.1)
    with ServingServer(store, ServerOptions(port=0, rest_api_port=-1)) as server:

        def ask(client: ServingClient) -> int:
            return client.predict("toy", X, signature="serving_raw", label="stable")[1]

        with _Load(ask, server.target) as load:
            load.wait_for(1, after=0)
            flipped = time.monotonic()
            set_label(config, "toy", "stable", 2)
            load.wait_for(2, after=flipped)
        metrics = http(server, "GET", "/monitoring/prometheus/metrics")[2].decode()
    versions = [v for _, v in load.answers]
    switch = load.switch_seconds(1, flipped)
    print(f"label flip: {len(versions)} answers, {len(load.errors)} errors, version 1 until {switch:.3f} s after")
    assert load.errors == [] and 1 in versions and 2 in versions and switch < 1.0
    assert 'label="stable",model_name="toy",status="OK",version="2"' in metrics  # a canary is told apart
    restarted = ModelStore(lambda: read_model_config_file(config), poll_seconds=3600)
    with ServingServer(restarted, ServerOptions(port=0)) as server, ServingClient(server.target) as client:
        assert client.predict("toy", X, signature="serving_raw", label="stable")[1] == 2  # the label outlived it


@pytest.mark.slow
def test_a_rollback_under_32_clients_loses_no_request_and_takes_effect_within_a_second(tmp_path: Path) -> None:
    out = ui_store.make_output_dir(tmp_path / "outputs")
    model = out / "serving" / ui_store.PIPELINE
    (model / "5").rmdir()
    for version in (4, 5):  # yesterday's version and today's (the one to roll back), real SavedModels
        write_toy_model(str(model), version)
    with serving(out / "serving", poll_seconds=0.1) as server:

        def ask(client: ServingClient) -> int:
            return client.predict(ui_store.PIPELINE, X, signature="serving_raw")[1]

        with _Load(ask, server.target) as load:
            load.wait_for(5, after=0)
            assert main(["serving", "rollback", ui_store.PIPELINE, "--output-dir", str(out)]) == 0
            rolled = time.monotonic()  # the command is done: version 5 has left the folder
            load.wait_for(4, after=rolled)
    versions = [v for _, v in load.answers]
    switch = load.switch_seconds(5, rolled)
    print(f"rollback: {len(versions)} answers, {len(load.errors)} errors, version 5 until {switch:.3f} s after")
    assert load.errors == [] and versions[-1] == 4 and switch < 1.0
