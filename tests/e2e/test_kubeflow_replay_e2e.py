"""Compiled means it runs: the penguin spec `tfx-keras compile` writes, replayed here task by task.

Each container task runs the spec's own command (TFX's KFP v2 entry point with our executor classes)
with an ExecutorInput built by the replay; the model it pushes serves the held-out rows, the replay
records its artifacts for the next replay's resolvers, and each Beam task's Dataflow job is built
offline with the spec's own Dataflow arguments (Beam's dry run) and checked.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
from helpers.data import penguin_rows

from pipelines.cli import main

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("pipelines")]  # see pytest.ini
ROOT = Path(__file__).resolve().parents[2]
MEASUREMENTS = ("culmen_length_mm", "culmen_depth_mm", "flipper_length_mm", "body_mass_g")


def test_the_compiled_penguin_spec_replays_task_by_task_to_a_pushed_model(
    penguin_input: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    assert main(["compile", "penguin", "--cloud-config", str(ROOT / "cloud.example.json"), "--out", str(tmp_path)]) == 0
    spec = tmp_path / "penguin_pipeline.json"
    capsys.readouterr()
    argv = ["replay", str(spec), "--pipeline-root", str(tmp_path / "root"), "--input-base", str(penguin_input)]
    assert main([*argv, "--set", "epochs=20", "--dataflow-jobs"]) == 0
    printed = capsys.readouterr().out
    assert "[replay] --runner=DataflowRunner -> DirectRunner" in printed
    for task in ("CsvExampleGen", "StatisticsGen", "DataValidator", "Transform", "Trainer", "Evaluator",
                 "InfraValidator", "AtomicPusher"):  # fmt: skip
        assert f"[replay] {task}: tfx.orchestration.kubeflow.v2.container.kubeflow_v2_run_executor done" in printed
    assert "[replay] CsvExampleGen: tfx.orchestration.kubeflow.v2.file_based_example_gen.driver done" in printed
    assert "resolved {'model_blessing': 0}" in printed  # the first replay: no blessed model yet
    pushed = Path(printed.split("[replay] penguin: pushed to ")[1].split()[0])
    assert pushed.parent == tmp_path / "root" / "serving" / "penguin"  # the spec's gs:// serving root, mapped here
    rows = penguin_rows()
    served = tf.saved_model.load(str(pushed)).signatures["serving_raw"](
        **{m: tf.constant([r[m] for r in rows], tf.float32) for m in MEASUREMENTS}
    )
    accuracy = float(np.mean(served["class_ids"].numpy() == np.array([r["species"] for r in rows])))
    assert accuracy >= 0.9, accuracy
    for task in ("CsvExampleGen", "StatisticsGen", "Transform", "Evaluator"):  # the tasks whose executors run Beam
        assert f"[replay] {task}: Dataflow job built offline: " in printed, printed
        [job, *_] = json.loads((tmp_path / "root" / "dataflow" / f"{task}.json").read_text())
        assert job["sdk_container_image"] == "europe-west4-docker.pkg.dev/my-project/tfx/tfx-keras:0.1.0"
        assert "use_runner_v2" in job["experiments"] and job["project"] == "my-project" and job["transforms"]
    assert not (tmp_path / "root" / "dataflow" / "Trainer.json").exists()  # no Beam in the Trainer
    recorded = json.loads((tmp_path / "root" / "replay_artifacts.json").read_text())
    blessings = [a for a in recorded if a["type"] == "tfx.ModelBlessing" and a["metadata"].get("blessed") == 1.0]
    assert blessings and blessings[0]["metadata"]["current_model_id"].endswith("/Trainer/model")  # for the next one
