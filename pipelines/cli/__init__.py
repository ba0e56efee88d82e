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
    tfx-keras ui --output-dir outputs
"""

from __future__ import annotations

import argparse
import os
import sys
import warnings
from collections.abc import Sequence

from pipelines.keras_config import configure_keras

configure_keras()  # before anything imports TensorFlow
# TensorFlow's C++ start-up chatter (CUDA plugin registration on machines without a GPU): nothing a
# user can act on. `--verbose` shows it; `run` writes all library output to its log file anyway.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2" if "--verbose" in sys.argv else "3")
warnings.filterwarnings("ignore", category=FutureWarning, module=r"google\..*")

from pipelines import tasks  # noqa: E402
from pipelines.cli import data, kubeflow, listing, replay, run, schema, serve, serving_ops, ui  # noqa: E402
from pipelines.config import ConfigError  # noqa: E402

USER_ERRORS = (ConfigError, tasks.UnknownTaskError)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``tfx-keras``: each sub-command's module adds its parser and handler."""
    parser = argparse.ArgumentParser(
        prog="tfx-keras", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    listing.add_parsers(sub)
    run.add_parser(sub)
    data.add_parser(sub)
    schema.add_parser(sub)
    ui.add_parser(sub)
    serving_ops.add_parser(sub)
    serve.add_parsers(sub)
    kubeflow.add_parsers(sub)
    replay.add_parser(sub)
    return parser


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
        return args.handler(args)
    except KeyboardInterrupt:  # Ctrl-C: one line; what the command was writing is removed or left whole
        print(f"interrupted: tfx-keras {args.command} stopped (Ctrl-C)", file=sys.stderr)
        return 130
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
