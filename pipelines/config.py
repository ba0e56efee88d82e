"""Typed, frozen, validated configuration: one mechanism (pydantic) for every task and every field.

A task's configuration is a :class:`TaskConfig` with sections (``data``, ``training``, ``eval``,
and whatever the task adds, e.g. ``model``). Every value has a default that runs. The CLI overrides
fields with ``--set section.field=value`` (:func:`apply_overrides`); every value, given or default,
is checked when the config is built, and a bad one is a :class:`ConfigError` that names the field,
the value and what is allowed, e.g. ``training.batch_size=0 is invalid: must be >= 1``.

Long because every section of every task's configuration is declared here, with its defaults and limits.
"""

from __future__ import annotations

import json
import re
import typing
from collections.abc import Iterable, Mapping
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, Field, field_validator, model_validator

from common.settings import ConfigError, Settings, validate
from common.splits import SPLIT_NAME, split_ranges


class Section(Settings):
    """A frozen config section: unknown fields, NaN and infinity are refused, defaults are validated too."""


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
    drift_split: str = "train"  # the split whose drift against the baseline span is measured
    # The drift baseline (docs/data-validation.md): by default the newest span of the data the serving model
    # was trained on (before any push: the newest validated span), never a span whose files are gone.
    # A number pins it to that span's validated statistics for this run.
    baseline_span: int | None = Field(None, ge=0)
    # Every split of a span needs at least this many rows (a hard stop, even with allow_anomalies): a span of
    # a few rows measures nothing and trains nothing. 0 turns the check off.
    min_rows: int = Field(20, ge=0)


class EvaluatorConfig(Section):
    """How the Evaluator judges "no worse than the last blessed model", for every task's thresholds."""

    # Each no-regression margin is at least this many standard errors of the difference of two models'
    # metric on the eval split (its size counted when the Evaluator runs); 0: the task's margins only.
    noise_z: float = Field(1.0, ge=0, le=10)
    # The candidate is also scored with the baseline on the last validated span's eval split ("yesterday's
    # traffic"): "compare" refuses a candidate worse there by more than previous_tolerance (relative);
    # "gone" records the scores only (the old traffic will not come back); "off" skips it (one TFMA pass less).
    previous_traffic: Literal["compare", "gone", "off"] = "compare"
    previous_tolerance: float = Field(0.05, ge=0, le=1)
    # A candidate must beat the majority class (or the mean) and the best one-column rule found on the
    # training split, by trivial_margin (None: noise_z standard errors of the difference on the eval split).
    trivial_baseline: bool = True
    trivial_margin: float | None = Field(None, ge=0)


class ClassifierEval(Section):
    """What the Evaluator requires of a single-label classifier before the Pusher may push."""

    min_accuracy: float = Field(0.98, ge=0, le=1)  # absolute lower bound on the evaluation split
    max_accuracy_drop: float = Field(0.0, ge=0, le=1)  # allowed drop vs. the last blessed model (0: none)


ImageFormat = Literal["images", "tfrecord"]
# An image task's files, by format: a folder per class in each span folder, or TFRecord files of tf.Examples.
IMAGE_PATTERNS = {"images": "span-{SPAN}/*/*", "tfrecord": "span-{SPAN}/*"}
# How an image task's files are split when the splits are still TFDS split expressions (the task's defaults).
IMAGE_FILE_SPLITS = {"train": 0.8, "eval": 0.1, "test": 0.1}
_TFDS_SPLIT = re.compile(r"^\s*\w+(\[[^\]]*\])?(\s*\+\s*\w+(\[[^\]]*\])?)*\s*$")  # train, train[:90%], a+b


def is_tfds_split(value: object) -> bool:
    """True if ``value`` is a TFDS split expression (``train``, ``train[:90%]``, ``train+test``), not a file pattern."""
    return isinstance(value, str) and bool(_TFDS_SPLIT.match(value))


