"""``tfx-keras schema infer``: a first schema from a task's data, to curate."""

from __future__ import annotations

import argparse
import os

from pipelines import tasks
from pipelines.cli.options import input_base_arg, task_arg, task_config, writable


def add_parser(sub: argparse._SubParsersAction) -> None:
    """The ``schema`` sub-command and its ``infer``."""
    p = sub.add_parser("schema", help="infer a task's schema from its data (the start of a curated one)")
    schema_sub = p.add_subparsers(dest="schema_command", required=True, metavar="{infer}")
    infer = schema_sub.add_parser(
        "infer",
        help="infer the schema of the task's data into a file, to compare with the curated one",
        description="Run the task's ExampleGen, StatisticsGen and SchemaGen on its configured data and write "
        "the inferred schema. The pipelines never use it: compare it with pipelines/<task>/schema.pbtxt "
        "(the curated schema they load) and carry over what legitimately changed.",
    )
    task_arg(infer)
    infer.add_argument("--out", default=None, help="where to write (default: ./<task>.schema.inferred.pbtxt)")
    infer.add_argument("--data-dir", default=None, help="TFDS data directory (default: TFDS's)")
    input_base_arg(infer)
    infer.add_argument("--set", dest="overrides", action="append", default=[], metavar="FIELD=VALUE")
    p.set_defaults(handler=cmd_schema)


def cmd_schema(args: argparse.Namespace) -> int:
    """Infer and write the schema; say how to compare it."""
    import tempfile

    from pipelines.cli.quiet import quiet_output
    from pipelines.schema_inference import SchemaInferenceError, infer_schema, is_curated_schema

    spec = tasks.get(args.task)
    config = task_config(spec, args)
    out = writable(args.out or f"{spec.name}.schema.inferred.pbtxt", "--out")  # before minutes of work
    log = os.path.join(tempfile.gettempdir(), f"tfx-keras-schema-{spec.name}.log")
    notes: list[str] = []
    with quiet_output(log):  # TFX's and Beam's logs (a failed component's traceback): in the log, not here
        try:
            out = infer_schema(spec, config, out, notes)
        except SchemaInferenceError as err:
            raise SchemaInferenceError(f"{err} (library logs: {log})") from None
    print(f"wrote {out}")
    for note in notes:
        print(f"  suggested: {note}")
    if is_curated_schema(spec, out):
        print("this is the schema the pipeline loads: curate it before the first run (docs/data-validation.md)")
    else:
        print(f"compare it with the curated schema: diff {spec.schema_file} {out}")
    return 0
