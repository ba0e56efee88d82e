"""The Tuner step: the grid search, its report, the Trainer taking the best values, and Kubeflow."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from pipelines import kubeflow, tasks
from pipelines.config import ConfigError, apply_overrides
from pipelines.training import with_hyperparameters
from pipelines.tuning import TrialsTuner


def image_batches(count: int, seed: int) -> tf.data.Dataset:
    """Learnable transformed MNIST-like batches: class k is a bright row k (plus noise)."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 10, count)
    images = rng.random((count, 28, 28, 1), dtype=np.float32) * 0.2
    images[np.arange(count), labels * 2 + 3, :, 0] = 1.0
    one_hot = np.eye(10, dtype=np.float32)[labels]
    return tf.data.Dataset.from_tensor_slices(({"image": images}, {"label": one_hot})).batch(32)


@pytest.mark.slow  # trains
def test_grid_search_runs_every_trial_within_the_budget_and_reports_them(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    spec = tasks.get("mnist")
    config = apply_overrides(
        spec.default_config(),
        ['tuning.optimizers=["sgd", "adam", "rmsprop"]', "tuning.learning_rates=[0.001, 0.01]", "tuning.max_trials=3"]
        + ["tuning.epochs=2"],
    )
    tuner = TrialsTuner(spec, config, image_batches(256, 0), image_batches(64, 1), directory=str(tmp_path / "work"))

    tuner.search()

    out = capsys.readouterr().out
    assert out.count("[tuner] trial ") == 3 and "[tuner] trial 3/3  optimizer=" in out
    assert "Search: Running Trial" not in out  # KerasTuner's own tables stay quiet
    assert len(tuner.trials_run) == 3  # the budget, of a grid of 6
    assert len({(t["optimizer"], t["learning_rate"]) for t in tuner.trials_run}) == 3  # no trial twice
    assert all(len(t["curves"]["val_loss"]) == 2 for t in tuner.trials_run)
    best = tuner.get_best_hyperparameters()[0].values
    lowest = min(tuner.trials_run, key=lambda t: t["val_loss"])
    assert (best["optimizer"], best["learning_rate"]) == (lowest["optimizer"], lowest["learning_rate"])

    paths = tuner.write_report(str(tmp_path / "report"))
    written = json.loads(Path(paths["data"]).read_text())["trials"]
    assert [t["val_loss"] for t in written] == sorted(t["val_loss"] for t in tuner.trials_run)
    table = Path(paths["table"]).read_text().splitlines()
    assert table[-1].startswith("| 3 |") and f"| 1 | {lowest['optimizer']} |" in table[4]
    assert Path(paths["curves"]).stat().st_size > 10_000


def test_trainer_takes_the_tuners_values_and_nothing_else() -> None:
    config = tasks.get("mnist").default_config()
    best = {"space": [], "values": {"optimizer": "adam", "learning_rate": 0.01, "unrelated": 3}}

    tuned = with_hyperparameters(config, best)

    assert (tuned.training.optimizer, tuned.training.learning_rate) == ("adam", 0.01)
    assert tuned.training.model_copy(update={"optimizer": "rmsprop", "learning_rate": 1e-3}) == config.training
    assert with_hyperparameters(config, None) is config  # no Tuner upstream


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ('tuning.optimizers=["adam", "adam"]', "has duplicates"),
        ('tuning.optimizers=["adamw"]', "tuning.optimizers.0="),
        ("tuning.optimizers=[]", "at least 1 item"),
        ("tuning.learning_rates=[0]", "must each be > 0"),
        ("tuning.max_trials=0", "tuning.max_trials='0' is invalid: must be >= 1"),
        ("tuning.epochs=-1", "tuning.epochs='-1' is invalid"),
    ],
)
@pytest.mark.reliability
def test_bad_tuning_settings_are_refused_by_name(setting: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace(".", r"\.")):
        apply_overrides(tasks.get("mnist").default_config(), [setting])


def test_tuner_compiles_for_kubeflow_and_feeds_the_trainer(tmp_path: Path) -> None:
    cloud = kubeflow.CloudConfig(
        project="example-project", region="europe-west4", bucket="gs://b/x", image="europe-west4-docker.pkg.dev/p/r/i:1"
    )
    path = kubeflow.compile_pipeline("ticket", cloud, str(tmp_path), overrides=["tuning.enabled=true"])
    spec = json.loads(Path(path).read_text())["pipelineSpec"]
    tasks_ = spec["root"]["dag"]["tasks"]
    assert "Tuner" in tasks_ and "Tuner" in tasks_["Trainer"]["dependentTasks"]
    trainer_inputs = tasks_["Trainer"]["inputs"]["artifacts"]
    assert trainer_inputs["hyperparameters"]["taskOutputArtifact"]["producerTask"] == "Tuner"
    executor = spec["deploymentSpec"]["executors"]["Tuner_executor"]["container"]["args"]
    assert any("components.tuner.ReportingExecutor" in arg for arg in executor)
