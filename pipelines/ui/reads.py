"""What the UI's pages show, read from ML Metadata: runs, DAGs, artifacts, lineage, history, served versions.

Runs and their outcome, one run's DAG, a component's artifacts and pictures, a pushed model's
lineage, metrics and drift across runs, the served versions.

Every run is read through :mod:`pipelines.run_records` and summarized by :func:`pipelines.run_summary.summary_of`,
as ``tfx-keras run`` summarizes its own run. A pipeline's runs are read again only when ML Metadata
changed (its newest execution update), and an evaluation's TFMA metrics once per artifact, so a page
over many runs costs a handful of queries.

Long because each page's reader is here, beside the one cache they share; the drawing and the HTTP side are elsewhere.
"""

from __future__ import annotations

import dataclasses
import datetime
import functools
import json
import os
from collections.abc import Callable, Sequence
from typing import Any

from ml_metadata import metadata_store
from ml_metadata.proto import metadata_store_pb2

from common.layout import MONITOR_DIR, ROLLED_BACK_DIR, model_folders, version_dirs
from common.metadata_names import DECLARED_EDGES, PUSHER_ID, VALIDATOR_ID
from components.lineage import VERDICT_FILE, rejected_dir
from pipelines import run_records
from pipelines.run_records import RunRecord
from pipelines.run_summary import RunSummary, summary_of
from pipelines.tfma_results import read_overall_metrics, read_validation_failures
from pipelines.ui import served as served_page
from pipelines.ui.stores import MetadataSource, StoreError

PICTURES = (".png", ".svg", ".jpg", ".jpeg", ".gif")
DOCUMENTS = (".html", ".json", ".md", ".txt")
NOT_HEADLINES = ("example_count", "loss")


@functools.lru_cache(maxsize=1024)
def _cached_metrics(uri: str) -> dict[str, float]:
    """TFMA's overall metrics of an evaluation (an evaluation's folder never changes once written)."""
    try:
        return read_overall_metrics(uri)
    except Exception:  # noqa: BLE001 - TFMA asserts on an output being written or damaged; the page goes on
        return {}


@functools.lru_cache(maxsize=1024)
def _cached_failures(uri: str) -> tuple[str, ...]:
    try:
        return tuple(read_validation_failures(uri))
    except Exception:  # noqa: BLE001 - as above
        return ()


@dataclasses.dataclass
class Run:
    """One run as the pages show it: its record, its summary, its outcome in words."""

    record: RunRecord
    summary: RunSummary
    running: bool

    @property
    def pipeline(self) -> str:
        """The pipeline (task) it is a run of."""
        return self.record.pipeline

    @property
    def start(self) -> datetime.datetime:
        """When its first component started."""
        return datetime.datetime.fromtimestamp(self.record.start_ms / 1000)

    @property
    def seconds(self) -> float:
        """From its first component's start to its last component's end."""
        return (self.record.end_ms - self.record.start_ms) / 1000

    @property
    def outcome(self) -> tuple[str, str]:
        """(what happened, a CSS class): pushed, not blessed, stopped by data validation, failed at X ..."""
        states = self.summary.components
        if self.running:
            return "running", "running"
        stuck = [node for node, state in states.items() if state in ("FAILED", "RUNNING", "NEW")]
        if stuck:
            if stuck[0] == VALIDATOR_ID:
                return "stopped by data validation", "stopped"
            return f"failed at {stuck[0]}", "failed"
        if self.summary.pushed:
            return "pushed", "pushed"
        if self.summary.blessed is False:
            return "not blessed", "refused"
        if self.summary.infra_blessed is False:
            return "not blessed (cannot serve)", "refused"
        if states.get(PUSHER_ID) == "CACHED":  # as the run summary says: an earlier run already decided
            return "nothing new (cached)", "cached"
        return "ended without a push", "refused"

    @property
    def headline(self) -> tuple[str, float] | None:
        """The metric the Evaluator judged (the first with a margin), else the first that is not a count."""
        metrics = self.summary.metrics
        names = [n for n in self.summary.margins if n in metrics]
        names += sorted(n for n in metrics if n not in NOT_HEADLINES)
        return (names[0], metrics[names[0]]) if names else None


