"""The development server against TF Serving's API: versions, hot swap, errors, limits, TLS, load."""

from __future__ import annotations

import datetime
import os
import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import numpy as np
import pytest
import tensorflow as tf
from helpers.dev_server import grpc_client, serving
from helpers.toy_model import TOY_CLASSES, toy_example, write_toy_model
from tensorflow_serving.apis import (
    get_model_status_pb2,
    model_management_pb2,
    model_service_pb2_grpc,
    predict_pb2,
    prediction_service_pb2_grpc,
)
from tensorflow_serving.config import model_server_config_pb2

from serving.client import ServingClient, ServingError
from serving.model_store import ModelStore, VersionPolicy, load_version, sources_from_config, sources_from_root
from serving.prediction_service import PredictionService
from serving.server import ServerOptions, ServingServer

ONES = np.ones((2, 2), np.float32)  # toy model: y = version * sum(x) = 2 * version


@pytest.fixture()
def root(tmp_path: Path) -> Path:
    write_toy_model(str(tmp_path / "toy"), 1)
    return tmp_path


@pytest.fixture()
def server(root: Path) -> Iterator[ServingServer]:
    with serving(root) as running:  # no background polls: each test polls the folders itself
        yield running


@pytest.fixture()
def client(server: ServingServer) -> Iterator[ServingClient]:
    with grpc_client(server) as c:
        yield c


def _settle(store: ModelStore) -> None:
    """Two polls: a folder whose content did not change between them is loaded (the settle rule)."""
    store.poll()
    store.poll()


def test_bare_tf_serving_stub_gets_an_answer(server: ServingServer) -> None:
    """Compatibility: a client written for TF Serving, with only the official stub and protos."""
    channel = grpc.insecure_channel(server.target)
    stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
    request = predict_pb2.PredictRequest()
    request.model_spec.name = "toy"
    request.model_spec.signature_name = "serving_raw"
    request.inputs["x"].CopyFrom(tf.make_tensor_proto([[1.0, 2.0]], dtype=tf.float32))
    response = stub.Predict(request, timeout=10)
    assert tf.make_ndarray(response.outputs["y"]).tolist() == [3.0]
    assert response.model_spec.name == "toy" and response.model_spec.version.value == 1
    assert response.model_spec.signature_name == "serving_raw"
    status = model_service_pb2_grpc.ModelServiceStub(channel).GetModelStatus(
        get_model_status_pb2.GetModelStatusRequest(model_spec={"name": "toy"}), timeout=10
    )
    assert [(s.version, s.state) for s in status.model_version_status] == [
        (1, get_model_status_pb2.ModelVersionStatus.AVAILABLE)
    ]
    channel.close()


def test_default_signature_output_filter_classify_regress_and_metadata(client: ServingClient) -> None:
    example = toy_example(1.0, 2.0).SerializeToString()
    outputs, version = client.predict("toy", {"examples": np.array([example], dtype=object)})  # serving_default
    assert outputs["y"].tolist() == [3.0] and version == 1
    outputs, _ = client.predict("toy", {"x": ONES}, signature="serving_raw", output_filter=["scores"])
    assert set(outputs) == {"scores"} and outputs["scores"].shape == (2, 2)
    classes = client.classify("toy", [toy_example(1.0, 2.0), toy_example(-1.0, -2.0)])
    assert [max(c, key=lambda e: e[1])[0] for c in classes] == ["high", "low"]
    assert [label for label, _ in classes[0]] == list(TOY_CLASSES)
    assert client.regress("toy", [toy_example(1.0, 2.0), toy_example(0.5, 0.0)]) == [3.0, 0.5]
    signatures = client.signatures("toy")
    assert set(signatures) == {"serving_default", "serving_raw", "classification", "regression"}
    assert signatures["classification"].method_name == "tensorflow/serving/classify"
    assert list(signatures["serving_raw"].inputs) == ["x"]


