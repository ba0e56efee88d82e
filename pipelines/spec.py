"""What a task is: one :class:`TaskSpec` object, declared in the task's own folder.

Everything the project knows about a task lives in ``pipelines/<task>/`` and one line of
``pipelines/tasks.py``. The generic machinery reads the spec and names no task:

* the pipeline factory (``pipelines/pipeline.py``) builds the ExampleGen from :attr:`TaskSpec.source`,
  passes :attr:`TaskSpec.preprocessing_fn` to Transform, the curated :attr:`TaskSpec.schema_file` to
  ImportSchemaGen and :attr:`TaskSpec.eval_config` to the Evaluator;
* the training loop (``pipelines/training.py``) builds :attr:`TaskSpec.build_model`, compiles it with
  :attr:`TaskSpec.compile_args`, feeds it :attr:`TaskSpec.inputs` and :attr:`TaskSpec.labels`, writes
  :attr:`TaskSpec.report` and exports :attr:`TaskSpec.serving`;
* the CLI reads :attr:`TaskSpec.config_class`, and for TFDS tasks the offline import format;
* the server and clients read the exported signatures (GetModelMetadata), never the spec.

Callables take the task's validated config, so a setting (e.g. an optional third head) can change
what they return. Heavy libraries (TFT, TFMA) are imported inside them, not here.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from pipelines.config import TaskConfig


@dataclasses.dataclass(frozen=True)
class TfdsSource:
    """Data read from TensorFlow Datasets by ``TFDSExampleGen`` (splits come from the config's ``data``).

    Attributes:
        dataset: the TFDS builder name, e.g. ``"mnist"``.
        raw_format: the offline import's data format (a key of ``data_import.tfds_builder.FORMATS``,
            e.g. ``"idx"``), or None if the data set can only be downloaded.
        label_names: the class names, in label order (fixtures in the raw format are written with them).
    """

    dataset: str
    raw_format: str | None = None
    label_names: tuple[str, ...] = ()


@dataclasses.dataclass(frozen=True)
class GeneratorSource:
    """Data made by a seeded generator inside the pipeline (``GeneratorExampleGen``).

    Attributes:
        module: dotted path of the generator module; see ``components/generator_example_gen`` for
            what it must define.
    """

    module: str


@dataclasses.dataclass(frozen=True)
class FileSource:
    """The user's own files (CSV, TFRecord of tf.Example, Parquet), read by TFX's file-based ExampleGens.

    Where they are, their format, one span's pattern and the splits come from the config's ``data``
    section (:class:`pipelines.config.FileData`); the curated schema says what the columns are.
    A generator task reads files too when its ``data.input_base`` is set.
    """


@dataclasses.dataclass(frozen=True)
class ServingContract:
    """The exported model's serving signatures (see ``common.contract`` for their names).

    Attributes:
        raw_inputs: name -> ``tf.TensorSpec`` of ``serving_raw``'s inputs (what a client sends).
        raw_to_features: maps those tensors to the raw feature dict the Transform graph takes.
        outputs: maps the model's outputs (dict by output name) to ``serving_raw``'s outputs.
        example_features: how ``serving_default`` parses a serialized tf.Example: feature specs by name
            (with defaults for features a client may leave out), or names whose specs the schema gives.
        example_outputs: ``serving_default``'s outputs (default: ``outputs``).
        classify: ``(output name, class names)`` of a softmax head, exported as ``classification``.
        regress: a scalar output, exported as ``regression``.
        transformed_labels: export ``transform_features`` with these transformed keys (TFMA's labels).
        declared_outputs: ``serving_raw``'s outputs as clients read them, name -> dtype name (see
            ``common.contract.classification_output_dtypes``); infra validation refuses a model that
            lacks one (also on ``serving_default`` when it answers the same outputs).
    """

    raw_inputs: Mapping[str, Any]
    raw_to_features: Callable[[Mapping[str, Any]], dict[str, Any]]
    outputs: Callable[[Mapping[str, Any]], dict[str, Any]]
    example_features: Mapping[str, Any] | Sequence[str]
    example_outputs: Callable[[Mapping[str, Any]], dict[str, Any]] | None = None
    classify: tuple[str, Sequence[str]] | None = None
    regress: str | None = None
    transformed_labels: Sequence[str] = ()
    declared_outputs: Mapping[str, str] = dataclasses.field(default_factory=dict)

    def output_contract(self) -> dict[str, dict[str, str]]:
        """Signature -> output -> dtype that infra validation checks (empty: the task declares nothing)."""
        from common.contract import EXAMPLE_SIGNATURE, RAW_SIGNATURE

        if not self.declared_outputs:
            return {}
        contract = {RAW_SIGNATURE: dict(self.declared_outputs)}
        if self.example_outputs is None:
            contract[EXAMPLE_SIGNATURE] = dict(self.declared_outputs)
        return contract


@dataclasses.dataclass(frozen=True)
class TaskSpec:
    """Everything about one task. Generic code reads it; only the task's folder writes it.

    Attributes:
        name: the task (CLI argument, pipeline name, served model name).
        description: one line for ``tfx-keras list``.
        config_class: the task's :class:`TaskConfig` subclass; its defaults run.
        source: where the examples come from.
        preprocessing_fn: dotted path of Transform's ``preprocessing_fn(inputs, custom_config)``.
        schema_file: the curated schema (text ``Schema`` proto) that ImportSchemaGen loads.
        build_model: config -> uncompiled Keras model, inputs and outputs named as :attr:`inputs` and
            :attr:`labels` say.
        compile_args: config -> ``loss``, ``metrics`` (and ``loss_weights``) for ``model.compile``;
            the optimizer comes from ``training.optimizer`` and ``training.learning_rate``.
        inputs: config -> model input name -> transformed feature key.
        labels: config -> model output name -> transformed label key.
        eval_config: config -> the TFMA ``EvalConfig`` (metrics, thresholds, "no worse than baseline").
        serving: config -> the :class:`ServingContract` of the exported model.
        report: writes the report pictures and returns metrics:
            ``report(report_dir, model, history, eval_dataset, config) -> dict`` with a ``headline``.
        augment: optional training-time augmentation of ``(inputs, labels)`` batches (``training.augment``).
        tflite: optional ``(model, config) -> tf.function`` with an input signature and no string ops,
            the same preprocessing inside; converted to ``model.tflite`` when ``export.tflite`` is on.
        declaration: what a task family's generic functions read back by the task's name (the tabular
            family's columns and label, for its Transform step); None for a task that is not in a family.
        check_schema: the curated schema's file -> one line per disagreement with the declaration
            (checked before a pipeline is built); None: nothing to check.
    """

    name: str
    description: str
    config_class: type[TaskConfig]
    source: TfdsSource | GeneratorSource | FileSource
    preprocessing_fn: str
    schema_file: str
    build_model: Callable[[Any], Any]
    compile_args: Callable[[Any], dict[str, Any]]
    inputs: Callable[[Any], Mapping[str, str]]
    labels: Callable[[Any], Mapping[str, str]]
    eval_config: Callable[[Any], Any]
    serving: Callable[[Any], ServingContract]
    report: Callable[..., dict[str, Any]]
    augment: Callable[..., Any] | None = None
    tflite: Callable[[Any, Any], Any] | None = None
    declaration: Any = None
    check_schema: Callable[[str], list[str]] | None = None

    def default_config(self) -> TaskConfig:
        """The task's configuration with every default."""
        return self.config_class()

    @property
    def reads_tfds(self) -> bool:
        """True if the data comes from TensorFlow Datasets (``--data-dir`` and ``--download`` apply)."""
        return isinstance(self.source, TfdsSource)
