"""Typed, frozen, validated configuration: one mechanism (pydantic) for every task and every field.

A task's configuration is a :class:`TaskConfig` with sections (``data``, ``training``, ``eval``,
and whatever the task adds, e.g. ``model``). Every value has a default that runs. The CLI overrides
fields with ``--set section.field=value`` (:func:`apply_overrides`); every value, given or default,
is checked when the config is built, and a bad one is a :class:`ConfigError` that names the field,
the value and what is allowed, e.g. ``training.batch_size=0 is invalid: must be >= 1``.
"""

from __future__ import annotations

import json
import re
import typing
from collections.abc import Iterable, Mapping
from typing import Any, Literal, TypeVar

import pydantic
from pydantic import BaseModel, ConfigDict, Field, model_validator

from common.splits import SPLIT_NAME, split_ranges


class ConfigError(ValueError):
    """A configuration value is invalid; the message names the field and the fix."""


class Section(BaseModel):
    """A frozen config section: unknown fields, NaN and infinity are refused, defaults are validated too."""

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False, validate_default=True)


Distribution = Literal["auto", "mirrored", "multi_worker", "none"]
Optimizer = Literal["rmsprop", "adam", "sgd", "adagrad"]


class TrainingConfig(Section):
    """How the Trainer fits a model (the same knobs for every task)."""

    epochs: int = Field(15, ge=1)
    batch_size: int = Field(64, ge=1)
    shuffle_buffer: int = Field(1000, ge=1)
    optimizer: Optimizer = "rmsprop"
    learning_rate: float = Field(1e-3, gt=0, lt=10)
    steps_per_epoch: int | None = Field(None, ge=1)  # None: one full pass over the training split
    early_stopping_patience: int = Field(3, ge=0)
    reduce_lr_patience: int = Field(2, ge=0)
    reduce_lr_factor: float = Field(0.5, gt=0, lt=1)
    seed: int = Field(42, ge=0)
    augment: bool = False  # tasks that define an augmentation (images: flip + padded crop), training split only
    # tf.distribute strategy: "auto" (MirroredStrategy over 2+ local GPUs, else none), "mirrored",
    # "multi_worker" (MultiWorkerMirroredStrategy, cluster from TF_CONFIG) or "none".
    distribution: Distribution = "auto"


class ValidationConfig(Section):
    """What the DataValidator does with anomalies in the data (against the curated schema, or drift)."""

    # An explicit opt-in: record the anomalies in the summary but train (and maybe push) anyway.
    allow_anomalies: bool = False
    drift_split: str = "train"  # the split whose drift against the previous validated span is measured


class ClassifierEval(Section):
    """What the Evaluator requires of a single-label classifier before the Pusher may push."""

    min_accuracy: float = Field(0.98, ge=0, le=1)  # absolute lower bound on the evaluation split
    max_accuracy_drop: float = Field(0.0, ge=0, le=1)  # allowed drop vs. the last blessed model (0: none)


class TfdsData(Section):
    """Where TFDS data comes from and how it is split (each split a TFDS split expression)."""

    splits: dict[str, str]
    train_split: str = "train"
    eval_split: str = "eval"
    version: str | None = None
    data_dir: str | None = None
    download: bool = False

    @model_validator(mode="after")
    def _splits_are_named(self) -> TfdsData:
        check_split_names(self.splits, self.train_split, self.eval_split)
        return self


class GeneratorData(Section):
    """How many records a generator makes, from which seed, split how (proportions, normalised)."""

    num_examples: int = Field(50_000, ge=1)
    seed: int = Field(42, ge=0)
    # `test` is held out: no component trains or selects on it; acceptance benchmarks measure on it.
    splits: dict[str, float] = {"train": 0.7, "eval": 0.1, "test": 0.2}
    train_split: str = "train"
    eval_split: str = "eval"
    shard_size: int = Field(1000, ge=1)
    # Continuous training: each run generates one span (e.g. one day of data); the model trains on the
    # last `window_spans` spans (TFX's RollingRange; local runner only, Kubeflow trains on the latest).
    span: int = Field(0, ge=0)
    window_spans: int = Field(1, ge=1)

    def generator_options(self) -> dict[str, Any]:
        """Options passed to the generator's ``make_record`` (a task's data section adds its own)."""
        return {"span": self.span}

    @model_validator(mode="after")
    def _splits_get_records(self) -> GeneratorData:
        check_split_names(self.splits, self.train_split, self.eval_split)
        for name, share in self.splits.items():
            if not share > 0:
                raise ValueError(f"data.splits: split {name!r} has proportion {share}; proportions must be > 0")
        ranges = split_ranges(self.num_examples, self.splits)
        empty = [name for name, (start, end) in ranges.items() if end <= start]
        if empty:
            raise ValueError(f"splits {empty} get no records out of num_examples={self.num_examples}; make more")
        return self


def check_split_names(splits: Mapping[str, Any], train_split: str, eval_split: str) -> None:
    """Split names must be identifiers, and the train and eval splits must be among them."""
    if not splits:
        raise ValueError("needs at least a train and an eval split")
    for name in splits:
        if not SPLIT_NAME.match(name):
            raise ValueError(f"split name {name!r} must be an identifier like 'train' or 'eval'")
    for role, name in (("train_split", train_split), ("eval_split", eval_split)):
        if name not in splits:
            raise ValueError(f"{role}={name!r} must be one of the split names {sorted(splits)}")


