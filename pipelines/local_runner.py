"""Run a task pipeline locally: LocalDagRunner, ML Metadata in SQLite, Beam DirectRunner.

The runner owns everything machine-specific: the output layout, the metadata connection and the
Beam arguments. It runs the components in order with TFX's own launcher (as ``LocalDagRunner``
does), and reports each one as it starts and ends; a failing component ends the run there. After
the run it reads ML Metadata for what happened *in this run*: which components ran, were cached
or failed and for how long, the Evaluator's metrics and blessing, and where the model was pushed.

One run at a time per task and output directory: a second run is refused while the first holds
the lock (SQLite ML Metadata and the serving folder are shared).
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import enum
import fcntl
import json
import os
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any, TextIO

from pipelines.keras_config import configure_keras

configure_keras()

from absl import logging as absl_logging  # noqa: E402
from ml_metadata import metadata_store  # noqa: E402
from ml_metadata.proto import metadata_store_pb2  # noqa: E402
from tfx.dsl.compiler import constants  # noqa: E402
from tfx.orchestration import metadata as tfx_metadata  # noqa: E402
from tfx.orchestration.local import runner_utils  # noqa: E402
from tfx.orchestration.local.local_dag_runner import LocalDagRunner  # noqa: E402
from tfx.orchestration.portable import launcher, runtime_parameter_utils  # noqa: E402
from tfx.proto.orchestration import pipeline_pb2  # noqa: E402

from common.contract import TUNING_REPORT_DIR  # noqa: E402
from components.data_validator import DataValidationError  # noqa: E402
from components.file_example_gen import check_input  # noqa: E402
from components.file_example_gen.executor import INPUT_PROPERTY  # noqa: E402
from pipelines.config import TaskConfig  # noqa: E402
from pipelines.pipeline import VALIDATOR_ID, create_pipeline, reads_files  # noqa: E402
from pipelines.spec import TaskSpec  # noqa: E402

SLOW_COMPONENT_SECONDS = 10.0  # a component still running after this long gets a "running" line
PUSHER = "AtomicPusher"


class ExitCode(enum.IntEnum):
    """What ``tfx-keras run`` exits with, for a scheduler to act on."""

    PUSHED_OR_NOTHING_TO_DO = 0  # a model was pushed, or nothing changed since a run that decided
    FAILED = 1  # a component failed (a bug, a crash, a full disk): look at the log
    USAGE = 2  # the command line or the config is wrong; nothing ran
    DATA_REFUSED = 3  # the data was stopped (files that cannot be read, anomalies, drift): fix the data
    NOT_BLESSED = 4  # the model was trained but not pushed (worse than the last one, or cannot serve)


TRANSFORM = "Transform"


@dataclasses.dataclass(frozen=True)
class LocalLayout:
    """Where a local run writes: component outputs, metadata, pushed models, logs."""

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

    @property
    def lock_path(self) -> str:
        """Held by the run of this task in progress."""
        return os.path.join(self.output_dir, "metadata", f"{self.task}.lock")

    @property
    def log_dir(self) -> str:
        """Full logs of each run (library output that the console does not show)."""
        return os.path.join(self.output_dir, "logs")


class RunInProgressError(RuntimeError):
    """Another run of the same task holds the output directory."""


class OutputDirError(RuntimeError):
    """The output directory cannot be created or written."""


def prepare_output_dir(layout: LocalLayout) -> None:
    """Create the output folders, or explain why they cannot be."""
    for folder in (os.path.dirname(layout.metadata_path), layout.log_dir, layout.serving_root):
        try:
            os.makedirs(folder, exist_ok=True)
        except OSError as err:
            raise OutputDirError(
                f"cannot create {folder} ({err.strerror}): choose an --output-dir this user can write"
            ) from None
        if not os.access(folder, os.W_OK | os.X_OK):
            raise OutputDirError(f"{folder} is not writable by this user: choose another --output-dir")


@contextlib.contextmanager
def run_lock(layout: LocalLayout) -> Iterator[None]:
    """Hold the task's lock in the output directory for the duration of a run, or refuse at once."""
    handle = open(layout.lock_path, "a+")  # noqa: SIM115 - held for the duration of the run
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        holder = handle.read().strip() or "another process"
        handle.close()
        raise RunInProgressError(
            f"a {layout.task} run is already in progress in {layout.output_dir} ({holder}). Wait for it to "
            "finish, or use another --output-dir: two runs would share ML Metadata and the serving folder."
        ) from None
    handle.seek(0)
    handle.truncate()
    handle.write(f"pid {os.getpid()}, started {datetime.datetime.now().isoformat(timespec='seconds')}")
    handle.flush()
    try:
        yield
    finally:
        fcntl.flock(handle, fcntl.LOCK_UN)
        handle.close()


