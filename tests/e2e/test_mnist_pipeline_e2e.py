"""The whole MNIST pipeline on a small fixture, in a temp dir, through the local runner."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from components.tfds_import import read_back
from pipelines.cli import main as cli_main
from pipelines.config import apply_overrides
from pipelines.local_runner import LocalLayout, run_pipeline
from pipelines.mnist.pipeline import create_pipeline

pytestmark = pytest.mark.e2e

ALL_COMPONENTS = {
    "TFDSExampleGen",
    "StatisticsGen",
    "SchemaGen",
    "ExampleValidator",
    "Transform",
    "Trainer",
    "latest_blessed_model_resolver",
    "Evaluator",
    "AtomicPusher",
}
EXECUTED = ALL_COMPONENTS - {"latest_blessed_model_resolver"}  # a resolver resolves, it has nothing to cache


def test_every_component_executed_and_the_model_was_pushed(mnist_run: tuple) -> None:
    summary, output_dir, _ = mnist_run
    assert set(summary.components) == ALL_COMPONENTS
    assert all(summary.components[c] == "COMPLETE" for c in EXECUTED), summary.components
    assert summary.blessed is True and summary.pushed is True
    assert summary.metrics["sparse_categorical_accuracy"] >= 0.6
    assert summary.metrics["example_count"] == 20  # the eval split, train[90%:]
    versions = os.listdir(os.path.join(LocalLayout(output_dir, "mnist").serving_root, "mnist"))
    assert len(versions) == 1 and versions[0].isdigit()
    assert summary.pushed_destination.endswith(os.path.join("serving", "mnist", versions[0]))


def test_pushed_model_predicts_through_both_signatures(mnist_run: tuple, mnist_data_dir: str) -> None:
    summary, _, _ = mnist_run
    loaded = tf.saved_model.load(summary.pushed_destination)
    assert set(loaded.signatures) == {"serving_default", "serving_raw", "classification"}
    test = list(read_back("mnist", mnist_data_dir, "test"))
    images = np.stack([e["image"] for e in test])
    labels = np.array([e["label"] for e in test])
    raw = loaded.signatures["serving_raw"](image=tf.constant(images, dtype=tf.uint8))
    serialized = [
        tf.train.Example(
            features=tf.train.Features(
                feature={
                    "image": tf.train.Feature(int64_list=tf.train.Int64List(value=e["image"].reshape(-1).tolist()))
                }
            )
        ).SerializeToString()
        for e in test
    ]
    from_examples = loaded.signatures["serving_default"](examples=tf.constant(serialized))
    np.testing.assert_allclose(raw["probabilities"].numpy(), from_examples["probabilities"].numpy(), atol=1e-6)
    np.testing.assert_array_equal(raw["class_ids"].numpy(), from_examples["class_ids"].numpy())
    assert raw["probabilities"].shape == (50, 10)
    assert raw["class_names"].numpy()[0].decode() == str(raw["class_ids"].numpy()[0])
    accuracy = float((raw["class_ids"].numpy() == labels).mean())
    assert accuracy >= 0.6, accuracy  # chance is 0.1: the pipeline learned the fixture
    # A wrong shape is refused with a message naming the expected shape, never silently reshaped.
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"not compatible with expected shape \[\?,28,28,1\]"):
        loaded.signatures["serving_raw"](image=tf.zeros([1, 32, 32, 3], tf.uint8))


def test_report_pictures_and_keras_version(mnist_run: tuple) -> None:
    summary, _, _ = mnist_run
    report = Path(summary.artifacts["report"])
    for name in ("model.png", "training_curves.png", "confusion_matrix.png", "per_class_accuracy.png", "samples.png"):
        assert (report / name).stat().st_size > 1000, name
    history = json.loads((report.parent / "history.json").read_text())
    assert history["keras_version"].startswith("2.")  # the Trainer ran Keras 2
    assert history["epochs_run"] >= 1 and len(history["history"]["val_loss"]) == history["epochs_run"]
    assert Path(summary.artifacts["tensorboard"]).is_dir()


def test_second_run_with_nothing_changed_reexecutes_nothing(
    mnist_run: tuple, mnist_data_dir: str, capsys: pytest.CaptureFixture
) -> None:
    summary, output_dir, _ = mnist_run
    serving = os.path.join(LocalLayout(output_dir, "mnist").serving_root, "mnist")
    before = sorted(os.listdir(serving))
    code = cli_main(
        [
            "run",
            "mnist",
            "--output-dir",
            output_dir,
            "--data-dir",
            mnist_data_dir,
            "--epochs",
            "5",
            "--set",
            "eval.min_accuracy=0.6",
            "--json",
        ]
    )
    assert code == 0
    out = capsys.readouterr().out
    second = json.loads(out[out.index("{") :])
    assert all(second["components"][c] == "CACHED" for c in EXECUTED), second["components"]
    assert sorted(os.listdir(serving)) == before  # nothing re-pushed


def test_a_worse_model_never_replaces_a_better_one(mnist_run: tuple) -> None:
    summary, output_dir, config = mnist_run
    serving = os.path.join(LocalLayout(output_dir, "mnist").serving_root, "mnist")
    before = sorted(os.listdir(serving))
    # A barely trained model; the absolute bar is off so only the comparison with the baseline can stop it.
    worse = apply_overrides(config, ["training.epochs=1", "training.learning_rate=1e-6", "eval.min_accuracy=0.0"])
    result = run_pipeline("mnist", create_pipeline, worse, output_dir, quiet=True)
    assert result.components["Trainer"] == "COMPLETE" and result.components["Evaluator"] == "COMPLETE"
    assert result.metrics["sparse_categorical_accuracy"] < summary.metrics["sparse_categorical_accuracy"]
    assert result.blessed is False and result.pushed is False
    assert any("is_diff" in failure for failure in result.validation_failures), result.validation_failures
    assert sorted(os.listdir(serving)) == before
