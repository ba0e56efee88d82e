"""What ML Metadata's lineage says about the data of earlier runs: which spans were validated or stopped.

The resolvers that choose a run's training window (:mod:`components.span_window`) and its drift
baseline (:mod:`components.baseline_resolver`), and the run summary that names both, ask the same
questions of the same store; the answers are here, once:

* which Examples a validated statistics artifact describes (validated statistics -> the statistics
  they re-publish -> StatisticsGen's input);
* which spans the DataValidator stopped, when, and for what (its failed executions and the verdict it
  kept beside the rejected report);
* which runs failed after their data was validated;
* whether the files a span was read from are still in the input folder;
* the spans a pushed model was trained on (PushedModel -> Pusher -> blessing -> Model -> Trainer ->
  transformed examples -> Transform -> Examples).

Everything takes and returns ML Metadata protos (``metadata_store_pb2.Artifact``); a TFX artifact's
is its ``mlmd_artifact``.
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import os
from collections.abc import Iterable, Sequence
from typing import Any

from ml_metadata.proto import metadata_store_pb2

from common.metadata_names import INPUT_PROPERTY, VALIDATOR_ID

SOURCE_STATISTICS_ID = "source_statistics_id"  # set by DataValidator on the statistics it re-publishes
ALLOWED_ANOMALIES_KEY = "allowed_anomalies"  # set by DataValidator when validation.allow_anomalies let them pass
VERDICT_FILE = "verdict.json"  # kept by DataValidator beside a rejected span's report: span, anomalies, time
_OUTPUTS = (metadata_store_pb2.Event.OUTPUT, metadata_store_pb2.Event.PENDING_OUTPUT)
_INPUT = metadata_store_pb2.Event.INPUT


def int_property(artifact: metadata_store_pb2.Artifact, key: str) -> int:
    """An integer custom property (0 when absent)."""
    value = artifact.custom_properties.get(key)
    return int(value.int_value) if value is not None else 0


def string_property(artifact: metadata_store_pb2.Artifact, key: str) -> str:
    """A string custom property ("" when absent)."""
    value = artifact.custom_properties.get(key)
    return value.string_value if value is not None else ""


def span_of(artifact: metadata_store_pb2.Artifact) -> int | None:
    """The span of an Examples or statistics artifact (its ``span`` property), if it has one."""
    if "span" in artifact.properties:
        return int(artifact.properties["span"].int_value)
    return None


def producer_inputs(store: Any, artifact_ids: Iterable[int]) -> dict[int, list[int]]:
    """Artifact id -> the ids of the input artifacts of the execution(s) that produced it."""
    ids = list(dict.fromkeys(artifact_ids))
    if store is None or not ids:
        return {}
    producers: dict[int, set[int]] = {}
    for event in store.get_events_by_artifact_ids(ids):
        if event.type in _OUTPUTS:
            producers.setdefault(event.artifact_id, set()).add(event.execution_id)
    executions = sorted({e for found in producers.values() for e in found})
    inputs: dict[int, list[int]] = {}
    for event in store.get_events_by_execution_ids(executions) if executions else []:
        if event.type == _INPUT:
            inputs.setdefault(event.execution_id, []).append(event.artifact_id)
    return {
        artifact: sorted({i for execution in found for i in inputs.get(execution, [])})
        for artifact, found in producers.items()
    }


def examples_behind(store: Any, validated: Sequence[metadata_store_pb2.Artifact]) -> dict[int, set[int]]:
    """Validated statistics id -> the ids of the artifacts their statistics were computed from (StatisticsGen input)."""
    sources = {a.id: int_property(a, SOURCE_STATISTICS_ID) for a in validated}
    inputs = producer_inputs(store, [s for s in sources.values() if s])
    return {artifact: set(inputs.get(source, [])) for artifact, source in sources.items()}


def failed_run_artifacts(store: Any, artifact_ids: Sequence[int], running_ok: Iterable[int] = ()) -> set[int]:
    """The artifacts (of ``artifact_ids``) every run of which, original or cached, had a failed execution.

    A run counts as failed if one of its executions FAILED, or is still RUNNING (a driver's failure, a
    killed process) unless the run is one of ``running_ok`` (pipeline_run context ids: the run that asks).
    """
    if store is None or not artifact_ids:
        return set()
    ok = set(running_ok)
    producers: dict[int, set[int]] = {}
    for event in store.get_events_by_artifact_ids(list(artifact_ids)):
        if event.type in _OUTPUTS:
            producers.setdefault(event.artifact_id, set()).add(event.execution_id)
    verdicts: dict[int, bool] = {}

    def run_failed(execution_id: int) -> bool:
        runs = [c for c in store.get_contexts_by_execution(execution_id) if c.type == "pipeline_run"]
        for run in runs:
            if run.id not in verdicts:
                states = {e.last_known_state for e in store.get_executions_by_context(run.id)}
                bad = {metadata_store_pb2.Execution.FAILED}
                if run.id not in ok:
                    bad.add(metadata_store_pb2.Execution.RUNNING)
                verdicts[run.id] = bool(states & bad)
        return bool(runs) and all(verdicts[run.id] for run in runs)

    return {artifact for artifact, executions in producers.items() if all(run_failed(e) for e in executions)}


def files_present(artifact: metadata_store_pb2.Artifact) -> bool:
    """True unless the Examples were read from files and one of those files is gone from the input folder.

    Examples made by a generator or read from TFDS record no files: they are always present.
    """
    recorded = string_property(artifact, INPUT_PROPERTY)
    if not recorded:
        return True
    import tensorflow as tf

    try:
        read = json.loads(recorded)
    except ValueError:
        return True
    base = read.get("input_base") or ""
    files = [f for split in (read.get("splits") or {}).values() for f in split.get("files", [])]
    return all(tf.io.gfile.exists(f if "://" in f or os.path.isabs(f) else os.path.join(base, f)) for f in files)


@dataclasses.dataclass(frozen=True)
class StoppedSpan:
    """A span the DataValidator stopped: when, and its first anomaly (and how many there were)."""

    span: int
    when: str  # the date the run stopped it, YYYY-MM-DD HH:MM (UTC)
    first_anomaly: str
    anomalies: int

    def reason(self) -> str:
        """``span 2 was stopped on 2026-12-07 09:14: <first anomaly> (and 3 more)``."""
        more = f" (and {self.anomalies - 1} more)" if self.anomalies > 1 else ""
        return f"span {self.span} was stopped on {self.when}: {self.first_anomaly}{more}"


def rejected_dir(anomalies_uri: str) -> str:
    """``<component dir>/rejected/<execution>``: where the DataValidator keeps a rejected span's report."""
    execution = os.path.basename(anomalies_uri.rstrip("/"))
    return os.path.join(os.path.dirname(os.path.dirname(anomalies_uri.rstrip("/"))), "rejected", execution)


