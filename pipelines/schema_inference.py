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

from pipelines.config import TaskConfig
from pipelines.spec import TaskSpec


class SchemaInferenceError(RuntimeError):
    """A component of the inference run failed; the message names it and its reason."""


def infer_schema(spec: TaskSpec, config: TaskConfig, out: str) -> str:
    """Infer the schema of the task's configured data and write it (text proto) to ``out``; returns ``out``.

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
