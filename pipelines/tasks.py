"""The registry of task pipelines: adding a task is one entry here."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any


@dataclasses.dataclass(frozen=True)
class Task:
    """A task pipeline: its default config and its pipeline factory (imported lazily)."""

    name: str
    description: str
    config_path: str  # "module:Class"
    pipeline_path: str  # "module:create_pipeline"

    def default_config(self) -> Any:
        """The task's configuration with every default."""
        return _load(self.config_path)()

    @property
    def create_pipeline(self) -> Callable[..., Any]:
        """The task's ``create_pipeline`` factory."""
        return _load(self.pipeline_path)


def _load(path: str) -> Any:
    import importlib

    module, name = path.split(":")
    return getattr(importlib.import_module(module), name)


TASKS: dict[str, Task] = {
    "mnist": Task(
        "mnist",
        "MNIST digits, baseline CNN (TFDS mnist)",
        "pipelines.mnist.config:MnistConfig",
        "pipelines.mnist.pipeline:create_pipeline",
    ),
    "ticket": Task(
        "ticket",
        "support-ticket triage, 3 inputs / 2 outputs (synthetic tickets with a known ceiling)",
        "pipelines.ticket.config:TicketConfig",
        "pipelines.ticket.pipeline:create_pipeline",
    ),
    "cifar10": Task(
        "cifar10",
        "CIFAR-10 images, toy ResNet with skip connections (TFDS cifar10)",
        "pipelines.cifar10.config:Cifar10Config",
        "pipelines.cifar10.pipeline:create_pipeline",
    ),
}