@dataclasses.dataclass
class _Snapshot:
    stamp: tuple[int, int]
    runs: list[Run]
    nodes: list[str]  # every node seen, in the order they first ran
    edges: set[tuple[str, str]]  # producer node -> consumer node, from the events of every run
    _folders: set[str] | None = None

    def folders(self) -> set[str]:
        """The real paths of every output artifact's folder, and of the DataValidator's rejected copies."""
        if self._folders is None:
            uris = {a.uri for run in self.runs for found in run.record.outputs().values() for a in found if a.uri}
            self._folders = {os.path.realpath(u) for u in uris} | {os.path.realpath(rejected_dir(u)) for u in uris}
        return self._folders


def _in_progress(source: MetadataSource, pipeline: str) -> bool | None:
    """Whether a run of ``pipeline`` holds its lock now (None: no way to tell), as a second run would ask."""
    from pipelines import database_lock, local_layout
    from pipelines import metadata_store as stores

    if stores.is_mysql(source.config):
        try:
            return database_lock.database_run_in_progress(source.config, pipeline)
        except stores.MetadataConnectionError:
            return None
    return local_layout.run_in_progress(source.lock_path) if source.lock_path else None


class Catalog:
    """The runs of every pipeline in the UI's stores, read on demand and cached until ML Metadata changes."""

    def __init__(
        self,
        sources: Sequence[MetadataSource],
        output_dir: str,
        read_metrics: Callable[[str], dict[str, float]] = _cached_metrics,
        read_failures: Callable[[str], list[str]] = lambda uri: list(_cached_failures(uri)),
    ) -> None:
        """Open every source (read-only); StoreError when none opens or none holds a run.

        ``read_metrics``/``read_failures`` read an evaluation's folder (TFMA's readers, cached, by default).
        """
        self.output_dir = os.path.abspath(output_dir)
        self._read_metrics = read_metrics
        self._read_failures = read_failures
        self._stores: dict[str, tuple[metadata_store.MetadataStore, MetadataSource]] = {}
        problems = []
        for source in sources:
            try:
                store = metadata_store.MetadataStore(source.config)
                names = [source.pipeline] if source.pipeline else run_records.pipeline_names(store)
            except Exception as err:  # noqa: BLE001 - ML Metadata raises its own status errors
                problems.append(f"{source.pipeline or 'store'}: {str(err).splitlines()[0] if str(err) else err}")
                continue
            for name in names:
                if store.get_context_by_type_and_name("pipeline", name) is not None:
                    self._stores[name] = (store, source)
        if not self._stores:
            detail = f" ({'; '.join(problems)})" if problems else ""
            raise StoreError(
                f"no pipeline run in the ML Metadata of {self.output_dir}{detail}: run a pipeline first "
                "(tfx-keras run TASK --output-dir DIR)"
            )
        self._snapshots: dict[str, _Snapshot] = {}

    @property
    def pipelines(self) -> list[str]:
        """The pipelines shown, by name."""
        return sorted(self._stores)

    def _snapshot(self, pipeline: str) -> _Snapshot:
        store, source = self._stores[pipeline]
        newest = store.get_executions(
            list_options=metadata_store.ListOptions(
                limit=1, order_by=metadata_store.OrderByField.UPDATE_TIME, is_asc=False
            )
        )
        stamp = (newest[0].id, newest[0].last_update_time_since_epoch) if newest else (0, 0)
        cached = self._snapshots.get(pipeline)
        if cached is not None and cached.stamp == stamp and not any(r.running for r in cached.runs):
            return cached
        records = run_records.read_runs(store, pipeline)
        first_seen: dict[str, int] = {}
        for record in records:
            for execution in record.executions:
                node = record.node(execution)
                first_seen[node] = min(first_seen.get(node, execution.id), execution.id)
        nodes = sorted(first_seen, key=first_seen.__getitem__)
        alive = _in_progress(source, pipeline)
        runs = []
        for index, record in enumerate(records):
            unfinished = any(run_records.state_name(e) in ("RUNNING", "NEW") for e in record.executions)
            running = index == 0 and unfinished and alive is not False
            summary = summary_of(record, nodes, read_metrics=self._read_metrics, read_failures=self._read_failures)
            if running:
                summary.components = {n: s if s != "NOT_RUN" else "PENDING" for n, s in summary.components.items()}
            runs.append(Run(record, summary, running))
        self._snapshots[pipeline] = _Snapshot(stamp, runs, nodes, _edges(records))
        return self._snapshots[pipeline]

    def runs(self, pipeline: str | None = None) -> list[Run]:
        """Runs of one pipeline, or of every pipeline, newest first."""
        names = [pipeline] if pipeline else self.pipelines
        found = [run for name in names if name in self._stores for run in self._snapshot(name).runs]
        return sorted(found, key=lambda r: r.record.start_ms, reverse=True)

    def run(self, pipeline: str, run_id: str) -> Run:
        """One run; KeyError if there is no such run."""
        if pipeline not in self._stores:
            raise KeyError(pipeline)
        for run in self._snapshot(pipeline).runs:
            if run.record.run_id == run_id:
                return run
        raise KeyError(run_id)

    def dag(self, pipeline: str) -> tuple[list[str], set[tuple[str, str]], set[tuple[str, str]]]:
        """The pipeline's components (in the order they first ran), its edges, and its declared edges.

        Edges (producer, consumer) are those ML Metadata's events show; declared ones, those the pipeline
        wires that no event shows (a resolver that never resolved a baseline, the validator's gate before
        the Transform).
        """
        snapshot = self._snapshot(pipeline)
        nodes = set(snapshot.nodes)
        declared = {(a, b) for a, b in DECLARED_EDGES if a in nodes and b in nodes} - snapshot.edges
        return snapshot.nodes, snapshot.edges, declared

    def component(self, run: Run, node: str) -> dict[str, Any]:
        """A component's execution in a run: state, seconds, properties, input and output artifacts, pictures."""
        record = run.record
        executions = [e for e in record.executions if record.node(e) == node]
        inputs = record.inputs().get(node, [])
        outputs = record.outputs().get(node, [])
        execution = executions[-1] if executions else None
        props = {}
        if execution is not None:
            for key, value in [*execution.properties.items(), *execution.custom_properties.items()]:
                kind = value.WhichOneof("value")
                props[key] = getattr(value, kind) if kind else None
        return {
            "node": node,
            "state": run.summary.components.get(node, "NOT_RUN"),
            "seconds": run.summary.seconds.get(node),
            "execution": execution,
            "properties": props,
            "inputs": [self.describe_artifact(record, a) for a in inputs],
            "outputs": [self.describe_artifact(record, a, with_files=True) for a in outputs],
            "rejected": [found for a in outputs if (found := rejected_data(a.uri))],
        }

    def linked_file(self, path: str) -> str | None:
        """``path`` as a real path if a page links it: a picture or document in an artifact's folder, else None.

        Nothing else under the output folder is served (ML Metadata's files, logs, model weights), and
        an artifact of any store the UI shows counts, wherever its folder is (a shared database's runs
        from other output folders too).
        """
        real = os.path.realpath(path)
        if not real.lower().endswith((*PICTURES, *DOCUMENTS)) or not os.path.isfile(real):
            return None
        if real.startswith(os.path.realpath(os.path.join(self.output_dir, MONITOR_DIR)) + os.sep):
            return real  # the reports of `tfx-keras monitor`, which the Served page links
        folders = set()
        for pipeline in self.pipelines:
            folders |= self._snapshot(pipeline).folders()
        parent = os.path.dirname(real)
        while parent and parent != os.path.dirname(parent):
            if parent in folders:
                return real
            parent = os.path.dirname(parent)
        return None

    def describe_artifact(
        self, record: RunRecord, artifact: metadata_store_pb2.Artifact, with_files: bool = False
    ) -> dict[str, Any]:
        """An artifact for a page: id, type, URI, state, properties, and the pictures and documents in its folder."""
        files = find_files(artifact.uri) if with_files else {"pictures": [], "documents": []}
        return {
            "id": artifact.id,
            "type": record.type_name(artifact),
            "uri": artifact.uri,
            "state": metadata_store_pb2.Artifact.State.Name(artifact.state),
            "properties": run_records.properties(artifact),
            **files,
        }

    def lineage(self, pipeline: str, artifact_id: int) -> dict[str, Any]:
        """What a model (or any artifact) came from: every artifact and execution upstream of it."""
        store, _ = self._stores[pipeline]
        snapshot = self._snapshot(pipeline)
        run_of = {e.id: run for run in snapshot.runs for e in run.record.executions}
        node_of = snapshot.runs[0].record.node_of if snapshot.runs else {}
        type_names = {t.id: t.name for t in store.get_artifact_types()}
        artifacts: dict[int, metadata_store_pb2.Artifact] = {}
        executions: dict[int, dict[str, Any]] = {}
        edges: set[tuple[str, str]] = set()
        frontier = [artifact_id]
        for _ in range(20):  # lineage is a few steps deep; a bound in case a store holds a loop
            if not frontier:
                break
            found = store.get_artifacts_by_id(frontier)
            artifacts.update({a.id: a for a in found})
            first_writer: dict[int, int] = {}  # the execution that made it, not the cached runs that reused it
            for ev in store.get_events_by_artifact_ids(frontier):
                if ev.type in run_records.OUTPUT_EVENTS:
                    first_writer[ev.artifact_id] = min(
                        first_writer.get(ev.artifact_id, ev.execution_id), ev.execution_id
                    )
            edges.update((f"e{e}", f"a{a}") for a, e in first_writer.items())
            producers = {e: a for a, e in first_writer.items() if e not in executions}
            if not producers:
                break
            frontier = []
            for ev in store.get_events_by_execution_ids(list(producers)):
                if ev.type == metadata_store_pb2.Event.INPUT:
                    edges.add((f"a{ev.artifact_id}", f"e{ev.execution_id}"))
                    if ev.artifact_id not in artifacts:
                        frontier.append(ev.artifact_id)
            for execution_id in producers:
                run = run_of.get(execution_id)
                executions[execution_id] = {
                    "id": execution_id,
                    "node": node_of.get(execution_id, str(execution_id)),
                    "run_id": run.record.run_id if run else None,
                    "cached": run is not None and run.summary.components.get(node_of.get(execution_id, "")) == "CACHED",
                }
            frontier = sorted(set(frontier))
        producer: dict[str, str] = {}
        for src, dst in sorted(edges, key=lambda edge: int(edge[0][1:])):
            if src.startswith("e"):
                producer.setdefault(dst, src)  # the first execution that wrote it (a resolver passes it on later)
        described = []
        for artifact in sorted(artifacts.values(), key=lambda a: a.id):
            made_by = executions.get(int(producer.get(f"a{artifact.id}", "e0")[1:]))
            item = {
                "id": artifact.id,
                "type": type_names.get(artifact.type_id, ""),
                "uri": artifact.uri,
                "properties": run_records.properties(artifact),
                "producer": made_by,
            }
            if item["type"] == "ModelEvaluation":
                item["metrics"] = self._read_metrics(artifact.uri)
            described.append(item)
        return {"artifacts": described, "executions": executions, "edges": edges, "served": self.served_as(artifact_id)}

    def served_as(self, artifact_id: int) -> dict[str, Any] | None:
        """The served version a PushedModel artifact is, if its folder is still in the serving root."""
        for served in self.served():
            if served.get("pushed_model") == artifact_id:
                return served
        return None

    def served(self) -> list[dict[str, Any]]:
        """Every version in ``<output-dir>/serving/``, newest first, with the run that pushed it."""
        pushes: dict[str, tuple[Run, metadata_store_pb2.Artifact]] = {}
        for run in self.runs():
            for node, artifacts in run.record.outputs().items():
                for artifact in artifacts:
                    destination = run_records.custom_property(artifact, "pushed_destination")
                    if destination and run.summary.components.get(node) == "COMPLETE":
                        pushes[os.path.realpath(destination)] = (run, artifact)
        serving_root = os.path.join(self.output_dir, "serving")
        labelled, skew = served_page.labels(serving_root), served_page.skew_results(self.output_dir)
        found = []
        for model, folder in model_folders(serving_root).items():
            versions = version_dirs(folder)
            for version, path in sorted(versions.items(), reverse=True):
                run, artifact = pushes.get(os.path.realpath(path), (None, None))
                found.append(
                    {
                        "model": model,
                        "version": version,
                        "path": path,
                        "latest": version == max(versions),
                        "run": run,
                        "pushed_model": artifact.id if artifact is not None else None,
                        "labels": labelled.get(model, {}).get(version, []),
                        "skew": skew.get((model, version)),
                    }
                )
        return found

    def label_moves(self) -> list[dict[str, Any]]:
        """The label moves recorded beside ``<output-dir>/serving/models.config``, newest first."""
        return served_page.label_moves(os.path.join(self.output_dir, "serving"))

    def rolled_back(self) -> list[dict[str, Any]]:
        """The versions ``tfx-keras serving rollback`` took out of ``<output-dir>/serving/``, newest first."""
        serving = os.path.join(self.output_dir, "serving")
        pushes = {}
        for run in self.runs():
            for artifacts in run.record.outputs().values():
                for artifact in artifacts:
                    if destination := run_records.custom_property(artifact, "pushed_destination"):
                        pushes[os.path.realpath(destination)] = (run, artifact)
        found = []
        for model, folder in model_folders(os.path.join(serving, ROLLED_BACK_DIR)).items():
            for version, path in sorted(version_dirs(folder).items(), reverse=True):
                run, artifact = pushes.get(os.path.realpath(os.path.join(serving, model, str(version))), (None, None))
                when = run_records.custom_property(artifact, "rolled_back_at") if artifact is not None else None
                found.append({"model": model, "version": version, "path": path, "run": run, "when": when})
        return found

    def history(self, pipeline: str) -> dict[str, Any]:
        """Across runs: metrics of each new evaluation over time, drift per span, anomalies per span."""
        metrics: dict[str, list[tuple[datetime.datetime, float]]] = {}
        drift: dict[str, dict[str, Any]] = {}
        anomalies: dict[int, dict[str, Any]] = {}
        for run in reversed(self._snapshot(pipeline).runs):  # oldest first
            summary = run.summary
            if summary.components.get("Evaluator") == "COMPLETE":
                for name, value in summary.metrics.items():
                    if name != "example_count":
                        metrics.setdefault(name, []).append((run.start, value))
            if summary.span is None or summary.components.get(VALIDATOR_ID) not in ("COMPLETE", "FAILED"):
                continue
            for measure in summary.drift:
                key = f"{measure['feature']} ({measure['measure'].lower()})"
                entry = drift.setdefault(key, {"threshold": measure["threshold"], "points": {}})
                entry["points"][summary.span] = measure["value"]
            stopped = summary.components.get(VALIDATOR_ID) == "FAILED"
            anomalies[summary.span] = {"count": len(summary.data_anomalies), "stopped": stopped}
        return {"metrics": metrics, "drift": drift, "anomalies": anomalies}


