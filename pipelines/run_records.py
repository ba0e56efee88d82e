"""The runs of a pipeline as ML Metadata holds them: one mechanism for every reader of a run.

A :class:`RunRecord` is one run's executions, the component (node) of each, their events and the
artifacts those name. :func:`read_run` reads one run (the summary at the end of ``tfx-keras run``);
:func:`read_runs` reads every run of a pipeline in a fixed, small number of queries (the UI's pages).
:mod:`pipelines.run_summary` and :mod:`pipelines.ui` both read runs through here. Needs only
``ml_metadata``: no TFX, TFT or TensorFlow.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from typing import Any

from google.protobuf import json_format
from ml_metadata import metadata_store
from ml_metadata.proto import metadata_store_pb2

OUTPUT_EVENTS = (metadata_store_pb2.Event.OUTPUT, metadata_store_pb2.Event.PENDING_OUTPUT)


def state_name(execution: metadata_store_pb2.Execution) -> str:
    """COMPLETE, CACHED, FAILED, RUNNING ... of an execution."""
    return metadata_store_pb2.Execution.State.Name(execution.last_known_state)


def custom_property(artifact: metadata_store_pb2.Artifact, key: str) -> Any:
    """A custom property's value: a string, an int, a float, or a JSON value (as JSON text); None if absent."""
    value = artifact.custom_properties.get(key)
    if value is None:
        return None
    if value.HasField("struct_value"):  # set_json_value_custom_property: a JSON value in a Struct
        decoded = json_format.MessageToDict(value.struct_value)  # a dict is stored as is, anything else wrapped
        return json.dumps(decoded["__value__"] if set(decoded) == {"__value__"} else decoded)
    if value.HasField("double_value"):
        return value.double_value
    return value.string_value or value.int_value


def span_of(artifact: metadata_store_pb2.Artifact) -> int | None:
    """An Examples artifact's span: its ``span`` property, else its ``span`` custom property; None if neither.

    TFDSExampleGen keeps its span 0 as a custom property.
    """
    if "span" in artifact.properties:
        return artifact.properties["span"].int_value
    value = custom_property(artifact, "span")
    return None if value is None or value == "" else int(value)


def properties(artifact: metadata_store_pb2.Artifact) -> dict[str, Any]:
    """Every property and custom property of an artifact, by name (JSON values decoded)."""
    out: dict[str, Any] = {}
    for key, value in artifact.properties.items():
        out[key] = getattr(value, value.WhichOneof("value")) if value.WhichOneof("value") else None
    for key in artifact.custom_properties:
        value = custom_property(artifact, key)
        if isinstance(value, str) and value[:1] in "[{":
            try:
                value = json.loads(value)
            except ValueError:
                pass
        out[key] = value
    return out


@dataclasses.dataclass
class RunRecord:
    """One run of a pipeline: its executions, their components, events and artifacts."""

    pipeline: str
    run: metadata_store_pb2.Context
    executions: list[metadata_store_pb2.Execution]
    node_of: dict[int, str]  # execution id -> node id
    events: list[metadata_store_pb2.Event]
    artifacts: dict[int, metadata_store_pb2.Artifact]  # every artifact the events name
    type_names: dict[int, str]  # artifact type id -> name

    @property
    def run_id(self) -> str:
        """The run's id (its ``pipeline_run`` context's name)."""
        return self.run.name

    @property
    def start_ms(self) -> int:
        """When the run's first execution started (ms since the epoch)."""
        times = [e.create_time_since_epoch for e in self.executions]
        return min(times) if times else self.run.create_time_since_epoch

    @property
    def end_ms(self) -> int:
        """When the run's last execution was last updated (ms since the epoch)."""
        times = [e.last_update_time_since_epoch for e in self.executions]
        return max(times) if times else self.run.last_update_time_since_epoch

    def node(self, execution: metadata_store_pb2.Execution) -> str:
        """The node id of one of the run's executions."""
        return self.node_of.get(execution.id, str(execution.id))

    def states(self) -> dict[str, str]:
        """Node id -> state of its (last) execution in this run, in execution order."""
        return {self.node(e): state_name(e) for e in sorted(self.executions, key=lambda e: e.id)}

    def seconds(self) -> dict[str, float]:
        """Node id -> wall time of its execution, from ML Metadata's timestamps."""
        return {
            self.node(e): (e.last_update_time_since_epoch - e.create_time_since_epoch) / 1000
            for e in sorted(self.executions, key=lambda e: e.id)
        }

    def _by_node(self, kinds: Sequence[int]) -> dict[str, list[metadata_store_pb2.Artifact]]:
        found: dict[str, list[metadata_store_pb2.Artifact]] = {}
        for event in self.events:
            if event.type in kinds and event.artifact_id in self.artifacts:
                found.setdefault(self.node_of.get(event.execution_id, ""), []).append(self.artifacts[event.artifact_id])
        return found

    def outputs(self) -> dict[str, list[metadata_store_pb2.Artifact]]:
        """Node id -> the artifacts its execution in this run wrote."""
        return self._by_node(OUTPUT_EVENTS)

    def inputs(self) -> dict[str, list[metadata_store_pb2.Artifact]]:
        """Node id -> the artifacts its execution in this run read."""
        return self._by_node((metadata_store_pb2.Event.INPUT,))

    def type_name(self, artifact: metadata_store_pb2.Artifact) -> str:
        """The artifact's type name (``Examples``, ``Model`` ...)."""
        return self.type_names.get(artifact.type_id, "")