def beam_args(workers: int) -> list[str]:
    """DirectRunner arguments: in-process for 1 worker, multi-processing for more."""
    if workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    if workers == 1:
        return ["--direct_running_mode=in_memory", "--direct_num_workers=1"]
    return ["--direct_running_mode=multi_processing", f"--direct_num_workers={workers}"]


@dataclasses.dataclass
class ComponentFailure:
    """The component that failed and why: the exception's first line, the lines after it (the log has the rest)."""

    component: str
    reason: str
    details: list[str] = dataclasses.field(default_factory=list)
    hint: str = ""


class Progress:
    """One line per component: done or cached, with its seconds; a "running" line if it takes long."""

    def __init__(self, printer: Callable[[str], None], slow_seconds: float = SLOW_COMPONENT_SECONDS) -> None:
        self.printer = printer
        self.slow_seconds = slow_seconds
        self._timer: threading.Timer | None = None

    def started(self, node: str) -> None:
        """A component started."""
        self._timer = threading.Timer(self.slow_seconds, self.printer, [f"[pipeline] {node:30s} running ..."])
        self._timer.daemon = True
        self._timer.start()

    def finished(self, node: str, state: str, seconds: float) -> None:
        """A component ended (``done``, ``cached`` or ``FAILED``)."""
        if self._timer:
            self._timer.cancel()
        self.printer(f"[pipeline] {node:30s} {state:7s} {seconds:7.1f} s")


class ProgressDagRunner(LocalDagRunner):
    """``LocalDagRunner`` that reports each component as it starts and ends, and stops at a failure.

    The loop is LocalDagRunner's own (TFX 1.16 ``run_with_ir``): the components run in topological
    order through TFX's launcher, with the same run id, caching and ML Metadata records.
    """

    def __init__(self, progress: Progress) -> None:
        super().__init__()
        self.progress = progress
        self.failure: ComponentFailure | None = None
        self.error: BaseException | None = None
        self.run_id = ""

    def run_with_ir(self, pipeline: pipeline_pb2.Pipeline, run_options: Any = None) -> None:
        """Run every component of the compiled pipeline in order; record the first failure."""
        del run_options  # partial runs are not used here
        self.run_id = datetime.datetime.now().isoformat()
        runtime_parameter_utils.substitute_runtime_parameter(
            pipeline, {constants.PIPELINE_RUN_ID_PARAMETER_NAME: self.run_id}
        )
        deployment_config = runner_utils.extract_local_deployment_config(pipeline)
        connection_config = getattr(
            deployment_config.metadata_connection_config,
            deployment_config.metadata_connection_config.WhichOneof("connection_config"),
        )
        for node in pipeline.nodes:
            pipeline_node = node.pipeline_node
            node_id = pipeline_node.node_info.id
            component_launcher = launcher.Launcher(
                pipeline_node=pipeline_node,
                mlmd_connection=tfx_metadata.Metadata(connection_config),
                pipeline_info=pipeline.pipeline_info,
                pipeline_runtime_spec=pipeline.runtime_spec,
                executor_spec=runner_utils.extract_executor_spec(deployment_config, node_id),
                custom_driver_spec=runner_utils.extract_custom_driver_spec(deployment_config, node_id),
            )
            start = time.monotonic()
            self.progress.started(node_id)
            try:
                execution_info = component_launcher.launch()
            except Exception as err:  # noqa: BLE001 - any component failure ends the run with its reason
                absl_logging.exception("Component %s failed", node_id)
                self.progress.finished(node_id, "FAILED", time.monotonic() - start)
                self.failure = ComponentFailure(node_id, _first_line(err), _more_lines(err))
                self.error = err
                return
            state = _execution_state(connection_config, execution_info)
            self.progress.finished(node_id, "cached" if state == "CACHED" else "done", time.monotonic() - start)


