"""The registry of tasks: adding a task is its folder under ``pipelines/`` plus one line here.

Each entry names the package whose ``SPEC`` (a :class:`pipelines.spec.TaskSpec`) describes the task.
Packages are imported on first use, so listing the names costs nothing.
"""

from __future__ import annotations

import importlib

from pipelines.spec import TaskSpec

TASKS: dict[str, str] = {
    "mnist": "pipelines.mnist",
    "fashion_mnist": "pipelines.fashion_mnist",
    "cifar10": "pipelines.cifar10",
    "ticket": "pipelines.ticket",
    "penguin": "pipelines.penguin",
}


class UnknownTaskError(KeyError):
    """No task of that name; the message lists the known ones."""

    def __str__(self) -> str:
        return str(self.args[0])


def get(name: str) -> TaskSpec:
    """The spec of task ``name``."""
    if name not in TASKS:
        raise UnknownTaskError(f"unknown task {name!r}; known: {', '.join(sorted(TASKS))}")
    spec = importlib.import_module(TASKS[name]).SPEC
    if spec.name != name:
        raise AssertionError(f"{TASKS[name]}.SPEC is named {spec.name!r}, registered as {name!r}")
    return spec


def names() -> list[str]:
    """Every registered task name, sorted."""
    return sorted(TASKS)
