"""MNIST digits (TFDS ``mnist``): the baseline CNN (34,826 parameters) or the improved CNN (BatchNorm, Dropout).

Everything the project knows about this task is in this folder: the spec below, the config, the
Transform step, and the curated schema (``schema.pbtxt``).
"""

from __future__ import annotations

import os
from typing import Any, Literal

from pipelines.config import ClassifierEval, Section, TaskConfig, TfdsData, TrainingConfig, ValidationConfig
from pipelines.image_classification import image_classification_task, preprocess

IMAGE_SHAPE = (28, 28, 1)
CLASS_NAMES = tuple(str(digit) for digit in range(10))


class MnistModelConfig(Section):
    """Which CNN: ``baseline`` (the default) or ``improved`` (BatchNorm + Dropout, more filters)."""

    architecture: Literal["baseline", "improved"] = "baseline"


class MnistConfig(TaskConfig):
    """Everything that defines an MNIST pipeline run. The defaults reach >= 99% test accuracy."""

    data: TfdsData = TfdsData(splits={"train": "train[:90%]", "eval": "train[90%:]", "test": "test"})
    model: MnistModelConfig = MnistModelConfig()
    training: TrainingConfig = TrainingConfig()
    eval: ClassifierEval = ClassifierEval(min_accuracy=0.98)
    # At least 10 rows per class in every split (a hard stop, docs/data-validation.md).
    validation: ValidationConfig = ValidationConfig(min_rows=100)


def preprocessing_fn(inputs: dict[str, Any]) -> dict[str, Any]:
    """``image`` PNG bytes [batch, 1] -> ``image_xf`` float32 [batch, 28, 28, 1]; ``label`` -> one-hot [batch, 10]."""
    return preprocess(inputs, IMAGE_SHAPE, len(CLASS_NAMES))


def build_model(config: MnistConfig) -> Any:
    """The CNN ``model.architecture`` names: the baseline or the improved CNN of :mod:`models.cnn`."""
    from models.cnn import build_baseline_cnn, build_improved_cnn

    if config.model.architecture == "improved":
        return build_improved_cnn(IMAGE_SHAPE, len(CLASS_NAMES), name="mnist_improved_cnn")
    return build_baseline_cnn(IMAGE_SHAPE, len(CLASS_NAMES), name="mnist_cnn")


SPEC = image_classification_task(
    name="mnist",
    description="MNIST digits, baseline CNN (TFDS mnist)",
    dataset="mnist",
    raw_format="idx",
    image_shape=IMAGE_SHAPE,
    class_names=CLASS_NAMES,
    config_class=MnistConfig,
    build_model=build_model,
    preprocessing_fn=f"{__name__}.preprocessing_fn",
    schema_file=os.path.join(os.path.dirname(__file__), "schema.pbtxt"),
)