class TfdsData(Section):
    """An image task's data: a TFDS data set (the default), or the user's images when ``input_base`` is set.

    From TFDS, each split is a TFDS split expression (``train[:90%]``). From files (``input_base``: a
    folder of span folders, as :class:`FileData` reads them), ``format`` is ``images`` (a folder per class:
    ``span-3/<class>/*.png``) or ``tfrecord`` (tf.Examples with the features TFDSExampleGen writes), and
    ``splits`` are proportions (hash buckets) or one pattern per split. Split expressions mean nothing for
    files: while the splits are TFDS expressions (the task's defaults), files are split
    :data:`IMAGE_FILE_SPLITS`. The TFDS fields (``version``, ``data_dir``, ``download``) are not read then.
    """

    splits: dict[str, float | str]
    train_split: str = "train"
    eval_split: str = "eval"
    version: str | None = None
    data_dir: str | None = None
    download: bool = False
    # The user's images instead of TFDS: a folder, local or gs:// (the CLI's --input-base).
    input_base: str | None = None
    format: ImageFormat = "images"
    pattern: str | None = None  # one span's files; None: the format's (IMAGE_PATTERNS)
    partition_feature: str | None = None  # hash on this feature (e.g. id) instead of the whole example
    span: int | None = Field(None, ge=0)  # the span to read (None: the latest)
    window_spans: int = Field(1, ge=1)  # train on the last N spans read
    allow_duplicate_spans: bool = False  # a span holding exactly the files of an earlier one is refused

    @property
    def file_pattern(self) -> str:
        """One span's files, relative to ``input_base``: ``pattern``, or the format's default."""
        return self.pattern or IMAGE_PATTERNS[self.format]

    @property
    def splits_by_pattern(self) -> bool:
        """True if each split has its own pattern (sub-folders), False for hash buckets."""
        return all(isinstance(v, str) for v in self.splits.values())

    @property
    def split_patterns(self) -> dict[str, str]:
        """Split name -> pattern of its files (one entry, the span's pattern, when hash buckets split)."""
        if self.splits_by_pattern:
            return {name: str(p) for name, p in self.splits.items()}
        return {"all": self.file_pattern}

    @model_validator(mode="before")
    @classmethod
    def _files_are_not_split_by_tfds(cls, values: Any) -> Any:
        if isinstance(values, dict) and values.get("input_base") and isinstance(values.get("splits"), dict):
            if values["splits"] and all(is_tfds_split(v) for v in values["splits"].values()):
                return {**values, "splits": dict(IMAGE_FILE_SPLITS)}
        return values

    @model_validator(mode="after")
    def _check(self) -> TfdsData:
        check_split_names(self.splits, self.train_split, self.eval_split)
        if not self.input_base:
            shares = [name for name, v in self.splits.items() if not isinstance(v, str)]
            if shares:
                raise ValueError(
                    f"splits {shares} are proportions, which split files: set data.input_base (--input-base) to "
                    "read your images, or give TFDS split expressions such as 'train[:90%]'"
                )
            if self.span is not None or self.window_spans > 1:
                raise ValueError("data.span and data.window_spans are for span folders: set data.input_base too")
            return self
        check_file_splits(self.splits, self.split_patterns, self.span)
        return self


DataFormat = Literal["csv", "tfrecord", "parquet"]
_PLACEHOLDER = re.compile(r"\{SPAN(:\d+)?\}|\{YYYY\}")


