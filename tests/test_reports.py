"""Report pictures and the numbers behind them."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from models.cnn import build_baseline_cnn
from pipelines import reports


def test_confusion_matrix_counts() -> None:
    matrix = reports.confusion_matrix(np.array([0, 0, 1, 2, 2, 2]), np.array([0, 1, 1, 2, 0, 2]), 3)
    assert matrix.tolist() == [[1, 1, 0], [0, 1, 0], [1, 0, 2]]


def test_classification_report_writes_pictures_and_metrics(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    labels = np.array([0, 1, 2, 2, 1, 0, 2, 2])
    probabilities = np.eye(3)[[0, 1, 2, 1, 1, 0, 2, 0]] * 0.9 + 0.1 / 3
    history = {"loss": [1.0, 0.5], "val_loss": [1.1, 0.7], "accuracy": [0.5, 0.8], "val_accuracy": [0.4, 0.7]}
    metrics = reports.write_classification_report(
        str(tmp_path),
        build_baseline_cnn(num_classes=3),
        history,
        labels,
        probabilities,
        ["a", "b", "c"],
        images=rng.random((8, 28, 28, 1)),
    )
    assert metrics["accuracy"] == 6 / 8
    assert metrics["per_class_accuracy"] == {"a": 1.0, "b": 1.0, "c": 0.5}
    assert metrics["confusion_matrix"] == [[2, 0, 0], [0, 2, 0], [1, 1, 2]]
    for name in ("model.png", "training_curves.png", "confusion_matrix.png", "per_class_accuracy.png", "samples.png"):
        assert (tmp_path / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", name
    assert json.loads((tmp_path / "metrics.json").read_text())["examples"] == 8