def node_names(store: metadata_store.MetadataStore, pipeline: str) -> dict[int, str]:
    """Execution id -> node id for every execution of ``pipeline`` (one query per node context)."""
    prefix = f"{pipeline}."
    node_of: dict[int, str] = {}
    for ctx in store.get_contexts_by_type("node"):
        if ctx.name.startswith(prefix):
            for execution in store.get_executions_by_context(ctx.id):
                node_of[execution.id] = ctx.name[len(prefix) :]
    return node_of


def pipeline_names(store: metadata_store.MetadataStore) -> list[str]:
    """The pipelines a store holds runs of."""
    return sorted(c.name for c in store.get_contexts_by_type("pipeline"))


def _records(
    store: metadata_store.MetadataStore,
    pipeline: str,
    runs: Sequence[metadata_store_pb2.Context],
    executions_of: dict[int, list[metadata_store_pb2.Execution]],
) -> list[RunRecord]:
    node_of = node_names(store, pipeline)
    all_ids = [e.id for run in runs for e in executions_of[run.id]]
    events = store.get_events_by_execution_ids(all_ids) if all_ids else []
    artifact_ids = sorted({ev.artifact_id for ev in events})
    artifacts = {a.id: a for a in store.get_artifacts_by_id(artifact_ids)} if artifact_ids else {}
    type_names = {t.id: t.name for t in store.get_artifact_types()}
    events_of: dict[int, list[metadata_store_pb2.Event]] = {}
    for event in events:
        events_of.setdefault(event.execution_id, []).append(event)
    records = []
    for run in runs:
        executions = executions_of[run.id]
        run_events = [ev for e in executions for ev in events_of.get(e.id, [])]
        named = {ev.artifact_id: artifacts[ev.artifact_id] for ev in run_events if ev.artifact_id in artifacts}
        records.append(RunRecord(pipeline, run, executions, node_of, run_events, named, type_names))
    return records


def read_runs(store: metadata_store.MetadataStore, pipeline: str) -> list[RunRecord]:
    """Every run of ``pipeline``, newest first (a few queries per run, not per execution)."""
    pipeline_ctx = store.get_context_by_type_and_name("pipeline", pipeline)
    if pipeline_ctx is None:
        return []
    in_pipeline = {e.id for e in store.get_executions_by_context(pipeline_ctx.id)}
    runs, executions_of = [], {}
    for ctx in store.get_contexts_by_type("pipeline_run"):
        executions = [e for e in store.get_executions_by_context(ctx.id) if e.id in in_pipeline]
        if executions:
            runs.append(ctx)
            executions_of[ctx.id] = executions
    records = _records(store, pipeline, runs, executions_of)
    return sorted(records, key=lambda r: (r.run.create_time_since_epoch, r.run.id), reverse=True)


def read_run(store: metadata_store.MetadataStore, pipeline: str, run_id: str | None = None) -> RunRecord:
    """Run ``run_id`` of ``pipeline`` (default: the latest); RuntimeError when there is none."""
    if store.get_context_by_type_and_name("pipeline", pipeline) is None:
        raise RuntimeError(f"no pipeline {pipeline!r} in this ML Metadata")
    if run_id is None:
        runs = read_runs(store, pipeline)
        if not runs:
            raise RuntimeError(f"no run of {pipeline!r} in this ML Metadata")
        return runs[0]
    run = store.get_context_by_type_and_name("pipeline_run", run_id)
    if run is None:
        raise RuntimeError(f"no run {run_id!r} of {pipeline!r} in this ML Metadata")
    return _records(store, pipeline, [run], {run.id: store.get_executions_by_context(run.id)})[0]


def nodes_of(store: metadata_store.MetadataStore, executions: Sequence[metadata_store_pb2.Execution]) -> dict[int, str]:
    """The node id of each of a few executions, from its node context (``<pipeline>.<node>``)."""
    node_contexts = {c.id: c.name.split(".", 1)[-1] for c in store.get_contexts_by_type("node")}
    node_of: dict[int, str] = {}
    for execution in executions:
        for ctx in store.get_contexts_by_execution(execution.id):
            if ctx.id in node_contexts:
                node_of[execution.id] = node_contexts[ctx.id]
    return node_of
