"""Docs that cannot drift: every command the README and docs/ show, run as a user would, on fixtures.

The commands are read from the docs themselves (``helpers/doc_commands.py``), so a command added to
a page is run here, and one that stops working fails the suite. Each runs in a scratch folder
holding the files the docs name, made from the suite's fixtures. Pipeline runs are checked with
``--dry-run`` (the other e2e tests run the pipelines); serving commands run against the models the
e2e pipelines pushed, served by the documented ``tfx-keras serve``.
"""

from __future__ import annotations

import contextlib
import json
import re
import shutil
import signal
import subprocess
import sys
import tarfile
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from helpers.data import read_back
from helpers.doc_commands import (
    ROOT,
    Command,
    PythonBlock,
    commands_where,
    curl,
    documented_python,
    grep,
    json_or_text,
    pipe,
    with_fixture_flags,
)

from pipelines import tasks
from pipelines.cli import main as cli_main

pytestmark = pytest.mark.e2e

SERVING = ("serve", "predict", "curl")


def _is_serving(command: Command) -> bool:
    words = command.words
    return words[0] == "curl" or (
        words[0] == "tfx-keras" and len(words) > 1 and words[1] in ("serve", "predict", "serving-config")
    )


def _names_ticket(command: Command) -> bool:
    return "ticket" in command.text


def _python_blocks(serving: bool, ticket: bool) -> list[PythonBlock]:
    """The documented Python blocks the suite runs that need a server (or not), and name the ticket task (or not)."""
    return [
        block
        for block in documented_python()
        if block.skipped is None
        and ("127.0.0.1:8500" in block.code or "outputs/serving" in block.code) == serving
        and ("ticket" in block.code) == ticket
    ]


def _key(words: list[str]) -> str:
    """The sub-command and its task: ``run penguin``, ``data generate ticket`` (what placeholders depend on)."""
    key = []
    for word in words[1:]:
        if word.startswith("-"):
            break
        key.append(word)
        if word in tasks.names():
            break
    return " ".join(key)


def _run_cli(command: Command, words: list[str], capsys: pytest.CaptureFixture) -> str:
    try:
        code = cli_main(with_fixture_flags(words))
    except SystemExit as exit_:  # argparse's --help
        code = exit_.code
    out, err = capsys.readouterr()
    assert code == 0, f"{command}\n  ran: tfx-keras {' '.join(with_fixture_flags(words))}\n  exit {code}: {err[-2000:]}"
    return out