@pytest.mark.parametrize(
    ("kwargs", "code", "message"),
    [
        ({"model": "nope"}, grpc.StatusCode.NOT_FOUND, "Servable not found for request: Latest(nope)"),
        ({"version": 7}, grpc.StatusCode.NOT_FOUND, "Specific(toy, 7)"),
        ({"label": "canary"}, grpc.StatusCode.INVALID_ARGUMENT, "Unrecognized servable version label"),
        ({"signature": "nope"}, grpc.StatusCode.FAILED_PRECONDITION, 'Serving signature key "nope" not found'),
        ({"inputs": {"z": ONES}}, grpc.StatusCode.INVALID_ARGUMENT, "input tensor alias not found in signature: z"),
        ({"inputs": {"x": ONES, "z": ONES}}, grpc.StatusCode.INVALID_ARGUMENT, "Sent extra: {z}"),
        ({"inputs": {"x": ONES.astype(np.int32)}}, grpc.StatusCode.INVALID_ARGUMENT, "to be float32 but int32"),
        ({"inputs": {"x": np.ones((2, 3), np.float32)}}, grpc.StatusCode.INVALID_ARGUMENT, "expected shape [?,2]"),
        ({"inputs": {"x": np.ones((2,), np.float32)}}, grpc.StatusCode.INVALID_ARGUMENT, "expected shape [?,2]"),
        ({"output_filter": ["nope"]}, grpc.StatusCode.INVALID_ARGUMENT, "output tensor alias not found"),
    ],
)
@pytest.mark.reliability
def test_bad_requests_get_tf_serving_codes_and_the_next_request_succeeds(
    client: ServingClient, kwargs: dict, code: grpc.StatusCode, message: str
) -> None:
    request = {"model": "toy", "inputs": {"x": ONES}, "signature": "serving_raw", **kwargs}
    with pytest.raises(ServingError) as error:
        client.predict(**request)
    assert error.value.code == code and message in error.value.details, error.value
    assert client.predict("toy", {"x": ONES}, signature="serving_raw")[0]["y"].tolist() == [2.0, 2.0]


@pytest.mark.reliability
def test_malformed_tensor_and_classify_on_a_predict_signature(server: ServingServer, client: ServingClient) -> None:
    stub = prediction_service_pb2_grpc.PredictionServiceStub(grpc.insecure_channel(server.target))
    request = predict_pb2.PredictRequest()
    request.model_spec.name, request.model_spec.signature_name = "toy", "serving_raw"
    tensor = request.inputs["x"]
    tensor.dtype = tf.float32.as_datatype_enum
    tensor.tensor_shape.dim.add(size=2)
    tensor.tensor_shape.dim.add(size=2)
    tensor.tensor_content = b"\x00" * 5  # 4 floats need 16 bytes
    with pytest.raises(grpc.RpcError) as error:
        stub.Predict(request, timeout=10)
    assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert error.value.details() == "tensor parsing error: x: tensor_content has 5 bytes, the shape [2, 2] needs 16"
    with pytest.raises(ServingError, match="method_name to be tensorflow/serving/classify") as classify_error:
        client.classify("toy", [toy_example(1.0, 1.0)], signature="serving_raw")
    assert classify_error.value.code == grpc.StatusCode.INVALID_ARGUMENT
    with pytest.raises(ServingError, match="Input is empty"):
        client.classify("toy", [])
    assert client.regress("toy", [toy_example(1.0, 1.0)]) == [2.0]