def _execution_state(connection_config: Any, execution_info: Any) -> str:
    """COMPLETE, CACHED ... of the execution a launch recorded (COMPLETE if it recorded none)."""
    execution_id = getattr(execution_info, "execution_id", None)
    if execution_id is None:
        return "COMPLETE"
    with tfx_metadata.Metadata(connection_config) as handle:
        (execution,) = handle.store.get_executions_by_id([execution_id])
    return _state_name(execution)


def _first_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return f"{type(err).__name__}: {text[0] if text else ''}".rstrip(": ")


def _more_lines(err: BaseException, limit: int = 40) -> list[str]:
    """The message's lines after the first (a user-facing error may list what it found), at most ``limit``."""
    lines = [line.rstrip() for line in str(err).strip().splitlines()[1:]]
    return lines[:limit] + ([f"... {len(lines) - limit} more lines in the log"] if len(lines) > limit else [])


@dataclasses.dataclass
class RunSummary:
    """What happened in one pipeline run, read back from ML Metadata."""

    task: str
    run_id: str
    wall_seconds: float
    components: dict[str, str]  # node id -> COMPLETE / CACHED / FAILED / NOT_RUN, in pipeline order
    seconds: dict[str, float]  # node id -> wall time of its execution (ML Metadata timestamps)
    metrics: dict[str, float]
    blessed: bool | None
    pushed: bool
    pushed_destination: str | None
    artifacts: dict[str, str]
    validation_failures: list[str] = dataclasses.field(default_factory=list)
    failure: ComponentFailure | None = None
    log_file: str | None = None
    span: int | None = None  # the span this run's ExampleGen produced
    eval_split: str = "eval"
    ceiling: dict[str, dict[str, float]] = dataclasses.field(default_factory=dict)  # generator's summary per split
    data_anomalies: list[str] = dataclasses.field(default_factory=list)  # allowed anomalies (the run went on)
    drift: list[dict[str, Any]] = dataclasses.field(default_factory=list)  # drift vs the previous validated span
    infra_blessed: bool | None = None  # the InfraValidator's verdict (None: it did not run)
    infra_reason: str = ""
    input: dict[str, Any] = dataclasses.field(default_factory=dict)  # files read: input_base, format, splits
    trained_on_spans: list[int] = dataclasses.field(default_factory=list)  # the spans Transform read
    margins: dict[str, float] = dataclasses.field(default_factory=dict)  # no-regression margin used per metric
    eval_examples: int | None = None  # the eval split's size the margins follow
    previous_traffic: dict[str, Any] = dataclasses.field(default_factory=dict)  # scores on yesterday's eval split

    @property
    def succeeded(self) -> bool:
        """Every component completed or was cached."""
        return self.failure is None and all(s in ("COMPLETE", "CACHED") for s in self.components.values())

    @property
    def exit_code(self) -> ExitCode:
        """The run's outcome as :class:`ExitCode`."""
        if self.failure is not None:
            data_errors = ("DataValidationError", "FileInputError")
            if self.failure.component == VALIDATOR_ID or self.failure.reason.startswith(data_errors):
                return ExitCode.DATA_REFUSED
            return ExitCode.FAILED
        if not self.succeeded:
            return ExitCode.FAILED
        if not self.pushed and (self.blessed is False or self.infra_blessed is False):
            return ExitCode.NOT_BLESSED
        return ExitCode.PUSHED_OR_NOTHING_TO_DO

    def push_reason(self) -> str:
        """Why nothing was pushed (empty if something was)."""
        if self.pushed:
            return ""
        if self.failure is not None:
            return f"the run stopped at {self.failure.component}"
        if self.blessed is False:
            return "the model was not blessed"
        if self.infra_blessed is False:
            return "the model failed infra validation"
        if self.components.get(PUSHER) == "CACHED":
            return "nothing changed since an earlier run, which already pushed or refused this model"
        return "the pusher did not push"

    def describe(self) -> str:
        """Human-readable summary printed at the end of a run."""
        lines = [f"== {self.task} pipeline run {self.run_id} ({self.wall_seconds:.0f} s)"]
        for node, state in self.components.items():
            seconds = self.seconds.get(node)
            shown = f"{seconds:7.1f} s" if seconds is not None and state == "COMPLETE" else ""
            lines.append(f"   {node:32s} {state.lower():9s} {shown}".rstrip())
        if self.span:
            lines.append(f"   span: {self.span}")
        if len(self.trained_on_spans) > 1:
            lines.append(f"   trained on spans: {', '.join(map(str, self.trained_on_spans))}")
        if self.input:
            splits = self.input.get("splits", {})
            files = sorted({f for split in splits.values() for f in split["files"]})
            rows = sum(split["rows"] for split in splits.values())
            shown = ", ".join(files[:3]) + (f" and {len(files) - 3} more" if len(files) > 3 else "")
            lines.append(
                f"   input: {rows} rows from {len(files)} {self.input.get('format', '')} file(s) under "
                f"{self.input.get('input_base')}: {shown}"
            )
        if self.failure is not None:
            lines.append(f"   failed: {self.failure.component}: {self.failure.reason}")
            lines.extend(f"     {detail.strip()}" for detail in self.failure.details)
            if self.failure.hint:
                lines.append(f"     {self.failure.hint}")
        for measurement in self.drift:
            above = measurement["value"] > measurement["threshold"]
            lines.append(
                f"   drift vs the previous span: {measurement['feature']} {measurement['measure'].lower()} "
                f"{measurement['value']:.4f} (threshold {measurement['threshold']}){' ABOVE' if above else ''}"
            )
        if self.data_anomalies:
            lines.append(f"   data anomalies (allowed by validation.allow_anomalies): {len(self.data_anomalies)}")
            lines.extend(f"     {anomaly}" for anomaly in self.data_anomalies)
        if self.metrics:
            lines.append("   evaluation: " + ", ".join(f"{k}={v:.4f}" for k, v in sorted(self.metrics.items())))
        for split, ceiling in sorted(self.ceiling.items()):
            if split == self.eval_split:
                shown = ", ".join(f"{k}={v:.4f}" for k, v in sorted(ceiling.items()) if k != "examples")
                lines.append(f"   ceiling (the ideal predictor) on {split}: {shown}")
        if self.margins and self.eval_examples:
            shown = ", ".join(f"{name} {margin:.4f}" for name, margin in sorted(self.margins.items()))
            lines.append(f"   no-regression margin ({self.eval_examples} eval examples): {shown}")
        if self.previous_traffic:
            lines.append("   " + describe_previous_traffic(self.previous_traffic))
        if self.blessed is not None:
            lines.append(f"   blessed: {'yes' if self.blessed else 'no'}")
        lines.extend(f"     failed: {failure}" for failure in self.validation_failures)
        if self.infra_blessed is not None and self.blessed is not False:
            verdict = "yes" if self.infra_blessed else "NO"
            lines.append(f"   infra validation (served over gRPC and REST): {verdict}: {self.infra_reason}")
        if self.pushed:
            lines.append(f"   pushed to: {self.pushed_destination}")
        else:
            lines.append(f"   pushed: no ({self.push_reason()}; the serving directory is unchanged)")
        for name, path in sorted(self.artifacts.items()):
            lines.append(f"   {name}: {path}")
        if self.log_file:
            lines.append(f"   log: {self.log_file}")
        return "\n".join(lines)

    def to_json(self) -> str:
        """JSON form (``--json``), with the exit code."""
        return json.dumps({**dataclasses.asdict(self), "exit_code": int(self.exit_code)}, indent=2, sort_keys=True)


