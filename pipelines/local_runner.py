"""Run a task pipeline locally: LocalDagRunner, ML Metadata in SQLite, Beam DirectRunner.

The runner owns everything machine-specific: the output layout, the
metadata connection and the Beam arguments. After the run it reads ML
Metadata to report which components ran or were cached, the Evaluator's
metrics and blessing, and where the model was pushed.
"""

from __future__ import annotations

import dataclasses
import json
import logging as py_logging
import os
import time
from collections.abc import Callable, Sequence
from typing import Any

from pipelines.keras_config import configure_keras

configure_keras()

from absl import logging as absl_logging  # noqa: E402
from ml_metadata import metadata_store  # noqa: E402
from ml_metadata.proto import metadata_store_pb2  # noqa: E402
from tfx import v1 as tfx  # noqa: E402
from tfx.orchestration import metadata as tfx_metadata  # noqa: E402

COMPONENT_ORDER = [
    "TFDSExampleGen",
    "TicketExampleGen",
    "StatisticsGen",
    "SchemaGen",
    "ExampleValidator",
    "Transform",
    "Trainer",
    "latest_blessed_model_resolver",
    "Evaluator",
    "AtomicPusher",
]


@dataclasses.dataclass(frozen=True)
class LocalLayout:
    """Where a local run writes: component outputs, metadata, pushed models."""

    output_dir: str
    task: str

    @property
    def pipeline_root(self) -> str:
        """Component outputs, one folder per component and execution."""
        return os.path.join(self.output_dir, "pipelines", self.task)

    @property
    def metadata_path(self) -> str:
        """The SQLite ML Metadata database of this task."""
        return os.path.join(self.output_dir, "metadata", f"{self.task}.sqlite")

    @property
    def serving_root(self) -> str:
        """TF Serving model base: models land in ``<serving_root>/<task>/<version>/``."""
        return os.path.join(self.output_dir, "serving")


def beam_args(workers: int) -> list[str]:
    """DirectRunner arguments: in-process for 1 worker, multi-processing for more."""
    if workers <= 1:
        return ["--direct_running_mode=in_memory", "--direct_num_workers=1"]
    return ["--direct_running_mode=multi_processing", f"--direct_num_workers={workers}"]


class _Progress(py_logging.Filter):
    """Turn TFX's 'Component X is running/finished' log lines into short progress lines."""

    def __init__(self, printer: Callable[[str], None], verbose: bool = False) -> None:
        super().__init__()
        self.printer = printer
        self.started: dict[str, float] = {}
        self.cached: set[str] = set()
        self.current: str | None = None
        self.verbose = verbose

    def filter(self, record: py_logging.LogRecord) -> bool:
        message = record.getMessage()
        if message.startswith("Component ") and message.endswith(" is running."):
            self.current = message[len("Component ") : -len(" is running.")]
            self.started[self.current] = time.time()
            self.printer(f"[pipeline] {self.current:32s} running ...")
        elif message.startswith("A cached execution") and self.current:
            self.cached.add(self.current)
        elif message.startswith("Component ") and message.endswith(" is finished."):
            node = message[len("Component ") : -len(" is finished.")]
            seconds = time.time() - self.started.get(node, time.time())
            state = "cached" if node in self.cached else "done"
            self.printer(f"[pipeline] {node:32s} {state} in {seconds:6.1f}s")
        return self.verbose or record.levelno >= py_logging.WARNING


@dataclasses.dataclass
class RunSummary:
    """What happened in one pipeline run, read back from ML Metadata."""

    task: str
    run_id: str
    wall_seconds: float
    components: dict[str, str]  # node id -> COMPLETE / CACHED / FAILED / ...
    metrics: dict[str, float]
    blessed: bool | None
    pushed: bool
    pushed_destination: str | None
    artifacts: dict[str, str]
    validation_failures: list[str] = dataclasses.field(default_factory=list)

    def describe(self) -> str:
        """Human-readable summary printed at the end of a run."""
        lines = [f"== {self.task} pipeline run {self.run_id} ({self.wall_seconds:.0f}s)"]
        order = {n: i for i, n in enumerate(COMPONENT_ORDER)}
        for node, state in sorted(self.components.items(), key=lambda kv: order.get(kv[0], 99)):
            lines.append(f"   {node:32s} {state.lower()}")
        if self.metrics:
            lines.append("   evaluation: " + ", ".join(f"{k}={v:.4f}" for k, v in sorted(self.metrics.items())))
        lines.append(f"   blessed: {'yes' if self.blessed else 'no' if self.blessed is not None else 'unknown'}")
        lines.extend(f"     failed: {failure}" for failure in self.validation_failures)
        if self.pushed:
            lines.append(f"   pushed to: {self.pushed_destination}")
        else:
            lines.append("   pushed: no (the model was not blessed; the serving directory is unchanged)")
        for name, path in sorted(self.artifacts.items()):
            lines.append(f"   {name}: {path}")
        return "\n".join(lines)

    def to_json(self) -> str:
        """JSON form (``--json``)."""
        return json.dumps(dataclasses.asdict(self), indent=2, sort_keys=True)