@pytest.fixture()
def scratch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty working folder, the current directory for the test."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.mark.slow
@pytest.mark.xdist_group("docs")
def test_every_documented_command_that_needs_no_server_works(
    scratch: Path,
    mnist_data_dir: str,
    cifar10_data_dir: str,
    penguin_input: Path,
    capsys: pytest.CaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from tensorflow_datasets.core import constants

    from data_import import tfds_builder

    for data_dir in (mnist_data_dir, cifar10_data_dir):  # `--data-dir tfds_data`: the data sets, prepared
        shutil.copytree(data_dir, scratch / "tfds_data", dirs_exist_ok=True)
    # A command without --data-dir reads TFDS's default folder: a user's holds the data set too.
    monkeypatch.setattr(constants, "DATA_DIR", str(scratch / "tfds_data"))
    shutil.copy(ROOT / "cloud.example.json", scratch / "cloud.json")  # as docs/kubeflow.md's `cp` makes it
    mnist_raw = tfds_builder.make_fixture("mnist", "idx", scratch / "mnist_raw", 50)
    cifar_raw = tfds_builder.make_fixture("cifar10", "cifar_binary", scratch / "cifar_raw", 10)
    with tarfile.open(scratch / "cifar-10-binary.tar.gz", "w:gz") as tar:  # the upstream archive's layout
        tar.add(cifar_raw, arcname="cifar-10-batches-bin")
    ticket_dir = scratch / "ticket_files"
    assert cli_main(["data", "generate", "ticket", "--span", "1", "--out", str(ticket_dir), "--format", "tfrecord",
                     "--set", "data.num_examples=100"]) == 0  # fmt: skip
    from helpers.data import write_image_span, write_image_tfrecord_span

    from components.file_example_gen.images import class_folder

    def image_folders(task: str) -> list[str]:
        return [class_folder(c) for c in tasks.get(task).declaration.class_names]

    # Your own images (docs/your-data.md): a span of PNG files per class, and one TFRecord span.
    write_image_span(scratch / "digits", 1, image_folders("mnist"), per_class=3, shape=(28, 28, 1))
    write_image_span(scratch / "clothes", 1, image_folders("fashion_mnist"), per_class=3, shape=(28, 28, 1))
    photos = write_image_span(scratch / "photo_files", 1, image_folders("cifar10"), per_class=3, shape=(32, 32, 3))
    write_image_tfrecord_span(scratch / "photos", 1, photos)
    places = {
        "/data/digits": str(scratch / "digits"),
        "/data/clothes": str(scratch / "clothes"),
        "/data/photos": str(scratch / "photos"),
        "/data/penguins": str(penguin_input),
        "cloud.example.json": str(ROOT / "cloud.example.json"),
        "../shared/data/cifar10-subset/cifar-10-binary-subset.tar.gz": "cifar-10-binary.tar.gz",
        "/tmp/kfp": str(scratch / "kfp"),
    }
    by_command = {  # DIR in each command: the folder that command needs
        ("run penguin", "DIR"): str(penguin_input),
        ("schema infer penguin", "DIR"): str(penguin_input),
        ("run ticket", "DIR"): str(ticket_dir),
        ("data import mnist", "DIR"): str(mnist_raw),
        ("data fixture fashion_mnist", "DIR"): str(scratch / "fixture_out"),
        ("data generate ticket", "DIR"): str(scratch / "generated"),
    }
    ran: list[tuple[float, str]] = []
    done: list[list[str]] = []
    for command in commands_where(lambda c: not _is_serving(c)):
        words = command.words
        key = _key(words)
        if key.startswith("data import"):  # a fresh data_dir: `tfds_data` already holds the data set
            local = {**places, "tfds_data": str(scratch / "imported" / str(len(done)))}
        else:
            local = places
        words = [by_command.get((key, w), local.get(w, w)) for w in words]
        if words in done:  # the same command on another page
            continue
        done.append(words)
        began = time.monotonic()
        if words[0] == "cp":
            shutil.copy(words[1], words[2])
        else:
            assert words[0] == "tfx-keras", f"{command}: the suite does not know how to run this command"
            _run_cli(command, words, capsys)
        ran.append((round(time.monotonic() - began, 1), str(command)))
    assert len(ran) >= 30, ran  # README, docs/cli.md, data-validation.md, tasks.md, your-data.md, kubeflow.md
    blocks = _python_blocks(serving=False, ticket=False)
    for block in blocks:  # a task defined as docs/adding-a-task.md shows it
        (scratch / "task").mkdir(exist_ok=True)
        namespace: dict[str, object] = {"__file__": str(scratch / "task" / "__init__.py")}
        block.run(namespace=namespace)
        spec = namespace["SPEC"]
        assert spec.name == "churn" and spec.default_config().data.input_base == "/data/churn", block  # type: ignore[attr-defined]
    assert blocks, "no runnable Python block without a server: docs/adding-a-task.md's example is gone?"


@contextlib.contextmanager
def _documented_server(command: Command) -> Iterator[dict[str, str]]:
    """Start the documented `tfx-keras serve` (free ports) in the current folder; yields its addresses."""
    words = [w for w in command.words if w != "&"]
    process = subprocess.Popen(
        [sys.executable, "-m", "pipelines.cli", *words[1:], "--port", "0", "--rest-api-port", "-1"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        lines, addresses = [], {}
        deadline = time.monotonic() + 180
        while "stops" not in addresses and time.monotonic() < deadline:
            line = process.stdout.readline()  # type: ignore[union-attr]
            if not line:
                break
            lines.append(line)
            if match := re.search(r"gRPC API on (\S+)", line):
                addresses["grpc"] = match.group(1)
            if match := re.search(r"REST API on http://([^/]+)/", line):
                addresses["rest"] = match.group(1)
            if "Ctrl-C stops" in line:  # the last line: the server answers, and a Ctrl-C stops it cleanly
                addresses["stops"] = "yes"
        assert "rest" in addresses, f"{command}: the server did not start:\n{''.join(lines)}"
        yield addresses
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=60) == 0, f"{command}: the server did not stop on Ctrl-C"
    finally:
        if process.poll() is None:
            process.kill()


def _write_inputs(scratch: Path, mnist_data_dir: str, fashion_mnist_data_dir: str, cifar10_data_dir: str) -> None:
    """The files the serving docs send: digit.png, shoe.png, cat.png, images.npy, tickets.jsonl."""
    from PIL import Image

    digits = [e["image"][..., 0] for e, _ in zip(read_back("mnist", mnist_data_dir, "test"), range(4), strict=False)]
    Image.fromarray(digits[0]).save(scratch / "digit.png")
    np.save(scratch / "images.npy", np.stack(digits))
    shoe = next(iter(read_back("fashion_mnist", fashion_mnist_data_dir, "test")))["image"][..., 0]
    Image.fromarray(shoe).save(scratch / "shoe.png")
    Image.fromarray(next(iter(read_back("cifar10", cifar10_data_dir, "test")))["image"]).save(scratch / "cat.png")
    tickets = [{"title": "refund please", "body": "I was charged twice", "tags": ["billing"]}] * 3
    (scratch / "tickets.jsonl").write_text("".join(json.dumps(t) + "\n" for t in tickets))


def _run_serving_command(
    command: Command, addresses: dict[str, str], capsys: pytest.CaptureFixture
) -> tuple[str, list[str]]:
    """Run a documented predict or curl command against the server at ``addresses``; (its output, its words)."""
    rest = {f"{host}:8501": addresses["rest"] for host in ("localhost", "127.0.0.1")}
    words = [rest.get(w, w) for w in command.words]
    words = [re.sub(r"(localhost|127\.0\.0\.1):8501", addresses["rest"], w) for w in words]
    words, piped = pipe(words)
    if words[0] == "curl":
        out = curl(words[1:])
        for then in piped:
            out = grep(out, then)
        assert out.strip(), f"{command}: nothing printed"
        if not piped:
            answer = json_or_text(out)
            assert "error" not in answer, f"{command}: {answer}"  # type: ignore[operator]
        return out, words
    if words[1] == "predict" and "--server" not in words:
        words = [*words, "--server", addresses["grpc"]]
    return _run_cli(command, words, capsys), words


@pytest.mark.xdist_group("pipelines")  # one worker runs the pipelines whose models these commands query
def test_documented_serving_commands_answer(
    scratch: Path,
    image_run,  # noqa: ANN001
    penguin_run: tuple,
    mnist_data_dir: str,
    fashion_mnist_data_dir: str,
    cifar10_data_dir: str,
    capsys: pytest.CaptureFixture,
) -> None:
    """`tfx-keras serve` over ./outputs/serving (as the docs run it), then every predict and curl line."""
    for task, run in {
        **{t: image_run(t) for t in ("mnist", "fashion_mnist", "cifar10")},
        "penguin": penguin_run,
    }.items():
        pushed = Path(run[0].pushed_destination)
        shutil.copytree(pushed, scratch / "outputs" / "serving" / task / pushed.name)
    _write_inputs(scratch, mnist_data_dir, fashion_mnist_data_dir, cifar10_data_dir)
    serve = [c for c in commands_where(_is_serving) if c.words[1:2] == ["serve"]]
    assert serve, "the docs show no `tfx-keras serve`"
    ran = []
    for command in serve[1:]:  # each other way of starting it starts and stops
        with _documented_server(command):
            ran.append(command)
    with _documented_server(serve[0]) as addresses:
        for command in commands_where(lambda c: _is_serving(c) and not _names_ticket(c)):
            if command.words[1:2] != ["serve"]:
                _run_serving_command(command, addresses, capsys)
                ran.append(command)
        version = next(p.name for p in (scratch / "outputs" / "serving" / "mnist").iterdir() if p.name.isdigit())
        for block in _python_blocks(serving=True, ticket=False):
            printed = block.run({"127.0.0.1:8500": addresses["grpc"], "<version>": version})
            assert printed.strip(), f"{block} printed nothing"
            ran.append(block)  # type: ignore[arg-type]
    assert len(ran) >= 11, ran


@pytest.mark.xdist_group("ticket")  # the worker that runs the ticket pipeline
def test_documented_ticket_commands_answer(
    scratch: Path, ticket_run: tuple, mnist_data_dir: str, capsys: pytest.CaptureFixture
) -> None:
    """The ticket task's predict and curl lines, against its pushed model."""
    from helpers.dev_server import serving

    pushed = Path(ticket_run[0].pushed_destination)
    shutil.copytree(pushed, scratch / "serving" / "ticket" / pushed.name)
    tickets = [{"title": "refund please", "body": "I was charged twice", "tags": ["billing"]}] * 3
    (scratch / "tickets.jsonl").write_text("".join(json.dumps(t) + "\n" for t in tickets))
    ran = []
    with serving(scratch / "serving", rest_api_port=-1) as server:
        addresses = {"grpc": server.target, "rest": server.rest_url.removeprefix("http://")}  # type: ignore[union-attr]
        for command in commands_where(lambda c: _is_serving(c) and _names_ticket(c)):
            out, _ = _run_serving_command(command, addresses, capsys)
            ran.append((command, out))
        for block in _python_blocks(serving=True, ticket=True):
            printed = block.run({"127.0.0.1:8500": addresses["grpc"]})
            assert printed.strip(), f"{block} printed nothing"
            ran.append((block, printed))  # type: ignore[arg-type]
    assert len(ran) >= 5, ran
