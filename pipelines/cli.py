"""tfx-keras: run the project's TFX pipelines, import data offline, inspect configs.

Examples::

    tfx-keras list
    tfx-keras data import mnist --source ../shared/data/mnist
    tfx-keras run mnist --epochs 3
    tfx-keras run mnist --set training.batch_size=128 --set eval.min_accuracy=0.99
    tfx-keras config mnist
    tfx-keras serve --model-base-path outputs/serving
    tfx-keras predict mnist digit.png
    tfx-keras compile --cloud-config cloud.json
"""

from __future__ import annotations

import argparse
import os
import sys
import warnings
from collections.abc import Sequence

from pipelines.keras_config import configure_keras

configure_keras()  # before anything imports TensorFlow
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TF's C++ start-up chatter (CUDA, oneDNN)
warnings.filterwarnings("ignore", category=FutureWarning, module=r"google\..*")

from pipelines import tasks  # noqa: E402
from pipelines.config import ConfigError, apply_overrides, describe  # noqa: E402


def _add_run(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "run",
        help="run a task pipeline locally (LocalDagRunner, SQLite metadata, Beam)",
        description="Run a task pipeline on this machine: Beam DirectRunner, ML Metadata in "
        "SQLite under --output-dir, blessed models pushed to <output-dir>/serving/<task>/<version>/.",
    )
    p.add_argument("task", choices=sorted(tasks.TASKS), help="which pipeline")
    p.add_argument(
        "--output-dir",
        default="outputs",
        help="root of pipeline outputs, metadata and serving models (default: ./outputs)",
    )
    p.add_argument("--data-dir", default=None, help="TFDS data directory (default: TFDS's, ~/tensorflow_datasets)")
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
    p.add_argument("--verbose", action="store_true", help="show TFX's INFO logs")


def _add_data(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("data", help="import upstream raw files into a TFDS data_dir (offline), or make fixtures")
    data_sub = p.add_subparsers(dest="data_command", required=True, metavar="{import,fixture}")
    imp = data_sub.add_parser(
        "import",
        help="import upstream files of a data set (no network needed)",
        description="Read the upstream raw files (MNIST IDX .gz, CIFAR-10 binary batches), "
        "check them, and prepare the data set in a TFDS data_dir under its public name, so "
        "tfds.load('mnist') and the pipelines load it unchanged.",
    )
    from components.tfds_import import IMPORTERS

    imp.add_argument("dataset", choices=sorted(IMPORTERS))
    imp.add_argument("--source", required=True, help="folder (or archive) with the upstream files")
    imp.add_argument("--data-dir", default=None, help="TFDS data directory to write (default: TFDS's)")
    imp.add_argument("--overwrite", action="store_true", help="replace an existing import")
    fix = data_sub.add_parser("fixture", help="write a small synthetic data set in the upstream file format")
    fix.add_argument("dataset", choices=["mnist", "cifar10"])
    fix.add_argument("--out", required=True, help="folder to write the upstream-format files into")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``tfx-keras``."""
    parser = argparse.ArgumentParser(
        prog="tfx-keras", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    sub.add_parser("list", help="list the task pipelines and whether their data is ready")
    cfg = sub.add_parser("config", help="print a task's configuration (every field --set can change)")
    cfg.add_argument("task", choices=sorted(tasks.TASKS))
    sub.add_parser("info", help="print versions: Python, TensorFlow, Keras (must be 2), TFX, Beam")
    _add_run(sub)
    _add_data(sub)
    from serving import commands as serving_commands

    serving_commands.add_parsers(sub)
    from pipelines import kubeflow

    kubeflow.add_parsers(sub)
    return parser


def _task_config(task: str, args: argparse.Namespace) -> object:
    config = tasks.TASKS[task].default_config()
    overrides = list(getattr(args, "overrides", []) or [])
    if getattr(args, "epochs", None) is not None:
        overrides.append(f"training.epochs={args.epochs}")
    reads_tfds = hasattr(config.data, "data_dir")
    if getattr(args, "data_dir", None):
        if not reads_tfds:
            raise ConfigError(f"--data-dir does not apply to {task}: its ExampleGen generates the data")
        overrides.append(f"data.data_dir={os.path.abspath(os.path.expanduser(args.data_dir))}")
    if getattr(args, "download", False):
        if not reads_tfds:
            raise ConfigError(f"--download does not apply to {task}: its ExampleGen generates the data")
        overrides.append("data.download=true")
    return apply_overrides(config, overrides)


def _cmd_list() -> int:
    for name, task in sorted(tasks.TASKS.items()):
        print(f"{name:10s} {task.description}")
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


def _cmd_run(args: argparse.Namespace) -> int:
    from components.tfds_example_gen import TFDSExampleGenError
    from pipelines.local_runner import run_pipeline

    config = _task_config(args.task, args)
    task = tasks.TASKS[args.task]
    print(f"[tfx-keras] running the {args.task} pipeline; outputs under {os.path.abspath(args.output_dir)}")
    try:
        summary = run_pipeline(
            args.task,
            task.create_pipeline,
            config,
            args.output_dir,
            workers=args.workers,
            enable_cache=not args.no_cache,
            verbose=args.verbose,
        )
    except TFDSExampleGenError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(summary.to_json() if args.json else summary.describe())
    return 0 if all(s in ("COMPLETE", "CACHED") for s in summary.components.values()) else 1


def _cmd_data(args: argparse.Namespace) -> int:
    from components import tfds_import

    if args.data_command == "fixture":
        maker = {"mnist": tfds_import.make_mnist_fixture, "cifar10": tfds_import.make_cifar10_fixture}[args.dataset]
        print(f"wrote {maker(args.out)}")
        return 0
    data_dir = os.path.abspath(os.path.expanduser(args.data_dir)) if args.data_dir else None
    if data_dir is None:
        from tensorflow_datasets.core import constants

        data_dir = os.path.expanduser(constants.DATA_DIR)
    try:
        report = tfds_import.IMPORTERS[args.dataset](args.source, data_dir, overwrite=args.overwrite)
    except tfds_import.ImportDataError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(report.describe())
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``tfx-keras`` console command."""
    args = build_parser().parse_args(argv)
    try:
        if args.command == "list":
            return _cmd_list()
        if args.command == "info":
            return _cmd_info()
        if args.command == "config":
            print("\n".join(describe(_task_config(args.task, args))))
            return 0
        if args.command == "run":
            return _cmd_run(args)
        if args.command == "data":
            return _cmd_data(args)
        if args.command in ("compile", "submit"):
            from pipelines import kubeflow

            return kubeflow.run_command(args)
        if args.command in ("serve", "predict", "serving-config"):
            from serving import commands as serving_commands

            return serving_commands.run(args)
    except ConfigError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    raise AssertionError(f"unhandled command {args.command}")


if __name__ == "__main__":
    sys.exit(main())
