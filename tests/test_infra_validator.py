"""Infra validation before push: warmup records, the serving check, the blessing and the Pusher's gate."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import tensorflow as tf
from helpers.toy_model import toy_example, write_toy_model
from tensorflow_serving.apis import prediction_log_pb2
from tfx.proto import pusher_pb2
from tfx.types import standard_artifacts
from tfx.utils import proto_utils

from common.contract import (
    CLASSIFY_SIGNATURE,
    EXAMPLE_SIGNATURE,
    MAX_WARMUP_RECORDS,
    RAW_SIGNATURE,
    REGRESS_SIGNATURE,
    WARMUP_FILE,
)
from components.atomic_pusher import AtomicPusherExecutor
from components.infra_validator import executor as infra
from serving import warmup
from serving.model_store import load_version
from serving.validate import validate

EXAMPLES = [toy_example(i * 0.1, -i * 0.05).SerializeToString() for i in range(6)]


class _Forgetful(tf.Module):
    """A model whose answers change with every call (it counts its calls): it cannot be served as tested."""

    def __init__(self) -> None:
        super().__init__()
        self.calls = tf.Variable(0.0)

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="examples")])
    def examples(self, serialized: tf.Tensor) -> dict[str, tf.Tensor]:
        self.calls.assign_add(1.0)
        return {"y": tf.fill(tf.shape(serialized), self.calls)}


def _requests_file(tmp_path: Path) -> Path:
    """The examples as the TFRecord file ``serving.validate --examples`` reads."""
    requests = tmp_path / "requests.tfrecord"
    with tf.io.TFRecordWriter(str(requests)) as writer:
        for example in EXAMPLES:
            writer.write(example)
    return requests


def _model_artifact(tmp_path: Path, model_dir: str) -> standard_artifacts.Model:
    model = standard_artifacts.Model()
    model.uri = str(tmp_path / "trainer_model")
    shutil.copytree(
        model_dir, os.path.join(model.uri, "Format-Serving"), symlinks=True
    )  # links as the Trainer left them
    return model


def _examples_artifact(tmp_path: Path) -> standard_artifacts.Examples:
    examples = standard_artifacts.Examples()
    examples.uri = str(tmp_path / "examples")
    os.makedirs(os.path.join(examples.uri, "Split-eval"))
    options = tf.io.TFRecordOptions(compression_type="GZIP")
    with tf.io.TFRecordWriter(os.path.join(examples.uri, "Split-eval", "data.gz"), options) as writer:
        for example in EXAMPLES:
            writer.write(example)
    return examples


def _blessing(blessed: int) -> standard_artifacts.ModelBlessing:
    blessing = standard_artifacts.ModelBlessing()
    blessing.set_int_custom_property("blessed", blessed)
    return blessing


def _run_infra_validator(
    tmp_path: Path, model_dir: str, evaluator_blessed: int = 1
) -> standard_artifacts.InfraBlessing:
    blessing = standard_artifacts.InfraBlessing()
    blessing.uri = str(tmp_path / "infra_blessing")
    os.makedirs(blessing.uri)
    infra.Executor().Do(
        {
            "model": [_model_artifact(tmp_path, model_dir)],
            "examples": [_examples_artifact(tmp_path)],
            "model_blessing": [_blessing(evaluator_blessed)],
        },
        {"blessing": [blessing]},
        {
            "split": "eval",
            "num_examples": 4,
            "timeout_seconds": 120,
            "max_latency_ms": 2000.0,
            "contract": json.dumps({RAW_SIGNATURE: {"y": "float32", "scores": "float32"}}),
        },
    )
    return blessing


def _push(tmp_path: Path, infra_blessing: standard_artifacts.InfraBlessing) -> standard_artifacts.PushedModel:
    pushed = standard_artifacts.PushedModel()
    pushed.uri = str(tmp_path / "pushed")
    os.makedirs(pushed.uri, exist_ok=True)
    destination = pusher_pb2.PushDestination(
        filesystem=pusher_pb2.PushDestination.Filesystem(base_directory=str(tmp_path / "serving"))
    )
    AtomicPusherExecutor().Do(
        {"model_blessing": [_blessing(1)], "infra_blessing": [infra_blessing]},
        {"pushed_model": [pushed]},
        {"push_destination": proto_utils.proto_to_json(destination), "custom_config": None},
    )
    return pushed


def test_warmup_records_are_tf_serving_prediction_logs_the_server_replays(tmp_path: Path) -> None:
    model_dir = write_toy_model(str(tmp_path / "toy"), 1)
    records = warmup.build_warmup_requests(model_dir, EXAMPLES)
    kinds = {(r.WhichOneof("log_type"), _signature(r)) for r in records}
    assert kinds == {
        ("predict_log", EXAMPLE_SIGNATURE),
        ("predict_log", "serving_raw"),
        ("classify_log", CLASSIFY_SIGNATURE),
        ("regress_log", REGRESS_SIGNATURE),
    }
    classify = [r.classify_log.request for r in records if r.WhichOneof("log_type") == "classify_log"]
    assert sorted(len(c.input.example_list.examples) for c in classify) == [1, len(EXAMPLES)]  # real examples
    # serving_raw: the raw form of the same examples (the toy's x), at the same two batch sizes
    raw = [r.predict_log.request for r in records if _signature(r) == "serving_raw"]
    xs = [tf.make_ndarray(request.inputs["x"]) for request in raw]
    assert [x.shape for x in xs] == [(1, 2), (len(EXAMPLES), 2)]
    np.testing.assert_allclose(xs[1][3], [0.3, -0.15])  # toy_example(3 * 0.1, -3 * 0.05)

    path = warmup.write_warmup(model_dir, records)
    assert path == os.path.join(model_dir, WARMUP_FILE)
    read_back = [
        prediction_log_pb2.PredictionLog.FromString(r) for r in tf.data.TFRecordDataset(path).as_numpy_iterator()
    ]
    assert read_back == records
    assert load_version("toy", 1, model_dir).warmup_records == len(records)


def test_warmup_records_are_capped_at_tf_servings_limit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    model_dir = write_toy_model(str(tmp_path / "toy"), 1)
    assert len(warmup.build_warmup_requests(model_dir, EXAMPLES)) <= MAX_WARMUP_RECORDS
    monkeypatch.setattr(warmup, "MAX_WARMUP_RECORDS", 3)  # TF Serving refuses a file with more than its limit
    assert len(warmup.build_warmup_requests(model_dir, EXAMPLES)) == 3


def _signature(record: prediction_log_pb2.PredictionLog) -> str:
    log = getattr(record, record.WhichOneof("log_type"))
    return log.request.model_spec.signature_name


def test_a_model_that_answers_as_itself_over_grpc_and_rest_is_blessed(tmp_path: Path) -> None:
    report = validate(write_toy_model(str(tmp_path / "toy"), 3), EXAMPLES, timeout=30, max_latency_ms=2000)
    assert report["blessed"], report
    answered = {
        (c["signature"], c["transport"], c["api"], c["batch"]) for c in report["checks"] if c["check"] == "answers"
    }
    signatures = [(EXAMPLE_SIGNATURE, "Predict"), (RAW_SIGNATURE, "Predict")]
    signatures += [(CLASSIFY_SIGNATURE, "Classify"), (REGRESS_SIGNATURE, "Regress")]
    assert answered == {(s, t, api, n) for s, api in signatures for t in ("gRPC", "REST") for n in (1, 8, 32)}
    agreement = [c for c in report["checks"] if c["check"] == "agreement"]
    assert {(c["output"], c["batch"]) for c in agreement} == {("y", 1), ("y", 8), ("y", 32)}  # raw x vs examples
    assert [entry["batch"] for entry in report["latency_ms"]] == [1, 32]
    assert report["not_checked"] == [] and "p99" in report["reason"]


@pytest.mark.reliability
def test_a_model_that_answers_differently_when_served_is_not_blessed(tmp_path: Path) -> None:
    module = _Forgetful()
    model_dir = str(tmp_path / "forgetful")
    tf.saved_model.save(module, model_dir, signatures={EXAMPLE_SIGNATURE: module.examples.get_concrete_function()})
    report = validate(model_dir, EXAMPLES, timeout=30)
    assert not report["blessed"]
    # each call answers its call count: the server's second call (REST's) is not the in-process first
    assert report["failures"][0].startswith("answers serving_default y (REST Predict, batch 1): answers differ")


# -- one model per way a SavedModel can pass a Python test and still fail in TF Serving -------------


def _examples_fn(function: Any) -> Any:
    return tf.function(function, input_signature=[tf.TensorSpec([None], tf.string, name="examples")])


def _x(serialized: tf.Tensor) -> tf.Tensor:
    return tf.io.parse_example(serialized, {"x": tf.io.FixedLenFeature([2], tf.float32)})["x"]


def _python_for_big_batches(tmp_path: Path) -> dict[str, Any]:
    """Answers with TensorFlow ops, but batches over 100 rows go through a tf.py_function."""

    def examples(serialized: tf.Tensor) -> dict[str, tf.Tensor]:
        rows = tf.cast(tf.shape(serialized)[0], tf.float32)

        def in_python() -> tf.Tensor:
            return tf.py_function(lambda n: n * 2.0, [rows], tf.float32)

        return {"y": tf.fill(tf.shape(serialized), tf.cond(rows > 100, in_python, lambda: rows * 2.0))}

    return {EXAMPLE_SIGNATURE: _examples_fn(examples)}


def _reads_a_file_outside(tmp_path: Path) -> dict[str, Any]:
    """Reads a file of the training host that still exists (production TF Serving has only the model folder)."""
    outside = tmp_path / "thresholds.txt"
    outside.write_text("0.5")
    path = str(outside)

    def examples(serialized: tf.Tensor) -> dict[str, tf.Tensor]:
        threshold = tf.strings.to_number(tf.io.read_file(path))
        return {"y": tf.reduce_sum(_x(serialized), axis=-1) * threshold}

    return {EXAMPLE_SIGNATURE: _examples_fn(examples)}


def _raw_disagrees(tmp_path: Path) -> dict[str, Any]:
    """serving_raw forgets a step of the preprocessing that serving_default does."""

    def examples(serialized: tf.Tensor) -> dict[str, tf.Tensor]:
        return {"y": tf.reduce_sum(_x(serialized) / 10.0, axis=-1)}

    raw = tf.function(
        lambda x: {"y": tf.reduce_sum(x, axis=-1)}, input_signature=[tf.TensorSpec([None, 2], tf.float32, name="x")]
    )
    return {EXAMPLE_SIGNATURE: _examples_fn(examples), RAW_SIGNATURE: raw}


def _slow(tmp_path: Path, iterations: int = 60_000) -> dict[str, Any]:
    """Right answers, but a quarter of a second per request (a loop of 60,000 steps)."""

    def examples(serialized: tf.Tensor) -> dict[str, tf.Tensor]:
        def step(i: tf.Tensor, value: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
            return i + 1, value * 1.0000001

        _, value = tf.while_loop(lambda i, _: i < iterations, step, [tf.constant(0), tf.constant(1.0)])
        return {"y": tf.reduce_sum(_x(serialized), axis=-1) * value}

    return {EXAMPLE_SIGNATURE: _examples_fn(examples)}


def _renamed_outputs(tmp_path: Path) -> dict[str, Any]:
    """Answers `scores` and `label` where the contract (and every client) reads probabilities and class_ids."""

    def raw(x: tf.Tensor) -> dict[str, tf.Tensor]:
        scores = tf.nn.softmax(x)
        return {"scores": scores, "label": tf.argmax(scores, axis=-1)}

    raw_fn = tf.function(raw, input_signature=[tf.TensorSpec([None, 2], tf.float32, name="x")])
    return {EXAMPLE_SIGNATURE: _examples_fn(lambda serialized: raw(_x(serialized))), RAW_SIGNATURE: raw_fn}


def _nan(tmp_path: Path) -> dict[str, Any]:
    return {EXAMPLE_SIGNATURE: _examples_fn(lambda serialized: {"y": tf.fill(tf.shape(serialized), float("nan"))})}


def _no_serving_default(tmp_path: Path) -> dict[str, Any]:
    return {"predict": _examples_fn(lambda serialized: {"y": tf.reduce_sum(_x(serialized), axis=-1)})}


def _writes_files(tmp_path: Path) -> dict[str, Any]:
    """Right answers, and a file written at a path made from the request (where it lands is unknown)."""

    def examples(serialized: tf.Tensor) -> dict[str, tf.Tensor]:
        path = tf.strings.join([str(tmp_path / "written-"), tf.strings.as_string(tf.size(serialized))])
        with tf.control_dependencies([tf.io.write_file(path, serialized[0])]):
            return {"y": tf.reduce_sum(_x(serialized), axis=-1)}

    return {EXAMPLE_SIGNATURE: _examples_fn(examples)}


def _save_signatures(signatures: dict[str, Any], model_dir: str) -> str:
    tf.saved_model.save(
        tf.Module(), model_dir, signatures={k: f.get_concrete_function() for k, f in signatures.items()}
    )
    return model_dir


CONTRACT = {RAW_SIGNATURE: {"probabilities": "float32", "class_ids": "int64"}}
UNSERVABLE = {
    "python op on a branch no request takes": (
        _python_for_big_batches, {},
        "ops serving_default: op EagerPyFunc is a tf.py_function (Python), which TF Serving has no kernel for",
    ),
    "a file outside the model that still exists": (
        _reads_a_file_outside, {},
        "files serving_default: opens '{tmp_path}/thresholds.txt' with op ReadFile: a path outside the model's folder",
    ),
    "serving_raw and serving_default disagree": (
        _raw_disagrees, {},
        "agreement serving_raw y (batch 8): answers y differently from serving_default's y for the same examples",
    ),
    "slow": (
        _slow, {"max_latency_ms": 50},
        "latency serving_default (in-process Predict, batch 1): p99 ",
    ),
    "renamed outputs": (
        _renamed_outputs, {"contract": CONTRACT},
        "contract serving_raw: output class_ids, probabilities missing (the model answers label, scores)",
    ),
    "NaN outputs": (
        _nan, {},
        "answers serving_default y (gRPC Predict, batch 1): NaN or infinite outputs (1 of 1 values)",
    ),
    "writes a file at a path computed at run time": (
        _writes_files, {},
        "files serving_default: op WriteFile writes files while serving: TF Serving gives a model its own folder",
    ),
    "no serving_default": (
        _no_serving_default, {},
        "signatures serving_default: missing: the model has ['predict']",
    ),
}  # fmt: skip


@pytest.mark.reliability
@pytest.mark.parametrize("case", sorted(UNSERVABLE))
def test_a_model_tf_serving_could_not_serve_as_promised_is_not_blessed_with_one_line_saying_why(
    case: str, tmp_path: Path
) -> None:
    build, options, message = UNSERVABLE[case]
    model_dir = _save_signatures(build(tmp_path), str(tmp_path / "model"))
    report = validate(model_dir, EXAMPLES, timeout=30, **options)
    assert not report["blessed"]
    assert report["failures"][0].startswith(message.format(tmp_path=tmp_path)), report["failures"]
    assert all("\n" not in line and "Traceback" not in line for line in report["failures"])


@pytest.mark.reliability
def test_the_development_server_refuses_a_python_op_at_load_as_tf_serving_does(tmp_path: Path) -> None:
    """TF Serving has no kernel for tf.py_function and refuses such a graph at load, whatever the branch."""
    from serving.graph_check import unservable_ops

    model_dir = _save_signatures(_python_for_big_batches(tmp_path), str(tmp_path / "py"))
    (problem,) = unservable_ops(model_dir)
    assert (problem.op, problem.signature) == ("EagerPyFunc", EXAMPLE_SIGNATURE)
    with pytest.raises(ValueError, match="signature serving_default uses op EagerPyFunc"):
        load_version("py", 1, model_dir)
    assert unservable_ops(write_toy_model(str(tmp_path / "toy"), 1)) == []  # a model of TensorFlow ops only


@pytest.mark.slow
@pytest.mark.reliability
def test_the_time_limit_counts_warmup_and_ends_the_validation_with_what_it_was_doing(tmp_path: Path) -> None:
    model_dir = _save_signatures(_slow(tmp_path, iterations=2_000_000), str(tmp_path / "slow"))  # seconds per call
    requests = _requests_file(tmp_path)
    out = tmp_path / "report.json"
    command = [sys.executable, "-m", "serving.validate", "--model-dir", model_dir, "--examples", str(requests),
               "--out", str(out), "--write-warmup", "--time-limit", "12"]  # fmt: skip
    scratch = tmp_path / "tmp"  # the process's temporary folder: the sealed copy goes there
    scratch.mkdir()
    env = {**os.environ, "TMPDIR": str(scratch)}
    result = subprocess.run(command, capture_output=True, text=True, timeout=120, env=env)
    assert result.returncode == 1, result.stderr
    assert list(scratch.iterdir()) == []  # ended at its time limit, the sealed copy removed all the same
    report = json.loads(out.read_text())
    assert not report["blessed"]
    assert report["reason"].startswith("time limit: the validation did not finish within 12 s (it was ")
    assert "Traceback" not in result.stdout + result.stderr


@pytest.mark.slow
def test_a_good_model_is_stamped_with_warmup_and_pushed(tmp_path: Path) -> None:
    blessing = _run_infra_validator(tmp_path, write_toy_model(str(tmp_path / "toy"), 1))
    assert blessing.get_int_custom_property("blessed") == 1, blessing.get_string_custom_property("reason")
    report = json.loads(Path(blessing.uri, infra.REPORT_FILE).read_text())
    assert report["warmup_records"] > 0 and all(c["ok"] for c in report["checks"])

    pushed = _push(tmp_path, blessing)
    assert pushed.get_int_custom_property("pushed") == 1
    (version,) = os.listdir(tmp_path / "serving")
    assert (tmp_path / "serving" / version / WARMUP_FILE).is_file()  # the model that was tried, with warmup


@pytest.mark.slow
@pytest.mark.reliability
def test_a_model_that_cannot_load_is_not_pushed(tmp_path: Path) -> None:
    model_dir = write_toy_model(str(tmp_path / "toy"), 1)
    for name in os.listdir(os.path.join(model_dir, "variables")):
        Path(model_dir, "variables", name).write_bytes(b"truncated")  # e.g. an interrupted copy
    blessing = _run_infra_validator(tmp_path, model_dir)
    assert blessing.get_int_custom_property("blessed") == 0
    assert blessing.get_string_custom_property("reason").startswith("load: the model did not load: ")

    pushed = _push(tmp_path, blessing)
    assert pushed.get_int_custom_property("pushed") == 0
    assert not (tmp_path / "serving").exists() or os.listdir(tmp_path / "serving") == []


def test_a_model_the_evaluator_did_not_bless_is_not_tried(tmp_path: Path) -> None:
    blessing = _run_infra_validator(tmp_path, write_toy_model(str(tmp_path / "toy"), 1), evaluator_blessed=0)
    assert blessing.get_int_custom_property("blessed") == 0
    assert "did not bless" in blessing.get_string_custom_property("reason")
    assert not os.listdir(blessing.uri)  # no server started, nothing stamped


def test_one_slow_request_among_fewer_than_a_hundred_is_not_the_verdict_two_are() -> None:
    from serving.infra_checks import Latency

    assert Latency(32, [0.05] * 19 + [2.0], budget_ms=500).p99_ms == pytest.approx(50)  # a noisy machine
    assert Latency(32, [0.05] * 18 + [2.0, 0.9], budget_ms=500).p99_ms == pytest.approx(900)


def test_raw_inputs_that_cannot_be_made_from_the_examples_are_named_not_a_crash() -> None:
    from serving.codec import InputSpec
    from serving.infra_checks import RawInputError, raw_inputs

    image = tf.train.Example()
    image.features.feature["image"].bytes_list.value.append(b"raw pixels, not a PNG")
    with pytest.raises(RawInputError, match="'image' cannot be made from the example feature"):
        raw_inputs([image.SerializeToString()], {"image": InputSpec("image", "uint8", (None, 28, 28, 1))}, {})
    tags = tf.train.Example()
    tags.features.feature["tags"].bytes_list.value.extend([b"a", b"b", b"c"])
    with pytest.raises(RawInputError, match="more than the 2 texts"):
        raw_inputs([tags.SerializeToString()], {"tags": InputSpec("tags", "string", (None, 2))}, {})


@pytest.mark.reliability
def test_an_absolute_path_into_the_models_own_folder_is_refused_too(tmp_path: Path) -> None:
    """The folder a model is in at validation is not where production TF Serving will read it from."""
    from serving.graph_check import files_outside

    model_dir = tmp_path / "model"
    (model_dir / "extra").mkdir(parents=True)
    (model_dir / "extra" / "scale.txt").write_text("2")
    path = str(model_dir / "extra" / "scale.txt")
    signatures = {
        EXAMPLE_SIGNATURE: _examples_fn(
            lambda s: {"y": tf.strings.to_number(tf.io.read_file(path)) + 0 * tf.reduce_sum(_x(s))}
        )
    }
    (found,) = files_outside(_save_signatures(signatures, str(model_dir)))
    assert found.path == path and "inside the folder the model is in now" in found.why


@pytest.mark.reliability
def test_a_model_folder_with_a_link_out_of_it_or_a_pipe_is_refused_before_any_copy(tmp_path: Path) -> None:
    """``assets/zero -> /dev/zero`` filled a tmpfs in seconds when the sealed copy followed it."""
    model_dir = write_toy_model(str(tmp_path / "toy"), 1)
    os.makedirs(os.path.join(model_dir, "assets"), exist_ok=True)
    os.symlink("/dev/zero", os.path.join(model_dir, "assets", "zero"))
    report = validate(model_dir, EXAMPLES, scratch_dir=str(tmp_path))
    assert not report["blessed"]
    assert "assets/zero is a link out of the model folder (to /dev/zero)" in report["reason"]
    blessing = _run_infra_validator(tmp_path / "run", model_dir)  # the executor refuses it before copying too
    assert blessing.get_int_custom_property("blessed") == 0
    assert "assets/zero is a link out of the model folder" in blessing.get_string_custom_property("reason")
    os.remove(os.path.join(model_dir, "assets", "zero"))
    os.mkfifo(os.path.join(model_dir, "assets", "pipe"))
    assert "assets/pipe is a pipe, not a file" in validate(model_dir, EXAMPLES, scratch_dir=str(tmp_path))["reason"]


@pytest.mark.reliability
@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--time-limit", "0"], "argument --time-limit: '0' must be a number above 0"),
        (["--time-limit", "nan"], "argument --time-limit: 'nan' must be a number above 0"),
        (["--max-batch", "-1"], "argument --max-batch: '-1' must be a number above 0"),
        (["--max-memory-mb", "inf"], "argument --max-memory-mb: 'inf' must be a number above 0"),
    ],
)
def test_validate_refuses_limits_that_judge_nothing(
    tmp_path: Path, flags: list[str], message: str, capsys: pytest.CaptureFixture
) -> None:
    from serving.validate import main

    with pytest.raises(SystemExit) as done:
        main(["--model-dir", str(tmp_path), "--examples", "x", "--out", str(tmp_path / "r.json"), *flags])
    assert done.value.code == 2 and message in capsys.readouterr().err


@pytest.mark.reliability
def test_validate_refuses_an_out_it_could_not_write_before_any_work(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    from serving.validate import main

    (tmp_path / "file").write_text("")
    with pytest.raises(SystemExit) as done:
        main(["--model-dir", str(tmp_path), "--examples", "x", "--out", str(tmp_path / "file" / "r.json")])
    assert done.value.code == 2 and "is not a folder this user can write" in capsys.readouterr().err


@pytest.mark.slow
@pytest.mark.reliability
def test_a_serving_process_over_its_memory_limit_is_ended_with_a_report(tmp_path: Path) -> None:
    """The limit is the resident memory of the serving process (TensorFlow itself counts, some 400 MB)."""
    model_dir = write_toy_model(str(tmp_path / "toy"), 1)
    requests = _requests_file(tmp_path)
    out = tmp_path / "report.json"
    command = [sys.executable, "-m", "serving.validate", "--model-dir", model_dir, "--examples", str(requests),
               "--out", str(out), "--write-warmup", "--max-memory-mb", "150"]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert result.returncode == 1, result.stderr
    report = json.loads(out.read_text())
    assert report["reason"].startswith("memory limit: the serving process passed 150 MB ("), report["reason"]
    command[-1] = "4096"  # the default: the toy model is served well within it, and the peak is reported
    assert subprocess.run(command, capture_output=True, text=True, timeout=120).returncode == 0
    assert 100 < json.loads(out.read_text())["peak_memory_mb"] < 4096


@pytest.mark.slow
@pytest.mark.reliability
def test_validate_by_hand_judges_the_contract_and_budget_the_model_carries(tmp_path: Path) -> None:
    """Without --contract or --max-latency-ms, the promise written at export is judged, as the pipeline judges it."""
    from common.contract import SERVING_PROMISE_FILE

    model_dir = _save_signatures(_renamed_outputs(tmp_path), str(tmp_path / "model"))
    promise = {"outputs": CONTRACT, "max_latency_ms": 2000.0}
    Path(model_dir, SERVING_PROMISE_FILE).parent.mkdir(exist_ok=True)
    Path(model_dir, SERVING_PROMISE_FILE).write_text(json.dumps(promise))
    requests = _requests_file(tmp_path)
    out = tmp_path / "report.json"
    command = [sys.executable, "-m", "serving.validate", "--model-dir", model_dir, "--examples", str(requests),
               "--out", str(out)]  # fmt: skip
    assert subprocess.run(command, capture_output=True, text=True, timeout=120).returncode == 1
    reason = json.loads(out.read_text())["reason"]
    assert "contract serving_raw: output class_ids, probabilities missing (the model answers label, scores)" in reason
