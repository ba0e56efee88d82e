"""Configuration and feature keys of the MNIST task (the one place they are defined)."""

from __future__ import annotations

import dataclasses

from pipelines.config import DataConfig, EvalConfig, TrainingConfig

TASK = "mnist"
IMAGE_SHAPE = (28, 28, 1)
NUM_CLASSES = 10
CLASS_NAMES = tuple(str(i) for i in range(NUM_CLASSES))


@dataclasses.dataclass(frozen=True)
class MnistConfig:
    """Everything that defines an MNIST pipeline run. Defaults reach >= 99% test accuracy."""

    data: DataConfig = dataclasses.field(
        default_factory=lambda: DataConfig(
            dataset="mnist",
            splits={"train": "train[:90%]", "eval": "train[90%:]", "test": "test"},
        )
    )
    training: TrainingConfig = dataclasses.field(default_factory=TrainingConfig)
    eval: EvalConfig = dataclasses.field(default_factory=lambda: EvalConfig(min_accuracy=0.98))
