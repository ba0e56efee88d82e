"""tfx-keras: run the project's TFX pipelines, import data offline, inspect configs, serve models.

Examples::

    tfx-keras list
    tfx-keras data import mnist --source ../shared/data/mnist
    tfx-keras run mnist --epochs 3
    tfx-keras run mnist --set training.batch_size=128 --set eval.min_accuracy=0.99
    tfx-keras config mnist
    tfx-keras serve
    tfx-keras predict mnist digit.png
    tfx-keras compile --cloud-config cloud.json
"""

from __future__ import annotations

import argparse
import datetime
import os
import sys
import warnings
from collections.abc import Sequence
from typing import TextIO

from pipelines.keras_config import configure_keras

configure_keras()  # before anything imports TensorFlow
# TensorFlow's C++ start-up chatter (CUDA plugin registration on machines without a GPU): nothing a
# user can act on. `--verbose` shows it; `run` writes all library output to its log file anyway.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2" if "--verbose" in sys.argv else "3")
warnings.filterwarnings("ignore", category=FutureWarning, module=r"google\..*")

from pipelines import tasks  # noqa: E402
from pipelines.config import ConfigError, apply_overrides, describe  # noqa: E402
from pipelines.spec import FileSource, TaskSpec  # noqa: E402

USER_ERRORS = (ConfigError, tasks.UnknownTaskError)


def _task_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("task", choices=tasks.names(), help="which task")


def _input_base_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--input-base",
        default=None,
        metavar="DIR",
        help="folder of the task's data files, local or gs:// (the same as --set data.input_base=DIR); "
        "each span's files in data.pattern, by default span-<N>/",
    )


def _add_run(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "run",
        help="run a task pipeline locally (LocalDagRunner, SQLite metadata, Beam)",
        description="Run a task pipeline on this machine: Beam DirectRunner, ML Metadata in "
        "SQLite under --output-dir, blessed models pushed to <output-dir>/serving/<task>/<version>/. "
        "Prints one line per component and a summary; library output goes to a log file under "
        "<output-dir>/logs/ (shown with --verbose). Exit codes: 0 pushed, or nothing to do; 1 a component "
        "failed; 2 usage error; 3 the data was stopped (unreadable files, anomalies, drift); 4 the model "
        "was not pushed (not blessed, or it cannot serve).",
    )
    _task_arg(p)
    p.add_argument(
        "--output-dir",
        default="outputs",
        help="root of pipeline outputs, metadata and serving models (default: ./outputs)",
    )
    p.add_argument("--data-dir", default=None, help="TFDS data directory (default: TFDS's, ~/tensorflow_datasets)")
    _input_base_arg(p)
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
    p.add_argument("--verbose", action="store_true", help="show library logs on the console instead of the log file")


