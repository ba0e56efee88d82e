"""A tiny ML Metadata store written with the ml_metadata API, shaped as a local run writes it, for the UI's tests.

Three runs of pipeline ``tiny``: one that trains and pushes version 5, one cached end to end, and one
stopped by data validation on span 2. Components: ExampleGen -> DataValidator -> Trainer -> Evaluator
-> AtomicPusher.
"""

from __future__ import annotations

import json
from pathlib import Path

from ml_metadata import metadata_store
from ml_metadata.proto import metadata_store_pb2 as pb

from components.lineage import VERDICT_FILE, rejected_dir
from pipelines.metadata_store import connection_config

PIPELINE = "tiny"
STOPPED_BECAUSE = "split train, feature x: Drift. jensen_shannon 0.4 > 0.1"
NODES = ["ExampleGen", "DataValidator", "Trainer", "Evaluator", "AtomicPusher"]
# A 1x1 PNG.
PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c4890000000d49444154789c6360f8cf"
    "c0f01f0005000201a5f0b1c90000000049454e44ae426082"
)


def _type(store: metadata_store.MetadataStore, kind: type, name: str) -> int:
    message = kind(name=name)
    if name == "Examples":
        message.properties["span"] = pb.INT  # as TFX declares it
    put = {pb.ArtifactType: store.put_artifact_type, pb.ExecutionType: store.put_execution_type,
           pb.ContextType: store.put_context_type}[kind]  # fmt: skip
    return put(message)


class _Writer:
    def __init__(self, store: metadata_store.MetadataStore, root: Path) -> None:
        self.store, self.root = store, root
        self.ctx_types = {n: _type(store, pb.ContextType, n) for n in ("pipeline", "pipeline_run", "node")}
        self.exec_type = _type(store, pb.ExecutionType, "tiny.Component")
        names = ("Examples", "ExampleAnomalies", "Model", "ModelEvaluation", "ModelBlessing", "PushedModel")
        self.art_types = {n: _type(store, pb.ArtifactType, n) for n in names}
        self.pipeline = self.context("pipeline", PIPELINE)
        self.nodes = {n: self.context("node", f"{PIPELINE}.{n}") for n in NODES}

    def context(self, kind: str, name: str) -> pb.Context:
        context = pb.Context(type_id=self.ctx_types[kind], name=name)
        [context.id] = self.store.put_contexts([context])
        return context

    def artifact(self, kind: str, execution_id: int, **props: object) -> pb.Artifact:
        uri = self.root / "pipelines" / PIPELINE / kind / str(execution_id)
        uri.mkdir(parents=True, exist_ok=True)
        artifact = pb.Artifact(type_id=self.art_types[kind], uri=str(uri), state=pb.Artifact.LIVE)
        for key, value in props.items():
            if key == "span":
                artifact.properties["span"].int_value = int(value)
            elif isinstance(value, int):
                artifact.custom_properties[key].int_value = value
            else:
                artifact.custom_properties[key].string_value = value if isinstance(value, str) else json.dumps(value)
        [artifact.id] = self.store.put_artifacts([artifact])
        return artifact

    def execute(self, run_ctx: pb.Context, node: str, state: int, inputs: list[pb.Artifact], outputs: dict) -> int:
        """Record one execution of ``node``; ``outputs``: type -> properties (a new artifact), or an artifact."""
        execution = pb.Execution(type_id=self.exec_type, last_known_state=state)
        [execution_id] = self.store.put_executions([execution])
        made = [o if isinstance(o, pb.Artifact) else self.artifact(k, execution_id, **o) for k, o in outputs.items()]
        events = [pb.Event(artifact_id=a.id, type=pb.Event.INPUT) for a in inputs]
        events += [pb.Event(artifact_id=a.id, type=pb.Event.OUTPUT) for a in made]
        execution.id = execution_id
        attributions = [self.pipeline, run_ctx, self.nodes[node]]
        self.store.put_execution(execution, list(zip(inputs + made, events, strict=True)), attributions)
        return made

    def run(self, name: str) -> pb.Context:
        return self.context("pipeline_run", name)


def make_output_dir(root: Path) -> Path:
    """Write ``root/metadata/tiny.sqlite``, the artifacts' folders (a picture, a report) and ``serving/tiny/5``."""
    (root / "metadata").mkdir(parents=True)
    store = metadata_store.MetadataStore(connection_config(None, str(root / "metadata" / f"{PIPELINE}.sqlite")))
    w = _Writer(store, root)
    done, cached, failed = pb.Execution.COMPLETE, pb.Execution.CACHED, pb.Execution.FAILED
    serving = root / "serving" / PIPELINE / "5"
    serving.mkdir(parents=True)

    run = w.run("run-1")
    [examples] = w.execute(run, "ExampleGen", done, [], {"Examples": {"span": 1}})
    drift = [{"feature": "x", "measure": "JENSEN_SHANNON", "value": 0.02, "threshold": 0.1}]
    [anomalies] = w.execute(
        run, "DataValidator", done, [examples], {"ExampleAnomalies": {"anomalies": [], "drift": drift}}
    )
    (Path(anomalies.uri) / "report").mkdir()
    (Path(anomalies.uri) / "report" / "drift.png").write_bytes(PNG)
    (Path(anomalies.uri) / "report" / "data_report.html").write_text("<html><body>report</body></html>")
    [model] = w.execute(run, "Trainer", done, [examples], {"Model": {}})
    judged = {"blessed": 1, "current_model_id": model.id}  # as the Evaluator's blessing names the model it judged
    evaluation, blessing = w.execute(run, "Evaluator", done, [examples, model],
                                     {"ModelEvaluation": {}, "ModelBlessing": judged})  # fmt: skip
    # As the pipeline's AtomicPusher: it reads the blessings (the stamped model is the InfraBlessing's), not the Model.
    [pushed] = w.execute(run, "AtomicPusher", done, [blessing], {"PushedModel": {
        "pushed": 1, "pushed_destination": str(serving), "pushed_version": "5"}})  # fmt: skip

    run = w.run("run-2")  # nothing changed: every component reuses run-1's outputs
    w.execute(run, "ExampleGen", cached, [], {"Examples": examples})
    w.execute(run, "DataValidator", cached, [examples], {"ExampleAnomalies": anomalies})
    w.execute(run, "Trainer", cached, [examples], {"Model": model})
    w.execute(run, "Evaluator", cached, [examples, model], {"ModelEvaluation": evaluation, "ModelBlessing": blessing})
    w.execute(run, "AtomicPusher", cached, [blessing], {"PushedModel": pushed})

    run = w.run("run-3")  # span 2 drifted: the validator failed, nothing after it ran
    [examples] = w.execute(run, "ExampleGen", done, [], {"Examples": {"span": 2}})
    [rejected] = w.execute(run, "DataValidator", failed, [examples], {"ExampleAnomalies": {}})
    kept = Path(rejected_dir(rejected.uri))  # what the DataValidator keeps of a span it stopped
    (kept / "report").mkdir(parents=True)
    (kept / "report" / "data_report.html").write_text("<html><body>the stopped span</body></html>")
    verdict = {"span": 2, "anomalies": [STOPPED_BECAUSE], "time": 0}
    (kept / VERDICT_FILE).write_text(json.dumps(verdict))
    (root / "logs").mkdir()
    (root / "logs" / "tiny.log").write_text("a log: not a page's picture or report")
    return root
