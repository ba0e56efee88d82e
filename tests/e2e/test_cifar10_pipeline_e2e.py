"""The whole CIFAR-10 pipeline (toy ResNet, augmentation on) on a small binary-batch fixture."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from components.tfds_import import read_back
from pipelines.cifar10.config import CLASS_NAMES

pytestmark = pytest.mark.e2e


def test_cifar10_pipeline_pushes_a_model_that_serves_raw_images(cifar10_data_dir: str, cifar10_run: tuple) -> None:
    summary, tmp_path, config = cifar10_run
    assert config.training.augment is True
    assert all(state == "COMPLETE" for state in summary.components.values()), summary.components
    assert summary.pushed and summary.metrics["example_count"] == 40  # train[80%:] of 200
    assert Path(summary.pushed_destination).parent == tmp_path / "serving" / "cifar10"

    model = tf.saved_model.load(summary.pushed_destination)
    test = list(read_back("cifar10", cifar10_data_dir, "test"))
    images = np.stack([e["image"] for e in test])
    labels = np.array([e["label"] for e in test])
    raw = model.signatures["serving_raw"](image=tf.constant(images))
    examples = [
        tf.train.Example(
            features=tf.train.Features(
                feature={  # no `id`, no label: not needed to serve
                    "image": tf.train.Feature(int64_list=tf.train.Int64List(value=e["image"].reshape(-1).tolist()))
                }
            )
        ).SerializeToString()
        for e in test
    ]
    parsed = model.signatures["serving_default"](examples=tf.constant(examples))
    np.testing.assert_allclose(raw["probabilities"].numpy(), parsed["probabilities"].numpy(), atol=1e-6)
    names = [n.decode() for n in raw["class_names"].numpy()]
    assert names == [CLASS_NAMES[i] for i in raw["class_ids"].numpy()]
    assert float((raw["class_ids"].numpy() == labels).mean()) >= 0.3  # chance is 0.1
    with pytest.raises(tf.errors.InvalidArgumentError, match="expected shape"):
        model.signatures["serving_raw"](image=tf.zeros([1, 28, 28, 1], tf.uint8))

    report = Path(summary.artifacts["report"])
    for name in ("model.png", "training_curves.png", "confusion_matrix.png", "per_class_accuracy.png", "samples.png"):
        assert (report / name).stat().st_size > 1000, name
    # Augmentation is training-only: the exported model has no random layers.
    keras_model = tf.keras.models.load_model(summary.pushed_destination)
    assert not [layer for layer in keras_model.layers if type(layer).__name__.startswith("Random")]
    assert os.listdir(Path(summary.pushed_destination).parent) == [Path(summary.pushed_destination).name]
