"""Infra validation before push: warmup records, the serving check, the blessing and the Pusher's gate."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
import tensorflow as tf
from helpers.toy_model import toy_example, write_toy_model
from tensorflow_serving.apis import prediction_log_pb2
from tfx.proto import pusher_pb2
from tfx.types import standard_artifacts
from tfx.utils import proto_utils

from common.contract import CLASSIFY_SIGNATURE, EXAMPLE_SIGNATURE, MAX_WARMUP_RECORDS, REGRESS_SIGNATURE, WARMUP_FILE
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


def _model_artifact(tmp_path: Path, model_dir: str) -> standard_artifacts.Model:
    model = standard_artifacts.Model()
    model.uri = str(tmp_path / "trainer_model")
    shutil.copytree(model_dir, os.path.join(model.uri, "Format-Serving"))
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
        {"split": "eval", "num_examples": 4, "timeout_seconds": 120},
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
    report = validate(write_toy_model(str(tmp_path / "toy"), 3), EXAMPLES, timeout=30)
    assert report["blessed"], report
    checked = {(c["transport"], c["api"]) for c in report["checks"]}
    assert checked == {(t, api) for t in ("gRPC", "REST") for api in ("Predict", "Classify", "Regress")}


@pytest.mark.reliability
def test_a_model_that_answers_differently_when_served_is_not_blessed(tmp_path: Path) -> None:
    module = _Forgetful()
    model_dir = str(tmp_path / "forgetful")
    tf.saved_model.save(module, model_dir, signatures={EXAMPLE_SIGNATURE: module.examples.get_concrete_function()})
    report = validate(model_dir, EXAMPLES, timeout=30)
    assert not report["blessed"]
    assert "REST Predict y: answers differ (max difference 1)" in report["reason"]  # its second call answered 2


class _PythonForBigBatches(tf.Module):
    """Answers with TensorFlow ops, but batches over 100 rows go through a tf.py_function."""

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="examples")])
    def examples(self, serialized: tf.Tensor) -> dict[str, tf.Tensor]:
        rows = tf.cast(tf.shape(serialized)[0], tf.float32)

        def in_python() -> tf.Tensor:
            return tf.py_function(lambda n: n * 2.0, [rows], tf.float32)

        return {"y": tf.fill(tf.shape(serialized), tf.cond(rows > 100, in_python, lambda: rows * 2.0))}


class _NaN(tf.Module):
    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="examples")])
    def examples(self, serialized: tf.Tensor) -> dict[str, tf.Tensor]:
        return {"y": tf.fill(tf.shape(serialized), float("nan"))}


def _save(module: tf.Module, path: Path, signature: str = EXAMPLE_SIGNATURE) -> str:
    tf.saved_model.save(module, str(path), signatures={signature: module.examples.get_concrete_function()})
    return str(path)


@pytest.mark.reliability
def test_a_python_op_on_a_branch_no_check_takes_is_found_in_the_graph(tmp_path: Path) -> None:
    """TF Serving has no kernel for tf.py_function and refuses such a graph at load, whatever the branch.

    The checks send batches of 1 and 16: the branch for batches over 100 never runs, yet the op is found,
    named with its signature; the development server refuses the version as TF Serving would.
    """
    from serving.graph_check import unservable_ops

    model_dir = _save(_PythonForBigBatches(), tmp_path / "py")
    (problem,) = unservable_ops(model_dir)
    assert (problem.op, problem.signature) == ("EagerPyFunc", EXAMPLE_SIGNATURE)
    assert "tf.py_function" in str(problem) and "no kernel" in str(problem)
    with pytest.raises(ValueError, match="signature serving_default uses op EagerPyFunc"):
        load_version("py", 1, model_dir)
    report = validate(model_dir, EXAMPLES, timeout=30)
    assert not report["blessed"] and "uses op EagerPyFunc" in report["reason"] and "\n" not in report["reason"]
    assert unservable_ops(write_toy_model(str(tmp_path / "toy"), 1)) == []  # a model of TensorFlow ops only


@pytest.mark.reliability
def test_nan_outputs_and_a_missing_serving_default_are_named(tmp_path: Path) -> None:
    report = validate(_save(_NaN(), tmp_path / "nan"), EXAMPLES, timeout=30)
    assert not report["blessed"]
    assert "gRPC Predict y: NaN or infinite outputs (6 of 6 values)" in report["reason"]
    report = validate(_save(_NaN(), tmp_path / "other", signature="predict"), EXAMPLES, timeout=30)
    assert not report["blessed"]
    assert (
        report["reason"].startswith("the model has no serving_default signature") and "['predict']" in report["reason"]
    )


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
    assert "did not load in the serving code" in blessing.get_string_custom_property("reason")

    pushed = _push(tmp_path, blessing)
    assert pushed.get_int_custom_property("pushed") == 0
    assert not (tmp_path / "serving").exists() or os.listdir(tmp_path / "serving") == []


def test_a_model_the_evaluator_did_not_bless_is_not_tried(tmp_path: Path) -> None:
    blessing = _run_infra_validator(tmp_path, write_toy_model(str(tmp_path / "toy"), 1), evaluator_blessed=0)
    assert blessing.get_int_custom_property("blessed") == 0
    assert "did not bless" in blessing.get_string_custom_property("reason")
    assert not os.listdir(blessing.uri)  # no server started, nothing stamped
