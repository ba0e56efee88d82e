"""``tfx-keras serving rollback``: operate what is served, remembered in the pipeline's ML Metadata."""

from __future__ import annotations

import argparse
import os
import sys

from pipelines.cli.options import absolute


def add_parser(sub: argparse._SubParsersAction) -> None:
    """The ``serving`` command and its ``rollback``."""
    p = sub.add_parser("serving", help="operate the served models: label a version, roll back a pushed one")
    ops = p.add_subparsers(dest="serving_command", required=True, metavar="{label,rollback}")
    label = ops.add_parser(
        "label",
        help="point a version label (stable, canary) at a version in TF Serving's model config file",
        description="Set version_labels[LABEL] = VERSION for MODEL in the model config file that TF Serving and "
        "tfx-keras serve --model-config-file read (a running server re-reads it as it polls); the labelled "
        "versions and the newest are served. Each move is appended to <config>.labels.jsonl.",
    )
    label.add_argument("model")
    label.add_argument("label", help="e.g. stable or canary")
    label.add_argument("version", type=int)
    label.add_argument("--model-config-file", default="outputs/serving/models.config", help="(default: %(default)s)")
    label.add_argument("--serving-root", help="where the config's base paths are on this machine, if not there")
    back = ops.add_parser(
        "rollback",
        help="serve an earlier version again; the pipeline never takes the rolled-back one as its baseline again",
        description="Move every version of MODEL newer than --to (default: the previously pushed one) out of "
        "the serving folder into <serving root>/.rolled_back/MODEL/ (a server polling the folder, TF Serving "
        "or tfx-keras serve, serves --to again), and mark those versions' models in the pipeline's ML Metadata: "
        "the Evaluator never compares with them again and the Pusher never pushes them again.",
    )
    back.add_argument("model", help="the model's name (a task's models are named after it)")
    back.add_argument("--to", type=int, help="the version to serve (default: the one before the newest)")
    back.add_argument("--model-base-path", default=None, help="serving root (default: <output-dir>/serving)")
    back.add_argument("--output-dir", default="./outputs", help="the runs' --output-dir (default: ./outputs)")
    back.add_argument("--metadata", default="", metavar="URL", help="the runs' shared ML Metadata database")
    p.set_defaults(handler=cmd_serving)


def cmd_serving(args: argparse.Namespace) -> int:
    """Label a version, or roll back; say what changed and where it is recorded."""
    if args.serving_command == "label":
        from serving.tf_serving_config import set_label

        try:
            moved = set_label(absolute(args.model_config_file), args.model, args.label, args.version, args.serving_root)
        except (OSError, ValueError) as err:
            print(f"error: {err}", file=sys.stderr)
            return 2
        was = f" (was version {moved['from']})" if moved["from"] is not None else ""
        print(f"{args.model}: label {args.label} -> version {args.version}{was}, in {args.model_config_file}")
        print(f"  recorded in {args.model_config_file}.labels.jsonl; a running server takes it at its next poll")
        return 0
    from pipelines import metadata_store
    from pipelines.local_layout import LocalLayout
    from pipelines.rollback import rollback

    output_dir = absolute(args.output_dir)
    layout = LocalLayout(output_dir, args.model)
    serving_root = absolute(args.model_base_path) if args.model_base_path else layout.serving_root
    config = metadata_store.connection_config(args.metadata, layout.metadata_path)
    if not args.metadata and not os.path.isfile(layout.metadata_path):
        from pipelines.config import ConfigError

        raise ConfigError(
            f"no ML Metadata of {args.model} at {layout.metadata_path}: give the --output-dir (or --metadata) of "
            "the runs that pushed it, so that the rollback is remembered"
        )
    store = metadata_store.open_store(config)
    done = rollback(serving_root, args.model, args.to, store)
    print(f"rolled back {done.model}: version {done.serving} is served again")
    for version, where in done.moved.items():
        print(f"  version {version} moved out of serving, kept in {where}")
    print(
        f"  ML Metadata: model artifact(s) {', '.join(map(str, done.marked))} marked rolled back: never the "
        "Evaluator's baseline, never pushed again"
    )
    return 0
