"""``tfx-keras schema infer TASK``: infer a schema from the task's data, as the start of a curated one.

TFX's guidance: infer a schema once, curate it by hand (value domains and ranges, required
features, image sizes, the label absent in the SERVING environment, drift thresholds), keep it
under version control next to the task's code, and validate every new batch of data against it.
This command runs the task's ExampleGen, StatisticsGen and SchemaGen (``infer_feature_shape``) on
the configured data in a scratch folder and writes the inferred schema with a header saying where
it came from. Compare it with the curated ``pipelines/<task>/schema.pbtxt`` and carry over what
legitimately changed; the pipelines never use an inferred schema.
"""

from __future__ import annotations

import datetime
import os
import tempfile
from typing import Any

from pipelines.config import TaskConfig
from pipelines.spec import TaskSpec


class SchemaInferenceError(RuntimeError):
    """A component of the inference run failed; the message names it and its reason."""


LONG_TAIL_RATIO = 5.0  # max - p90 beyond this many times p90 - p10: a long tail
DRIFT_THRESHOLD = 0.3  # the suggested Jensen-Shannon threshold of a numeric column (curate from normal days)


def long_tailed(statistics: Any) -> dict[str, tuple[float, float]]:
    """Numeric feature -> (its max, its 90% quantile), for those whose maximum lies far beyond the bulk.

    From the quantiles histogram of TFDV's statistics: ``max - p90 > LONG_TAIL_RATIO * (p90 - p10)``
    (one 1,710-mile trip among trips of a few miles).
    """
    from tensorflow_metadata.proto.v0 import statistics_pb2

    found = {}
    for feature in statistics.datasets[0].features if statistics.datasets else []:
        if not feature.HasField("num_stats"):
            continue
        quantiles = [h for h in feature.num_stats.histograms if h.type == statistics_pb2.Histogram.QUANTILES]
        buckets = quantiles[0].buckets if quantiles else []
        if len(buckets) < 10:
            continue
        p10, p90, top = buckets[0].high_value, buckets[8].high_value, feature.num_stats.max
        if p90 > p10 and top - p90 > LONG_TAIL_RATIO * (p90 - p10):
            found[".".join(feature.path.step) or feature.name] = (float(top), float(p90))
    return found


def suggest_drift(schema: Any, statistics: Any) -> list[str]:
    """Give each numeric feature without one a drift comparator (in place); one line per long-tailed column.

    A Jensen-Shannon divergence on TFDV's standard histogram, whose buckets span min to max; on a
    long-tailed column, on its quantile buckets (``source { type: QUANTILES }``), so that one extreme
    row that changes split does not move every bucket (docs/data-validation.md, long-tailed columns).
    """
    from tensorflow_metadata.proto.v0 import schema_pb2

    tails = long_tailed(statistics)
    notes = []
    for feature in schema.feature:
        if feature.type not in (schema_pb2.FLOAT, schema_pb2.INT) or feature.HasField("drift_comparator"):
            continue
        if feature.HasField("int_domain") and feature.int_domain.is_categorical:
            continue
        divergence = feature.drift_comparator.jensen_shannon_divergence
        divergence.threshold = DRIFT_THRESHOLD
        if feature.name in tails:
            divergence.source.type = schema_pb2.HistogramSelection.QUANTILES
            top, p90 = tails[feature.name]
            notes.append(
                f"{feature.name} is long-tailed (max {top:.4g}, 90% of rows under {p90:.4g}): its drift is measured "
                "on quantile buckets (jensen_shannon_divergence source { type: QUANTILES })"
            )
    return notes


def infer_schema(spec: TaskSpec, config: TaskConfig, out: str, notes: list[str] | None = None) -> str:
    """Infer the schema of the task's configured data and write it (text proto) to ``out``; returns ``out``.

    Numeric columns get the drift comparator :func:`suggest_drift` chooses; its lines go to ``notes``.

    Raises:
        FileInputError: the task reads files, and their folder or files are missing.
        SchemaInferenceError: ExampleGen, StatisticsGen or SchemaGen failed (e.g. on a malformed file).
    """
    from google.protobuf import text_format
    from tfx import v1 as tfx
    from tfx.utils import io_utils

    from components.file_example_gen import check_input
    from pipelines.local_runner import Progress, beam_args, run_dag
    from pipelines.pipeline import example_gen, reads_files

    if reads_files(spec, config):
        check_input(config.data.input_base, config.data.split_patterns, config.data.span)

    with tempfile.TemporaryDirectory(prefix="schema_infer_") as scratch:
        examples = example_gen(spec, config, use_schema=False)
        statistics = tfx.components.StatisticsGen(examples=examples.outputs["examples"])
        schema_gen = tfx.components.SchemaGen(statistics=statistics.outputs["statistics"], infer_feature_shape=True)
        pipeline = tfx.dsl.Pipeline(
            pipeline_name=f"{spec.name.replace('_', '-')}-schema",
            pipeline_root=os.path.join(scratch, "root"),
            components=[examples, statistics, schema_gen],
            metadata_connection_config=tfx.orchestration.metadata.sqlite_metadata_connection_config(
                os.path.join(scratch, "metadata.sqlite")
            ),
            beam_pipeline_args=beam_args(1),
            enable_cache=False,
        )
        runner = run_dag(pipeline, Progress(lambda line: print(line, flush=True)))
        if runner.failure:
            raise SchemaInferenceError(f"{runner.failure.component} failed: {runner.failure.reason}")
        schema_dir = os.path.join(scratch, "root", "SchemaGen", "schema")
        (execution,) = os.listdir(schema_dir)
        schema = io_utils.SchemaReader().read(os.path.join(schema_dir, execution, "schema.pbtxt"))
        import tensorflow_data_validation as tfdv

        statistics_dir = os.path.join(scratch, "root", "StatisticsGen", "statistics")
        (run,) = os.listdir(statistics_dir)
        train = os.path.join(statistics_dir, run, "Split-train", "FeatureStats.pb")
        if os.path.isfile(train):
            (notes if notes is not None else []).extend(suggest_drift(schema, tfdv.load_stats_binary(train)))
    inferred = f"INFERRED by `tfx-keras schema infer {spec.name}` on {datetime.date.today().isoformat()}"
    if is_curated_schema(spec, out):  # a first schema, written where the pipeline reads it
        header = (
            f"# The curated schema of task {spec.name}: first {inferred}.\n"
            "# The pipeline loads this file: curate it (value ranges, the label absent in SERVING, drift\n"
            "# comparators; docs/data-validation.md) before the first run.\n"
        )
    else:
        header = (
            f"# Schema of task {spec.name}, {inferred}.\n"
            "# Not used by any pipeline: compare it with the curated schema the pipeline loads\n"
            f"# ({spec.schema_file}) and carry over what legitimately changed.\n"
        )
    with open(out, "w", encoding="utf-8") as f:
        f.write(header + text_format.MessageToString(schema))
    return out


def is_curated_schema(spec: TaskSpec, path: str) -> bool:
    """True if ``path`` is the task's curated schema file (the one its pipeline loads)."""
    return os.path.realpath(path) == os.path.realpath(spec.schema_file)
