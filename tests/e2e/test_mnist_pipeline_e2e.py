"""What a pipeline promises across runs, on MNIST: an unchanged re-run does nothing, a worse model is not pushed."""

from __future__ import annotations

import json
import os

import pytest

from e2e.conftest import IMAGE_RUNS
from pipelines import tasks
from pipelines.cli import main as cli_main
from pipelines.config import apply_overrides
from pipelines.local_layout import LocalLayout
from pipelines.local_runner import run_pipeline

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("pipelines")]  # see pytest.ini

EXECUTED = {
    "TFDSExampleGen",
    "StatisticsGen",
    "ImportSchemaGen",
    "DataValidator",
    "Transform",
    "Tuner",
    "Trainer",
    "Evaluator",
    "InfraValidator",
    "AtomicPusher",
}  # the resolvers resolve; they have nothing to cache


@pytest.mark.reliability
def test_second_run_with_nothing_changed_reexecutes_nothing(
    mnist_run: tuple, mnist_data_dir: str, capsys: pytest.CaptureFixture
) -> None:
    summary, output_dir, _ = mnist_run
    serving = os.path.join(LocalLayout(str(output_dir), "mnist").serving_root, "mnist")
    before = sorted(os.listdir(serving))
    args = ["run", "mnist", "--output-dir", str(output_dir), "--data-dir", mnist_data_dir, "--json"]
    overrides = [arg for setting in IMAGE_RUNS["mnist"] for arg in ("--set", setting)]
    assert cli_main([*args, *overrides]) == 0
    out = capsys.readouterr().out
    second = json.loads(out[out.index("{") :])
    assert second.pop("exit_code") == 0  # nothing to do
    assert all(second["components"][c] == "CACHED" for c in EXECUTED), second["components"]
    assert second["run_id"] != summary.run_id  # the summary describes this run, not the previous one
    assert sorted(os.listdir(serving)) == before  # nothing re-pushed
    assert second["pushed"] is False and "already pushed or refused this model" in cli_summary(second)


def cli_summary(summary: dict) -> str:
    from pipelines.run_summary import RunSummary

    return RunSummary(**summary).describe()


def test_a_worse_model_never_replaces_a_better_one(mnist_run: tuple) -> None:
    summary, output_dir, config = mnist_run
    serving = os.path.join(LocalLayout(str(output_dir), "mnist").serving_root, "mnist")
    before = sorted(os.listdir(serving))
    # A barely trained model; the absolute bar is off so only the comparison with the baseline can stop it.
    worse = apply_overrides(config, ["training.epochs=1", "training.learning_rate=1e-6", "eval.min_accuracy=0.0"])
    result = run_pipeline(tasks.get("mnist"), worse, str(output_dir))
    assert result.components["Trainer"] == "COMPLETE" and result.components["Evaluator"] == "COMPLETE"
    assert result.metrics["sparse_categorical_accuracy"] < summary.metrics["sparse_categorical_accuracy"]
    assert result.blessed is False and result.pushed is False and result.exit_code == 4  # not blessed
    assert any("is_diff" in failure for failure in result.validation_failures), result.validation_failures
    assert "pushed: no (the model was not blessed" in result.describe()
    assert sorted(os.listdir(serving)) == before


def _tree(folder: str) -> dict[str, bytes]:
    files = {}
    for dirpath, _, names in os.walk(folder):
        for name in names:
            path = os.path.join(dirpath, name)
            with open(path, "rb") as f:
                files[os.path.relpath(path, folder)] = f.read()
    return files