def _edges(records: Sequence[RunRecord]) -> set[tuple[str, str]]:
    """Producer node -> consumer node, wherever one component read what another wrote.

    A resolver writes nothing: it records what it resolved as INTERNAL_OUTPUT events. What it resolved
    from this run (the Trainer's candidate, the StatisticsGen's statistics) makes an edge into it; what
    it resolved from an earlier run (the baseline model) and a node of this run read makes an edge out of it.
    """
    producers: dict[int, set[str]] = {}
    for record in records:
        for event in record.events:
            if event.type in run_records.OUTPUT_EVENTS:
                producers.setdefault(event.artifact_id, set()).add(record.node_of.get(event.execution_id, ""))
    edges = set()
    for record in records:
        made_here = {e.artifact_id for e in record.events if e.type in run_records.OUTPUT_EVENTS}
        resolved: dict[int, set[str]] = {}  # artifact id -> the resolvers that passed it on in this run
        for event in record.events:
            if event.type == metadata_store_pb2.Event.INTERNAL_OUTPUT:
                resolver = record.node_of.get(event.execution_id, "")
                resolved.setdefault(event.artifact_id, set()).add(resolver)
                if event.artifact_id in made_here:
                    edges.update((p, resolver) for p in producers.get(event.artifact_id, ()) if p and p != resolver)
        for event in record.events:
            if event.type == metadata_store_pb2.Event.INPUT:
                consumer = record.node_of.get(event.execution_id, "")
                edges.update((p, consumer) for p in producers.get(event.artifact_id, ()) if p and p != consumer)
                if event.artifact_id not in made_here:
                    edges.update((r, consumer) for r in resolved.get(event.artifact_id, ()) if r and r != consumer)
    return edges


