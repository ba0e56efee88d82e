"""The tabular task family: a task declares its columns by kind and its label; the rest is generic.

A task folder calls :func:`tabular_task` with its columns (:class:`Numeric`, :class:`Categorical`),
its :class:`Label` (class ids or class names: classification; a float: regression) and optionally an
auxiliary target, and gets a complete :class:`~pipelines.spec.TaskSpec` for the user's files:

* **Transform** (``pipelines/tabular_transform.py``): numbers as z-scores from full-pass statistics of the
  training split; categories one-hot over a declared vocabulary (plus one column for anything else)
  or over the training split's most frequent values plus out-of-vocabulary buckets; an optional
  column's missing value filled (its default, or the training mean) and flagged in an extra input
  column; the label one-hot (classification) or as is (regression).
* **Model** (``models/tabular.py``): one input per column, named after it; a DNN, or a wide & deep
  model (``model.architecture``), with an optional auxiliary head (the seeds' California-housing
  model).
* **Losses, metrics, report** (:mod:`pipelines.heads`): accuracy, a confusion matrix and per-class
  accuracy; or RMSE and MAE, predicted against true values and the residuals.
* **TFMA** (:mod:`pipelines.evaluation`): accuracy with per-class recall and AUC, or RMSE with MAE;
  an absolute bound and "no worse than the last blessed model".
* **Serving**: ``serving_default`` on tf.Examples, ``serving_raw`` with one input per column
  (a number, a text or an integer per row; an optional column's missing value is its dtype's marker,
  :data:`common.contract.MISSING_FLOAT` NaN, :data:`~common.contract.MISSING_INT` or "", which a
  required column refuses), and ``classification`` or ``regression`` for TF Serving's Classify and
  Regress APIs.

(Over 300 lines: the declaration types and the spec's hooks are read together, as one page.)

Long because the tabular family declared together: columns, Transform, model, TFMA config and serving contract.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal

from pydantic import Field

from pipelines.config import FileData, Section, TaskConfig
from pipelines.features import transformed_name
from pipelines.heads import (
    classification_loss,
    classification_metrics,
    classifier_report,
    regression_loss,
    regression_metrics,
    regressor_report,
)
from pipelines.spec import FileSource, ServingContract, TaskSpec
from pipelines.tabular_kinds import Bucketized, Crossed, Derived, Timestamp
from pipelines.tabular_schema import declaration_problems

__all__ = ["Bucketized", "Categorical", "Crossed", "Derived", "Label", "Numeric", "Table", "Timestamp", "tabular_task"]

AUX_SUFFIX = "_aux"


@dataclasses.dataclass(frozen=True)
class Numeric:
    """A numeric column, fed to the model as a z-score.

    Attributes:
        name: the column.
        optional: rows may lack a value; it is filled (``default``, else the training mean) and flagged.
        default: the value a missing one is taken to be (optional columns only).
    """

    name: str
    optional: bool = False
    default: float | None = None

    @property
    def raw_columns(self) -> tuple[str, ...]:
        """The raw columns a client sends for it."""
        return (self.name,)

    def width(self) -> int:
        """Model input width: the z-score, and the missing flag of an optional column."""
        return 1 + int(self.optional)

    def encode(self, inputs: Mapping[str, Any], cache: dict[str, Any]) -> Any:  # noqa: ARG002 - one interface
        """Transform: the column's z-score (full-pass mean and deviation), and the missing flag."""
        from pipelines.tabular_transform import encode_numeric

        return encode_numeric(self, inputs[self.name])


@dataclasses.dataclass(frozen=True)
class Categorical:
    """A categorical column (text or integer codes), fed to the model one-hot.

    Attributes:
        name: the column.
        vocabulary: the known values, in order; anything else is one extra "other" column. Empty: the
            training split's ``max_tokens`` most frequent values, plus ``oov_buckets`` hashed buckets.
        max_tokens: size of a learned vocabulary.
        oov_buckets: hashed buckets for values outside a learned vocabulary.
        optional: rows may lack a value; it is filled with ``default`` (else counted as "other") and flagged.
        default: the value a missing one is taken to be (optional columns only).
    """

    name: str
    vocabulary: tuple[str | int, ...] = ()
    max_tokens: int = 100
    oov_buckets: int = 1
    optional: bool = False
    default: str | int | None = None

    @property
    def raw_columns(self) -> tuple[str, ...]:
        """The raw columns a client sends for it."""
        return (self.name,)

    def width(self) -> int:
        """Model input width: the one-hot vector, and the missing flag of an optional column."""
        one_hot = len(self.vocabulary) + 1 if self.vocabulary else self.max_tokens + self.oov_buckets
        return one_hot + int(self.optional)

    def encode(self, inputs: Mapping[str, Any], cache: dict[str, Any]) -> Any:  # noqa: ARG002 - one interface
        """Transform: the column one-hot, and the missing flag."""
        from pipelines.tabular_transform import encode_categorical

        return encode_categorical(self, inputs[self.name])


