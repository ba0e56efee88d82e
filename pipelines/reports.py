"""Pictures a user looks at after a run.

Model diagram, training curves, confusion matrix, per-class accuracy and a grid of sample images.

Everything is written with matplotlib's Agg backend (no screen needed) into a
``report/`` folder of the Trainer's model-run artifact, with a
``metrics.json`` holding the numbers behind the pictures.

Long because it has one plotting function per picture a run writes, all in one style.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402


def _save(fig: Any, path: str) -> str:
    tf.io.gfile.makedirs(os.path.dirname(path))
    with tf.io.gfile.GFile(path, "wb") as f:
        fig.savefig(f, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return path


def plot_model_diagram(model: Any, path: str) -> str | None:
    """Write ``keras.utils.plot_model`` with shapes; None (and a warning) if Graphviz is missing."""
    import tf_keras as keras

    tf.io.gfile.makedirs(os.path.dirname(path))
    try:
        keras.utils.plot_model(model, to_file=path, show_shapes=True, show_layer_names=True, dpi=80)
    except ImportError as err:  # pydot or Graphviz `dot` missing
        print(f"[report] model diagram skipped: {err} (install Graphviz: apt-get install graphviz)")
        return None
    return path


def plot_training_curves(history: Mapping[str, Sequence[float]], path: str) -> str:
    """One panel per metric (loss first), training and validation curves together."""
    metrics = sorted({k.removeprefix("val_") for k in history if k != "lr"}, key=lambda m: (m != "loss", m))
    cols = min(3, len(metrics))
    rows = int(np.ceil(len(metrics) / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(4.5 * cols, 3.2 * rows), squeeze=False)
    for ax, metric in zip(axes.flat, metrics, strict=False):
        for key, style in ((metric, "-o"), (f"val_{metric}", "--s")):
            if key in history:
                ax.plot(range(1, len(history[key]) + 1), history[key], style, ms=3, label=key)
        ax.set_title(metric)
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    for ax in list(axes.flat)[len(metrics) :]:
        ax.axis("off")
    fig.suptitle("Training curves")
    return _save(fig, path)


def plot_curves(curves: Mapping[str, Sequence[float]], path: str, title: str, ylabel: str) -> str:
    """Several runs' curves of one metric on one plot (e.g. the Tuner's trials), one line per label."""
    from matplotlib.ticker import MaxNLocator

    fig, ax = plt.subplots(figsize=(7, 4))
    for label, values in curves.items():
        ax.plot(range(1, len(values) + 1), values, "-o", ms=3, label=label)
    values = [v for series in curves.values() for v in series if v > 0]
    if values and max(values) > 10 * min(values):
        ax.set_yscale("log")  # a run that barely learns must not flatten the others
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_title(title)
    ax.set_xlabel("epoch")
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return _save(fig, path)


def confusion_matrix(labels: np.ndarray, predictions: np.ndarray, num_classes: int) -> np.ndarray:
    """Counts[true, predicted]."""
    return np.bincount(labels * num_classes + predictions, minlength=num_classes**2).reshape(num_classes, num_classes)


def plot_confusion_matrix(matrix: np.ndarray, class_names: Sequence[str], path: str, title: str) -> str:
    """Heat map of a confusion matrix with the counts written in the cells."""
    n = len(class_names)
    fig, ax = plt.subplots(figsize=(0.6 * n + 2.5, 0.6 * n + 2))
    ax.imshow(matrix, cmap="Blues")
    ax.set_xticks(range(n), class_names, rotation=45, ha="right")
    ax.set_yticks(range(n), class_names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    threshold = matrix.max() / 2 if matrix.size else 0
    for i in range(n):
        for j in range(n):
            ax.text(
                j,
                i,
                str(matrix[i, j]),
                ha="center",
                va="center",
                fontsize=7,
                color="white" if matrix[i, j] > threshold else "black",
            )
    ax.set_title(title)
    return _save(fig, path)


def plot_per_class_accuracy(matrix: np.ndarray, class_names: Sequence[str], path: str) -> str:
    """Bar chart of per-class accuracy (recall) with the overall accuracy as a line."""
    totals = matrix.sum(axis=1)
    per_class = np.divide(np.diag(matrix), totals, out=np.zeros(len(totals)), where=totals > 0)
    overall = np.trace(matrix) / max(1, matrix.sum())
    fig, ax = plt.subplots(figsize=(max(5, 0.55 * len(class_names) + 2), 3.5))
    ax.bar(range(len(class_names)), per_class, color="tab:blue")
    ax.axhline(overall, color="tab:red", ls="--", label=f"overall {overall:.4f}")
    ax.set_xticks(range(len(class_names)), class_names, rotation=45, ha="right")
    ax.set_ylim(max(0.0, min(per_class.min(initial=1.0), overall) - 0.05), 1.0)
    ax.set_ylabel("accuracy")
    ax.legend(loc="lower right")
    ax.set_title("Per-class accuracy (evaluation split)")
    return _save(fig, path)


def plot_samples(
    images: np.ndarray, true: Sequence[str], predicted: Sequence[str] | None, path: str, title: str
) -> str:
    """Grid of images with their true (and predicted) labels; wrong predictions in red."""
    n = len(images)
    cols = min(8, n)
    rows = int(np.ceil(n / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(1.5 * cols, 1.7 * rows), squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i >= n:
            continue
        image = images[i]
        ax.imshow(image.squeeze(-1) if image.shape[-1] == 1 else image, cmap="gray" if image.shape[-1] == 1 else None)
        if predicted is None:
            ax.set_title(str(true[i]), fontsize=8)
        else:
            ok = predicted[i] == true[i]
            ax.set_title(
                f"{predicted[i]} ({true[i]})" if not ok else str(true[i]), fontsize=8, color="black" if ok else "red"
            )
    fig.suptitle(title, fontsize=10)
    return _save(fig, path)


def classifier_pictures(
    report_dir: str,
    model: Any,
    history: Mapping[str, Sequence[float]],
    matrix: np.ndarray,
    class_names: Sequence[str],
    title: str,
) -> dict[str, str | None]:
    """The pictures every classifier report has: diagram, curves, confusion matrix, per-class accuracy."""
    return {
        "model_diagram": plot_model_diagram(model, os.path.join(report_dir, "model.png")),
        "training_curves": plot_training_curves(history, os.path.join(report_dir, "training_curves.png")),
        "confusion_matrix": plot_confusion_matrix(
            matrix, class_names, os.path.join(report_dir, "confusion_matrix.png"), title
        ),
        "per_class_accuracy": plot_per_class_accuracy(
            matrix, class_names, os.path.join(report_dir, "per_class_accuracy.png")
        ),
    }


def write_classification_report(
    report_dir: str,
    model: Any,
    history: Mapping[str, Sequence[float]],
    labels: np.ndarray,
    probabilities: np.ndarray,
    class_names: Sequence[str],
    split_name: str = "eval",
    images: np.ndarray | None = None,
) -> dict[str, Any]:
    """Write all pictures of a single-label classifier and ``metrics.json``; return the metrics.

    Args:
        report_dir: output folder.
        model: the trained Keras model (for the diagram).
        history: ``History.history`` of the fit.
        labels: true class ids, [N].
        probabilities: predicted class probabilities, [N, num_classes].
        class_names: a name per class.
        split_name: the name of the evaluated split.
        images: for an image classifier, the split's images [N, H, W, C] in [0, 1] or uint8: a grid of
            samples with their predicted and true labels is drawn too.
    """
    num_classes = len(class_names)
    predictions = probabilities.argmax(axis=-1)
    matrix = confusion_matrix(labels, predictions, num_classes)
    totals = matrix.sum(axis=1)
    metrics = {
        "split": split_name,
        "examples": int(len(labels)),
        "accuracy": float((predictions == labels).mean()) if len(labels) else 0.0,
        "per_class_accuracy": {
            class_names[i]: float(matrix[i, i] / totals[i]) if totals[i] else None for i in range(num_classes)
        },
        "confusion_matrix": matrix.tolist(),
        "class_names": list(class_names),
    }
    files = classifier_pictures(
        report_dir,
        model,
        history,
        matrix,
        class_names,
        f"Confusion matrix ({split_name}, accuracy {metrics['accuracy']:.4f})",
    )
    if images is not None:
        files["samples"] = plot_samples(
            images[:32],
            [class_names[i] for i in labels[:32]],
            [class_names[i] for i in predictions[:32]],
            os.path.join(report_dir, "samples.png"),
            f"{split_name} samples: predicted (true); wrong in red",
        )
    metrics["files"] = {k: v for k, v in files.items() if v}
    write_metrics(report_dir, metrics)
    return metrics


def write_regression_report(
    report_dir: str,
    model: Any,
    history: Mapping[str, Sequence[float]],
    true: np.ndarray,
    predicted: np.ndarray,
    name: str,
    split_name: str = "eval",
) -> dict[str, Any]:
    """Write a regressor's pictures (diagram, curves, predicted vs true, residuals) and ``metrics.json``."""
    errors = predicted - true
    metrics = {
        "split": split_name,
        "examples": int(len(true)),
        "rmse": float(np.sqrt(np.mean(errors**2))) if len(errors) else 0.0,
        "mae": float(np.mean(np.abs(errors))) if len(errors) else 0.0,
        "mean_error": float(np.mean(errors)) if len(errors) else 0.0,
    }
    files = {
        "model_diagram": plot_model_diagram(model, os.path.join(report_dir, "model.png")),
        "training_curves": plot_training_curves(history, os.path.join(report_dir, "training_curves.png")),
        "predicted_vs_true": plot_regression(
            true,
            predicted,
            os.path.join(report_dir, f"{name}.png"),
            f"{name} ({split_name}, RMSE {metrics['rmse']:.4g})",
        ),
        "residuals": plot_residuals(
            errors, os.path.join(report_dir, f"{name}_residuals.png"), f"{name}: residuals, predicted - true"
        ),
    }
    metrics["files"] = {k: v for k, v in files.items() if v}
    write_metrics(report_dir, metrics)
    return metrics


