"""``tfx-keras data``: import upstream files into TFDS offline, write fixtures, generate a span of files."""

from __future__ import annotations

import argparse
import sys

from pipelines import tasks
from pipelines.cli.options import absolute, location, task_arg, task_config, writable
from pipelines.config import ConfigError, apply_overrides


def add_parser(sub: argparse._SubParsersAction) -> None:
    """The ``data`` sub-command and its ``import``, ``fixture`` and ``generate``."""
    p = sub.add_parser("data", help="import upstream raw files into a TFDS data_dir (offline), or make fixtures")
    data_sub = p.add_subparsers(dest="data_command", required=True, metavar="{import,fixture,generate}")
    imp = data_sub.add_parser(
        "import",
        help="import a task's upstream data files (no network needed)",
        description="Read the upstream raw files of a task's TFDS data set (e.g. IDX .gz files, binary image "
        "batches), check them, and prepare the data set in a TFDS data_dir under its public name, so "
        "tfds.load(...) and the pipeline load it unchanged.",
    )
    task_arg(imp)
    imp.add_argument("--source", required=True, help="folder (or archive) with the upstream files")
    imp.add_argument("--data-dir", default=None, help="TFDS data directory to write (default: TFDS's)")
    imp.add_argument("--overwrite", action="store_true", help="replace an existing import")
    fix = data_sub.add_parser("fixture", help="write a small synthetic data set in a task's upstream file format")
    task_arg(fix)
    fix.add_argument("--out", required=True, help="folder to write the upstream-format files into")
    fix.add_argument("--size", type=int, default=200, help="training examples (default: 200)")
    gen = data_sub.add_parser(
        "generate",
        help="write one span (day) of a generator task's data as files, e.g. for --input-base",
        description="Generate one span of the task's data with its config (--set data.num_examples=..., "
        "data.drift=...) and write it under OUT in the span's folder (data.pattern, by default span-<N>/), "
        "as a daily export would land. Then: tfx-keras run TASK --input-base OUT.",
    )
    task_arg(gen)
    gen.add_argument("--span", type=int, required=True, help="the span (day) number")
    gen.add_argument(
        "--format", choices=("csv", "tfrecord", "parquet"), default="csv", help="file format (default csv)"
    )
    gen.add_argument("--out", required=True, help="the input folder: the span's folder is made under it")
    gen.add_argument("--overwrite", action="store_true", help="replace a span that already has files")
    gen.add_argument("--set", dest="overrides", action="append", default=[], metavar="FIELD=VALUE")
    p.set_defaults(handler=cmd_data)


def cmd_generate(args: argparse.Namespace) -> int:
    """Write one span of a generator task's data as files."""
    from pipelines.datagen import write_span
    from pipelines.spec import GeneratorSource

    spec = tasks.get(args.task)
    if not isinstance(spec.source, GeneratorSource):
        generated = [name for name in tasks.names() if isinstance(tasks.get(name).source, GeneratorSource)]
        raise ConfigError(
            f"task {spec.name} has no data generator: `data generate` writes spans of {', '.join(generated)}. "
            f"Put {spec.name}'s own files in span folders and run it with --input-base (docs/your-data.md)"
        )
    if args.span < 0:
        raise ConfigError(f"--span {args.span} is invalid: must be >= 0")
    config = apply_overrides(task_config(spec, args), [f"data.span={args.span}", f"data.format={args.format}"])
    out = location(args.out)
    if "://" not in out:
        writable(out, "--out", folder=True)
    path = write_span(spec, config, out, args.format, overwrite=args.overwrite)
    print(f"wrote {config.data.num_examples} records of span {args.span}: {path}")
    fmt = "" if args.format == spec.default_config().data.format else f" --set data.format={args.format}"
    print(f"run on it: tfx-keras run {spec.name} --input-base {out}{fmt}")
    return 0


def cmd_data(args: argparse.Namespace) -> int:
    """Import, write a fixture, or generate a span."""
    from data_import import tfds_builder
    from data_import.common import ImportDataError

    if args.data_command == "generate":
        return cmd_generate(args)
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
            source.dataset,
            source.raw_format,
            writable(args.out, "--out", folder=True),
            size=args.size,
            class_names=source.label_names,
        )
        print(f"wrote {path}")
        print(f"import it with: tfx-keras data import {spec.name} --source {path} --data-dir DIR")
        return 0
    if args.data_dir:
        data_dir = absolute(args.data_dir)
    else:
        from tensorflow_datasets.core import constants

        data_dir = absolute(constants.DATA_DIR)
    try:
        report = tfds_builder.import_dataset(
            spec.source.dataset, spec.source.raw_format, args.source, data_dir, overwrite=args.overwrite
        )
    except ImportDataError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(report.describe())
    return 0