Column = Numeric | Categorical | Bucketized | Crossed | Timestamp | Derived
ONE_HOT_KINDS = (Categorical, Bucketized, Crossed, Timestamp)  # a wide & deep model's wide part by default


@dataclasses.dataclass(frozen=True)
class Label:
    """A target column.

    Attributes:
        name: the column.
        class_names: classification: the class of id ``i`` (an integer column) or these names (a text
            column). Empty: regression on a numeric column.
        derive: a label computed in Transform from other raw columns, ``derive(**{input: [batch, 1]
            tensor})`` -> class ids (int) or values (float), e.g. ``lambda tips, fare: tf.cast(tips > 0.2 *
            fare, tf.int64)``; it is in no file and in no request (its training-only inputs are absent at
            serving). None: the column ``name`` itself.
        inputs: the raw columns ``derive`` reads.
    """

    name: str
    class_names: tuple[str, ...] = ()
    derive: Callable[..., Any] | None = None
    inputs: tuple[str, ...] = ()

    @property
    def is_classification(self) -> bool:
        """True for a class label, False for a regression target."""
        return bool(self.class_names)

    @property
    def raw_columns(self) -> tuple[str, ...]:
        """The raw columns the target is read from: its own, or ``derive``'s inputs."""
        return tuple(self.inputs) if self.derive is not None else (self.name,)


@dataclasses.dataclass(frozen=True)
class Table:
    """What a tabular task declares: its columns, its label, an auxiliary target, the wide columns."""

    columns: tuple[Column, ...]
    label: Label
    aux: Label | None = None
    wide: tuple[str, ...] = ()

    @property
    def aux_output(self) -> str | None:
        """The auxiliary head's output name (``<label>_aux`` when it predicts the label itself)."""
        if self.aux is None:
            return None
        return self.aux.name + AUX_SUFFIX if self.aux.name == self.label.name else self.aux.name

    def targets(self) -> dict[str, Label]:
        """Output name -> its target column."""
        heads = {self.label.name: self.label}
        if self.aux is not None:
            heads[self.aux_output] = self.aux
        return heads

    def raw_columns(self) -> list[str]:
        """The raw columns the model reads, in order, each once (what ``serving_raw`` takes)."""
        return list(dict.fromkeys(name for column in self.columns for name in column.raw_columns))

    def optional_raw(self) -> set[str]:
        """The raw columns that may be missing: those an optional column of their own name declares."""
        return {c.name for c in self.columns if c.optional and c.raw_columns == (c.name,)}


class TabularModelConfig(Section):
    """The tabular model's shape."""

    # "dnn": the columns -> Dense stack -> head; "wide_deep": the wide columns also go straight to the head.
    architecture: Literal["dnn", "wide_deep"] = "dnn"
    hidden_units: list[int] = Field(default_factory=lambda: [64, 32], min_length=1)
    dropout: float = Field(0.0, ge=0, lt=1)
    aux_loss_weight: float = Field(0.1, ge=0)  # the auxiliary head's loss weight (the main head's is 1)


class RegressorEval(Section):
    """What the Evaluator requires of a regression head before the Pusher may push."""

    max_rmse: float = Field(gt=0)  # absolute upper bound on the evaluation split, in the label's units
    max_rmse_increase: float = Field(0.0, ge=0)  # allowed increase vs. the last blessed model (0: none)


class TabularConfig(TaskConfig):
    """Base of a tabular task's config: its files and its model (the task adds ``eval``)."""

    data: FileData = FileData()
    model: TabularModelConfig = TabularModelConfig()


# --- the spec -----------------------------------------------------------------------------------------


def _column_dtype(kind: str) -> Any:
    import tensorflow as tf

    return {"int": tf.int64, "float": tf.float32, "bytes": tf.string}[kind]