def _state_name(execution: metadata_store_pb2.Execution) -> str:
    return metadata_store_pb2.Execution.State.Name(execution.last_known_state)


def summarize(metadata_path: str, pipeline_name: str, wall_seconds: float = 0.0) -> RunSummary:
    """Read the latest run of ``pipeline_name`` from the SQLite ML Metadata at ``metadata_path``."""
    store = metadata_store.MetadataStore(tfx.orchestration.metadata.sqlite_metadata_connection_config(metadata_path))
    runs = store.get_contexts_by_type("pipeline_run")
    pipeline_ctx = store.get_context_by_type_and_name("pipeline", pipeline_name)
    if pipeline_ctx is None:
        raise RuntimeError(f"no pipeline {pipeline_name!r} in {metadata_path}")
    in_pipeline = {e.id for e in store.get_executions_by_context(pipeline_ctx.id)}
    runs = [c for c in runs if {e.id for e in store.get_executions_by_context(c.id)} & in_pipeline]
    run = max(runs, key=lambda c: (c.create_time_since_epoch, c.id))
    executions = store.get_executions_by_context(run.id)
    node_contexts = {c.id: c.name.split(".", 1)[-1] for c in store.get_contexts_by_type("node")}
    components: dict[str, str] = {}
    node_of: dict[int, str] = {}
    for execution in executions:
        for ctx in store.get_contexts_by_execution(execution.id):
            if ctx.id in node_contexts:
                node_of[execution.id] = node_contexts[ctx.id]
        components[node_of.get(execution.id, str(execution.id))] = _state_name(execution)

    outputs: dict[str, list[metadata_store_pb2.Artifact]] = {}
    events = store.get_events_by_execution_ids([e.id for e in executions])
    out_ids = {
        ev.artifact_id: node_of.get(ev.execution_id, "")
        for ev in events
        if ev.type in (metadata_store_pb2.Event.OUTPUT, metadata_store_pb2.Event.PENDING_OUTPUT)
    }
    for artifact in store.get_artifacts_by_id(list(out_ids)):
        outputs.setdefault(out_ids[artifact.id], []).append(artifact)

    def prop(artifact: metadata_store_pb2.Artifact, key: str) -> Any:
        value = artifact.custom_properties.get(key)
        if value is None:
            return None
        return value.string_value or value.int_value

    type_names = {t.id: t.name for t in store.get_artifact_types()}
    blessed = pushed = None
    destination = None
    metrics: dict[str, float] = {}
    failures: list[str] = []
    artifacts: dict[str, str] = {}
    for node, node_outputs in outputs.items():
        for artifact in node_outputs:
            kind = type_names.get(artifact.type_id)
            if kind == "ModelBlessing" and node == "Evaluator":
                blessed = bool(prop(artifact, "blessed"))
            elif kind == "ModelEvaluation":
                metrics = read_overall_metrics(artifact.uri)
                failures = read_validation_failures(artifact.uri)
                artifacts["evaluation"] = artifact.uri
            elif kind == "PushedModel":
                pushed = bool(prop(artifact, "pushed"))
                destination = prop(artifact, "pushed_destination") or None
            elif kind == "ModelRun":
                artifacts["report"] = os.path.join(artifact.uri, "report")
                artifacts["tensorboard"] = os.path.join(artifact.uri, "logs")
    return RunSummary(
        task=pipeline_name,
        run_id=run.name,
        wall_seconds=wall_seconds,
        components=components,
        metrics=metrics,
        blessed=blessed,
        pushed=bool(pushed),
        pushed_destination=destination,
        artifacts=artifacts,
        validation_failures=failures,
    )


