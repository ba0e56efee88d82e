"""Pipeline-pushed models of every task, served over TF Serving's gRPC API and queried by clients."""

from __future__ import annotations

import json
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import grpc
import numpy as np
import pytest
import tensorflow as tf
from google.protobuf import text_format
from helpers.contract_doc import check_section
from helpers.data import read_back
from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc
from tensorflow_serving.config import model_server_config_pb2

from pipelines.cli import main as cli_main
from serving.client import ServingClient, ServingError
from serving.codec import InputError, ModelClient
from serving.server import ServingServer

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("pipelines")]  # one worker runs the pipelines they share


IMAGE_TASKS = ["mnist", "fashion_mnist", "cifar10"]


@pytest.fixture(scope="module")
def serving_root(image_run, penguin_run: tuple, tmp_path_factory: pytest.TempPathFactory) -> Path:  # noqa: ANN001
    """A serving root with the image and penguin models the pipelines pushed (tickets: test_ticket_serving_e2e)."""
    root = tmp_path_factory.mktemp("serving")
    runs = {task: image_run(task) for task in IMAGE_TASKS}
    for task, run in {**runs, "penguin": penguin_run}.items():
        pushed = Path(run[0].pushed_destination)
        shutil.copytree(pushed, root / task / pushed.name)
    return root


def _png(image: np.ndarray) -> bytes:
    return tf.io.encode_png(image).numpy()


def _version(root: Path, task: str) -> int:
    return int(next(p.name for p in (root / task).iterdir() if p.name.isdigit()))


@pytest.mark.parametrize("task", IMAGE_TASKS)
def test_image_models_answer_like_the_saved_model_in_process(
    task: str, client: ServingClient, serving_root: Path, request: pytest.FixtureRequest
) -> None:
    version = client.wait_until_ready(task, timeout=60)
    assert version == _version(serving_root, task)
    test = list(read_back(task, request.getfixturevalue(f"{task}_data_dir"), "test"))[:16]
    images = np.stack([e["image"] for e in test])
    model_client = ModelClient(client, task)  # inputs read from the model's signature, not typed in
    assert model_client.image_input.shape[1:] == images.shape[1:]
    served = model_client.predict(images)
    in_process = tf.saved_model.load(str(serving_root / task / str(version))).signatures["serving_raw"](
        image=tf.constant(images)
    )
    assert [p.values["class_ids"] for p in served] == in_process["class_ids"].numpy().tolist()
    np.testing.assert_allclose(
        [p.values["probabilities"] for p in served], in_process["probabilities"].numpy(), rtol=1e-5, atol=1e-6
    )
    assert [p.heads[""][0] for p in served] == [n.decode() for n in in_process["class_names"].numpy()]
    assert all(p.version == version for p in served)
    # TF Serving's Classify API on the same images, sent as tf.Examples.
    examples = [
        tf.train.Example(
            features=tf.train.Features(
                feature={"image": tf.train.Feature(bytes_list=tf.train.BytesList(value=[_png(e["image"])]))}
            )
        )
        for e in test
    ]
    classes = client.classify(task, examples)
    assert [max(c, key=lambda e: e[1])[0] for c in classes] == [p.heads[""][0] for p in served]
    # Wrong shape, wrong dtype: INVALID_ARGUMENT, and the next request is served.
    shape = images.shape[1:]
    for bad in (np.zeros((1, shape[0] + 1, shape[1], shape[2]), np.uint8), images[:1].astype(np.float32)):
        with pytest.raises(ServingError) as error:
            client.predict(task, {"image": bad}, signature="serving_raw")
        assert error.value.code == grpc.StatusCode.INVALID_ARGUMENT
    assert model_client.predict(images[0])[0].values["class_ids"] == served[0].values["class_ids"]
    # Normalised float images are refused before sending, not truncated to 0 and 1.
    with pytest.raises(InputError, match="normalised"):
        model_client.predict(images.astype(np.float32) / 255.0)