def write_metrics(report_dir: str, metrics: dict[str, Any]) -> str:
    """``metrics.json``: the numbers behind a report's pictures."""
    path = os.path.join(report_dir, "metrics.json")
    with tf.io.gfile.GFile(path, "w") as f:
        json.dump(metrics, f, indent=2)
    return path


def plot_regression(true: np.ndarray, predicted: np.ndarray, path: str, title: str) -> str:
    """Predicted against true values, with the diagonal (a perfect model) for reference."""
    low = float(min(true.min(initial=0.0), predicted.min(initial=0.0)))
    high = float(max(true.max(initial=1.0), predicted.max(initial=1.0)))
    margin = 0.02 * (high - low or 1.0)
    fig, ax = plt.subplots(figsize=(4.5, 4.5))
    ax.scatter(true, predicted, s=4, alpha=0.3)
    ax.plot([low, high], [low, high], color="tab:red", lw=1, label="perfect")
    ax.set_xlabel("true")
    ax.set_ylabel("predicted")
    ax.set_xlim(low - margin, high + margin)
    ax.set_ylim(low - margin, high + margin)
    ax.legend(loc="upper left")
    ax.set_title(title)
    return _save(fig, path)


def plot_residuals(errors: np.ndarray, path: str, title: str) -> str:
    """Histogram of the residuals (predicted - true), with their mean: a biased model is off zero."""
    fig, ax = plt.subplots(figsize=(5, 3.5))
    ax.hist(errors, bins=min(50, max(5, len(errors) // 10)), color="tab:blue", alpha=0.8)
    ax.axvline(0, color="black", lw=1)
    ax.axvline(float(np.mean(errors)) if len(errors) else 0.0, color="tab:red", ls="--", label="mean")
    ax.set_xlabel("predicted - true")
    ax.set_ylabel("examples")
    ax.legend()
    ax.set_title(title)
    return _save(fig, path)