@pytest.mark.reliability
def test_new_version_is_hot_swapped_while_a_client_keeps_sending(
    root: Path, server: ServingServer, client: ServingClient
) -> None:
    errors: list[Exception] = []
    answers: list[tuple[bool, int]] = []  # (sent after the swap, version that answered)
    answered = threading.Semaphore(0)
    swapped, stop = threading.Event(), threading.Event()

    def keep_sending() -> None:
        with ServingClient(client.target) as own:
            while not stop.is_set():
                after_swap = swapped.is_set()
                try:
                    answers.append((after_swap, own.predict("toy", {"x": ONES}, signature="serving_raw")[1]))
                    answered.release()
                except Exception as exc:  # noqa: BLE001 - any failure is what this test counts
                    errors.append(exc)

    senders = [threading.Thread(target=keep_sending) for _ in range(3)]
    for t in senders:
        t.start()
    for _ in range(10):  # answers from version 1 before the swap
        assert answered.acquire(timeout=30)
    write_toy_model(str(root / "toy"), 2)
    _settle(server.store)  # loads version 2 and swaps it in while the senders keep sending
    swapped.set()
    while sum(after for after, _ in answers) < 10:  # answers to requests sent after the swap
        assert answered.acquire(timeout=30)
    stop.set()
    for t in senders:
        t.join()
    assert not errors, errors[:3]
    assert {v for after, v in answers if not after} <= {1, 2} and answers[0] == (False, 1)
    # Every request sent after the swap got version 2: no flapping back; requests in flight were not failed.
    assert {v for after, v in answers if after} == {2}
    assert client.status("toy") == {2: "AVAILABLE", 1: "END"}  # latest-only policy: v1 unloaded


@pytest.mark.reliability
def test_broken_versions_are_never_served_and_half_written_ones_wait_until_settled(
    root: Path, server: ServingServer, client: ServingClient
) -> None:
    loads: list[tuple[int, tuple]] = []
    real_loader = server.store._loader

    def recording_loader(name: str, version: int, path: str):  # noqa: ANN202
        loads.append((version, tuple(sorted(os.listdir(path)))))
        return real_loader(name, version, path)

    server.store._loader = recording_loader
    broken = root / "toy" / "5"
    broken.mkdir()
    (broken / "saved_model.pb").write_bytes(b"not a SavedModel")
    _settle(server.store)
    assert client.predict("toy", {"x": ONES}, signature="serving_raw")[1] == 1  # the old version serves on
    assert client.status("toy")[5] == "END" and [v for v, _ in loads] == [5]
    request = get_model_status_pb2.GetModelStatusRequest()
    request.model_spec.name = "toy"
    request.model_spec.version.value = 5
    (entry,) = client.models.GetModelStatus(request, timeout=10).model_version_status
    assert entry.state == get_model_status_pb2.ModelVersionStatus.END and "SavedModel" in entry.status.error_message

    # A newer version being copied in (not via a staging folder): each poll sees its content change,
    # so the loader is not called until two polls agree, and the copy is complete by then.
    half = root / "toy" / "6"
    half.mkdir()
    shutil.copy(root / "toy" / "1" / "saved_model.pb", half / "saved_model.pb")
    server.store.poll()
    assert client.status("toy")[6] == "LOADING"
    shutil.copytree(root / "toy" / "1" / "variables", half / "variables")
    server.store.poll()  # changed since the previous poll: still not loaded
    assert client.status("toy")[6] == "LOADING" and [v for v, _ in loads] == [5]
    assert client.predict("toy", {"x": ONES}, signature="serving_raw")[1] == 1
    server.store.poll()  # unchanged for one poll interval: loaded, complete
    assert loads[-1] == (6, ("saved_model.pb", "variables"))  # called once, on the complete copy
    assert client.predict("toy", {"x": ONES}, signature="serving_raw")[1] == 6

    # Once a broken folder holds a complete model, it is loaded on a later poll (it is the latest now).
    shutil.rmtree(broken)
    write_toy_model(str(root / "toy"), 7, scale=50)
    _settle(server.store)
    assert client.predict("toy", {"x": ONES}, signature="serving_raw")[0]["y"].tolist() == [100.0, 100.0]


