"""What happened in one pipeline run, read back from ML Metadata: the summary a run prints, and its exit code.

Which components ran, were cached or failed and for how long, the data's drift and allowed anomalies,
the Evaluator's metrics, margins, yesterday's traffic and blessing, the infra validation, and where
the model was pushed; TFMA's outputs are read (:mod:`pipelines.tfma_results`) for the metrics and
the failed thresholds. The run itself is read by :mod:`pipelines.run_records`, as the UI reads it.

Long because every line of the run summary is read from ML Metadata here, one reader per component's outputs.
"""

from __future__ import annotations

import dataclasses
import enum
import json
import os
from collections.abc import Callable, Sequence
from typing import Any

from ml_metadata import metadata_store
from ml_metadata.proto import metadata_store_pb2

from common.contract import TUNING_REPORT_DIR
from common.metadata_names import INPUT_PROPERTY, PUSHER_ID, TRANSFORM_ID, VALIDATOR_ID
from pipelines import run_records
from pipelines.metadata_store import describe as describe_store
from pipelines.tfma_results import read_overall_metrics, read_validation_failures

PUSHER = PUSHER_ID
TRANSFORM = TRANSFORM_ID


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
    trivial: dict[str, Any] = dataclasses.field(default_factory=dict)  # the majority/mean and best rule's scores
    baseline: str = ""  # what the drift was measured against, e.g. "span 5 (the data of the serving model, ...)"
    skipped_spans: dict[int, str] = dataclasses.field(default_factory=dict)  # window spans left out, and why
    allowed_spans: list[int] = dataclasses.field(default_factory=list)  # trained on by validation.allow_anomalies
    span_notes: list[str] = dataclasses.field(default_factory=list)  # late spans: read now, or how to read them

    @property
    def succeeded(self) -> bool:
        """Every component completed or was cached."""
        return self.failure is None and all(s in ("COMPLETE", "CACHED") for s in self.components.values())

    @property
    def exit_code(self) -> ExitCode:
        """The run's outcome as :class:`ExitCode`."""
        if self.failure is not None:
            data_errors = ("DataValidationError", "FileInputError", "EmptySpanError", "UnreadableFileError")
            if self.failure.component == VALIDATOR_ID or self.failure.reason.startswith(data_errors):
                return ExitCode.DATA_REFUSED
            if self.failure.reason.startswith("BaselineError"):  # validation.baseline_span names no usable span
                return ExitCode.USAGE
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
        lines.extend(f"   note: {note}" for note in self.span_notes)
        if len(self.trained_on_spans) > 1 or self.skipped_spans or self.allowed_spans:
            shown = ", ".join(
                f"{span}{' (passed only by validation.allow_anomalies)' if span in self.allowed_spans else ''}"
                for span in self.trained_on_spans
            )
            left_out = f" ({'; '.join(self.skipped_spans.values())})" if self.skipped_spans else ""
            lines.append(f"   trained on spans: {shown}{left_out}")
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
        if self.baseline:
            lines.append(f"   drift vs {self.baseline}")
        for measurement in self.drift:
            above = measurement["value"] > measurement["threshold"]
            lines.append(
                f"   drift: {measurement['feature']} {measurement['measure'].lower()} "
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
        if self.trivial:
            lines.append("   " + describe_trivial(self.trivial))
        if self.blessed is not None:
            lines.append(f"   blessed: {'yes' if self.blessed else 'no'}")
        lines.extend(f"     failed: {failure}" for failure in self.validation_failures)
        if self.infra_blessed is not None and self.blessed is False:
            lines.append("   infra validation: skipped (the Evaluator did not bless the model, so it was not tried)")
        elif self.infra_blessed is not None:
            first, *more = self.infra_reason.splitlines() or [""]
            if self.infra_blessed:
                lines.append(f"   infra validation: yes: {first}")
            else:  # one line per failed check
                lines.append("   infra validation: NO, not servable as promised:")
                lines.extend(f"     {line}" for line in [first, *more])
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


def component_state(connection_config: metadata_store_pb2.ConnectionConfig, run_id: str, node: str) -> str:
    """COMPLETE, CACHED, FAILED ... of component ``node`` in run ``run_id`` (``NOT_RUN``: no execution)."""
    store = metadata_store.MetadataStore(connection_config)
    run = store.get_context_by_type_and_name("pipeline_run", run_id)
    executions = store.get_executions_by_context(run.id) if run is not None else []
    node_of = run_records.nodes_of(store, executions)
    states = [run_records.state_name(e) for e in executions if node_of.get(e.id) == node]
    return states[-1] if states else "NOT_RUN"


def summarize(
    connection_config: metadata_store_pb2.ConnectionConfig,
    pipeline_name: str,
    run_id: str | None = None,
    node_order: Sequence[str] = (),
    wall_seconds: float = 0.0,
    window_spans: int = 1,
) -> RunSummary:
    """Read run ``run_id`` (default: the latest) of ``pipeline_name`` from ML Metadata (SQLite or MySQL).

    Components in ``node_order`` that have no execution in the run are reported as ``NOT_RUN``.
    ``connection_config`` comes from :func:`pipelines.metadata_store.connection_config`. With
    ``window_spans`` (``data.window_spans``), the spans of the training window left out are named.
    """
    store = metadata_store.MetadataStore(connection_config)
    try:
        record = run_records.read_run(store, pipeline_name, run_id)
    except RuntimeError as err:
        raise RuntimeError(f"{err} ({describe_store(connection_config)})") from None
    summary = summary_of(record, node_order, wall_seconds)
    if summary.trained_on_spans:
        read_window_of(store, record, summary, window_spans)
    return summary


def read_window_of(
    store: metadata_store.MetadataStore, record: run_records.RunRecord, summary: RunSummary, window_spans: int
) -> None:
    """Fill the summary's spans left out of the training window (and why) and those trained only by the opt-in."""
    from components import lineage, span_window

    outputs = record.outputs()
    example_gen = next(
        (
            n
            for n, arts in outputs.items()
            if n.endswith("ExampleGen") and any(record.type_name(a) == "Examples" for a in arts)
        ),
        None,
    )
    if example_gen is None:
        return
    examples = lineage.node_examples(store, record.pipeline, example_gen)
    validated = [
        a
        for a in lineage.node_examples(store, record.pipeline, VALIDATOR_ID, "ExampleStatistics")
        if lineage.int_property(a, lineage.SOURCE_STATISTICS_ID)
    ]
    current = {a.id for a in outputs.get(example_gen, [])}
    window = span_window.read_window(store, examples, validated, current, max(window_spans, 1))
    summary.skipped_spans = window.skipped
    summary.allowed_spans = [s for s in window.allowed if s in summary.trained_on_spans]


def summary_of(
    record: run_records.RunRecord,
    node_order: Sequence[str] = (),
    wall_seconds: float = 0.0,
    read_metrics: Callable[[str], dict[str, float]] = read_overall_metrics,
    read_failures: Callable[[str], list[str]] = read_validation_failures,
) -> RunSummary:
    """The summary of one run read from ML Metadata; ``read_metrics``/``read_failures`` read TFMA's output (or a cache).

    Components in ``node_order`` that have no execution in the run are reported as ``NOT_RUN``.
    """
    states = record.states()
    order = list(node_order) or sorted(states)
    components = {node: states.get(node, "NOT_RUN") for node in order}
    components.update({node: state for node, state in states.items() if node not in components})
    outputs = record.outputs()
    # The spans the model was trained on: the examples Transform read (several with data.window_spans).
    trained_on_spans = sorted(
        {
            span
            for a in record.inputs().get(TRANSFORM, [])
            if record.type_name(a) == "Examples" and (span := run_records.span_of(a)) is not None
        }
    )
    prop = run_records.custom_property
    # Every pipeline starts with its ExampleGen: the first node in order that writes Examples.
    example_gen = next((n for n in order if any(record.type_name(a) == "Examples" for a in outputs.get(n, []))), None)
    span = None
    input_files: dict[str, Any] = {}
    ceiling: dict[str, dict[str, float]] = {}
    data_anomalies: list[str] = []
    drift: list[dict[str, Any]] = []
    baseline = ""
    span_notes: list[str] = []
    blessed = pushed = infra_blessed = eval_examples = None
    margins: dict[str, float] = {}
    previous_traffic: dict[str, Any] = {}
    trivial: dict[str, Any] = {}
    infra_reason = ""
    destination = None
    metrics: dict[str, float] = {}
    failures: list[str] = []
    artifacts: dict[str, str] = {}
    for node, node_outputs in outputs.items():
        for artifact in node_outputs:
            kind = record.type_name(artifact)
            if artifact.state != metadata_store_pb2.Artifact.LIVE:
                continue
            if kind == "ModelBlessing" and node == "Evaluator":
                blessed = bool(prop(artifact, "blessed"))
                margins = json.loads(prop(artifact, "noise_margins") or "{}")
                eval_examples = prop(artifact, "eval_examples") or None
                previous_traffic = json.loads(prop(artifact, "previous_traffic") or "{}")
                trivial = json.loads(prop(artifact, "trivial") or "{}")
            elif kind == "InfraBlessing":
                infra_blessed = bool(prop(artifact, "blessed"))
                infra_reason = prop(artifact, "reason") or ""
                artifacts["infra validation"] = os.path.join(artifact.uri, "infra_validation.json")
            elif kind == "ModelEvaluation":
                metrics = read_metrics(artifact.uri)
                failures = read_failures(artifact.uri)
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
                span = run_records.span_of(artifact)
                if prop(artifact, "summary"):
                    ceiling = json.loads(prop(artifact, "summary"))
                if prop(artifact, INPUT_PROPERTY):
                    input_files = json.loads(prop(artifact, INPUT_PROPERTY))
                span_notes = json.loads(prop(artifact, "span_notes") or "[]")
            elif kind == "ExampleAnomalies":
                data_anomalies = json.loads(prop(artifact, "anomalies") or "[]")
                drift = json.loads(prop(artifact, "drift") or "[]")
                baseline = prop(artifact, "baseline") or ""
                artifacts["data report"] = prop(artifact, "report") or os.path.join(
                    artifact.uri, "report", "data_report.html"
                )
    return RunSummary(
        task=record.pipeline,
        run_id=record.run_id,
        wall_seconds=wall_seconds,
        components=components,
        seconds=record.seconds(),
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
        trivial=trivial,
        baseline=baseline,
        span_notes=span_notes,
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


def describe_trivial(trivial: dict[str, Any]) -> str:
    """One line: the majority class (or mean), the best one-column rule, the candidate, and the verdict."""
    metric = trivial.get("metric", "")
    scores = "; ".join(f"{name} {value:.4f}" for name, value in trivial.get("baselines", []))
    candidate, margin = trivial.get("candidate", float("nan")), trivial.get("margin", 0.0)
    best = trivial.get("best", "")
    verdict = (
        "beaten"
        if trivial.get("passed")
        else f"NOT beaten by the margin {margin:.4f}: not blessed (the model learned no more than {best}; "
        "more data or other columns, or --set evaluator.trivial_baseline=false if the rule is the model you want)"
    )
    return f"trivial baselines ({metric}, eval split): {scores}; candidate {candidate:.4f}: {verdict}"
