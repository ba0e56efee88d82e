"""Trainer ``run_fn`` for MNIST: the baseline CNN through the shared image-classification code."""

from __future__ import annotations

from tfx.components.trainer.fn_args_utils import FnArgs

from models.cnn import build_mnist_cnn
from pipelines.image_classification import ImageTask, run
from pipelines.mnist.config import CLASS_NAMES, IMAGE_SHAPE

TASK = ImageTask(
    image_shape=IMAGE_SHAPE, class_names=CLASS_NAMES, build_model=lambda: build_mnist_cnn(IMAGE_SHAPE, len(CLASS_NAMES))
)


def run_fn(fn_args: FnArgs) -> None:
    """Train, report and export the MNIST model."""
    run(fn_args, TASK)
