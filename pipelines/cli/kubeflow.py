"""``tfx-keras compile`` and ``submit``: the command line of pipelines/kubeflow.py (KFP v2 specs, Vertex AI)."""

from __future__ import annotations

import argparse
import os
from typing import Any

from pipelines import tasks
from pipelines.config import ConfigError
from pipelines.kubeflow import CLOUD_FLAGS, EPOCHS_PARAMETER, compile_pipeline, load_cloud_config, submit


def add_parsers(sub: Any) -> None:
    """Add ``compile`` and ``submit`` to the ``tfx-keras`` parser, each with its handler."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--cloud-config", help="JSON file with the cloud settings (flags below override it)")
    for flag in CLOUD_FLAGS:
        kind = int if flag == "dataflow_workers" else str
        common.add_argument(f"--{flag.replace('_', '-')}", dest=flag, type=kind, default=None)
    comp = sub.add_parser(
        "compile",
        parents=[common],
        help="compile task pipelines to Kubeflow Pipelines v2 / Vertex AI specs (KubeflowV2DagRunner)",
        description="Write <out>/<task>_pipeline.json for each task: the project's image, a gs:// pipeline root, "
        "Dataflow for Beam, and `epochs` as a runtime parameter. Nothing is contacted.",
    )
    comp.add_argument("tasks", nargs="*", help="tasks to compile (default: all)")
    comp.add_argument("--out", default="outputs/kubeflow", help="where to write the specs (default: outputs/kubeflow)")
    comp.add_argument("--set", dest="overrides", action="append", default=[], metavar="FIELD=VALUE")
    sub_ = sub.add_parser(
        "submit",
        parents=[common],
        help="start a compiled pipeline on Vertex AI Pipelines (google-cloud-aiplatform)",
        description="Submit a spec written by `compile` as a Vertex AI PipelineJob. Needs Google Cloud "
        "credentials (gcloud auth application-default login) and network access.",
    )
    sub_.add_argument("spec", help="a compiled <task>_pipeline.json")
    sub_.add_argument("--epochs", type=int, help="runtime parameter: training epochs for this run")
    sub_.add_argument("--no-cache", action="store_true", help="re-execute every component")
    sub_.add_argument("--wait", action="store_true", help="block until the run ends")
    for parser in (comp, sub_):
        parser.set_defaults(handler=run_command)


def run_command(args: Any) -> int:
    """Run ``compile`` or ``submit``."""
    import sys

    flags = {flag: getattr(args, flag) for flag in CLOUD_FLAGS}
    cloud = load_cloud_config(args.cloud_config, flags)
    if args.command == "compile":
        names = args.tasks or tasks.names()
        for name in names:  # every task is found before any is compiled
            tasks.get(name)
        for name in names:
            print(f"compiled {name}: {compile_pipeline(name, cloud, args.out, args.overrides)}")
        return 0
    if not os.path.isfile(args.spec):
        raise ConfigError(f"{args.spec} does not exist; write it with `tfx-keras compile`")
    parameters = {EPOCHS_PARAMETER: args.epochs} if args.epochs is not None else {}
    job = submit(args.spec, cloud, parameters, enable_caching=not args.no_cache, wait=args.wait)
    print(f"submitted {args.spec} to Vertex AI Pipelines in {cloud.project}/{cloud.region}: {job.resource_name}")
    sys.stdout.flush()
    return 0