def _state_name(execution: metadata_store_pb2.Execution) -> str:
    return metadata_store_pb2.Execution.State.Name(execution.last_known_state)


def summarize(
    metadata_path: str,
    pipeline_name: str,
    run_id: str | None = None,
    node_order: Sequence[str] = (),
    wall_seconds: float = 0.0,
) -> RunSummary:
    """Read run ``run_id`` (default: the latest) of ``pipeline_name`` from the SQLite ML Metadata.

    Components in ``node_order`` that have no execution in the run are reported as ``NOT_RUN``.
    """
    store = metadata_store.MetadataStore(tfx_metadata.sqlite_metadata_connection_config(metadata_path))
    pipeline_ctx = store.get_context_by_type_and_name("pipeline", pipeline_name)
    if pipeline_ctx is None:
        raise RuntimeError(f"no pipeline {pipeline_name!r} in {metadata_path}")
    if run_id:
        run = store.get_context_by_type_and_name("pipeline_run", run_id)
        if run is None:
            raise RuntimeError(f"no run {run_id!r} of {pipeline_name!r} in {metadata_path}")
    else:
        in_pipeline = {e.id for e in store.get_executions_by_context(pipeline_ctx.id)}
        runs = [
            c
            for c in store.get_contexts_by_type("pipeline_run")
            if {e.id for e in store.get_executions_by_context(c.id)} & in_pipeline
        ]
        run = max(runs, key=lambda c: (c.create_time_since_epoch, c.id))
    executions = store.get_executions_by_context(run.id)
    node_contexts = {c.id: c.name.split(".", 1)[-1] for c in store.get_contexts_by_type("node")}
    states: dict[str, str] = {}
    seconds: dict[str, float] = {}
    node_of: dict[int, str] = {}
    for execution in executions:
        for ctx in store.get_contexts_by_execution(execution.id):
            if ctx.id in node_contexts:
                node_of[execution.id] = node_contexts[ctx.id]
        node = node_of.get(execution.id, str(execution.id))
        states[node] = _state_name(execution)
        seconds[node] = (execution.last_update_time_since_epoch - execution.create_time_since_epoch) / 1000
    order = list(node_order) or sorted(states)
    components = {node: states.get(node, "NOT_RUN") for node in order}
    components.update({node: state for node, state in states.items() if node not in components})

    outputs: dict[str, list[metadata_store_pb2.Artifact]] = {}
    events = store.get_events_by_execution_ids([e.id for e in executions])
    out_ids = {
        ev.artifact_id: node_of.get(ev.execution_id, "")
        for ev in events
        if ev.type in (metadata_store_pb2.Event.OUTPUT, metadata_store_pb2.Event.PENDING_OUTPUT)
    }
    for artifact in store.get_artifacts_by_id(list(out_ids)):
        outputs.setdefault(out_ids[artifact.id], []).append(artifact)
    # The spans the model was trained on: the examples Transform read (several with data.window_spans).
    transform_inputs = [
        ev.artifact_id
        for ev in events
        if ev.type == metadata_store_pb2.Event.INPUT and node_of.get(ev.execution_id) == TRANSFORM
    ]
    trained_on_spans = sorted(
        {
            a.properties["span"].int_value
            for a in store.get_artifacts_by_id(transform_inputs)
            if "span" in a.properties and a.type_id == store.get_artifact_type("Examples").id
        }
    )

    def prop(artifact: metadata_store_pb2.Artifact, key: str) -> Any:
        value = artifact.custom_properties.get(key)
        if value is None:
            return None
        if value.HasField("struct_value"):  # set_json_value_custom_property: a JSON value in a Struct
            from google.protobuf import json_format

            decoded = json_format.MessageToDict(value.struct_value)  # a dict is stored as is, anything else wrapped
            return json.dumps(decoded["__value__"] if set(decoded) == {"__value__"} else decoded)
        return value.string_value or value.int_value

    type_names = {t.id: t.name for t in store.get_artifact_types()}
    example_gen = order[0] if order else None  # every pipeline starts with its ExampleGen
    span = None
    input_files: dict[str, Any] = {}
    ceiling: dict[str, dict[str, float]] = {}
    data_anomalies: list[str] = []
    drift: list[dict[str, Any]] = []
    blessed = pushed = infra_blessed = eval_examples = None
    margins: dict[str, float] = {}
    previous_traffic: dict[str, Any] = {}
    infra_reason = ""
    destination = None
    metrics: dict[str, float] = {}
    failures: list[str] = []
    artifacts: dict[str, str] = {}
    for node, node_outputs in outputs.items():
        for artifact in node_outputs:
            kind = type_names.get(artifact.type_id)
            if artifact.state != metadata_store_pb2.Artifact.LIVE:
                continue
            if kind == "ModelBlessing" and node == "Evaluator":
                blessed = bool(prop(artifact, "blessed"))
                margins = json.loads(prop(artifact, "noise_margins") or "{}")
                eval_examples = prop(artifact, "eval_examples") or None
                previous_traffic = json.loads(prop(artifact, "previous_traffic") or "{}")
            elif kind == "InfraBlessing":
                infra_blessed = bool(prop(artifact, "blessed"))
                infra_reason = prop(artifact, "reason") or ""
                artifacts["infra validation"] = os.path.join(artifact.uri, "infra_validation.json")
            elif kind == "ModelEvaluation":
                metrics = read_overall_metrics(artifact.uri)
                failures = read_validation_failures(artifact.uri)
                artifacts["evaluation"] = artifact.uri
            elif kind == "PushedModel":
                pushed = bool(prop(artifact, "pushed"))
                destination = prop(artifact, "pushed_destination") or None
            elif kind == "TunerResults":
                artifacts["tuning"] = os.path.join(artifact.uri, TUNING_REPORT_DIR)
            elif kind == "ModelRun":
                artifacts["report"] = os.path.join(artifact.uri, "report")
                artifacts["tensorboard"] = os.path.join(artifact.uri, "logs")
            elif kind == "Examples" and node == example_gen:  # not Transform's transformed examples
                span = artifact.properties["span"].int_value if "span" in artifact.properties else None
                if prop(artifact, "summary"):
                    ceiling = json.loads(prop(artifact, "summary"))
                if prop(artifact, INPUT_PROPERTY):
                    input_files = json.loads(prop(artifact, INPUT_PROPERTY))
            elif kind == "ExampleAnomalies":
                data_anomalies = json.loads(prop(artifact, "anomalies") or "[]")
                drift = json.loads(prop(artifact, "drift") or "[]")
                artifacts["data report"] = prop(artifact, "report") or os.path.join(
                    artifact.uri, "report", "data_report.html"
                )
    return RunSummary(
        task=pipeline_name,
        run_id=run.name,
        wall_seconds=wall_seconds,
        components=components,
        seconds=seconds,
        metrics=metrics,
        blessed=blessed,
        pushed=bool(pushed) and components.get(PUSHER) == "COMPLETE",  # a cached push pushed nothing now
        pushed_destination=destination,
        artifacts=artifacts,
        validation_failures=failures,
        span=span,
        ceiling=ceiling,
        data_anomalies=data_anomalies,
        drift=drift,
        infra_blessed=infra_blessed,
        infra_reason=infra_reason,
        input=input_files,
        trained_on_spans=trained_on_spans,
        margins=margins,
        eval_examples=eval_examples,
        previous_traffic=previous_traffic,
    )


