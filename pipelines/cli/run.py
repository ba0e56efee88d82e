"""``tfx-keras run``: a task's pipeline on this machine, its progress, its summary and its exit code."""

from __future__ import annotations

import argparse
import datetime
import os
import sys
from collections.abc import Callable
from typing import TextIO

from pipelines import tasks
from pipelines.cli.options import absolute, input_base_arg, task_arg, task_config
from pipelines.config import ConfigError
from pipelines.spec import TaskSpec


def add_parser(sub: argparse._SubParsersAction) -> None:
    """The ``run`` sub-command."""
    p = sub.add_parser(
        "run",
        help="run a task pipeline locally (LocalDagRunner, SQLite or MySQL metadata, Beam)",
        description="Run a task pipeline on this machine: Beam DirectRunner, ML Metadata in "
        "SQLite under --output-dir (or a shared MariaDB/MySQL database: --metadata), blessed models pushed to "
        "<output-dir>/serving/<task>/<version>/. "
        "Prints one line per component and a summary; library output goes to a log file under "
        "<output-dir>/logs/ (shown with --verbose). Exit codes: 0 pushed, or nothing to do; 1 a component "
        "failed; 2 usage error; 3 the data was stopped (unreadable files, anomalies, drift); 4 the model "
        "was not pushed (not blessed, or it cannot serve).",
    )
    task_arg(p)
    p.add_argument(
        "--output-dir",
        default="outputs",
        help="root of pipeline outputs, metadata and serving models (default: ./outputs)",
    )
    p.add_argument(
        "--metadata",
        default=None,
        metavar="URL",
        help="ML Metadata on a shared MariaDB/MySQL database, mysql://user[:password]@host[:port]/database "
        "(the same as --set metadata.url=URL; the database must exist); default: SQLite under --output-dir",
    )
    p.add_argument("--data-dir", default=None, help="TFDS data directory (default: TFDS's, ~/tensorflow_datasets)")
    input_base_arg(p)
    p.add_argument(
        "--download",
        action="store_true",
        help="let TFDS download the data set if it is not prepared "
        "(needs network; offline, use `tfx-keras data import`)",
    )
    p.add_argument("--epochs", type=int, default=None, help="training epochs (shortcut for --set training.epochs=N)")
    p.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="FIELD=VALUE",
        help="override a config field, e.g. training.batch_size=128 (repeatable; see `config TASK`)",
    )
    p.add_argument("--workers", type=int, default=1, help="Beam DirectRunner workers (>1: multi-processing)")
    p.add_argument("--no-cache", action="store_true", help="re-execute every component")
    p.add_argument("--json", action="store_true", help="print the run summary as JSON")
    p.add_argument(
        "--dry-run",
        action="store_true",
        help="check the task, its settings and its data, print the components that would run, run nothing",
    )
    p.add_argument("--verbose", action="store_true", help="show library logs on the console instead of the log file")
    p.set_defaults(handler=lambda args: cmd_run(args, sys.stderr))


def _dataset_fix(spec: TaskSpec, err: Exception) -> str:
    from components.tfds_example_gen import DatasetDownloadError

    data_dir = getattr(err, "data_dir", "DIR")
    if spec.source.raw_format:
        from data_import.tfds_builder import raw_format

        source = raw_format(spec.source.raw_format).source
        offline = f"`tfx-keras data import {spec.name} --source DIR --data-dir {data_dir}` (DIR: {source})"
        if isinstance(err, DatasetDownloadError):
            return f"{str(err).split(';')[0]}. Import the upstream files offline instead: {offline}."
        return (
            f"TFDS data set '{spec.source.dataset}' is not prepared in {data_dir}. Either import the upstream files "
            f"offline with {offline}, or allow TensorFlow Datasets to download it (--download; needs network access)."
        )
    return str(err)


