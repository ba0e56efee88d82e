"""Transform's preprocessing_fn for MNIST: pixels / 255 and a one-hot label."""

from __future__ import annotations

import tensorflow as tf

from pipelines.features import transformed_name
from pipelines.keras_config import require_keras2
from pipelines.mnist.config import IMAGE_KEY, IMAGE_SHAPE, LABEL_KEY, NUM_CLASSES


def preprocessing_fn(inputs: dict[str, tf.Tensor]) -> dict[str, tf.Tensor]:
    """Map raw features to model features.

    Args:
        inputs: ``image`` int64 [batch, 784] (row-major pixels 0..255, as
            TFDSExampleGen writes them) and ``label`` int64 [batch, 1] (0..9).

    Returns:
        ``image_xf`` float32 [batch, 28, 28, 1] in [0, 1] and ``label_xf``
        float32 [batch, 10] one-hot.
    """
    require_keras2()
    image = tf.divide(tf.cast(inputs[IMAGE_KEY], tf.float32), 255.0)
    label = tf.reshape(inputs[LABEL_KEY], [-1])
    return {
        transformed_name(IMAGE_KEY): tf.reshape(image, [-1, *IMAGE_SHAPE]),
        transformed_name(LABEL_KEY): tf.one_hot(label, depth=NUM_CLASSES, dtype=tf.float32),
    }