def test_specific_versions_and_labels_from_a_model_config(root: Path) -> None:
    write_toy_model(str(root / "toy"), 2)
    write_toy_model(str(root / "toy"), 3)
    store = ModelStore(lambda: sources_from_root(str(root)), poll_seconds=0.1)
    options = ServerOptions(port=0, allow_reload_config=True)
    with ServingServer(store, options) as server, ServingClient(server.target) as client:
        assert client.status("toy") == {3: "AVAILABLE"}
        config = model_server_config_pb2.ModelServerConfig()
        model = config.model_config_list.config.add(
            name="toy", base_path=str(root / "toy"), model_platform="tensorflow"
        )
        model.model_version_policy.specific.versions.extend([1, 2])
        model.version_labels["stable"] = 1
        model.version_labels["canary"] = 2
        reply = client.models.HandleReloadConfigRequest(model_management_pb2.ReloadConfigRequest(config=config))
        assert reply.status.error_code == 0
        assert client.predict("toy", {"x": ONES}, signature="serving_raw")[1] == 2  # latest of {1, 2}
        assert client.predict("toy", {"x": ONES}, signature="serving_raw", version=1)[1] == 1
        assert client.predict("toy", {"x": ONES}, signature="serving_raw", label="stable")[1] == 1
        assert client.predict("toy", {"x": ONES}, signature="serving_raw", label="canary")[0]["y"].tolist() == [4, 4]
        with pytest.raises(ServingError, match="Specific\\(toy, 3\\)"):
            client.predict("toy", {"x": ONES}, signature="serving_raw", version=3)


@pytest.mark.reliability
def test_a_config_reload_is_refused_unless_the_server_allows_it(root: Path) -> None:
    """Any client reaching the port could otherwise point the server at other folders, or unload everything."""
    write_toy_model(str(root / "toy"), 2)
    config = model_server_config_pb2.ModelServerConfig()
    config.model_config_list.config.add(name="other", base_path="/etc", model_platform="tensorflow")
    with serving(root) as server, grpc_client(server) as client:
        with pytest.raises(grpc.RpcError) as refused:
            client.models.HandleReloadConfigRequest(model_management_pb2.ReloadConfigRequest(config=config))
        assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED
        assert "--allow-reload-config" in refused.value.details()
        assert client.status("toy") == {2: "AVAILABLE"}  # still served, nothing else


def test_version_policy_selection() -> None:
    assert VersionPolicy().select([3, 1, 2]) == [3]
    assert VersionPolicy(num_latest=2).select([3, 1, 2]) == [2, 3]
    assert VersionPolicy(all_versions=True).select([2, 1]) == [1, 2]
    assert VersionPolicy(specific=(1, 9)).select([1, 2]) == [1]


def test_store_ignores_staging_folders_and_loads_nothing_twice(root: Path) -> None:
    (root / "toy" / ".staging-9").mkdir()
    (root / "models.config").write_text("")  # files next to model folders are not models
    loads: list[int] = []

    def counting_loader(name: str, version: int, path: str):  # noqa: ANN202
        loads.append(version)
        return load_version(name, version, path)

    store = ModelStore(lambda: sources_from_root(str(root)), loader=counting_loader)
    store.poll(settle=False)
    store.poll()
    store.poll()
    assert store.model_names() == ["toy"] and loads == [1]


@pytest.mark.reliability
def test_message_size_limit_is_enforced_and_the_server_keeps_serving(root: Path) -> None:
    store = ModelStore(lambda: sources_from_root(str(root)))
    with ServingServer(store, ServerOptions(port=0, max_message_mb=1)) as server, ServingClient(server.target) as c:
        with pytest.raises(ServingError) as error:
            c.predict("toy", {"x": np.ones((200_000, 2), np.float32)}, signature="serving_raw")  # 1.6 MB
        assert error.value.code == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert c.predict("toy", {"x": ONES}, signature="serving_raw")[1] == 1