def describe_previous_traffic(traffic: dict[str, Any]) -> str:
    """One line: the candidate and the baseline on the previous span's eval split, and the verdict."""
    scores = "; ".join(
        f"{name} {values.get('candidate', float('nan')):.4f} vs {values.get('baseline', float('nan')):.4f}"
        for name, values in sorted(traffic.get("metrics", {}).items())
    )
    if traffic.get("passed"):
        verdict = "ok"
    elif traffic.get("mode") == "gone":
        verdict = "WORSE, recorded only (evaluator.previous_traffic=gone)"
    else:
        verdict = (
            f"WORSE by more than {traffic.get('tolerance', 0):.0%}: not blessed (if that traffic is gone for "
            "good, run with --set evaluator.previous_traffic=gone)"
        )
    span = int(traffic.get("span") or 0)  # ML Metadata keeps JSON numbers as floats
    return f"yesterday's traffic (span {span} eval split), candidate vs baseline: {scores}: {verdict}"


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


def slice_name(slice_key: Any) -> str:
    """``label=0`` for a single-feature slice (values of 0 included), ``overall`` for the whole split."""
    parts = []
    for key in slice_key.single_slice_keys:
        kind = key.WhichOneof("kind")
        value = getattr(key, kind) if kind else ""
        parts.append(f"{key.column}={value.decode() if isinstance(value, bytes) else value}")
    return ", ".join(parts) or "overall"


