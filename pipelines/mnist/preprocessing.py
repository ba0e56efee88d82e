"""Transform's preprocessing_fn for MNIST: pixels / 255 (``tf.divide``) and a one-hot label."""

from __future__ import annotations

import tensorflow as tf

from pipelines.image_classification import preprocess
from pipelines.mnist.config import IMAGE_SHAPE, NUM_CLASSES


def preprocessing_fn(inputs: dict[str, tf.Tensor]) -> dict[str, tf.Tensor]:
    """``image`` int64 [batch, 784] -> ``image_xf`` float32 [batch, 28, 28, 1]; ``label`` -> one-hot [batch, 10]."""
    return preprocess(inputs, IMAGE_SHAPE, NUM_CLASSES)