@pytest.mark.reliability
def test_a_failed_push_ends_the_run_with_its_own_summary(
    mnist_run: tuple, mnist_data_dir: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    from components import atomic_pusher

    _, output_dir, _ = mnist_run
    serving = os.path.join(LocalLayout(str(output_dir), "mnist").serving_root, "mnist")
    before = _tree(serving)

    def read_only(model_path: str, base_dir: str, now: float | None = None) -> tuple[str, str]:
        raise PermissionError(13, "Permission denied", base_dir)

    monkeypatch.setattr(atomic_pusher, "publish_model", read_only)  # as a read-only serving folder would
    args = ["run", "mnist", "--output-dir", str(output_dir), "--data-dir", mnist_data_dir, "--epochs", "2"]
    fixture = ["--set", "validation.min_rows=10"]  # the fixture's eval split holds 20 images
    code = cli_main([*args, *fixture, "--set", "eval.min_accuracy=0", "--set", "eval.max_accuracy_drop=1"])
    out = capsys.readouterr().out
    assert code == 1
    assert "[pipeline] AtomicPusher                   FAILED" in out
    assert "failed: AtomicPusher: PermissionError: [Errno 13] Permission denied" in out
    assert "blessed: yes" in out and "pushed: no (the run stopped at AtomicPusher" in out
    assert "log: " in out and "Traceback" not in out
    assert _tree(serving) == before  # byte for byte


def test_tuner_compares_optimizers_and_the_trainer_takes_the_best(mnist_run: tuple) -> None:
    summary, output_dir, _ = mnist_run
    assert summary.components["Tuner"] == "COMPLETE"
    report = summary.artifacts["tuning"]
    trials = json.loads(open(os.path.join(report, "trials.json")).read())["trials"]
    assert sorted(t["optimizer"] for t in trials) == ["adam", "sgd"]  # the whole grid, within the budget
    assert all(len(t["curves"]["val_loss"]) == 1 for t in trials)  # one epoch each
    assert trials[0]["val_loss"] <= trials[1]["val_loss"]  # ranked, best first
    assert os.path.getsize(os.path.join(report, "tuning_curves.png")) > 10_000
    assert "| 1 | " + trials[0]["optimizer"] in open(os.path.join(report, "trials.md")).read()
    history = json.loads(open(os.path.join(os.path.dirname(summary.artifacts["report"]), "history.json")).read())
    assert history["config"]["optimizer"] == trials[0]["optimizer"]  # the Trainer trained with the winner


def test_pushed_version_carries_a_tflite_model_that_answers_as_the_saved_model(
    mnist_run: tuple, mnist_data_dir: str
) -> None:
    import numpy as np
    import tensorflow as tf
    from helpers.data import read_back

    summary, _, _ = mnist_run
    path = os.path.join(summary.pushed_destination, "model.tflite")
    images = np.stack([row["image"] for row in read_back("mnist", mnist_data_dir, "test")])
    runner = tf.lite.Interpreter(model_path=path).get_signature_runner()
    lite = runner(image=images)
    saved = tf.saved_model.load(summary.pushed_destination).signatures["serving_raw"](image=tf.constant(images))
    np.testing.assert_array_equal(lite["class_ids"], saved["class_ids"].numpy())
    np.testing.assert_allclose(lite["probabilities"], saved["probabilities"].numpy(), atol=1e-5)


def test_the_ui_shows_the_runs_in_a_browser(mnist_run: tuple, mnist_data_dir: str) -> None:
    """After the module's runs: run list, DAG states (done, cached), a picture, the pushed model's lineage, metrics."""
    from helpers import ui_browser
    from ml_metadata import metadata_store

    from pipelines.metadata_store import connection_config
    from pipelines.run_records import read_runs
    from pipelines.ui.reads import Catalog
    from pipelines.ui.server import serve_in_background
    from pipelines.ui.stores import sources_for

    summary, output_dir, _ = mnist_run
    layout = LocalLayout(str(output_dir), "mnist")

    def cached_runs() -> list[str]:
        store = metadata_store.MetadataStore(connection_config(None, layout.metadata_path, read_only=True))
        return [r.run_id for r in read_runs(store, "mnist") if r.states().get("AtomicPusher") == "CACHED"]

    if not cached_runs():  # run alone: the re-run of the first test in this module makes one
        args = ["run", "mnist", "--output-dir", str(output_dir), "--data-dir", mnist_data_dir]
        assert cli_main([*args, *[a for s in IMAGE_RUNS["mnist"] for a in ("--set", s)]]) == 0
    driver = ui_browser.chromium()
    ui = serve_in_background(Catalog(sources_for(str(output_dir)), str(output_dir)))
    try:
        ui_browser.check_ui(driver, ui.url.rstrip("/"), summary.run_id, cached_runs()[0], EXECUTED)
    finally:
        driver.quit()
        ui.stop()