class FileData(Section):
    """The user's files: where they are, their format, one span's pattern, and how to split them.

    ``pattern`` is relative to ``input_base`` and uses TFX's placeholders: ``{SPAN}`` (a number per
    day or batch), ``{YYYY}{MM}{DD}`` (a date), ``{VERSION}``. The latest span is read unless
    ``span`` names one. ``splits`` are proportions (hash buckets of the span's files) or, for data that
    comes split, one pattern per split (e.g. ``{"train": "span-{SPAN}/train/*", "eval": "span-{SPAN}/eval/*"}``).
    """

    input_base: str | None = None  # a folder, local or gs://; the CLI's --input-base
    format: DataFormat = "csv"
    pattern: str = "span-{SPAN}/*"
    # `test` is held out: no component trains or selects on it; acceptance benchmarks measure on it.
    splits: dict[str, float | str] = {"train": 0.7, "eval": 0.15, "test": 0.15}
    train_split: str = "train"
    eval_split: str = "eval"
    partition_feature: str | None = None  # hash on this feature (e.g. an id) instead of the whole row
    list_delimiter: str = Field("|", min_length=1, max_length=1)  # CSV: separates a list column's values in a cell
    # Continuous training: each run reads one span (the latest unless given); the model trains on the last
    # `window_spans` spans read (TFX's RollingRange; local runner only, Kubeflow trains on the latest).
    span: int | None = Field(None, ge=0)
    window_spans: int = Field(1, ge=1)
    # A span whose files hold exactly the data of a span read before is refused (an export delivered twice).
    allow_duplicate_spans: bool = False

    @property
    def split_patterns(self) -> dict[str, str]:
        """Split name -> pattern of its files (one entry, ``pattern``, when hash buckets split)."""
        if self.splits_by_pattern:
            return {name: str(p) for name, p in self.splits.items()}
        return {"all": self.pattern}

    @property
    def splits_by_pattern(self) -> bool:
        """True if each split has its own pattern (sub-folders), False for hash buckets."""
        return all(isinstance(v, str) for v in self.splits.values())

    @model_validator(mode="after")
    def _check_files(self) -> FileData:
        check_split_names(self.splits, self.train_split, self.eval_split)
        check_file_splits(self.splits, self.split_patterns, self.span)
        if self.list_delimiter in ',"\n':
            raise ValueError(f'list_delimiter={self.list_delimiter!r} must be a character other than , and "')
        return self


class GeneratorData(FileData):
    """A generator's data: how many records, from which seed, split how (proportions, normalised).

    The same task can read its data from files instead (``input_base`` set, e.g. the spans that
    ``tfx-keras data generate`` writes): then the file fields of :class:`FileData` apply.
    """

    num_examples: int = Field(50_000, ge=1)
    seed: int = Field(42, ge=0)
    splits: dict[str, float | str] = {"train": 0.7, "eval": 0.1, "test": 0.2}
    shard_size: int = Field(1000, ge=1)

    @property
    def generated(self) -> bool:
        """True when the generator makes the data (no ``input_base``)."""
        return not self.input_base

    def generator_options(self) -> dict[str, Any]:
        """Options passed to the generator's ``make_record`` (a task's data section adds its own)."""
        return {"span": self.span or 0}

    @model_validator(mode="after")
    def _splits_get_records(self) -> GeneratorData:
        if not self.generated:
            return self
        if self.splits_by_pattern:
            raise ValueError("split patterns read files: set data.input_base, or give the splits proportions")
        ranges = split_ranges(self.num_examples, {k: float(v) for k, v in self.splits.items()})
        empty = [name for name, (start, end) in ranges.items() if end <= start]
        if empty:
            raise ValueError(f"splits {empty} get no records out of num_examples={self.num_examples}; make more")
        return self


def check_file_splits(splits: Mapping[str, Any], patterns: Mapping[str, str], span: int | None) -> None:
    """Splits of files: all proportions (> 0) or all patterns, relative patterns, a placeholder for ``span``."""
    if len({isinstance(v, str) for v in splits.values()}) > 1:
        raise ValueError(
            "splits mixes proportions and patterns: give every split a proportion (hash buckets of "
            "data.pattern) or every split its own pattern (sub-folders)"
        )
    for name, value in splits.items():
        if not isinstance(value, str) and not value > 0:
            raise ValueError(f"data.splits: split {name!r} has proportion {value}; proportions must be > 0")
    for pattern in patterns.values():
        if pattern.startswith("/") or "://" in pattern:
            raise ValueError(f"pattern {pattern!r} must be relative to data.input_base")
        if ".." in pattern.replace("\\", "/").split("/"):
            raise ValueError(f"pattern {pattern!r} must stay inside data.input_base: no '..' in it")
        if span is not None and not _PLACEHOLDER.search(pattern):
            raise ValueError(
                f"span={span} needs a {{SPAN}} (or {{YYYY}}{{MM}}{{DD}}) placeholder in the pattern "
                f"{pattern!r}; drop data.span or put the placeholder in data.pattern"
            )


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


