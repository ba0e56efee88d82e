"""CIFAR-10 (TFDS ``cifar10``): the toy ResNet with ``add`` skip connections, augmentation on.

Everything the project knows about this task is in this folder: the spec below, the config, the
Transform step, and the curated schema (``schema.pbtxt``).
"""

from __future__ import annotations

import os
from typing import Any

from pipelines.config import ClassifierEval, TaskConfig, TfdsData, TrainingConfig, ValidationConfig
from pipelines.image_classification import image_classification_task, preprocess

IMAGE_SHAPE = (32, 32, 3)
CLASS_NAMES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")


class Cifar10Config(TaskConfig):
    """Everything that defines a CIFAR-10 pipeline run (the seed's splits; ``test`` is kept apart)."""

    data: TfdsData = TfdsData(splits={"train": "train[:80%]", "eval": "train[80%:]", "test": "test"})
    training: TrainingConfig = TrainingConfig(epochs=30, early_stopping_patience=5, reduce_lr_patience=3, augment=True)
    eval: ClassifierEval = ClassifierEval(min_accuracy=0.3)
    # At least 10 rows per class in every split (a hard stop, docs/data-validation.md).
    validation: ValidationConfig = ValidationConfig(min_rows=100)


def preprocessing_fn(inputs: dict[str, Any]) -> dict[str, Any]:
    """``image`` int64 [batch, 3072] -> ``image_xf`` float32 [batch, 32, 32, 3]; ``label`` -> one-hot [batch, 10]."""
    return preprocess(inputs, IMAGE_SHAPE, len(CLASS_NAMES))


def build_model(config: Cifar10Config) -> Any:
    """The toy ResNet of :mod:`models.resnet` (``add`` skip connections)."""
    from models.resnet import build_toy_resnet

    del config
    return build_toy_resnet(IMAGE_SHAPE, len(CLASS_NAMES))


SPEC = image_classification_task(
    name="cifar10",
    description="CIFAR-10 images, toy ResNet with skip connections (TFDS cifar10)",
    dataset="cifar10",
    raw_format="cifar_binary",
    image_shape=IMAGE_SHAPE,
    class_names=CLASS_NAMES,
    config_class=Cifar10Config,
    build_model=build_model,
    preprocessing_fn=f"{__name__}.preprocessing_fn",
    schema_file=os.path.join(os.path.dirname(__file__), "schema.pbtxt"),
)
