"""The CIFAR-10 pipeline: a pure factory that only wires components."""

from __future__ import annotations

from typing import Any

from tfx import v1 as tfx

from pipelines.base import tfds_classification_pipeline
from pipelines.cifar10.config import TASK, Cifar10Config


def create_pipeline(
    config: Cifar10Config, pipeline_root: str, serving_root: str, **runner_args: Any
) -> tfx.dsl.Pipeline:
    """Build the CIFAR-10 pipeline (see :func:`pipelines.base.tfds_classification_pipeline` for the arguments)."""
    return tfds_classification_pipeline(TASK, "pipelines.cifar10", config, pipeline_root, serving_root, **runner_args)