def stopped_by_validation(store: Any, examples_ids: Sequence[int], validator_type: str) -> dict[int, StoppedSpan]:
    """Examples id -> how the DataValidator (executions of type ``validator_type``) stopped it, newest stop."""
    import tensorflow as tf

    if store is None or not examples_ids:
        return {}
    readers: dict[int, list[int]] = {}
    for event in store.get_events_by_artifact_ids(list(examples_ids)):
        if event.type == _INPUT:
            readers.setdefault(event.execution_id, []).append(event.artifact_id)
    if not readers:
        return {}
    types = {t.id: t.name for t in store.get_execution_types()}
    failed = [
        e
        for e in store.get_executions_by_id(sorted(readers))
        if types.get(e.type_id) == validator_type and e.last_known_state == metadata_store_pb2.Execution.FAILED
    ]
    outputs: dict[int, list[int]] = {}
    for event in store.get_events_by_execution_ids([e.id for e in failed]) if failed else []:
        if event.type in _OUTPUTS:
            outputs.setdefault(event.execution_id, []).append(event.artifact_id)
    wanted = sorted({i for v in outputs.values() for i in v} | set(examples_ids))
    artifacts = {a.id: a for a in store.get_artifacts_by_id(wanted)}
    uris = {i: a.uri for i, a in artifacts.items()}
    found: dict[int, StoppedSpan] = {}
    for execution in sorted(failed, key=lambda e: e.id):
        # Where the DataValidator kept the verdict: beside its outputs (<root>/<node>/rejected/<execution>); TFX
        # records no output of a failed execution, so the root is found from the examples' URI as well.
        places = [rejected_dir(uris[a]) for a in outputs.get(execution.id, []) if uris.get(a)]
        for examples in readers[execution.id]:
            root = os.path.dirname(os.path.dirname(os.path.dirname(uris.get(examples, "").rstrip("/"))))
            places.append(os.path.join(root, VALIDATOR_ID, "rejected", str(execution.id)))
        verdict: dict[str, Any] = {}
        for place in places:
            path = os.path.join(place, VERDICT_FILE)
            if tf.io.gfile.exists(path):
                with tf.io.gfile.GFile(path) as f:
                    verdict = json.load(f)
                break
        anomalies = list(verdict.get("anomalies") or [])
        when = datetime.datetime.fromtimestamp(execution.create_time_since_epoch / 1000, tz=datetime.timezone.utc)
        for examples in readers[execution.id]:
            span = span_of(artifacts[examples]) if examples in artifacts else None
            found[examples] = StoppedSpan(
                span=int(verdict.get("span", span if span is not None else -1)),
                when=when.strftime("%Y-%m-%d %H:%M UTC"),
                first_anomaly=anomalies[0] if anomalies else "its data did not pass validation",
                anomalies=len(anomalies),
            )
    return found


