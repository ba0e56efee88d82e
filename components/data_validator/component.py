"""DataValidator: TFX's ExampleValidator, plus drift against a baseline span, pictures, and a gate.

* Every split's statistics are validated against the curated schema, by the ExampleValidator's own
  executor code (``tfdv.validate_statistics`` in the schema's TRAINING environment); the anomalies
  are written where ExampleValidator writes them (``Split-<split>/SchemaDiff.pb``).
* When baseline statistics are given (``baseline_statistics``: validated statistics of an earlier run,
  chosen by the drift baseline rule of :mod:`components.baseline_resolver`), the ``drift_split`` of the
  new data is compared with the baseline's using the schema's ``drift_comparator`` thresholds; every
  compared feature's drift score is recorded in ``drift.json``, above its threshold or not, with the
  baseline named (its span, and the rule that chose it). A category with a real share in the baseline
  that is gone now is an anomaly whatever the L-infinity threshold (:mod:`components.data_validator.categories`).
* With the ``examples``, the content of image, text and categorical features is profiled (pixel
  intensities, blank images, unknown vocabulary, tokens per text; :mod:`components.data_validator.content`)
  and compared with the baseline's profile, which is kept with its statistics.
* Pictures of the data (per-feature statistics, and the new span beside the baseline) are written to
  ``report/`` in the anomalies artifact, with a self-contained ``data_report.html``.
* **The gate.** If anything is anomalous, the component fails with every anomaly named (split,
  feature, what was expected, what was found) and the way out, so nothing downstream runs: no
  Transform, no training, no push. ``allow_anomalies=True`` (an explicit opt-in) records them and
  lets the run go on, except for what no model can be trained on: a split under ``min_rows`` rows, and
  a label value outside the label's declared classes. Only data that passed is re-published as
  ``validated_statistics`` (marked ``allowed_anomalies`` when it passed by the opt-in), so a rejected
  span never enters a training window nor becomes a baseline. TFX deletes a failed execution's outputs,
  so the anomalies and pictures of rejected data are kept in ``DataValidator/rejected/<execution>/``,
  with ``verdict.json`` (the span and its anomalies) that the next runs' summaries read.
"""

from __future__ import annotations

from tfx import types
from tfx.dsl.components.base import base_component, executor_spec
from tfx.types import standard_artifacts
from tfx.types.component_spec import ChannelParameter, ComponentSpec, ExecutionParameter

from components.data_validator import executor

STATISTICS_KEY = "statistics"
SCHEMA_KEY = "schema"
BASELINE_KEY = "baseline_statistics"
BASELINE_MODEL_KEY = "baseline_model"
EXAMPLES_KEY = "examples"
ANOMALIES_KEY = "anomalies"
VALIDATED_KEY = "validated_statistics"


class DataValidatorSpec(ComponentSpec):
    """Inputs, outputs and parameters of :class:`DataValidator`."""

    PARAMETERS = {
        "allow_anomalies": ExecutionParameter(type=int),
        "drift_split": ExecutionParameter(type=str),
        "min_rows": ExecutionParameter(type=int, optional=True),
        "baseline_span": ExecutionParameter(type=int, optional=True),
        "schema_source": ExecutionParameter(type=str, optional=True),
    }
    INPUTS = {
        STATISTICS_KEY: ChannelParameter(type=standard_artifacts.ExampleStatistics),
        SCHEMA_KEY: ChannelParameter(type=standard_artifacts.Schema),
        BASELINE_KEY: ChannelParameter(type=standard_artifacts.ExampleStatistics, optional=True),
        BASELINE_MODEL_KEY: ChannelParameter(type=standard_artifacts.PushedModel, optional=True),
        EXAMPLES_KEY: ChannelParameter(type=standard_artifacts.Examples, optional=True),
    }
    OUTPUTS = {
        ANOMALIES_KEY: ChannelParameter(type=standard_artifacts.ExampleAnomalies),
        VALIDATED_KEY: ChannelParameter(type=standard_artifacts.ExampleStatistics),
    }


class DataValidator(base_component.BaseComponent):
    """Validates every split against the schema and the new span against the previous one; stops bad data."""

    SPEC_CLASS = DataValidatorSpec
    EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(executor.Executor)

    def __init__(
        self,
        statistics: types.BaseChannel,
        schema: types.BaseChannel,
        baseline_statistics: types.BaseChannel | None = None,
        examples: types.BaseChannel | None = None,
        allow_anomalies: bool = False,
        drift_split: str = "train",
        baseline_model: types.BaseChannel | None = None,
        min_rows: int = 0,
        baseline_span: int | None = None,
        schema_source: str = "",
    ) -> None:
        """Build the component.

        Args:
            statistics: the new data's statistics (StatisticsGen).
            schema: the curated schema (ImportSchemaGen).
            baseline_statistics: the last validated statistics (optional; no drift check without).
            examples: the examples the statistics describe, for the content checks of image, text and
                categorical features (optional; see :mod:`components.data_validator.content`).
            allow_anomalies: record anomalies but let the run go on (an explicit opt-in).
            drift_split: the split whose drift is measured.
            baseline_model: the served model whose training data the baseline is (when the rule chose it),
                to name it.
            min_rows: every split needs at least this many rows, whatever ``allow_anomalies`` says.
            baseline_span: the span the baseline was pinned to (``validation.baseline_span``), to name the rule.
            schema_source: where the curated schema lives (named in the messages, e.g. where the label's
                classes are declared).
        """
        spec = DataValidatorSpec(
            statistics=statistics,
            schema=schema,
            baseline_statistics=baseline_statistics,
            examples=examples,
            allow_anomalies=int(bool(allow_anomalies)),
            drift_split=drift_split,
            baseline_model=baseline_model,
            min_rows=int(min_rows),
            baseline_span=baseline_span,
            schema_source=schema_source,
            anomalies=types.Channel(type=standard_artifacts.ExampleAnomalies),
            validated_statistics=types.Channel(type=standard_artifacts.ExampleStatistics),
        )
        super().__init__(spec=spec)


__all__ = ["DataValidator"]