def test_penguin_model_answers_over_grpc_and_rest(
    client: ServingClient, server: ServingServer, serving_root: Path
) -> None:
    """A tabular model: one number per column over gRPC (the codec) and over REST as docs/your-data.md curls it."""
    import urllib.request

    version = client.wait_until_ready("penguin", timeout=60)
    rows = [
        {"culmen_length_mm": 0.49, "culmen_depth_mm": 0.24, "flipper_length_mm": 0.78, "body_mass_g": 0.69},
        {"culmen_length_mm": 0.25, "culmen_depth_mm": 0.67, "flipper_length_mm": 0.15, "body_mass_g": 0.29},
    ]
    served = ModelClient(client, "penguin").predict(rows)
    model = tf.saved_model.load(str(serving_root / "penguin" / str(version)))
    local = model.signatures["serving_raw"](**{k: tf.constant([r[k] for r in rows], tf.float32) for k in rows[0]})
    names = [n.decode() for n in local["class_names"].numpy()]
    assert [p.heads[""][0] for p in served] == names
    body = json.dumps({"signature_name": "serving_raw", "instances": rows}).encode()
    request = urllib.request.Request(f"{server.rest_url}/v1/models/penguin:predict", data=body, method="POST")
    with urllib.request.urlopen(request, timeout=30) as response:
        predictions = json.loads(response.read())["predictions"]
    assert [p["class_names"] for p in predictions] == names
    np.testing.assert_allclose([p["probabilities"] for p in predictions], local["probabilities"].numpy(), atol=1e-5)
    with pytest.raises(
        ServingError, match=r"column (body_mass_g|culmen_depth_mm|flipper_length_mm) is required"
    ) as refused:
        ModelClient(client, "penguin").predict([{"culmen_length_mm": 0.5}])
    assert refused.value.code == grpc.StatusCode.INVALID_ARGUMENT


def test_a_bare_tf_serving_client_queries_the_pipeline_model(server: ServingServer, mnist_data_dir: str) -> None:
    image = next(iter(read_back("mnist", mnist_data_dir, "test")))["image"]
    example = tf.train.Example(
        features=tf.train.Features(
            feature={"image": tf.train.Feature(bytes_list=tf.train.BytesList(value=[_png(image)]))}
        )
    )
    request = predict_pb2.PredictRequest()
    request.model_spec.name = "mnist"  # serving_default: serialized tf.Examples under "examples"
    request.inputs["examples"].CopyFrom(tf.make_tensor_proto([example.SerializeToString()]))
    with grpc.insecure_channel(server.target) as channel:
        response = prediction_service_pb2_grpc.PredictionServiceStub(channel).Predict(request, timeout=30)
    assert tf.make_ndarray(response.outputs["probabilities"]).shape == (1, 10)
    assert response.model_spec.signature_name == "serving_default"


@pytest.mark.reliability
def test_pushing_a_new_version_while_clients_send(
    client: ServingClient, serving_root: Path, mnist_data_dir: str
) -> None:
    images = np.stack([e["image"] for e in list(read_back("mnist", mnist_data_dir, "test"))[:4]])
    old = _version(serving_root, "mnist")
    new = old + 1
    errors: list[Exception] = []
    answers: list[tuple[bool, int]] = []  # (sent after the new version was ready, version that answered)
    answered = threading.Semaphore(0)
    ready, stop = threading.Event(), threading.Event()

    def send() -> None:
        with ServingClient(client.target, timeout=30) as own:
            while not stop.is_set():
                after = ready.is_set()
                try:
                    answers.append((after, own.predict("mnist", {"image": images}, signature="serving_raw")[1]))
                    answered.release()
                except Exception as exc:  # noqa: BLE001
                    errors.append(exc)

    threads = [threading.Thread(target=send) for _ in range(4)]
    for t in threads:
        t.start()
    for _ in range(8):  # the senders are answered by the old version before the push
        assert answered.acquire(timeout=30)
    staging = serving_root / "mnist" / f".staging-{new}"  # AtomicPusher's way: stage, then rename
    shutil.copytree(serving_root / "mnist" / str(old), staging)
    staging.rename(serving_root / "mnist" / str(new))
    assert client.wait_until_ready("mnist", version=new, timeout=60) == new
    ready.set()
    while sum(after for after, _ in answers) < 8:  # and the new one answers what is sent after
        assert answered.acquire(timeout=30)
    stop.set()
    for t in threads:
        t.join()
    assert not errors, errors[:3]
    assert answers[0] == (False, old) and {v for after, v in answers if after} == {new}