def find_files(uri: str, max_depth: int = 3, max_entries: int = 2000) -> dict[str, list[str]]:
    """The pictures and documents (HTML, JSON, Markdown) a component wrote in an artifact's folder."""
    pictures: list[str] = []
    documents: list[str] = []
    if not os.path.isdir(uri):
        return {"pictures": pictures, "documents": documents}
    seen = 0
    base_depth = uri.rstrip(os.sep).count(os.sep)
    for folder, subfolders, names in os.walk(uri):
        seen += len(names) + len(subfolders)
        if folder.count(os.sep) - base_depth >= max_depth or seen > max_entries:
            subfolders[:] = []
        subfolders[:] = sorted(s for s in subfolders if s not in ("variables", "assets", "logs"))
        for name in sorted(names):
            path = os.path.join(folder, name)
            if name.lower().endswith(PICTURES):
                pictures.append(path)
            elif name.lower().endswith(DOCUMENTS) and os.path.getsize(path) < 5_000_000:
                documents.append(path)
    return {"pictures": pictures, "documents": documents}


def rejected_data(uri: str) -> dict[str, Any] | None:
    """What the DataValidator kept of a span it stopped (its anomalies, the data report), or None."""
    folder = rejected_dir(uri)
    verdict_path = os.path.join(folder, VERDICT_FILE)
    if not os.path.isfile(verdict_path):
        return None
    try:
        with open(verdict_path, encoding="utf-8") as f:
            verdict = json.load(f)
    except (OSError, ValueError):
        verdict = {}
    return {
        "folder": folder,
        "span": verdict.get("span"),
        "anomalies": verdict.get("anomalies", []),
        **find_files(folder),
    }


def warm_up() -> None:
    """Import TFMA on a thread now (seconds), so the first page that shows metrics does not wait for it."""
    import threading

    threading.Thread(target=lambda: __import__("tensorflow_model_analysis"), daemon=True).start()


def json_preview(path: str, limit: int = 4000) -> str:
    """A small JSON file pretty-printed for a page (cut at ``limit`` characters)."""
    try:
        with open(path) as handle:
            text = json.dumps(json.load(handle), indent=2, sort_keys=True)
    except (OSError, ValueError):
        return ""
    return text if len(text) <= limit else text[:limit] + "\n..."
