"""Replay a compiled KFP v2 spec locally, task by task, with TFX's own KFP v2 entry point (``tfx-keras replay``).

Each container task runs its own ``command`` and ``args`` as a subprocess, ``{{$}}`` replaced by an
``ExecutorInput`` JSON built here (parameters, input artifacts from the producers' outputs, output
URIs under the local pipeline root); the Dataflow runner becomes the DirectRunner; ``gs://`` paths of
the spec become local folders (``mapping``); resolver tasks are answered from the artifacts this
replay (and earlier ones, in ``replay_artifacts.json``) recorded.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from typing import Any

DATAFLOW_ONLY = re.compile(
    r"--(project|region|temp_location|num_workers|max_num_workers|machine_type|sdk_container_image|experiments|"
    r"service_account_email)="
)
RECORD_FILE = "replay_artifacts.json"


class ReplayError(RuntimeError):
    """A task of the replay failed, or the spec cannot be replayed: the message names it."""


def order_tasks(tasks: dict[str, Any]) -> list[str]:
    """The spec's task names in an order where each comes after the tasks it depends on.

    Raises:
        ReplayError: the dependencies form a cycle.
    """
    done: list[str] = []
    pending = dict(tasks)
    while pending:
        ready = sorted(n for n, t in pending.items() if all(d in done for d in t.get("dependentTasks", [])))
        if not ready:
            raise ReplayError(f"the spec's DAG has a cycle among {sorted(pending)}")
        for name in ready:
            done.append(name)
            del pending[name]
    return done


def _map(text: str, mapping: dict[str, str]) -> str:
    for old, new in mapping.items():
        text = text.replace(old, new)
    return text


def _value(spec: dict[str, Any], runtime: dict[str, Any], mapping: dict[str, str]) -> dict[str, Any]:
    if "runtimeValue" in spec:
        constant = spec["runtimeValue"]["constantValue"]
        if "stringValue" in constant:
            return {"stringValue": _map(constant["stringValue"], mapping)}
        return constant
    if "componentInputParameter" in spec:
        value = runtime[spec["componentInputParameter"]]
        return {"intValue": str(value)} if isinstance(value, int) else {"stringValue": str(value)}
    raise ReplayError(f"parameter {spec} is neither a constant nor a runtime parameter")


PLACEHOLDER = re.compile(r"\{\{\$\.inputs\.artifacts\['(\w+)'\]\.metadata\['(\w+)'\]\}\}")


def matches(artifact: dict[str, Any], query: str) -> bool:
    """Whether a recorded artifact answers a resolver's filter (schema_title, metadata numbers, name)."""
    title = re.search(r'schema_title="([^"]+)"', query)
    if title and artifact["type"] != title.group(1):
        return False
    for key, value in re.findall(r"metadata\.(\w+)\.number_value=(\S+)", query):
        if float(artifact.get("metadata", {}).get(key, -1)) != float(value):
            return False
    name = re.search(r'(?<![\w.])name="([^"]*)"', query)
    return not name or artifact["name"] == name.group(1)


def fill_filter(query: str, inputs: dict[str, list[dict[str, Any]]]) -> str | None:
    """The filter with its input placeholders filled (None: an input it names resolved to nothing)."""
    missing = False

    def fill(match: re.Match[str]) -> str:
        nonlocal missing
        given = inputs.get(match.group(1)) or []
        if not given:
            missing = True
            return ""
        return str(given[0].get("metadata", {}).get(match.group(2), ""))

    filled = PLACEHOLDER.sub(fill, query)
    return None if missing else filled


def _beam_executor(args: list[str]) -> bool:
    """Whether the task's executor runs Beam pipelines (a ``BaseBeamExecutor``, by its class path)."""
    from tfx.dsl.components.base import base_beam_executor
    from tfx.utils import import_utils

    if "--executor_class_path" not in args:
        return False
    path = args[args.index("--executor_class_path") + 1]
    return issubclass(import_utils.import_class_by_path(path), base_beam_executor.BaseBeamExecutor)


def check_dataflow_job(task: str, jobs: list[dict[str, Any]], image: str) -> str:
    """One line on the Dataflow jobs a task's dry run built; raises ReplayError if one is not what Dataflow needs."""
    if not jobs:
        raise ReplayError(f"task {task}: its dry run built no Dataflow job")
    for job in jobs:
        if job["sdk_container_image"] != image or image not in job["environment_images"]:
            raise ReplayError(f"task {task}: its Dataflow job runs {job['environment_images']}, not the image {image}")
        if "use_runner_v2" not in job["experiments"] or not job["transforms"]:
            raise ReplayError(f"task {task}: its Dataflow job lacks runner v2 or transforms: {job['experiments']}")
    return f"{len(jobs)} job(s), {sum(len(j['transforms']) for j in jobs)} transforms, image {image}, runner v2"