def read_overall_metrics(evaluation_uri: str) -> dict[str, float]:
    """The overall-slice metrics of a TFMA evaluation output."""
    import tensorflow_model_analysis as tfma

    result = tfma.load_eval_result(evaluation_uri)
    for slice_key, slice_metrics in result.slicing_metrics:
        if slice_key == ():
            out = {}
            for metrics in slice_metrics.values():  # keyed by output name, then sub key
                for by_sub_key in metrics.values():
                    for name, value in by_sub_key.items():
                        if "doubleValue" in value:
                            out[name] = float(value["doubleValue"])
            return out
    return {}


def read_validation_failures(evaluation_uri: str) -> list[str]:
    """Why the Evaluator did not bless: one line per failed threshold (empty when blessed)."""
    import tensorflow_model_analysis as tfma

    try:
        result = tfma.load_validation_result(evaluation_uri)
    except (FileNotFoundError, OSError):
        return []
    lines = []
    for per_slice in result.metric_validations_per_slice:
        where = (
            ", ".join(
                f"{k.column}={k.int64_value or k.float_value or k.bytes_value.decode()}"
                for k in per_slice.slice_key.single_slice_keys
            )
            or "overall"
        )
        for failure in per_slice.failures:
            threshold = failure.metric_threshold
            if threshold.HasField("change_threshold"):
                rule = "change vs. the last blessed model " + str(threshold.change_threshold).replace("\n", " ").strip()
            else:
                rule = str(threshold.value_threshold).replace("\n", " ").strip()
            lines.append(
                f"{failure.metric_key.name} = {failure.metric_value.double_value.value:.4f} on {where} "
                f"({'is_diff: ' if failure.metric_key.is_diff else ''}{rule})"
            )
    return lines


def run_pipeline(
    task: str,
    pipeline_factory: Callable[..., Any],
    config: Any,
    output_dir: str,
    workers: int = 1,
    enable_cache: bool = True,
    quiet: bool = False,
    verbose: bool = False,
    extra_beam_args: Sequence[str] = (),
) -> RunSummary:
    """Build and run ``task``'s pipeline locally; return what happened.

    Args:
        task: the task name (pipeline name, output sub-folders).
        pipeline_factory: the task's ``create_pipeline``.
        config: the task configuration.
        output_dir: root of the local layout (see :class:`LocalLayout`).
        workers: Beam DirectRunner workers (1: in-process).
        enable_cache: reuse unchanged component outputs.
        quiet: no progress lines.
        verbose: show TFX's INFO logs too.
        extra_beam_args: appended to the Beam arguments.
    """
    layout = LocalLayout(os.path.abspath(output_dir), task)
    os.makedirs(os.path.dirname(layout.metadata_path), exist_ok=True)
    pipeline = pipeline_factory(
        config,
        pipeline_root=layout.pipeline_root,
        serving_root=layout.serving_root,
        metadata_connection_config=tfx_metadata.sqlite_metadata_connection_config(layout.metadata_path),
        beam_pipeline_args=[*beam_args(workers), *extra_beam_args],
        enable_cache=enable_cache,
    )
    progress = _Progress(
        printer=(lambda _line: None) if quiet else (lambda line: print(line, flush=True)), verbose=verbose
    )
    absl_logger = absl_logging.get_absl_logger()
    previous_level = absl_logger.level
    absl_logger.setLevel(py_logging.INFO)
    # Libraries inside the run call absl.logging.set_verbosity (Transform sets FATAL
    # for a while), which would hide TFX's component start/finish lines from the
    # progress filter. Keep INFO records flowing; the filter decides what is shown.
    absl_logger.setLevel = lambda level: py_logging.Logger.setLevel(absl_logger, min(level, py_logging.INFO))
    absl_logger.addFilter(progress)
    start = time.time()
    try:
        tfx.orchestration.LocalDagRunner().run(pipeline)
    finally:
        absl_logger.removeFilter(progress)
        del absl_logger.setLevel
        absl_logger.setLevel(previous_level)
    return summarize(layout.metadata_path, pipeline.pipeline_info.pipeline_name, time.time() - start)
