"""Every image task's whole pipeline on its fixture: each component runs, a model is pushed and answers.

MNIST (CNN), Fashion-MNIST (Sequential MLP) and CIFAR-10 (toy ResNet, augmentation on) go through the
same generic machinery; only their folders differ.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
from helpers.components import pipeline_components
from helpers.data import read_back

from common.contract import WARMUP_FILE
from pipelines import tasks

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("pipelines")]  # see pytest.ini

IMAGE_TASKS = ["mnist", "fashion_mnist", "cifar10"]


def _examples(images: np.ndarray) -> list[bytes]:
    """tf.Examples as a client sends them to serving_default: the image as PNG bytes (a file's content)."""
    return [
        tf.train.Example(
            features=tf.train.Features(
                feature={"image": tf.train.Feature(bytes_list=tf.train.BytesList(value=[tf.io.encode_png(i).numpy()]))}
            )
        ).SerializeToString()
        for i in images
    ]


@pytest.mark.parametrize("task", IMAGE_TASKS)
def test_every_component_ran_and_the_pushed_model_answers_with_class_names(
    task: str, image_run, request: pytest.FixtureRequest
) -> None:
    summary, output_dir, config = image_run(task)
    spec = tasks.get(task)
    assert set(summary.components) == pipeline_components("TFDSExampleGen") | (
        {"Tuner"} if config.tuning.enabled else set()
    )
    assert all(state == "COMPLETE" for state in summary.components.values()), summary.components
    assert summary.succeeded and summary.blessed is True and summary.pushed is True
    assert all(summary.seconds[c] > 0 for c in ("TFDSExampleGen", "Transform", "Trainer", "Evaluator"))
    assert summary.data_anomalies == [] and Path(summary.artifacts["data report"]).is_file()
    assert summary.metrics["sparse_categorical_accuracy"] >= config.eval.min_accuracy
    versions = os.listdir(output_dir / "serving" / task)
    assert len(versions) == 1 and versions[0].isdigit()
    assert Path(summary.pushed_destination) == output_dir / "serving" / task / versions[0]
    assert summary.infra_blessed is True and "checks passed: the graph, a sealed copy" in summary.infra_reason
    assert (Path(summary.pushed_destination) / WARMUP_FILE).is_file()  # the model that was tried, with warmup

    model = tf.saved_model.load(summary.pushed_destination)
    assert set(model.signatures) == {"serving_default", "serving_raw", "classification"}
    test = list(read_back(spec.source.dataset, request.getfixturevalue(f"{task}_data_dir"), "test"))
    images = np.stack([e["image"] for e in test])
    labels = np.array([e["label"] for e in test])
    raw = model.signatures["serving_raw"](image=tf.constant(images, dtype=tf.uint8))
    parsed = model.signatures["serving_default"](examples=tf.constant(_examples(images)))
    np.testing.assert_allclose(raw["probabilities"].numpy(), parsed["probabilities"].numpy(), atol=1e-6)
    class_names = spec.serving(config).classify[1]
    names = [n.decode() for n in raw["class_names"].numpy()]
    assert names == [class_names[i] for i in raw["class_ids"].numpy()]
    accuracy = float((raw["class_ids"].numpy() == labels).mean())
    assert accuracy >= 0.3, accuracy  # chance is 0.1: the pipeline learned the fixture
    # A wrong shape is refused with a message naming the expected shape, never silently reshaped.
    with pytest.raises(tf.errors.InvalidArgumentError, match="expected shape"):
        model.signatures["serving_raw"](image=tf.zeros([1, 7, 7, 2], tf.uint8))

    report = Path(summary.artifacts["report"])
    for name in ("model.png", "training_curves.png", "confusion_matrix.png", "per_class_accuracy.png", "samples.png"):
        assert (report / name).stat().st_size > 1000, name
    history = json.loads((report.parent / "history.json").read_text())
    assert history["keras_version"].startswith("2.")  # the Trainer ran Keras 2
    assert history["epochs_run"] >= 1 and len(history["history"]["val_loss"]) == history["epochs_run"]


def test_fashion_mnist_is_the_seed_sequential_mlp_and_answers_with_clothes(image_run) -> None:
    summary, _, _ = image_run("fashion_mnist")
    keras_model = tf.keras.models.load_model(summary.pushed_destination)
    assert type(keras_model).__name__ == "Sequential" and keras_model.count_params() == 266_610
    names = tf.saved_model.load(summary.pushed_destination).signatures["serving_raw"](
        image=tf.zeros([1, 28, 28, 1], tf.uint8)
    )["class_names"]
    assert names.numpy()[0].decode() in tasks.get("fashion_mnist").serving(None).classify[1]
    assert "Ankle boot" in tasks.get("fashion_mnist").serving(None).classify[1]


def test_cifar10_augmentation_is_training_only(image_run) -> None:
    summary, _, config = image_run("cifar10")
    assert config.training.augment is True
    keras_model = tf.keras.models.load_model(summary.pushed_destination)
    assert not [layer for layer in keras_model.layers if type(layer).__name__.startswith("Random")]


@pytest.mark.reliability
def test_a_corrupted_image_data_set_is_stopped_before_training(mnist_run: tuple, mnist_data_dir: str, tmp_path) -> None:  # noqa: ANN001
    """The image task's day 2: the TFDS files were damaged in place (labels outside 0..9, small images)."""
    import shutil

    from helpers.data import corrupt_tfds_images

    from pipelines.config import apply_overrides
    from pipelines.local_runner import run_pipeline

    summary, output_dir, config = mnist_run
    serving = output_dir / "serving" / "mnist"
    before = {str(p): p.read_bytes() for p in sorted(serving.rglob("*")) if p.is_file()}
    damaged = tmp_path / "tfds"
    shutil.copytree(mnist_data_dir, damaged)
    corrupt_tfds_images("mnist", damaged)
    result = run_pipeline(tasks.get("mnist"), apply_overrides(config, [f"data.data_dir={damaged}"]), str(output_dir))
    assert result.components["TFDSExampleGen"] == "COMPLETE"  # the damaged files are read again, not cached
    assert result.failure is not None and result.failure.component == "DataValidator"
    assert all(result.components[c] == "NOT_RUN" for c in ("Transform", "Trainer", "Evaluator", "AtomicPusher"))
    found = "\n".join(result.failure.details)
    assert "split train, feature label: Out-of-range values" in found
    assert "split train, feature image/height: Out-of-range values" in found
    assert "image/width" in found
    after = {str(p): p.read_bytes() for p in sorted(serving.rglob("*")) if p.is_file()}
    assert after == before  # byte for byte
