"""Transform's preprocessing_fn for CIFAR-10: pixels / 255 and a one-hot label."""

from __future__ import annotations

import tensorflow as tf

from pipelines.cifar10.config import CLASS_NAMES, IMAGE_SHAPE
from pipelines.image_classification import preprocess


def preprocessing_fn(inputs: dict[str, tf.Tensor]) -> dict[str, tf.Tensor]:
    """``image`` int64 [batch, 3072] -> ``image_xf`` float32 [batch, 32, 32, 3]; ``label`` -> one-hot [batch, 10]."""
    return preprocess(inputs, IMAGE_SHAPE, len(CLASS_NAMES))
