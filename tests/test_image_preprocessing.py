"""The image tasks' preprocessing_fn on known rows (tf.Transform), and training-time augmentation."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_transform.beam as tft_beam
from tensorflow_transform.tf_metadata import dataset_metadata, schema_utils

from pipelines import tasks
from pipelines.image_classification import augment


@pytest.mark.slow  # a tf.Transform Beam pipeline: seconds
@pytest.mark.parametrize(
    ("task", "shape"), [("mnist", (28, 28, 1)), ("fashion_mnist", (28, 28, 1)), ("cifar10", (32, 32, 3))]
)
def test_pixels_scaled_and_label_one_hot(tmp_path: Path, task: str, shape: tuple) -> None:
    import importlib

    module, name = tasks.get(task).preprocessing_fn.rsplit(".", 1)
    preprocessing_fn = getattr(importlib.import_module(module), name)
    rows = []
    for label, value in ((0, 0), (3, 255), (9, 51)):
        image = np.full(shape, value, dtype=np.uint8)
        image[0, 0, 0] = 255 - value  # first pixel, first channel
        rows.append({"image": [tf.io.encode_png(image).numpy()], "label": [label]})  # as TFDSExampleGen writes
    metadata = dataset_metadata.DatasetMetadata(
        schema_utils.schema_from_feature_spec(
            {
                "image": tf.io.FixedLenFeature([1], tf.string),
                "label": tf.io.FixedLenFeature([1], tf.int64),
            }
        )
    )
    with tft_beam.Context(temp_dir=str(tmp_path)):
        (transformed, _), _ = (rows, metadata) | tft_beam.AnalyzeAndTransformDataset(preprocessing_fn)
    by_label = {int(np.argmax(r["label_xf"])): r for r in transformed}
    assert sorted(by_label) == [0, 3, 9]
    for label, value in ((0, 0), (3, 255), (9, 51)):
        image = np.asarray(by_label[label]["image_xf"], dtype=np.float32)
        assert image.shape == shape
        np.testing.assert_allclose(image.reshape(-1)[1:], value / 255.0, rtol=1e-6)
        np.testing.assert_allclose(image[0, 0, 0], (255 - value) / 255.0, rtol=1e-6)
        np.testing.assert_array_equal(by_label[label]["label_xf"], np.eye(10, dtype=np.float32)[label])


def test_augmentation_flips_and_crops_but_keeps_shape_and_labels() -> None:
    tf.random.set_seed(0)
    images = tf.reshape(tf.range(2 * 32 * 32 * 3, dtype=tf.float32), [2, 32, 32, 3]) / (2 * 32 * 32 * 3)
    labels = {"label": tf.one_hot([1, 2], 10)}
    seen_changed = False
    for _ in range(5):
        inputs, out_labels = augment({"image": images}, labels)
        assert inputs["image"].shape == images.shape
        assert out_labels is labels
        seen_changed |= not np.allclose(inputs["image"].numpy(), images.numpy())
        # Every augmented pixel is an original pixel or padding (zero).
        original = set(np.round(images.numpy().reshape(-1), 6)) | {0.0}
        assert set(np.round(inputs["image"].numpy().reshape(-1), 6)) <= original
    assert seen_changed
