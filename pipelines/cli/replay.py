"""``tfx-keras replay SPEC``: run a compiled Kubeflow/Vertex spec here, task by task (pipelines/replay.py)."""

from __future__ import annotations

import argparse
import json
import os

from pipelines.cli.options import absolute
from pipelines.config import ConfigError


def add_parser(sub: argparse._SubParsersAction) -> None:
    """The ``replay`` command."""
    p = sub.add_parser(
        "replay",
        help="replay a compiled KFP v2 spec locally, each task with its own command (TFX's KFP v2 entry point)",
        description="Run the tasks of a spec written by `tfx-keras compile` in dependency order, each as the "
        "subprocess the spec tells a Vertex worker to start, with an ExecutorInput built here; the Dataflow "
        "runner becomes the DirectRunner and the spec's gs:// folders local ones (printed). Resolvers are "
        "answered from what earlier replays into the same --pipeline-root recorded.",
    )
    p.add_argument("spec", help="a compiled <task>_pipeline.json")
    p.add_argument("--pipeline-root", required=True, help="a local folder in place of the spec's bucket")
    p.add_argument("--input-base", help="the local folder of the task's span-<N>/ files (file-reading tasks)")
    p.add_argument("--tfds-data-dir", help="the local TFDS data_dir (TFDS tasks)")
    p.add_argument(
        "--dataflow-jobs",
        action="store_true",
        help="also build each Beam task's Dataflow job offline (the DataflowRunner's dry run, the spec's own "
        "arguments, no credentials) into <pipeline-root>/dataflow/<task>.json, and check it",
    )
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="PARAMETER=VALUE",
                   help="a runtime parameter, e.g. epochs=3")  # fmt: skip
    p.set_defaults(handler=cmd_replay)


def cmd_replay(args: argparse.Namespace) -> int:
    """Replay; one line per task; where the pushed model went."""
    import pipelines
    from pipelines.kubeflow import CloudConfig
    from pipelines.replay import ReplayError, replay

    spec = absolute(args.spec)
    try:
        with open(spec, encoding="utf-8") as f:
            job = json.load(f)
        output = job["runtimeConfig"]["gcsOutputDirectory"]
        task = job["pipelineSpec"]["pipelineInfo"]["name"]
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise ConfigError(
            f"{spec} is not a spec written by `tfx-keras compile` ({type(err).__name__}: {err})"
        ) from None
    bucket = output.split("/pipelines/")[0]
    root = absolute(args.pipeline_root)
    mapping = {}
    if args.input_base:
        mapping[f"{bucket}/data/{task}"] = absolute(args.input_base)
    if args.tfds_data_dir:
        mapping[f"{bucket}/tensorflow_datasets"] = absolute(args.tfds_data_dir)
    mapping[bucket] = root
    mapping[CloudConfig.model_fields["image_project_root"].default] = os.path.dirname(
        os.path.dirname(os.path.abspath(pipelines.__file__))
    )
    runtime = {}
    for item in args.overrides:
        key, sep, value = item.partition("=")
        if not sep:
            raise ConfigError(f"--set {item!r}: give PARAMETER=VALUE, e.g. --set epochs=3")
        runtime[key] = int(value) if value.lstrip("-").isdigit() else value
    for old, new in mapping.items():
        print(f"[replay] {old} -> {new}")
    print("[replay] --runner=DataflowRunner -> DirectRunner (the Dataflow-only flags dropped)")
    try:
        outputs = replay(spec, root, runtime, mapping, dataflow_jobs=args.dataflow_jobs)
    except ReplayError as err:
        raise ConfigError(str(err)) from None
    pushed = [a for a in outputs.get("AtomicPusher", {}).get("pushed_model", []) if a["metadata"].get("pushed")]
    where = pushed[0]["metadata"].get("pushed_destination") if pushed else None
    print(f"[replay] {task}: {'pushed to ' + where if where else 'nothing pushed'}")
    return 0