def _dry_run(
    name: str, step: dict[str, Any], executor_input: dict[str, Any], root: str, run_id: str
) -> tuple[subprocess.Popen, str, str]:
    """Start the task again under the DataflowRunner's dry run, its outputs in a scratch folder.

    Returns (the process, the job file, the image to expect): nothing downstream reads it, so the dry run
    runs beside the next tasks, and :func:`_dry_run_result` collects it.
    """
    scratch = os.path.join(root, "dataflow", ".scratch", run_id, name)
    dry = json.loads(json.dumps(executor_input))
    for entry in dry["outputs"]["artifacts"].values():
        for artifact in entry["artifacts"]:
            artifact["uri"] = os.path.join(scratch, os.path.basename(artifact["uri"]))
    dry["outputs"]["outputFile"] = os.path.join(scratch, "executor_output.json")
    os.makedirs(scratch, exist_ok=True)
    path = os.path.join(root, "dataflow", f"{name}.json")
    args = [json.dumps(dry) if a == "{{$}}" else a for a in step["args"]]
    argv = [
        sys.executable,
        "-m",
        "pipelines.dataflow_dry_run",
        path,
        *args,
        "--dry_run=True",
        "--sdk_location=container",
    ]
    process = subprocess.Popen(
        argv,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "TF_USE_LEGACY_KERAS": "1"},
    )
    image = next((a.split("=", 1)[1] for a in args if a.startswith("--sdk_container_image=")), "")
    return process, path, image


def _dry_run_result(name: str, process: subprocess.Popen, path: str, image: str) -> str:
    """Wait for a task's dry run; its job checked, in one line (ReplayError when it built none, or a wrong one)."""
    output, _ = process.communicate()
    if not os.path.isfile(path):
        tail = "\n".join(output.splitlines()[-15:])
        raise ReplayError(f"task {name}: the Dataflow dry run built no job (exit {process.returncode})\n{tail}")
    return check_dataflow_job(name, json.load(open(path)), image)


