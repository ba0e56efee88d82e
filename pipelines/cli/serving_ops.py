"""``tfx-keras serving label|rollback`` and ``tfx-keras monitor``: operate what is served, watch what it is asked."""

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
    watch = sub.add_parser(
        "monitor",
        help="compare the requests a served model was asked (its request log) with the data it was trained on",
        description="Read the PredictionLog files `tfx-keras serve --request-log DIR` (or a model's logging_config) "
        "wrote, turn the logged requests into examples, and compare them, per version that answered, with the "
        "validated statistics of the data that version was trained on: TFDV's skew comparators (the curated "
        "schema's skew_comparator, else its drift_comparator), the schema's SERVING environment, and the content "
        "checks of images and texts. Writes a data report; exits 3 on skew.",
    )
    watch.add_argument("task", help="the task whose served model is watched (a name, or a module path)")
    watch.add_argument("--requests", required=True, metavar="DIR", help="the request log folder (serve --request-log)")
    watch.add_argument("--output-dir", default="./outputs", help="the runs' --output-dir (default: ./outputs)")
    watch.add_argument("--metadata", default="", metavar="URL", help="the runs' shared ML Metadata database")
    watch.add_argument("--model-base-path", default=None, help="serving root (default: <output-dir>/serving)")
    watch.add_argument(
        "--agreement",
        metavar="VERSION|DIR",
        help="also run the logged requests through this model (a version, e.g. a canary, or a SavedModel folder) "
        "and say how often it answers as the served version did (no labels needed)",
    )
    watch.add_argument(
        "--min-agreement",
        type=float,
        default=0.95,
        help="with --agreement: the least share of equal class ids, else exit 3 (default: 0.95)",
    )
    watch.set_defaults(handler=cmd_monitor)


def _store(args: argparse.Namespace, pipeline: str, why: str) -> tuple[object, str]:
    """(the pipeline's ML Metadata store, the serving root) of ``--output-dir`` / ``--metadata``."""
    from pipelines import metadata_store
    from pipelines.config import ConfigError
    from pipelines.local_layout import LocalLayout

    layout = LocalLayout(absolute(args.output_dir), pipeline)
    serving_root = absolute(args.model_base_path) if args.model_base_path else layout.serving_root
    if not args.metadata and not os.path.isfile(layout.metadata_path):
        raise ConfigError(
            f"no ML Metadata of {pipeline} at {layout.metadata_path}: give the --output-dir (or --metadata) of "
            f"the runs that pushed it, {why}"
        )
    return metadata_store.open_store(
        metadata_store.connection_config(args.metadata, layout.metadata_path)
    ), serving_root


def cmd_monitor(args: argparse.Namespace) -> int:
    """Skew of the logged requests per version: one line each, the report, exit 3 when something was found."""
    from pipelines import tasks
    from pipelines.config import ConfigError
    from pipelines.monitor import monitor

    spec = tasks.get(args.task)
    requests = absolute(args.requests)
    if not os.path.isdir(requests):
        raise ConfigError(f"{requests} does not exist: give the folder of `tfx-keras serve --request-log DIR`")
    from serving.request_log import log_files

    if not log_files(requests):
        raise ConfigError(
            f"no request log files (*.tfrecord) in {requests}: serve with `tfx-keras serve --request-log {requests}` "
            "(a file is closed every --request-log-rotate-seconds, and when the server stops)"
        )
    store, serving_root = _store(args, spec.name, "so that each version's training data can be found")
    if not 0.0 <= args.min_agreement <= 1.0:
        raise ConfigError(f"--min-agreement must be between 0 and 1, got {args.min_agreement}")
    compare_with = args.agreement if args.agreement is None or args.agreement.isdigit() else absolute(args.agreement)
    results = monitor(spec.name, spec.schema_file, requests, serving_root, store, absolute(args.output_dir),
                      compare_with, args.min_agreement)  # fmt: skip
    for result in results:
        verdict = "skew" if result.found else "no skew"
        print(f"{result.model} version {result.version}: {result.requests} requests ({result.examples} examples), "
              f"{verdict} vs {result.baseline}")  # fmt: skip
        for drift in result.skewed:
            print(f"  feature {drift.feature}: {drift.measure} {drift.value:.3f} > {drift.threshold} (skew)")
        for anomaly in result.anomalies:
            print(f"  {anomaly}")
        if result.agreement is not None:
            agreed = result.agreement
            shown = ", ".join(
                f"{name} {value:.1%} equal" if name.endswith("class_ids") else f"{name} mean |difference| {value:.4g}"
                for name, value in agreed.per_output.items()
            )
            verdict = "agrees" if agreed.agrees else f"DISAGREES (below --min-agreement {agreed.min_agreement:.0%})"
            print(f"  {agreed.candidate} vs version {result.version} on {agreed.examples} logged examples: {shown}: "
                  f"{verdict}")  # fmt: skip
        if not (result.skewed or result.anomalies) and result.measured:
            top = max(result.measured, key=lambda m: m.value / m.threshold if m.threshold else 0.0)
            print(f"  largest: feature {top.feature}: {top.measure} {top.value:.3f} <= {top.threshold}")
        print(f"  report: {result.report}")
    return 3 if any(r.found for r in results) else 0


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
    from pipelines.rollback import rollback

    store, serving_root = _store(args, args.model, "so that the rollback is remembered")
    done = rollback(serving_root, args.model, args.to, store)
    print(f"rolled back {done.model}: version {done.serving} is served again")
    for version, where in done.moved.items():
        print(f"  version {version} moved out of serving, kept in {where}")
    print(
        f"  ML Metadata: model artifact(s) {', '.join(map(str, done.marked))} marked rolled back: never the "
        "Evaluator's baseline, never pushed again"
    )
    return 0
