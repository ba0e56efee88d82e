"""The MNIST pipeline: a pure factory that only wires components."""

from __future__ import annotations

from typing import Any

from tfx import v1 as tfx

from pipelines.base import tfds_classification_pipeline
from pipelines.mnist.config import TASK, MnistConfig


def create_pipeline(config: MnistConfig, pipeline_root: str, serving_root: str, **runner_args: Any) -> tfx.dsl.Pipeline:
    """Build the MNIST pipeline (see :func:`pipelines.base.tfds_classification_pipeline` for the arguments)."""
    return tfds_classification_pipeline(TASK, "pipelines.mnist", config, pipeline_root, serving_root, **runner_args)