@pytest.mark.reliability
def test_bad_server_options_are_refused_naming_the_flag_and_the_fix(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    from pipelines.cli import main

    assert ServerOptions().host == "127.0.0.1"  # loopback unless told otherwise
    with pytest.raises(ValueError, match="both a certificate"):
        ServerOptions(tls_cert="cert.pem")
    with pytest.raises(ValueError, match="workers"):
        ServerOptions(workers=0)
    serve = ["serve", "--model-base-path", str(tmp_path)]
    for flags, message in (
        (["--port", "70000"], "--port 70000 is invalid: must be <= 65535."),
        (["--workers", "0"], "--workers 0 is invalid: must be >= 1."),
        (["--max-batch-size", "0"], "--max-batch-size 0 is invalid: must be >= 1."),
        (["--enable-batching", "--batch-size", "0"], "--batch-size 0 is invalid: must be >= 1."),
        (["--enable-batching", "--batch-timeout-micros", "-1"], "--batch-timeout-micros -1 is invalid: must be >= 0."),
        (["--tls-key", "k.pem"], "TLS needs both a certificate (--tls-cert) and its private key (--tls-key)"),
        (["--port", "8600", "--rest-api-port", "8600"], "the REST API port cannot be the gRPC port (8600)"),
    ):
        assert main(serve + flags) == 2, flags
        err = capsys.readouterr().err
        assert message in err and "Traceback" not in err, (flags, err)


def _self_signed(tmp_path: Path) -> tuple[Path, Path]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_path, key_path


def test_tls(root: Path, tmp_path: Path) -> None:
    cert, key = _self_signed(tmp_path)
    store = ModelStore(lambda: sources_from_root(str(root)))
    options = ServerOptions(host="localhost", port=0, tls_cert=str(cert), tls_key=str(key))
    with ServingServer(store, options) as server:
        with ServingClient(server.target, root_certificates=cert.read_bytes()) as secure:
            assert secure.predict("toy", {"x": ONES}, signature="serving_raw")[1] == 1
        with ServingClient(server.target, retries=0, timeout=3) as plaintext:
            with pytest.raises(ServingError) as error:
                plaintext.predict("toy", {"x": ONES}, signature="serving_raw")
            assert error.value.code == grpc.StatusCode.UNAVAILABLE


@pytest.mark.reliability
def test_client_retries_unavailable_only(root: Path) -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    store = ModelStore(lambda: sources_from_root(str(root)))
    server = ServingServer(store, ServerOptions(port=port))
    starter = threading.Timer(0.5, server.start)
    starter.start()
    try:
        with ServingClient(f"127.0.0.1:{port}", retries=8, backoff=0.1) as client:
            assert client.wait_until_ready("toy", timeout=30) == 1  # server came up after the first calls
            calls = []
            predict = client.predictions.Predict
            client.predictions.Predict = lambda *a, **kw: calls.append(1) or predict(*a, **kw)
            with pytest.raises(ServingError) as error:
                client.predict("nope", {"x": ONES})
            assert error.value.code == grpc.StatusCode.NOT_FOUND
            assert len(calls) == 1  # NOT_FOUND is not retried
    finally:
        starter.join()
        server.stop()


@pytest.mark.slow
def test_load_concurrent_clients_for_a_fixed_time_with_zero_errors(client: ServingClient) -> None:
    """N clients for a bounded time on loopback: every request answered, none failed."""
    clients, seconds = 8, 3.0
    counts, errors = [0] * clients, []
    deadline = time.monotonic() + seconds

    def run(i: int) -> None:
        with ServingClient(client.target) as own:
            while time.monotonic() < deadline:
                try:
                    outputs, _ = own.predict("toy", {"x": ONES * i}, signature="serving_raw")
                    assert outputs["y"].tolist() == [2.0 * i, 2.0 * i]
                    counts[i] += 1
                except Exception as exc:  # noqa: BLE001
                    errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=seconds + 30)
    assert not errors, errors[:3]
    assert all(n > 0 for n in counts), counts
    print(f"load: {sum(counts)} requests from {clients} clients in {seconds:.0f} s, 0 errors")


def test_served_models_are_not_changed_by_the_server(root: Path, client: ServingClient) -> None:
    before = sorted(os.listdir(root / "toy" / "1"))
    client.predict("toy", {"x": ONES}, signature="serving_raw")
    assert sorted(os.listdir(root / "toy" / "1")) == before