def cmd_run(args: argparse.Namespace, err_stream: TextIO) -> int:
    """Run the pipeline; print its summary (or JSON); return its exit code."""
    from pipelines import local_layout, local_runner

    spec = tasks.get(args.task)
    config = task_config(spec, args)
    if args.workers < 1:
        raise ConfigError(f"--workers {args.workers} is invalid: must be an integer >= 1")
    layout = local_layout.LocalLayout(absolute(args.output_dir), spec.name)
    try:
        local_layout.check_output_dir(layout)
        if args.dry_run:  # the checks a run makes before it starts, then the plan; nothing is written
            return _data_errors(spec, err_stream, lambda: _dry_run(spec, config, layout, args.workers, args.json))
        local_layout.prepare_output_dir(layout)
    except local_layout.OutputDirError as err:
        print(f"error: {err}", file=err_stream)
        return 2
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    log_file = os.path.join(layout.log_dir, f"{spec.name}-{stamp}.log")
    if config.metadata.url:  # type: ignore[attr-defined]
        from pipelines.metadata_store import connection_config, describe

        metadata = f"; ML Metadata: {describe(connection_config(config.metadata.url, ''))}"  # type: ignore[attr-defined]
    else:
        metadata = ""
    print(f"[tfx-keras] running the {spec.name} pipeline; outputs under {layout.output_dir}{metadata}", flush=True)
    if not args.verbose:
        print(f"[tfx-keras] library logs: {log_file}", flush=True)
    from absl import logging as absl_logging

    absl_logging.set_verbosity(absl_logging.INFO)  # TFX's INFO lines: in the log file, or on the console with --verbose
    summaries = []
    with _maybe_quiet(args.verbose, log_file) as user_err:

        def run() -> int:
            summaries.append(
                local_runner.run_pipeline(
                    spec,
                    config,
                    layout.output_dir,
                    workers=args.workers,
                    enable_cache=not args.no_cache,
                    printer=lambda line: print(line, flush=True),
                    log_file=None if args.verbose else log_file,
                )
            )
            return 0

        code = _data_errors(spec, user_err, run)
    if code:
        return code
    summary = summaries[0]
    print(summary.to_json() if args.json else summary.describe())
    return int(summary.exit_code)


def _data_errors(spec: TaskSpec, err_stream: TextIO, work: Callable[[], int]) -> int:
    """``work()``, with the errors that stop a run before it starts (data missing, a run in progress) as exit 2."""
    from pipelines import local_layout
    from pipelines.metadata_store import MetadataConnectionError, MetadataLostError

    try:
        return work()
    except MetadataLostError as err:  # during the run: it failed (exit 1), in one line
        print(f"error: {err}", file=err_stream)
        return 1
    except (local_layout.RunInProgressError, MetadataConnectionError) as err:
        print(f"error: {err}", file=err_stream)
        return 2
    except Exception as err:  # noqa: BLE001 - a data source's argument error raised before the run
        from components.file_example_gen import FileExampleGenError, FileInputError
        from components.tfds_example_gen import DatasetDownloadError, DatasetNotPreparedError, TFDSExampleGenError

        if isinstance(err, (DatasetNotPreparedError, DatasetDownloadError)):
            print(f"error: {_dataset_fix(spec, err)}", file=err_stream)
            return 2
        from components.file_example_gen.spans import DataStoppedError

        if isinstance(err, DataStoppedError):  # an empty newest span, an unreadable file: the data was stopped
            print(f"error: {err}", file=err_stream)
            return 3
        if isinstance(err, (TFDSExampleGenError, FileInputError, FileExampleGenError)):
            print(f"error: {err}", file=err_stream)
            return 2
        raise


def _dry_run(spec: TaskSpec, config: object, layout: object, workers: int, as_json: bool = False) -> int:
    """Print what a run would do (as one JSON object with ``--json``), after the checks a run makes first."""
    import json

    from pipelines import local_runner

    pipeline = local_runner.local_pipeline(spec, config, layout, workers)  # type: ignore[arg-type]
    data = config.data  # type: ignore[attr-defined]
    source = getattr(data, "input_base", None) or getattr(data, "data_dir", None) or "its generator"
    if as_json:
        plan = {"task": spec.name, "dry_run": True, "data": source, "output_dir": layout.output_dir}  # type: ignore[attr-defined]
        print(json.dumps({**plan, "components": [c.id for c in pipeline.components]}))
        return 0
    print(f"[tfx-keras] dry run of the {spec.name} pipeline: nothing runs")
    print(f"  data:       {source}")
    print(f"  components: {' -> '.join(c.id for c in pipeline.components)}")
    print(f"  outputs:    {layout.output_dir}")  # type: ignore[attr-defined]
    return 0


class _NoRedirect:
    def __enter__(self) -> TextIO:
        return sys.stderr

    def __exit__(self, *exc: object) -> None:
        return None


def _maybe_quiet(verbose: bool, log_file: str):  # noqa: ANN202 - a context manager yielding the user's stderr
    from pipelines.cli.quiet import quiet_output

    return _NoRedirect() if verbose else quiet_output(log_file)