class InfraConfig(Section):
    """Infra validation: how fast the served model must answer, and how long the whole check may take.

    ``max_latency_ms`` is the 99th-percentile budget of one Predict request over gRPC, at batch 1 and
    at the largest batch the server's batching makes (32): a model over it is not pushed. The time
    limit covers everything, loading and warmup replay included.
    """

    max_latency_ms: float = Field(500.0, gt=0)
    timeout_seconds: int = Field(180, ge=10)
    # The resident memory the serving process may reach while it loads and answers (a host's limit would
    # kill TF Serving); an MNIST CNN peaks near 1 GB, TensorFlow itself included.
    max_memory_mb: float = Field(4096.0, gt=0)
    num_examples: int = Field(16, ge=1, le=1000)  # evaluation examples the requests are built from


class MetadataConfig(Section):
    """Where the local runner keeps ML Metadata (see :mod:`pipelines.metadata_store`)."""

    # Empty: SQLite at <output-dir>/metadata/<task>.sqlite. Else a shared MariaDB/MySQL database,
    # mysql://user[:password]@host[:port]/database (the CLI's --metadata); the database must exist.
    url: str = Field("", json_schema_extra={"shown_without_password": True})

    @field_validator("url")
    @classmethod
    def _parses(cls, value: str) -> str:
        if value.strip():
            from pipelines.metadata_store import parse_url  # ML Metadata's proto: only when a URL is given

            parse_url(value)
        return value.strip()


class TaskConfig(Section):
    """Base of every task's configuration; a task subclasses it with its own sections and defaults."""

    training: TrainingConfig = TrainingConfig()
    validation: ValidationConfig = ValidationConfig()
    evaluator: EvaluatorConfig = EvaluatorConfig()
    tuning: TuningConfig = TuningConfig()
    export: ExportConfig = ExportConfig()
    infra: InfraConfig = InfraConfig()
    metadata: MetadataConfig = MetadataConfig()


C = TypeVar("C", bound=TaskConfig)


def _parse(value: str, optional: bool) -> Any:
    """A command-line value: JSON objects and lists parsed, ``none``/``null`` None (optional fields), else text.

    Numbers and booleans stay text: the field's type converts them (``"3"`` -> 3, ``"yes"`` -> True).
    """
    text = value.strip()
    if optional and text.lower() in ("none", "null"):
        return None
    if text and text[0] in "{[":
        try:
            return json.loads(text, parse_constant=_no_constant)
        except (json.JSONDecodeError, ValueError) as err:
            raise ConfigError(f"looks like JSON but is not valid JSON ({err})") from None
    return text


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number a setting can take")


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
        try:
            target[parts[-1]] = _parse(raw, optional=type(None) in typing.get_args(annotation))
        except ConfigError as err:
            raise ConfigError(f"{path}={raw!r} is invalid: {err}.") from None
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
    for name, field in type(config).model_fields.items():
        value = getattr(config, name)
        if isinstance(value, BaseModel):
            lines.extend(describe(value, f"{prefix}{name}."))
            continue
        if isinstance(field.json_schema_extra, dict) and field.json_schema_extra.get("shown_without_password"):
            from pipelines.metadata_store import hide_password

            value = hide_password(value)
        lines.append(f"{prefix}{name} = {value!r}")
    return lines


# Sections that judge data and models but do not shape them: left out of what Transform and the Trainer
# get, so changing them (allowing anomalies, accepting that yesterday's traffic is gone, a latency budget)
# retrains nothing.
JUDGING_SECTIONS = frozenset({"validation", "evaluator", "infra"})
# Sections only the runner reads (where ML Metadata is: a URL may hold a password, which component
# parameters would store in ML Metadata in clear text): left out of what every component gets.
RUNNER_SECTIONS = frozenset({"metadata"})


def to_json(config: BaseModel, exclude: frozenset[str] = frozenset()) -> str:
    """The config as JSON (what travels to the Trainer and Transform in ``custom_config``), less ``exclude``."""
    return config.model_dump_json(exclude=set(exclude) or None)


def from_json(config_class: type[C], text: str) -> C:
    """Inverse of :func:`to_json`, validated."""
    return validate(config_class, json.loads(text))