@pytest.mark.reliability
def test_a_serialized_example_that_is_not_a_proto_is_an_invalid_argument(client: ServingClient) -> None:
    """As TF Serving's ParseExample op answers (it was INTERNAL here: TensorFlow could not word the error)."""
    with pytest.raises(ServingError) as error:
        client.predict("toy", {"examples": np.array([b"\xff\xffnot a proto"], dtype=object)})
    assert error.value.code == grpc.StatusCode.INVALID_ARGUMENT and "Could not parse example input" in str(error.value)
    example = toy_example(1.0, 2.0).SerializeToString()
    assert client.predict("toy", {"examples": np.array([example], dtype=object)})[0]["y"].tolist() == [3.0]


@pytest.mark.reliability
def test_a_broken_newest_version_at_start_serves_nothing_until_removed_or_pinned(tmp_path: Path) -> None:
    """TF Serving's latest-version policy: only the newest version may serve; if it cannot load, none does.

    The README says so, and gives the two ways out tested here: remove (or fix) the broken folder,
    or pin a version in a model config.
    """
    write_toy_model(str(tmp_path / "toy"), 1)
    broken = tmp_path / "toy" / "2"
    broken.mkdir()
    (broken / "saved_model.pb").write_bytes(b"not a SavedModel")
    store = ModelStore(lambda: sources_from_root(str(tmp_path)), poll_seconds=3600)
    with ServingServer(store, ServerOptions(port=0)) as server, ServingClient(server.target, timeout=10) as client:
        _settle(store)
        with pytest.raises(ServingError) as err:
            client.predict("toy", {"x": ONES}, signature="serving_raw")
        assert err.value.code == grpc.StatusCode.NOT_FOUND
        assert client.status("toy") == {2: "END"}  # version 1 is not even loaded: it is not the latest
        shutil.rmtree(broken)  # the way out: remove (or fix) the broken folder
        _settle(store)
        assert client.predict("toy", {"x": ONES}, signature="serving_raw")[1] == 1

    broken.mkdir()
    (broken / "saved_model.pb").write_bytes(b"not a SavedModel")
    config = model_server_config_pb2.ModelServerConfig()
    entry = config.model_config_list.config.add(name="toy", base_path=str(tmp_path / "toy"))
    entry.model_version_policy.specific.versions.append(1)  # the other way out: pin the good version
    pinned = ModelStore(lambda: sources_from_config(config), poll_seconds=3600)
    with ServingServer(pinned, ServerOptions(port=0)) as server, ServingClient(server.target, timeout=10) as client:
        _settle(pinned)
        assert client.predict("toy", {"x": ONES}, signature="serving_raw")[1] == 1


def test_async_client_predicts_concurrently_waits_and_reports_errors(server: ServingServer) -> None:
    import asyncio

    from serving.client import AsyncServingClient

    async def scenario() -> None:
        async with AsyncServingClient(server.target, timeout=10) as client:
            assert await client.wait_until_ready("toy", timeout=30) == 1
            assert await client.status("toy") == {1: "AVAILABLE"}
            answers = await asyncio.gather(
                *(
                    client.predict("toy", {"x": np.full((1, 2), i, np.float32)}, signature="serving_raw")
                    for i in range(20)
                )
            )
            assert [(float(outputs["y"][0]), version) for outputs, version in answers] == [
                (2.0 * i, 1) for i in range(20)
            ]
            outputs, _ = await client.predict("toy", {"x": ONES}, signature="serving_raw", output_filter=["scores"])
            assert list(outputs) == ["scores"] and outputs["scores"].shape == (2, 2)
            with pytest.raises(ServingError) as error:
                await client.predict("nope", {"x": ONES})
            assert error.value.code == grpc.StatusCode.NOT_FOUND

    asyncio.run(scenario())


