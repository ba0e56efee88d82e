"""The MNIST preprocessing_fn on known rows, run by tf.Transform's Beam implementation."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import tensorflow as tf
import tensorflow_transform.beam as tft_beam
from tensorflow_transform.tf_metadata import dataset_metadata, schema_utils

from pipelines.mnist.preprocessing import preprocessing_fn


def test_pixels_scaled_and_label_one_hot(tmp_path: Path) -> None:
    rows = []
    for label, value in ((0, 0), (3, 255), (9, 51)):
        image = np.full(784, value, dtype=np.int64)
        image[0] = 255 - value
        rows.append({"image": image.tolist(), "label": [label]})
    metadata = dataset_metadata.DatasetMetadata(
        schema_utils.schema_from_feature_spec(
            {
                "image": tf.io.FixedLenFeature([784], tf.int64),
                "label": tf.io.FixedLenFeature([1], tf.int64),
            }
        )
    )
    with tft_beam.Context(temp_dir=str(tmp_path)):
        (transformed, _), _ = (rows, metadata) | tft_beam.AnalyzeAndTransformDataset(preprocessing_fn)
    by_label = {int(np.argmax(r["label_xf"])): r for r in transformed}
    assert sorted(by_label) == [0, 3, 9]
    for label, value in ((0, 0), (3, 255), (9, 51)):
        row = by_label[label]
        image = np.asarray(row["image_xf"], dtype=np.float32)
        assert image.shape == (28, 28, 1)
        np.testing.assert_allclose(image[0, 1:, 0], value / 255.0, rtol=1e-6)
        np.testing.assert_allclose(image[0, 0, 0], (255 - value) / 255.0, rtol=1e-6)
        expected = np.zeros(10, dtype=np.float32)
        expected[label] = 1.0
        np.testing.assert_array_equal(row["label_xf"], expected)
