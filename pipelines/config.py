"""Typed, frozen configuration shared by the task pipelines.

Every value has a default that runs; the CLI overrides fields with
``--set section.field=value`` (see :func:`apply_overrides`). Bad values fail
when the config is built, with the field, the value and what is allowed.
"""

from __future__ import annotations

import dataclasses
import json
import typing
from collections.abc import Iterable, Mapping
from typing import Any, TypeVar


class ConfigError(ValueError):
    """A configuration value is invalid; the message names the field and the fix."""


def _require(condition: bool, field: str, value: Any, allowed: str) -> None:
    if not condition:
        raise ConfigError(f"{field}={value!r} is invalid: must be {allowed}.")


DISTRIBUTIONS = ("mirrored", "multi_worker", "none")


@dataclasses.dataclass(frozen=True)
class TrainingConfig:
    """How the Trainer fits a model (the same knobs for every task)."""

    epochs: int = 15
    batch_size: int = 64
    shuffle_buffer: int = 1000
    learning_rate: float = 1e-3
    steps_per_epoch: int | None = None  # None: one full pass over the training split
    early_stopping_patience: int = 3
    reduce_lr_patience: int = 2
    reduce_lr_factor: float = 0.5
    seed: int = 42
    augment: bool = False  # image tasks: random flip + padded random crop, training split only
    # tf.distribute strategy: "mirrored" (all local GPUs, else the CPU), "multi_worker"
    # (MultiWorkerMirroredStrategy, cluster from TF_CONFIG) or "none" (the default strategy).
    distribution: str = "mirrored"

    def __post_init__(self) -> None:
        _require(isinstance(self.epochs, int) and self.epochs >= 1, "training.epochs", self.epochs, "an integer >= 1")
        _require(
            isinstance(self.batch_size, int) and self.batch_size >= 1,
            "training.batch_size",
            self.batch_size,
            "an integer >= 1",
        )
        _require(
            isinstance(self.shuffle_buffer, int) and self.shuffle_buffer >= 1,
            "training.shuffle_buffer",
            self.shuffle_buffer,
            "an integer >= 1",
        )
        _require(0 < self.learning_rate < 10, "training.learning_rate", self.learning_rate, "in (0, 10)")
        _require(
            self.steps_per_epoch is None or self.steps_per_epoch >= 1,
            "training.steps_per_epoch",
            self.steps_per_epoch,
            "None (full pass) or an integer >= 1",
        )
        _require(
            self.early_stopping_patience >= 0, "training.early_stopping_patience", self.early_stopping_patience, ">= 0"
        )
        _require(self.reduce_lr_patience >= 0, "training.reduce_lr_patience", self.reduce_lr_patience, ">= 0")
        _require(0 < self.reduce_lr_factor < 1, "training.reduce_lr_factor", self.reduce_lr_factor, "in (0, 1)")
        _require(
            self.distribution in DISTRIBUTIONS, "training.distribution", self.distribution, f"one of {DISTRIBUTIONS}"
        )

    def to_json(self) -> str:
        """Serialise for the Trainer's ``custom_config``."""
        return json.dumps(dataclasses.asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> TrainingConfig:
        """Inverse of :meth:`to_json`."""
        return cls(**json.loads(text))


@dataclasses.dataclass(frozen=True)
class EvalConfig:
    """What the Evaluator requires before the Pusher may push."""

    min_accuracy: float = 0.98  # absolute lower bound on the evaluation split
    max_accuracy_drop: float = 0.0  # allowed drop vs. the last blessed model (0: no regression)

    def __post_init__(self) -> None:
        _require(0 <= self.min_accuracy <= 1, "eval.min_accuracy", self.min_accuracy, "in [0, 1]")
        _require(0 <= self.max_accuracy_drop <= 1, "eval.max_accuracy_drop", self.max_accuracy_drop, "in [0, 1]")


@dataclasses.dataclass(frozen=True)
class DataConfig:
    """Where the TFDS data comes from and how it is split."""

    dataset: str
    splits: Mapping[str, str]
    train_split: str = "train"
    eval_split: str = "eval"
    version: str | None = None
    data_dir: str | None = None
    download: bool = False

    def __post_init__(self) -> None:
        _require(
            self.train_split in self.splits,
            "data.train_split",
            self.train_split,
            f"one of the split names {sorted(self.splits)}",
        )
        _require(
            self.eval_split in self.splits,
            "data.eval_split",
            self.eval_split,
            f"one of the split names {sorted(self.splits)}",
        )


T = TypeVar("T")


def _convert(value: str, annotation: Any, field: str) -> Any:
    """Convert a command-line string to the field's type."""
    origin = typing.get_origin(annotation)
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    if value.lower() in ("none", "null") and type(None) in typing.get_args(annotation):
        return None
    if origin in (typing.Union, getattr(__import__("types"), "UnionType", None)) and args:
        annotation = args[0]
    if annotation in (int, "int"):
        try:
            return int(value)
        except ValueError as err:
            raise ConfigError(f"{field}={value!r} is invalid: must be an integer.") from err
    if annotation in (float, "float"):
        try:
            return float(value)
        except ValueError as err:
            raise ConfigError(f"{field}={value!r} is invalid: must be a number.") from err
    if annotation in (bool, "bool"):
        if value.lower() in ("1", "true", "yes", "on"):
            return True
        if value.lower() in ("0", "false", "no", "off"):
            return False
        raise ConfigError(f"{field}={value!r} is invalid: must be true or false.")
    if typing.get_origin(annotation) in (Mapping, dict) or annotation in (Mapping, dict):
        try:
            parsed = json.loads(value)
        except json.JSONDecodeError as err:
            raise ConfigError(f"{field}={value!r} is invalid: must be a JSON object.") from err
        if not isinstance(parsed, dict):
            raise ConfigError(f"{field}={value!r} is invalid: must be a JSON object.")
        return parsed
    return value


def apply_overrides(config: T, overrides: Iterable[str]) -> T:
    """Return ``config`` with ``section.field=value`` overrides applied (nested dataclasses).

    Raises:
        ConfigError: unknown field, malformed override, or a value the field rejects.
    """
    for override in overrides:
        if "=" not in override:
            raise ConfigError(f"override {override!r} must look like section.field=value, e.g. training.epochs=3")
        path, value = override.split("=", 1)
        config = _set(config, path.strip().split("."), value.strip(), path.strip())
    return config


def _set(obj: Any, parts: list[str], value: str, full: str) -> Any:
    fields = {f.name: f for f in dataclasses.fields(obj)}
    if parts[0] not in fields:
        raise ConfigError(f"unknown config field {full!r}; known here: {', '.join(sorted(fields))}")
    field = fields[parts[0]]
    current = getattr(obj, parts[0])
    if len(parts) > 1:
        if not dataclasses.is_dataclass(current):
            raise ConfigError(f"{full!r}: {parts[0]} has no sub-fields")
        return dataclasses.replace(obj, **{parts[0]: _set(current, parts[1:], value, full)})
    if dataclasses.is_dataclass(current):
        raise ConfigError(
            f"{full!r} is a section; set one of its fields, e.g. {full}.{dataclasses.fields(current)[0].name}=..."
        )
    hints = typing.get_type_hints(type(obj))
    return dataclasses.replace(obj, **{parts[0]: _convert(value, hints.get(field.name, str), full)})


def describe(config: Any, prefix: str = "") -> list[str]:
    """Flatten a config to ``section.field = value`` lines (for --help and run summaries)."""
    lines = []
    for field in dataclasses.fields(config):
        value = getattr(config, field.name)
        if dataclasses.is_dataclass(value):
            lines.extend(describe(value, f"{prefix}{field.name}."))
        else:
            lines.append(f"{prefix}{field.name} = {value!r}")
    return lines