@pytest.mark.reliability
def test_async_client_retries_unavailable_then_names_the_fix() -> None:
    import asyncio
    import socket

    from serving.client import AsyncServingClient

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens here

    async def scenario() -> ServingError:
        async with AsyncServingClient(f"127.0.0.1:{port}", retries=2, backoff=0.01, timeout=5) as client:
            calls = []
            predict = client.predictions.Predict
            client.predictions.Predict = lambda *a, **kw: calls.append(1) or predict(*a, **kw)
            with pytest.raises(ServingError) as error:
                await client.predict("toy", {"x": ONES})
            assert len(calls) == 3  # the first try and two retries
            return error.value

    error = asyncio.run(scenario())
    assert error.code == grpc.StatusCode.UNAVAILABLE
    assert "start one with `tfx-keras serve`" in str(error)


def test_unbatched_model_calls_run_on_the_loop_alone_and_side_by_side_under_load(server: ServingServer) -> None:
    """A short call with the server to itself: on the event loop (no hand-over). A slow model: on the workers."""
    calls: list[tuple[str, float, float]] = []
    run = server.core.run
    delay = [0.0]

    def spy(*args: object, **kwargs: object) -> object:
        began = time.perf_counter()
        time.sleep(delay[0])
        try:
            return run(*args, **kwargs)  # type: ignore[arg-type]
        finally:
            calls.append((threading.current_thread().name, began, time.perf_counter()))

    server.core.run = spy  # type: ignore[method-assign]
    with ServingClient(server.target) as client:
        for _ in range(5):  # the first calls are slow (tracing, first allocations): the model is warm after them
            client.predict("toy", {"x": ONES}, signature="serving_raw")
        assert calls[0][0].startswith("serving_")  # a signature not timed yet runs on a worker
        calls.clear()
        for _ in range(10):
            assert client.predict("toy", {"x": ONES}, signature="serving_raw")[0]["y"].tolist() == [2.0, 2.0]
        # The rule, call by call: the next call runs on the loop when the last took under INLINE_MAX_SECONDS,
        # on a worker when it took longer (a hiccup of a busy machine). Calls near the limit are not judged.
        limit, shown = PredictionService.INLINE_MAX_SECONDS, [(n, round((e - b) * 1000, 2)) for n, b, e in calls]
        for (_, began, ended), (name, _, _) in zip(calls, calls[1:], strict=False):
            if ended - began < 0.7 * limit:
                assert name == "serving-loop", shown
            elif ended - began > 1.5 * limit:
                assert name.startswith("serving_"), shown
        assert any(name == "serving-loop" for name, _, _ in calls), shown
        # 1,000 rows of the same signature: expected to take 500 times a 2-row call, so not on the loop.
        many = np.ones((1000, 2), np.float32)
        assert client.predict("toy", {"x": many}, signature="serving_raw")[0]["y"].shape == (1000,)
        assert calls[-1][0].startswith("serving_")

    calls.clear()
    delay[0] = 0.02  # a slow model: six clients at once must not wait for each other on the loop
    barrier = threading.Barrier(6)

    def send() -> None:
        with ServingClient(server.target) as own:
            barrier.wait()
            for _ in range(4):
                assert own.predict("toy", {"x": ONES}, signature="serving_raw")[0]["y"].tolist() == [2.0, 2.0]

    threads = [threading.Thread(target=send) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(calls) == 24
    on_workers = [c for c in calls if c[0].startswith("serving_")]
    assert len(on_workers) >= 23  # all but the first, which showed the model is slow
    overlapping = max(sum(1 for _, b, e in calls if b <= t < e) for _, t, _ in calls)
    assert overlapping >= 2  # calls ran side by side, not one after another on the loop


def test_signatures_are_called_with_each_input_in_its_place(tmp_path: Path) -> None:
    """The server's flat signature call: three inputs of three dtypes, not in name order, each where it belongs."""
    from serving import signatures
    from serving.status import RequestError

    class Three(tf.Module):
        @tf.function(
            input_signature=[
                tf.TensorSpec([None], tf.string, name="b_text"),
                tf.TensorSpec([None, 2], tf.float32, name="a_values"),
                tf.TensorSpec([None], tf.int64, name="c_count"),
            ]
        )
        def digits(self, b_text: tf.Tensor, a_values: tf.Tensor, c_count: tf.Tensor) -> dict[str, tf.Tensor]:
            total = tf.cast(tf.reduce_sum(a_values, axis=-1), tf.int64)
            return {"n": tf.cast(tf.strings.length(b_text), tf.int64) * 100 + total * 10 + c_count}

    module = Three()
    tf.saved_model.save(module, str(tmp_path / "three" / "1"), signatures={"s": module.digits.get_concrete_function()})
    loaded = load_version("three", 1, str(tmp_path / "three" / "1"))
    inputs = {
        "c_count": np.array([3, 4], np.int64),
        "a_values": np.array([[1, 1], [2, 3]], np.float32),
        "b_text": np.array([b"x", b"xyz"], dtype=object),
    }
    assert signatures.call_signature(loaded, "s", inputs)["n"].tolist() == [123, 354]
    public = loaded.signature("s")(**{k: tf.constant(v) for k, v in inputs.items()})["n"].numpy()
    assert public.tolist() == [123, 354]
    # The flat call checks what the public call's binding would: a wrong shape or a missing input is
    # the request's fault, named, never run through the graph.
    for bad, words in (
        (
            {**inputs, "a_values": np.ones((2, 3), np.float32)},
            r"input 'a_values' has shape \[2, 3\], which is not compatible with expected shape \[\?,2\]",
        ),
        ({k: v for k, v in inputs.items() if k != "c_count"}, "the signature takes"),
    ):
        with pytest.raises(RequestError, match=words) as caught:
            signatures.call_signature(loaded, "s", bad)
        assert caught.value.code == grpc.StatusCode.INVALID_ARGUMENT


@pytest.mark.reliability
def test_only_ascii_digit_folders_within_int64_are_versions(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """A folder named "²" killed `serve` at start (int("²")); "99999999999999999999" was served, then INTERNAL."""
    from common.layout import version_dirs

    for name in ("1", "0007", "²", "99999999999999999999", "v2", ".staging-3-x"):
        (tmp_path / name).mkdir()
    for _ in range(2):
        assert version_dirs(str(tmp_path)) == {1: str(tmp_path / "1"), 7: str(tmp_path / "0007")}
    warnings = [r.getMessage() for r in caplog.records if "is not a model version" in r.getMessage()]
    assert len(warnings) == 2  # once per folder, not once per poll
    assert any("'²'" in w and "ASCII digits" in w for w in warnings)
    assert any("99999999999999999999" in w and "largest version" in w for w in warnings)


@pytest.mark.reliability
def test_a_config_reload_loads_models_off_the_event_loop(root: Path) -> None:
    """While a reload loads a model, REST and gRPC status requests are still answered."""
    import threading
    import urllib.request

    write_toy_model(str(root / "toy"), 2)
    loading, answered = threading.Event(), threading.Event()
    config = model_server_config_pb2.ModelServerConfig()
    config.model_config_list.config.add(name="toy", base_path=str(root / "toy"), model_platform="tensorflow")
    with serving(root, rest_api_port=-1, allow_reload_config=True) as server, grpc_client(server) as client:
        real = server.store.set_sources

        def slow_set_sources(sources: object) -> None:
            loading.set()
            answered.wait(30)  # a load that takes as long as the status request below needs
            real(sources)  # type: ignore[arg-type]

        server.store.set_sources = slow_set_sources  # type: ignore[method-assign]
        reload = client.models.HandleReloadConfigRequest.future(model_management_pb2.ReloadConfigRequest(config=config))
        assert loading.wait(30)
        with urllib.request.urlopen(f"{server.rest_url}/v1/models/toy", timeout=10) as response:
            assert response.status == 200
        answered.set()
        assert reload.result(timeout=30).status.error_code == 0