def _serving(table: Table, schema_file: str) -> ServingContract:
    import tensorflow as tf

    from common.contract import MISSING_INT, MISSING_TEXT, classification_output_dtypes
    from pipelines.export import classification_outputs
    from pipelines.schema import schema_columns

    kinds = {c.name: c.kind for c in schema_columns(schema_file) or ()}
    raw_columns = table.raw_columns()
    missing_kinds = [name for name in raw_columns if name not in kinds]
    if missing_kinds:
        raise ValueError(f"columns {missing_kinds} are not in the curated schema {schema_file}")
    optional = table.optional_raw()
    raw_inputs = {name: tf.TensorSpec([None], _column_dtype(kinds[name]), name=name) for name in raw_columns}

    def raw_to_features(raw: Mapping[str, tf.Tensor]) -> dict[str, Any]:
        features = {}
        for name, value in raw.items():
            column = tf.reshape(value, [-1, 1])
            if value.dtype == tf.string:
                present = tf.not_equal(column, MISSING_TEXT)
            elif value.dtype.is_floating:
                present = tf.logical_not(tf.math.is_nan(column))
            else:
                present = tf.not_equal(column, tf.constant(MISSING_INT, value.dtype))
            if name not in optional:
                if value.dtype == tf.string:  # a required text may be empty: the empty string is a value
                    features[name] = column
                    continue
                check = tf.debugging.Assert(
                    tf.reduce_all(present),
                    [
                        f"column {name} is required: a row holds its missing marker (NaN, or {MISSING_INT} for an "
                        "integer); send a value"
                    ],  # fmt: skip
                )
                with tf.control_dependencies([check]):
                    features[name] = tf.identity(column)
                continue
            indices = tf.where(present)
            features[name] = tf.SparseTensor(
                indices, tf.gather_nd(column, indices), tf.shape(column, out_type=tf.int64)
            )
        return features

    def readable(outputs: Mapping[str, tf.Tensor]) -> dict[str, tf.Tensor]:
        result: dict[str, tf.Tensor] = {}
        for output, target in table.targets().items():
            prefix = "" if output == table.label.name else f"{output}_"
            if target.is_classification:
                result.update(classification_outputs(outputs[output], target.class_names, prefix=prefix))
            else:
                result[output] = tf.reshape(outputs[output], [-1])
        return result

    label = table.label
    declared: dict[str, str] = {}
    for output, target in table.targets().items():
        prefix = "" if output == table.label.name else f"{output}_"
        declared.update(classification_output_dtypes(prefix) if target.is_classification else {output: "float32"})
    return ServingContract(
        raw_inputs=raw_inputs,
        raw_to_features=raw_to_features,
        outputs=readable,
        example_features=raw_columns,
        # One head: the readable outputs (TFMA reads `probabilities` or the value). With an auxiliary head,
        # each head's raw output under its name, as TFMA evaluates a multi-output model.
        example_outputs=dict if table.aux is not None else None,
        classify=(label.name, label.class_names) if label.is_classification else None,
        regress=None if label.is_classification else label.name,
        transformed_labels=sorted({transformed_name(t.name) for t in table.targets().values()}),
        declared_outputs=declared,
    )


def _eval_config(table: Table, config: Any) -> Any:
    import tensorflow_model_analysis as tfma

    from common.contract import EXAMPLE_SIGNATURE, PROBABILITIES, TRANSFORM_SIGNATURE
    from pipelines.evaluation import classification_metrics_specs, regression_metrics_specs

    label, evaluation = table.label, config.eval
    # One head: TFMA reads the readable output (`probabilities`, or the value). Several: a dict by output name.
    head = label.name if table.aux is not None else None
    if label.is_classification:
        specs = classification_metrics_specs(
            head, len(label.class_names), evaluation.min_accuracy, evaluation.max_accuracy_drop
        )
    else:
        specs = regression_metrics_specs(head, evaluation.max_rmse, evaluation.max_rmse_increase)
    if table.aux is not None:
        metric = "CategoricalAccuracy" if table.aux.is_classification else "RootMeanSquaredError"
        specs.append(tfma.MetricsSpec(output_names=[table.aux_output], metrics=[tfma.MetricConfig(class_name=metric)]))
    slicing = [tfma.SlicingSpec()]
    if label.is_classification and label.derive is None:  # a derived label is no feature to slice by
        slicing.append(tfma.SlicingSpec(feature_keys=[label.name]))
    labels = {output: transformed_name(t.name) for output, t in table.targets().items()}
    if head:
        keys = {"label_keys": labels}
    else:
        prediction = PROBABILITIES if label.is_classification else label.name
        keys = {"label_key": labels[label.name], "prediction_key": prediction}
    return tfma.EvalConfig(
        model_specs=[
            tfma.ModelSpec(signature_name=EXAMPLE_SIGNATURE, preprocessing_function_names=[TRANSFORM_SIGNATURE], **keys)
        ],
        slicing_specs=slicing,
        options=tfma.Options(include_default_metrics={"value": False}),
        metrics_specs=specs,
    )