def read_validation_failures(evaluation_uri: str) -> list[str]:
    """Why the Evaluator did not bless: one line per failed threshold (empty when blessed)."""
    import tensorflow_model_analysis as tfma

    try:
        result = tfma.load_validation_result(evaluation_uri)
    except (FileNotFoundError, OSError):
        return []
    lines = []
    for per_slice in result.metric_validations_per_slice:
        where = slice_name(per_slice.slice_key)
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
    spec: TaskSpec,
    config: TaskConfig,
    output_dir: str,
    workers: int = 1,
    enable_cache: bool = True,
    printer: Callable[[str], None] | None = None,
    extra_beam_args: Sequence[str] = (),
    log_file: str | None = None,
) -> RunSummary:
    """Build and run the task's pipeline locally; return what happened in this run.

    A component that fails ends the run there; the summary names it and its reason.

    Args:
        spec: the task.
        config: the task's validated configuration.
        output_dir: root of the local layout (see :class:`LocalLayout`).
        workers: Beam DirectRunner workers (1: in-process).
        enable_cache: reuse unchanged component outputs.
        printer: where progress lines go (None: nowhere).
        extra_beam_args: appended to the Beam arguments.
        log_file: where the run's full log is (shown in the summary).

    Raises:
        RunInProgressError: another run of this task holds ``output_dir``.
        OutputDirError: ``output_dir`` cannot be written.
        FileInputError: the task reads files, and their folder or the files of a split are missing.
    """
    if reads_files(spec, config):  # the ExampleGen's driver checks the same; here it stops before anything starts
        check_input(config.data.input_base, config.data.split_patterns, config.data.span)
    layout = LocalLayout(os.path.abspath(output_dir), spec.name)
    prepare_output_dir(layout)
    with run_lock(layout):
        pipeline = create_pipeline(
            spec,
            config,
            pipeline_root=layout.pipeline_root,
            serving_root=layout.serving_root,
            metadata_connection_config=tfx_metadata.sqlite_metadata_connection_config(layout.metadata_path),
            beam_pipeline_args=[*beam_args(workers), *extra_beam_args],
            enable_cache=enable_cache,
        )
        runner = ProgressDagRunner(Progress(printer or (lambda _line: None)))
        start = time.time()
        runner.run(pipeline)
        summary = summarize(
            layout.metadata_path,
            pipeline.pipeline_info.pipeline_name,
            run_id=runner.run_id,
            node_order=[c.id for c in pipeline.components],
            wall_seconds=time.time() - start,
        )
    summary.failure = runner.failure
    if runner.failure is not None:  # a driver's failure leaves its execution RUNNING in ML Metadata
        summary.components[runner.failure.component] = "FAILED"
    summary.eval_split = config.data.eval_split
    if isinstance(runner.error, DataValidationError):
        summary.drift = runner.error.drift  # what the rejected data measured (its artifacts are not published)
        summary.artifacts["data report"] = runner.error.report
    if summary.failure is not None and summary.failure.component == VALIDATOR_ID:
        summary.failure.hint = (
            f"the curated schema is {spec.schema_file} (docs/data-validation.md); "
            "`--set validation.allow_anomalies=true` trains anyway"
        )
    summary.log_file = log_file
    return summary


@contextlib.contextmanager
def quiet_output(log_path: str) -> Iterator[TextIO]:
    """Send everything written to the process's stderr (C++ and library logs, warnings) to ``log_path``.

    Yields a stream to the user's stderr, for messages the user must see. The redirection is at the
    file-descriptor level, so TensorFlow's C++ logging and child processes are caught too.
    """
    import sys

    os.makedirs(os.path.dirname(log_path), exist_ok=True)
    log = open(log_path, "a", buffering=1)  # noqa: SIM115 - closed below
    previous = sys.stderr
    saved = os.dup(2)
    try:
        on_fd2 = previous.fileno() == 2
    except (AttributeError, OSError, ValueError):  # a captured stream (tests): it is not fd 2
        on_fd2 = False
    user_stderr = os.fdopen(os.dup(saved), "w", buffering=1) if on_fd2 else previous
    previous.flush()
    os.dup2(log.fileno(), 2)
    sys.stderr = log
    try:
        yield user_stderr
    finally:
        sys.stderr = previous
        os.dup2(saved, 2)
        os.close(saved)
        if on_fd2:
            user_stderr.close()
        log.close()
