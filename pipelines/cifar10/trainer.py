"""Trainer ``run_fn`` for CIFAR-10: the toy ResNet through the shared image-classification code."""

from __future__ import annotations

from tfx.components.trainer.fn_args_utils import FnArgs

from models.resnet import build_toy_resnet
from pipelines.cifar10.config import CLASS_NAMES, IMAGE_SHAPE
from pipelines.image_classification import ImageTask, run

TASK = ImageTask(
    image_shape=IMAGE_SHAPE,
    class_names=CLASS_NAMES,
    build_model=lambda: build_toy_resnet(IMAGE_SHAPE, len(CLASS_NAMES)),
)


def run_fn(fn_args: FnArgs) -> None:
    """Train, report and export the CIFAR-10 model."""
    run(fn_args, TASK)