def _build_model(table: Table, config: Any) -> Any:
    from models.tabular import build_tabular_model

    settings: TabularModelConfig = config.model
    label = table.label

    def head(output: str, target: Label) -> tuple[str, int, str | None]:
        if target.is_classification:
            return output, len(target.class_names), "softmax"
        return output, 1, None

    wide: Sequence[str] = ()
    if settings.architecture == "wide_deep":
        categorical = tuple(c.name for c in table.columns if isinstance(c, ONE_HOT_KINDS))
        wide = table.wide or categorical or tuple(c.name for c in table.columns)
    return build_tabular_model(
        inputs={c.name: c.width() for c in table.columns},
        head=head(label.name, label),
        hidden_units=settings.hidden_units,
        wide=wide,
        aux_head=head(table.aux_output, table.aux) if table.aux is not None else None,
        dropout=settings.dropout,
        name=f"tabular_{settings.architecture}",
    )


def _compile_args(table: Table, config: Any) -> dict[str, Any]:
    losses, metrics, weights = {}, {}, {}
    for output, target in table.targets().items():
        losses[output] = classification_loss() if target.is_classification else regression_loss()
        metrics[output] = classification_metrics() if target.is_classification else regression_metrics()
        weights[output] = 1.0 if output == table.label.name else config.model.aux_loss_weight
    return {"loss": losses, "metrics": metrics, "loss_weights": weights}


def tabular_task(
    *,
    name: str,
    description: str,
    config_class: type[TaskConfig],
    columns: Sequence[Column],
    label: Label,
    schema_file: str,
    aux: Label | None = None,
    wide: Sequence[str] = (),
) -> TaskSpec:
    """The spec of a tabular task read from the user's files.

    Args:
        name: the task name.
        description: one line for ``tfx-keras list``.
        config_class: the task's config (a :class:`TabularConfig` with an ``eval`` section:
            ``ClassifierEval`` for a class label, :class:`RegressorEval` for a float one).
        columns: the model's input columns.
        label: the target.
        schema_file: the task's curated schema (``tfx-keras schema infer`` writes a first one).
        aux: an auxiliary target for a second head (may be ``label`` itself, as a regularizer).
        wide: the columns a wide & deep model feeds straight to the head (default: the categorical
            ones, else all).

    Raises:
        ValueError: a column declared twice, the label among the inputs, or a wide column that is not one.
    """
    names = [c.name for c in columns]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ValueError(f"task {name}: columns {duplicates} are declared more than once")
    if label.name in names or (aux is not None and aux.name in names):
        raise ValueError(f"task {name}: a target ({label.name}) cannot also be an input column")
    unknown = sorted(set(wide) - set(names))
    if unknown:
        raise ValueError(f"task {name}: wide columns {unknown} are not among the columns {names}")
    for column in columns:
        if column.default is not None and not column.optional:
            raise ValueError(f"task {name}: column {column.name} has a default but is not optional")
        if isinstance(column, Derived) and column.optional:
            raise ValueError(
                f"task {name}: derived column {column.name} cannot be optional: fn gives every row a value"
            )
    by_name = {c.name: c for c in columns}
    for column in columns:
        if isinstance(column, Crossed) and any(isinstance(by_name.get(p), (Crossed, Derived)) for p in column.parts):
            raise ValueError(f"task {name}: {column.name} crosses a crossed or derived column: cross raw columns")
    for target in (label, aux):
        if target is not None and target.derive is not None and not target.inputs:
            raise ValueError(f"task {name}: label {target.name} has derive but no inputs: name the columns it reads")
        if target is not None and target.derive is None and target.inputs:
            raise ValueError(f"task {name}: label {target.name} has inputs but no derive")
    table = Table(columns=tuple(columns), label=label, aux=aux, wide=tuple(wide))
    report = (
        classifier_report(label.class_names, label.name) if label.is_classification else regressor_report(label.name)
    )
    return TaskSpec(
        name=name,
        description=description,
        config_class=config_class,
        source=FileSource(),
        preprocessing_fn="pipelines.tabular_transform.preprocessing_fn",
        schema_file=schema_file,
        build_model=lambda config: _build_model(table, config),
        compile_args=lambda config: _compile_args(table, config),
        inputs=lambda _config: {c.name: transformed_name(c.name) for c in table.columns},
        labels=lambda _config: {output: transformed_name(t.name) for output, t in table.targets().items()},
        eval_config=lambda config: _eval_config(table, config),
        serving=lambda _config: _serving(table, schema_file),
        report=report,
        declaration=table,
        check_schema=lambda schema: declaration_problems(table, schema),
    )
