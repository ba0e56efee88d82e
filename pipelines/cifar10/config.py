"""Configuration of the CIFAR-10 task (the one place its keys and defaults are defined)."""

from __future__ import annotations

import dataclasses

from pipelines.config import DataConfig, EvalConfig, TrainingConfig

TASK = "cifar10"
IMAGE_SHAPE = (32, 32, 3)
CLASS_NAMES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")


@dataclasses.dataclass(frozen=True)
class Cifar10Config:
    """Everything that defines a CIFAR-10 pipeline run (the seed's splits; `test` is kept apart)."""

    data: DataConfig = dataclasses.field(
        default_factory=lambda: DataConfig(
            dataset="cifar10",
            splits={"train": "train[:80%]", "eval": "train[80%:]", "test": "test"},
        )
    )
    training: TrainingConfig = dataclasses.field(
        default_factory=lambda: TrainingConfig(epochs=30, early_stopping_patience=5, reduce_lr_patience=3, augment=True)
    )
    eval: EvalConfig = dataclasses.field(default_factory=lambda: EvalConfig(min_accuracy=0.3))
