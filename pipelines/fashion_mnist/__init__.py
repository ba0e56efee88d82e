"""Fashion-MNIST (TFDS ``fashion_mnist``): a Sequential MLP, 266,610 parameters.

Everything the project knows about this task is in this folder: the spec below, the config, the
Transform step, the model, and the curated schema (``schema.pbtxt``).
"""

from __future__ import annotations

import os
from typing import Any

from pipelines.config import ClassifierEval, TaskConfig, TfdsData, TrainingConfig, ValidationConfig
from pipelines.image_classification import image_classification_task, preprocess

IMAGE_SHAPE = (28, 28, 1)
CLASS_NAMES = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)


class FashionMnistConfig(TaskConfig):
    """Everything that defines a Fashion-MNIST pipeline run (validated on 5,000 held-out training images)."""

    data: TfdsData = TfdsData(splits={"train": "train[5000:]", "eval": "train[:5000]", "test": "test"})
    training: TrainingConfig = TrainingConfig(epochs=30, early_stopping_patience=5)
    eval: ClassifierEval = ClassifierEval(min_accuracy=0.85)
    # At least 10 rows per class in every split (a hard stop, docs/data-validation.md).
    validation: ValidationConfig = ValidationConfig(min_rows=100)


def preprocessing_fn(inputs: dict[str, Any]) -> dict[str, Any]:
    """``image`` int64 [batch, 784] -> ``image_xf`` float32 [batch, 28, 28, 1] (pixels / 255); one-hot labels."""
    return preprocess(inputs, IMAGE_SHAPE, len(CLASS_NAMES))


def build_model(config: FashionMnistConfig) -> Any:
    """Seed 004's Sequential MLP: Flatten -> Dense(300, relu) -> Dense(100, relu) -> Dense(10, softmax).

    Built with the Sequential API, as in the seed. The input is named ``image`` and the output layer
    ``label``, so the Trainer's inputs and labels dicts, TFMA and the signatures line up by name.
    """
    import tf_keras as keras

    del config
    return keras.Sequential(
        [
            keras.Input(shape=IMAGE_SHAPE, name="image"),
            keras.layers.Flatten(name="flatten"),
            keras.layers.Dense(300, activation="relu", name="hidden1"),
            keras.layers.Dense(100, activation="relu", name="hidden2"),
            keras.layers.Dense(len(CLASS_NAMES), activation="softmax", name="label"),
        ],
        name="fashion_mlp",
    )


SPEC = image_classification_task(
    name="fashion_mnist",
    description="Fashion-MNIST clothes, the seed's Sequential MLP (TFDS fashion_mnist)",
    dataset="fashion_mnist",
    raw_format="idx",
    image_shape=IMAGE_SHAPE,
    class_names=CLASS_NAMES,
    config_class=FashionMnistConfig,
    build_model=build_model,
    preprocessing_fn=f"{__name__}.preprocessing_fn",
    schema_file=os.path.join(os.path.dirname(__file__), "schema.pbtxt"),
)