def trained_examples(store: Any, pushed_model: metadata_store_pb2.Artifact) -> list[metadata_store_pb2.Artifact]:
    """The raw Examples the pushed model was trained on (Transform's input), several with a window of spans.

    PushedModel -> the Pusher's input blessing -> its ``current_model_id`` -> the Trainer's input
    (transformed examples) -> the Transform's input Examples. Empty if any link is missing.
    """
    blessings = producer_inputs(store, [pushed_model.id]).get(pushed_model.id, [])
    model_ids = set()
    for blessing in store.get_artifacts_by_id(blessings) if blessings else []:
        if int_property(blessing, "current_model_id"):
            model_ids.add(int_property(blessing, "current_model_id"))
    trainer_inputs = {i for ids in producer_inputs(store, model_ids).values() for i in ids}
    transform_inputs = {i for ids in producer_inputs(store, trainer_inputs).values() for i in ids}
    examples_type = store.get_artifact_type("Examples").id
    raw_ids = sorted(transform_inputs - trainer_inputs)  # not the transformed examples (a Tuner reads them too)
    raw = [a for a in store.get_artifacts_by_id(raw_ids) if a.type_id == examples_type] if raw_ids else []
    return [a for a in raw if span_of(a) is not None]


def node_examples(
    store: Any, pipeline: str, node: str, type_name: str = "Examples"
) -> list[metadata_store_pb2.Artifact]:
    """The LIVE artifacts of ``type_name`` attributed to node ``node`` of ``pipeline`` (e.g. every span read)."""
    from ml_metadata import errors

    context = store.get_context_by_type_and_name("node", f"{pipeline}.{node}") if pipeline and node else None
    if context is None:
        return []
    try:
        artifact_type = store.get_artifact_type(type_name)
    except errors.NotFoundError:
        return []
    return [
        a
        for a in store.get_artifacts_by_context(context.id)
        if a.type_id == artifact_type.id and a.state == metadata_store_pb2.Artifact.LIVE
    ]