def replay(
    spec_path: str,
    pipeline_root: str,
    runtime: dict[str, Any],
    mapping: dict[str, str],
    dataflow_jobs: bool = False,
) -> dict[str, Any]:
    """Run every task of the spec in dependency order; returns task -> output key -> artifact dicts.

    With ``dataflow_jobs``, each task whose executor runs Beam is run once more with its own Dataflow
    arguments under Beam's dry run: ``<pipeline_root>/dataflow/<task>.json`` is the job Dataflow would
    receive (options, worker image, transforms), checked by :func:`check_dataflow_job`.
    """
    with open(spec_path, encoding="utf-8") as f:
        job = json.load(f)
    spec = job["pipelineSpec"]
    tasks = spec["root"]["dag"]["tasks"]
    executors = spec["deploymentSpec"]["executors"]
    defaults = {k: 1 if v.get("type") == "INT" else "" for k, v in spec["root"].get("inputDefinitions", {}).get(
        "parameters", {}).items()}  # fmt: skip
    runtime = {**defaults, **job.get("runtimeConfig", {}).get("parameters", {}), **runtime}
    record_path = os.path.join(pipeline_root, RECORD_FILE)
    recorded: list[dict[str, Any]] = json.load(open(record_path)) if os.path.isfile(record_path) else []
    outputs: dict[str, dict[str, list[dict[str, Any]]]] = {}
    run_id = time.strftime("%Y%m%dT%H%M%S")
    dry_runs: dict[str, tuple[subprocess.Popen, str, str]] = {}
    for name in order_tasks(tasks):
        task = tasks[name]
        component = spec["components"][task["componentRef"]["name"]]
        executor = executors[component["executorLabel"]]
        if "resolver" in executor:
            given = {}
            for key, source in task.get("inputs", {}).get("artifacts", {}).items():
                producer = source["taskOutputArtifact"]
                given[key] = outputs.get(producer["producerTask"], {}).get(producer["outputArtifactKey"], [])
            found = {}
            for key, query in executor["resolver"]["outputArtifactQueries"].items():
                condition = fill_filter(query["filter"], given)
                matching = [a for a in recorded if condition is not None and matches(a, condition)]
                found[key] = [max(matching, key=lambda a: a["id"])] if matching else []
            outputs[name] = found
            print(f"[replay] {name}: resolved { ({k: len(v) for k, v in found.items()}) }", flush=True)
            continue
        task_root = os.path.join(pipeline_root, name, run_id)
        artifacts_in = {}
        for key, source in task.get("inputs", {}).get("artifacts", {}).items():
            producer = source["taskOutputArtifact"]
            given = outputs.get(producer["producerTask"], {}).get(producer["outputArtifactKey"], [])
            artifacts_in[key] = {"artifacts": [_kfp_artifact(a) for a in given]}
        artifacts_out = {}
        for key, definition in component.get("outputDefinitions", {}).get("artifacts", {}).items():
            schema = definition["artifactType"]["instanceSchema"]
            artifacts_out[key] = {"artifacts": [{"name": f"{run_id}/{name}/{key}", "type": {"instanceSchema": schema},
                                                 "uri": os.path.join(task_root, key), "metadata": {}}]}  # fmt: skip
        parameters = {k: _value(v, runtime, mapping) for k, v in task.get("inputs", {}).get("parameters", {}).items()}
        executor_input = {"inputs": {"parameters": parameters, "artifacts": artifacts_in},
                          "outputs": {"artifacts": artifacts_out,
                                      "outputFile": os.path.join(task_root, "executor_output.json")}}  # fmt: skip
        os.makedirs(task_root, exist_ok=True)
        container = executor["container"]
        steps = []
        if container.get("lifecycle", {}).get("preCacheCheck"):
            steps.append(container["lifecycle"]["preCacheCheck"])
        steps.append(container)
        for step in steps:
            argv = [sys.executable if step["command"][0] == "python" else step["command"][0], *step["command"][1:]]
            for arg in step["args"]:
                if arg == "{{$}}":
                    argv.append(json.dumps(executor_input))
                elif arg == "--runner=DataflowRunner":
                    argv.append("--runner=DirectRunner")
                elif not DATAFLOW_ONLY.match(arg):
                    argv.append(_map(arg, mapping))
            started = time.perf_counter()
            # TF_USE_LEGACY_KERAS: as the image sets it (Dockerfile ENV) for every task
            done = subprocess.run(argv, capture_output=True, text=True, env={**os.environ, "TF_USE_LEGACY_KERAS": "1"})
            if done.returncode != 0:
                tail = "\n".join((done.stdout + done.stderr).splitlines()[-25:])
                raise ReplayError(
                    f"task {name} failed (exit {done.returncode}): {' '.join(argv[:3])} ...; nothing later ran\n{tail}"
                )
            if step is not container and os.path.isfile(executor_input["outputs"]["outputFile"]):
                # The driver writes new-style parameterValues; the executor entry point reads old-style
                # parameters (no inputs spec in the compiled args), so its resolved span would be lost.
                resolved = json.load(open(executor_input["outputs"]["outputFile"])).get("parameterValues", {})
                for key, value in resolved.items():
                    parameters[key] = (
                        {"intValue": str(int(value))} if isinstance(value, float) else {"stringValue": value}
                    )
                print(f"[replay] {name}: the driver's {sorted(resolved)} passed to the executor as parameters")
            print(f"[replay] {name}: {os.path.basename(step['command'][-1])} done in "
                  f"{time.perf_counter() - started:.1f} s", flush=True)  # fmt: skip
        if dataflow_jobs and "--runner=DataflowRunner" in container["args"] and _beam_executor(container["args"]):
            dry_runs[name] = _dry_run(name, container, executor_input, pipeline_root, run_id)
        output_file = executor_input["outputs"]["outputFile"]
        written = json.load(open(output_file)) if os.path.isfile(output_file) else {}
        result = {}
        for key, entry in artifacts_out.items():
            produced = written.get("artifacts", {}).get(key, {}).get("artifacts") or entry["artifacts"]
            title = re.search(r"title: (\S+)", entry["artifacts"][0]["type"]["instanceSchema"]).group(1)
            result[key] = [{"id": len(recorded) + i + 1, "type": title, "uri": a["uri"],
                            "metadata": a.get("metadata", {}), "name": a["name"],
                            "instanceSchema": entry["artifacts"][0]["type"]["instanceSchema"]}
                           for i, a in enumerate(produced)]  # fmt: skip
            recorded.extend(result[key])
        outputs[name] = result
    for name, started in dry_runs.items():
        print(f"[replay] {name}: Dataflow job built offline: {_dry_run_result(name, *started)}", flush=True)
    with open(record_path, "w", encoding="utf-8") as f:
        json.dump(recorded, f, indent=1)
    return outputs


def _kfp_artifact(artifact: dict[str, Any]) -> dict[str, Any]:
    return {"name": artifact["name"], "type": {"instanceSchema": artifact["instanceSchema"]}, "uri": artifact["uri"],
            "metadata": artifact.get("metadata", {})}  # fmt: skip