def test_predict_and_serving_config_commands(
    server: ServingServer, serving_root: Path, mnist_data_dir: str, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    from PIL import Image

    image = next(iter(read_back("mnist", mnist_data_dir, "test")))["image"]
    png = tmp_path / "digit.png"
    Image.fromarray(image[..., 0]).save(png)
    assert cli_main(["predict", "mnist", str(png), "--server", server.target]) == 0
    assert re.search(r"digit\.png: \d \(p=[01]\.\d+\) \(model version \d+\)", capsys.readouterr().out)
    assert cli_main(["predict", "fashion_mnist", str(png), "--server", server.target]) == 0
    names = "|".join(re.escape(n) for n in ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal"))
    assert re.search(rf"digit\.png: ({names}|Shirt|Sneaker|Bag|Ankle boot) \(p=", capsys.readouterr().out)
    args = ["predict", "penguin", "--server", server.target, "culmen_length_mm=0.49", "culmen_depth_mm=0.24"]
    assert cli_main([*args, "flipper_length_mm=0.78", "body_mass_g=0.69", "--json"]) == 0  # fields after a flag
    answer = json.loads(capsys.readouterr().out.strip())
    assert answer["heads"][""][0] in ("Adelie", "Chinstrap", "Gentoo") and 0 <= answer["heads"][""][1] <= 1
    wrong = tmp_path / "big.png"
    Image.fromarray(np.zeros((32, 32), np.uint8)).save(wrong)
    assert cli_main(["predict", "mnist", str(wrong), "--server", server.target]) == 2
    assert "this model takes images of shape [28, 28, 1]" in capsys.readouterr().err

    out = tmp_path / "models.config"
    assert cli_main(["serving-config", "--serving-root", str(serving_root), "--out", str(out)]) == 0
    config = text_format.Parse(out.read_text(), model_server_config_pb2.ModelServerConfig())
    models = {m.name: m for m in config.model_config_list.config}
    assert set(models) == {"cifar10", "fashion_mnist", "mnist", "penguin"}
    for name, model in models.items():  # the container path maps onto the folder the pusher wrote
        assert model.base_path == f"/models/{name}" and model.model_platform == "tensorflow"
        assert any(p.name.isdigit() for p in (serving_root / name).iterdir())


def test_serve_command_starts_answers_and_stops_on_sigint(serving_root: Path) -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "pipelines.cli", "serve", "--model-base-path", str(serving_root), "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        target, lines = None, []
        deadline = time.monotonic() + 120
        while target is None and time.monotonic() < deadline:
            line = process.stdout.readline()
            if not line:
                break
            lines.append(line)
            match = re.search(r"gRPC API on (\S+)", line)
            target = match.group(1) if match else None
        assert target, "".join(lines)
        assert any("mnist: serving version(s)" in line for line in lines), lines
        with ServingClient(target) as client:
            assert client.status("penguin")
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=60) == 0
    finally:
        if process.poll() is None:
            process.kill()


@pytest.mark.parametrize("task", [*IMAGE_TASKS, "penguin"])
def test_the_documented_serving_contract_is_the_pushed_models(task: str, serving_root: Path) -> None:
    """docs/serving-contract.md cannot drift: each task's section is what its pushed model takes and gives."""
    check_section(task, str(serving_root / task / str(_version(serving_root, task))))
