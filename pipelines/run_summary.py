"""What happened in one pipeline run, read back from ML Metadata: the summary a run prints, and its exit code.

Which components ran, were cached or failed and for how long, the data's drift and allowed anomalies,
the Evaluator's metrics, margins, yesterday's traffic and blessing, the infra validation, and where
the model was pushed; TFMA's outputs are read (:mod:`pipelines.tfma_results`) for the metrics and
the failed thresholds.

Long because every line of the run summary is read from ML Metadata here, one reader per component's outputs.
"""

from __future__ import annotations

import dataclasses
import enum
import json
import os
from collections.abc import Sequence
from typing import Any

from ml_metadata import metadata_store
from ml_metadata.proto import metadata_store_pb2

from common.contract import TUNING_REPORT_DIR
from components.file_example_gen.executor import INPUT_PROPERTY
from pipelines.metadata_store import describe as describe_store
from pipelines.pipeline import VALIDATOR_ID
from pipelines.tfma_results import read_overall_metrics, read_validation_failures

PUSHER = "AtomicPusher"
TRANSFORM = "Transform"


class ExitCode(enum.IntEnum):
    """What ``tfx-keras run`` exits with, for a scheduler to act on."""

    PUSHED_OR_NOTHING_TO_DO = 0  # a model was pushed, or nothing changed since a run that decided
    FAILED = 1  # a component failed (a bug, a crash, a full disk): look at the log
    USAGE = 2  # the command line or the config is wrong; nothing ran
    DATA_REFUSED = 3  # the data was stopped (files that cannot be read, anomalies, drift): fix the data
    NOT_BLESSED = 4  # the model was trained but not pushed (worse than the last one, or cannot serve)


@dataclasses.dataclass
class ComponentFailure:
    """The component that failed and why: the exception's first line, the lines after it (the log has the rest)."""

    component: str
    reason: str
    details: list[str] = dataclasses.field(default_factory=list)
    hint: str = ""


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


def state_name(execution: metadata_store_pb2.Execution) -> str:
    """COMPLETE, CACHED, FAILED ... of an execution."""
    return metadata_store_pb2.Execution.State.Name(execution.last_known_state)


def _nodes_of(
    store: metadata_store.MetadataStore, executions: Sequence[metadata_store_pb2.Execution]
) -> dict[int, str]:
    """The component (node id) of each execution, from its node context (``<pipeline>.<node>``)."""
    node_contexts = {c.id: c.name.split(".", 1)[-1] for c in store.get_contexts_by_type("node")}
    node_of: dict[int, str] = {}
    for execution in executions:
        for ctx in store.get_contexts_by_execution(execution.id):
            if ctx.id in node_contexts:
                node_of[execution.id] = node_contexts[ctx.id]
    return node_of


def component_state(connection_config: metadata_store_pb2.ConnectionConfig, run_id: str, node: str) -> str:
    """COMPLETE, CACHED, FAILED ... of component ``node`` in run ``run_id`` (``NOT_RUN``: no execution)."""
    store = metadata_store.MetadataStore(connection_config)
    run = store.get_context_by_type_and_name("pipeline_run", run_id)
    executions = store.get_executions_by_context(run.id) if run is not None else []
    node_of = _nodes_of(store, executions)
    states = [state_name(e) for e in executions if node_of.get(e.id) == node]
    return states[-1] if states else "NOT_RUN"


def summarize(
    connection_config: metadata_store_pb2.ConnectionConfig,
    pipeline_name: str,
    run_id: str | None = None,
    node_order: Sequence[str] = (),
    wall_seconds: float = 0.0,
) -> RunSummary:
    """Read run ``run_id`` (default: the latest) of ``pipeline_name`` from ML Metadata (SQLite or MySQL).

    Components in ``node_order`` that have no execution in the run are reported as ``NOT_RUN``.
    ``connection_config`` comes from :func:`pipelines.metadata_store.connection_config`.
    """
    store = metadata_store.MetadataStore(connection_config)
    where = describe_store(connection_config)
    pipeline_ctx = store.get_context_by_type_and_name("pipeline", pipeline_name)
    if pipeline_ctx is None:
        raise RuntimeError(f"no pipeline {pipeline_name!r} in {where}")
    if run_id:
        run = store.get_context_by_type_and_name("pipeline_run", run_id)
        if run is None:
            raise RuntimeError(f"no run {run_id!r} of {pipeline_name!r} in {where}")
    else:
        in_pipeline = {e.id for e in store.get_executions_by_context(pipeline_ctx.id)}
        runs = [
            c
            for c in store.get_contexts_by_type("pipeline_run")
            if {e.id for e in store.get_executions_by_context(c.id)} & in_pipeline
        ]
        run = max(runs, key=lambda c: (c.create_time_since_epoch, c.id))
    executions = store.get_executions_by_context(run.id)
    node_of = _nodes_of(store, executions)
    states: dict[str, str] = {}
    seconds: dict[str, float] = {}
    for execution in executions:
        node = node_of.get(execution.id, str(execution.id))
        states[node] = state_name(execution)
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