class TuningConfig(Section):
    """The optional Tuner step: a grid over optimizers and learning rates, each trial a short fit.

    Off by default: it multiplies training time (``max_trials`` x ``epochs`` extra epochs). The
    Trainer then trains with the best trial's optimizer and learning rate (lowest ``val_loss``).
    """

    enabled: bool = False
    optimizers: list[Optimizer] = Field(default_factory=lambda: ["sgd", "adam", "rmsprop", "adagrad"], min_length=1)
    learning_rates: list[float] = Field(default_factory=lambda: [1e-3], min_length=1)
    max_trials: int = Field(4, ge=1)  # the budget: trials run, at most the grid's size
    epochs: int = Field(3, ge=1)  # per trial

    @model_validator(mode="after")
    def _check(self) -> TuningConfig:
        if any(not 0 < rate < 10 for rate in self.learning_rates):
            raise ValueError(f"learning_rates={self.learning_rates} must each be > 0 and < 10")
        for name, values in (("optimizers", self.optimizers), ("learning_rates", self.learning_rates)):
            if len(set(values)) != len(values):
                raise ValueError(f"{name}={values} has duplicates")
        return self


class ExportConfig(Section):
    """What the Trainer exports besides the SavedModel."""

    # Also write model.tflite (TensorFlow Lite, same preprocessing inside) into the model's folder, so
    # the pushed version carries it. Tasks whose spec has a TFLite function only (the image tasks).
    tflite: bool = False


class TaskConfig(Section):
    """Base of every task's configuration; a task subclasses it with its own sections and defaults."""

    training: TrainingConfig = TrainingConfig()
    validation: ValidationConfig = ValidationConfig()
    tuning: TuningConfig = TuningConfig()
    export: ExportConfig = ExportConfig()


C = TypeVar("C", bound=TaskConfig)


def _parse(value: str, optional: bool) -> Any:
    """A command-line value: JSON objects and lists parsed, ``none``/``null`` None (optional fields), else text.

    Numbers and booleans stay text: the field's type converts them (``"3"`` -> 3, ``"yes"`` -> True).
    """
    text = value.strip()
    if optional and text.lower() in ("none", "null"):
        return None
    if text[:1] in "{[":
        try:
            return json.loads(text)
        except json.JSONDecodeError as err:
            raise ConfigError(f"{text!r} looks like JSON but is not valid JSON: {err}") from None
    return text


def _describe_error(error: Mapping[str, Any], given: Mapping[str, Any]) -> str:
    loc = [str(part) for part in error["loc"]]
    field = ".".join(loc)
    message = str(error["msg"])
    message = re.sub(r"^(Input should be|Value should be)", "must be", message)
    message = re.sub(r"^Value error, ", "", message)
    message = message.replace("greater than or equal to", ">=").replace("less than or equal to", "<=")
    message = message.replace("greater than", ">").replace("less than", "<")
    if error["type"] == "finite_number":
        message = "must be a finite number"
    if error["type"] in ("model_attributes_type", "dict_type") and not loc:
        return f"invalid configuration: {message}"
    value = error.get("input")
    shown = given.get(field, value)
    if error["type"].startswith("value_error") and len(loc) <= 1:  # a whole-section check
        return f"{field or 'config'} is invalid: {message}."
    return f"{field}={shown!r} is invalid: {message}."


def validate(config_class: type[C], values: Mapping[str, Any], given: Mapping[str, Any] | None = None) -> C:
    """Build ``config_class`` from nested ``values``; any invalid value is a ConfigError naming the field."""
    try:
        return config_class.model_validate(dict(values))
    except pydantic.ValidationError as err:
        lines = [_describe_error(e, given or {}) for e in err.errors(include_url=False)]
        raise ConfigError(" ".join(lines)) from None


def apply_overrides(config: C, overrides: Iterable[str]) -> C:
    """Return ``config`` with ``section.field=value`` overrides applied and validated.

    Raises:
        ConfigError: unknown field, malformed override, or a value the field rejects.
    """
    values = config.model_dump()
    given: dict[str, Any] = {}
    for override in overrides:
        if "=" not in override:
            raise ConfigError(f"override {override!r} must look like section.field=value, e.g. training.epochs=3")
        path, raw = (part.strip() for part in override.split("=", 1))
        parts = path.split(".")
        annotation = _check_path(type(config), parts, path)
        target = values
        for part in parts[:-1]:
            target = target[part]
        target[parts[-1]] = _parse(raw, optional=type(None) in typing.get_args(annotation))
        given[path] = raw
    return validate(type(config), values, given)


def _check_path(model: type[BaseModel], parts: list[str], full: str) -> Any:
    """Refuse an unknown field or a section; return the field's type annotation."""
    fields = model.model_fields
    if parts[0] not in fields:
        raise ConfigError(f"unknown config field {full!r}; known here: {', '.join(sorted(fields))}")
    annotation = fields[parts[0]].annotation
    is_section = isinstance(annotation, type) and issubclass(annotation, BaseModel)
    if len(parts) > 1:
        if not is_section:
            raise ConfigError(f"{full!r}: {parts[0]} has no sub-fields")
        return _check_path(annotation, parts[1:], full)
    if is_section:
        first = next(iter(annotation.model_fields))
        raise ConfigError(f"{full!r} is a section; set one of its fields, e.g. {full}.{first}=...")
    return annotation


def describe(config: BaseModel, prefix: str = "") -> list[str]:
    """Flatten a config to ``section.field = value`` lines (for ``tfx-keras config`` and run summaries)."""
    lines = []
    for name in type(config).model_fields:
        value = getattr(config, name)
        if isinstance(value, BaseModel):
            lines.extend(describe(value, f"{prefix}{name}."))
        else:
            lines.append(f"{prefix}{name} = {value!r}")
    return lines


def to_json(config: BaseModel) -> str:
    """The config as JSON (what travels to the Trainer and Transform in ``custom_config``)."""
    return config.model_dump_json()


def from_json(config_class: type[C], text: str) -> C:
    """Inverse of :func:`to_json`, validated."""
    return validate(config_class, json.loads(text))