def _add_data(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("data", help="import upstream raw files into a TFDS data_dir (offline), or make fixtures")
    data_sub = p.add_subparsers(dest="data_command", required=True, metavar="{import,fixture,generate}")
    imp = data_sub.add_parser(
        "import",
        help="import a task's upstream data files (no network needed)",
        description="Read the upstream raw files of a task's TFDS data set (e.g. IDX .gz files, binary image "
        "batches), check them, and prepare the data set in a TFDS data_dir under its public name, so "
        "tfds.load(...) and the pipeline load it unchanged.",
    )
    _task_arg(imp)
    imp.add_argument("--source", required=True, help="folder (or archive) with the upstream files")
    imp.add_argument("--data-dir", default=None, help="TFDS data directory to write (default: TFDS's)")
    imp.add_argument("--overwrite", action="store_true", help="replace an existing import")
    fix = data_sub.add_parser("fixture", help="write a small synthetic data set in a task's upstream file format")
    _task_arg(fix)
    fix.add_argument("--out", required=True, help="folder to write the upstream-format files into")
    fix.add_argument("--size", type=int, default=200, help="training examples (default: 200)")
    gen = data_sub.add_parser(
        "generate",
        help="write one span (day) of a generator task's data as files, e.g. for --input-base",
        description="Generate one span of the task's data with its config (--set data.num_examples=..., "
        "data.drift=...) and write it under OUT in the span's folder (data.pattern, by default span-<N>/), "
        "as a daily export would land. Then: tfx-keras run TASK --input-base OUT.",
    )
    _task_arg(gen)
    gen.add_argument("--span", type=int, required=True, help="the span (day) number")
    gen.add_argument(
        "--format", choices=("csv", "tfrecord", "parquet"), default="csv", help="file format (default csv)"
    )
    gen.add_argument("--out", required=True, help="the input folder: the span's folder is made under it")
    gen.add_argument("--overwrite", action="store_true", help="replace a span that already has files")
    gen.add_argument("--set", dest="overrides", action="append", default=[], metavar="FIELD=VALUE")


def _add_schema(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("schema", help="infer a task's schema from its data (the start of a curated one)")
    schema_sub = p.add_subparsers(dest="schema_command", required=True, metavar="{infer}")
    infer = schema_sub.add_parser(
        "infer",
        help="infer the schema of the task's data into a file, to compare with the curated one",
        description="Run the task's ExampleGen, StatisticsGen and SchemaGen on its configured data and write "
        "the inferred schema. The pipelines never use it: compare it with pipelines/<task>/schema.pbtxt "
        "(the curated schema they load) and carry over what legitimately changed.",
    )
    _task_arg(infer)
    infer.add_argument("--out", default=None, help="where to write (default: ./<task>.schema.inferred.pbtxt)")
    infer.add_argument("--data-dir", default=None, help="TFDS data directory (default: TFDS's)")
    _input_base_arg(infer)
    infer.add_argument("--set", dest="overrides", action="append", default=[], metavar="FIELD=VALUE")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``tfx-keras``."""
    parser = argparse.ArgumentParser(
        prog="tfx-keras", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    listing = sub.add_parser("list", help="list the tasks and whether their data is ready")
    listing.add_argument("--data-dir", default=None, help="TFDS data directory to check (default: TFDS's)")
    cfg = sub.add_parser("config", help="print a task's configuration (every field --set can change)")
    _task_arg(cfg)
    cfg.add_argument("--set", dest="overrides", action="append", default=[], metavar="FIELD=VALUE")
    sub.add_parser("info", help="print versions: Python, TensorFlow, Keras (must be 2), TFX, Beam")
    _add_run(sub)
    _add_data(sub)
    _add_schema(sub)
    from serving import commands as serving_commands

    serving_commands.add_parsers(sub)
    from pipelines import kubeflow

    kubeflow.add_parsers(sub)
    return parser


def task_config(spec: TaskSpec, args: argparse.Namespace) -> object:
    """The task's config with the command line's overrides applied and validated."""
    config = spec.default_config()
    overrides = list(getattr(args, "overrides", []) or [])
    if getattr(args, "epochs", None) is not None:
        overrides.append(f"training.epochs={args.epochs}")
    for flag in ("data_dir", "download"):
        if getattr(args, flag, None) and not spec.reads_tfds:
            raise ConfigError(
                f"--{flag.replace('_', '-')} does not apply to {spec.name}: its data is not a TFDS data set"
            )
    if getattr(args, "input_base", None):
        if "input_base" not in type(config.data).model_fields:
            raise ConfigError(f"--input-base does not apply to {spec.name}: its data comes from TFDS (see --data-dir)")
        overrides.append(f"data.input_base={_location(args.input_base)}")
    if getattr(args, "data_dir", None):
        overrides.append(f"data.data_dir={_absolute(args.data_dir)}")
    if getattr(args, "download", False):
        overrides.append("data.download=true")
    return apply_overrides(config, overrides)


def _absolute(path: str) -> str:
    return os.path.abspath(os.path.expanduser(path))


def _location(path: str) -> str:
    """A local path made absolute; a URL (gs://...) as given."""
    return path if "://" in path else _absolute(path)


def data_status(spec: TaskSpec, data_dir: str | None = None) -> str:
    """Whether the task's data is ready here, and if not, the command that makes it ready."""
    data = spec.default_config().data
    if getattr(data, "input_base", None) or isinstance(spec.source, FileSource):
        return files_status(data)
    if not spec.reads_tfds:
        return "ready (generated by the pipeline; or files with --input-base DIR)"
    import tensorflow_datasets as tfds
    from tensorflow_datasets.core import constants

    where = _absolute(data_dir or constants.DATA_DIR)
    if tfds.builder(spec.source.dataset, data_dir=where).is_prepared():
        return f"ready in {where}"
    fix = f"tfx-keras data import {spec.name} --source DIR --data-dir {where}" if spec.source.raw_format else ""
    return f"not prepared in {where}: " + (f"`{fix}`, or run with --download" if fix else "run with --download")


def files_status(data: object) -> str:
    """Whether the input folder exists and which spans it holds (for ``list``)."""
    from components.file_example_gen import FileInputError, check_input

    try:
        spans = check_input(data.input_base, data.split_patterns)
    except FileInputError as err:
        return f"not ready: {err}"
    numbers = sorted(spans)
    files = sum(len(found) for found in spans.values())
    shown = ", ".join(map(str, numbers[-8:])) + (f" (and {len(numbers) - 8} earlier)" if len(numbers) > 8 else "")
    return (
        f"{data.format} files in {data.input_base}: {'span' if len(numbers) == 1 else 'spans'} {shown}, "
        f"{files} file(s); a run reads span {data.span if data.span is not None else numbers[-1]}"
    )


def _cmd_list(args: argparse.Namespace, out: TextIO) -> int:
    for name in tasks.names():
        spec = tasks.get(name)
        print(f"{name:14s} {spec.description}", file=out)
        print(f"{'':14s} data: {data_status(spec, args.data_dir)}", file=out)
    return 0


def _cmd_info() -> int:
    import apache_beam
    import tensorflow as tf
    import tfx

    from pipelines.keras_config import keras_version

    print(f"python      {sys.version.split()[0]}")
    print(f"tensorflow  {tf.__version__}")
    print(f"tf.keras    {keras_version()}  (TF_USE_LEGACY_KERAS={os.environ.get('TF_USE_LEGACY_KERAS')})")
    print(f"tfx         {tfx.__version__}")
    print(f"apache-beam {apache_beam.__version__}")
    return 0


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


def _cmd_run(args: argparse.Namespace, err_stream: TextIO) -> int:
    from pipelines import local_runner

    spec = tasks.get(args.task)
    config = task_config(spec, args)
    if args.workers < 1:
        raise ConfigError(f"--workers {args.workers} is invalid: must be an integer >= 1")
    layout = local_runner.LocalLayout(_absolute(args.output_dir), spec.name)
    try:
        local_runner.prepare_output_dir(layout)
    except local_runner.OutputDirError as err:
        print(f"error: {err}", file=err_stream)
        return 2
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    log_file = os.path.join(layout.log_dir, f"{spec.name}-{stamp}.log")
    print(f"[tfx-keras] running the {spec.name} pipeline; outputs under {layout.output_dir}", flush=True)
    if not args.verbose:
        print(f"[tfx-keras] library logs: {log_file}", flush=True)
    from absl import logging as absl_logging

    absl_logging.set_verbosity(absl_logging.INFO)  # TFX's INFO lines: in the log file, or on the console with --verbose
    with _maybe_quiet(args.verbose, log_file) as user_err:
        try:
            summary = local_runner.run_pipeline(
                spec,
                config,
                layout.output_dir,
                workers=args.workers,
                enable_cache=not args.no_cache,
                printer=lambda line: print(line, flush=True),
                log_file=None if args.verbose else log_file,
            )
        except local_runner.RunInProgressError as err:
            print(f"error: {err}", file=user_err)
            return 2
        except Exception as err:  # noqa: BLE001 - a data source's argument error raised before the run
            from components.file_example_gen import FileExampleGenError, FileInputError
            from components.tfds_example_gen import DatasetDownloadError, DatasetNotPreparedError, TFDSExampleGenError

            if isinstance(err, (DatasetNotPreparedError, DatasetDownloadError)):
                print(f"error: {_dataset_fix(spec, err)}", file=user_err)
                return 2
            if isinstance(err, (TFDSExampleGenError, FileInputError, FileExampleGenError)):
                print(f"error: {err}", file=user_err)
                return 2
            raise
    print(summary.to_json() if args.json else summary.describe())
    return int(summary.exit_code)


class _NoRedirect:
    def __enter__(self) -> TextIO:
        return sys.stderr

    def __exit__(self, *exc: object) -> None:
        return None


def _maybe_quiet(verbose: bool, log_file: str):  # noqa: ANN202 - a context manager yielding the user's stderr
    from pipelines.local_runner import quiet_output

    return _NoRedirect() if verbose else quiet_output(log_file)


def _cmd_generate(args: argparse.Namespace) -> int:
    from pipelines.datagen import write_span

    spec = tasks.get(args.task)
    if args.span < 0:
        raise ConfigError(f"--span {args.span} is invalid: must be >= 0")
    config = apply_overrides(task_config(spec, args), [f"data.span={args.span}", f"data.format={args.format}"])
    out = _location(args.out)
    path = write_span(spec, config, out, args.format, overwrite=args.overwrite)
    print(f"wrote {config.data.num_examples} records of span {args.span}: {path}")
    fmt = "" if args.format == spec.default_config().data.format else f" --set data.format={args.format}"
    print(f"run on it: tfx-keras run {spec.name} --input-base {out}{fmt}")
    return 0


def _cmd_data(args: argparse.Namespace) -> int:
    from data_import import tfds_builder
    from data_import.common import ImportDataError

    if args.data_command == "generate":
        return _cmd_generate(args)
    spec = tasks.get(args.task)
    if not spec.reads_tfds or not spec.source.raw_format:
        raise ConfigError(
            f"task {spec.name} has no upstream data set to import: its data is generated or read from files "
            "(--input-base)"
        )
    if args.data_command == "fixture":
        if args.size < 1:
            raise ConfigError(f"--size {args.size} is invalid: must be >= 1")
        source = spec.source
        path = tfds_builder.make_fixture(
            source.dataset, source.raw_format, args.out, size=args.size, class_names=source.label_names
        )
        print(f"wrote {path}")
        print(f"import it with: tfx-keras data import {spec.name} --source {path} --data-dir DIR")
        return 0
    if args.data_dir:
        data_dir = _absolute(args.data_dir)
    else:
        from tensorflow_datasets.core import constants

        data_dir = _absolute(constants.DATA_DIR)
    try:
        report = tfds_builder.import_dataset(
            spec.source.dataset, spec.source.raw_format, args.source, data_dir, overwrite=args.overwrite
        )
    except ImportDataError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(report.describe())
    return 0


def _cmd_schema(args: argparse.Namespace) -> int:
    from pipelines.schema_inference import infer_schema

    spec = tasks.get(args.task)
    config = task_config(spec, args)
    out = infer_schema(spec, config, args.out or f"{spec.name}.schema.inferred.pbtxt")
    print(f"wrote {out}")
    print(f"compare it with the curated schema: diff {spec.schema_file} {out}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``tfx-keras`` console command."""
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra and args.command == "predict" and not any(e.startswith("-") for e in extra):
        # `predict MODEL --server X a=1 b=2`: argparse ends a `*` positional at the first option.
        args.inputs = [*args.inputs, *extra]
    elif extra:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    try:
        if args.command == "list":
            return _cmd_list(args, sys.stdout)
        if args.command == "info":
            return _cmd_info()
        if args.command == "config":
            print("\n".join(describe(task_config(tasks.get(args.task), args))))
            return 0
        if args.command == "run":
            return _cmd_run(args, sys.stderr)
        if args.command == "data":
            return _cmd_data(args)
        if args.command == "schema":
            return _cmd_schema(args)
        if args.command in ("compile", "submit"):
            from pipelines import kubeflow

            return kubeflow.run_command(args)
        if args.command in ("serve", "predict", "serving-config"):
            from serving import commands as serving_commands

            return serving_commands.run(args)
    except USER_ERRORS as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except Exception as err:  # noqa: BLE001 - the data sources' own user errors (their modules load TFX)
        from components.file_example_gen import FileExampleGenError, FileInputError
        from pipelines.schema_inference import SchemaInferenceError

        if isinstance(err, (FileInputError, FileExampleGenError)):
            print(f"error: {err}", file=sys.stderr)
            return 2
        if isinstance(err, SchemaInferenceError):
            print(f"error: {err}", file=sys.stderr)
            return 1
        raise
    raise AssertionError(f"unhandled command {args.command}")


if __name__ == "__main__":
    sys.exit(main())
