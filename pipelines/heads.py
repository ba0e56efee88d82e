"""What a classification head and a regression head need, whatever the task family.

Losses and Keras metrics for ``model.compile``, and the report of a trained head (pictures and
``metrics.json``). A classification head is a softmax over one-hot labels (not ``from_logits``:
the outputs are probabilities); a regression head is a single value with mean squared error. The image family,
the tabular family and the ticket task build their compile arguments and reports from these.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np


def classification_loss() -> Any:
    """Categorical cross-entropy on a softmax output and one-hot labels."""
    import tf_keras as keras

    return keras.losses.CategoricalCrossentropy(from_logits=False)


def classification_metrics() -> list[Any]:
    """Accuracy of a softmax head on one-hot labels."""
    import tf_keras as keras

    return [keras.metrics.CategoricalAccuracy(name="accuracy")]


def regression_loss() -> Any:
    """Mean squared error."""
    import tf_keras as keras

    return keras.losses.MeanSquaredError()


def regression_metrics() -> list[Any]:
    """RMSE and MAE, in the label's units."""
    import tf_keras as keras

    return [keras.metrics.RootMeanSquaredError(name="rmse"), keras.metrics.MeanAbsoluteError(name="mae")]


def softmax_compile_args(config: Any) -> dict[str, Any]:
    """``model.compile`` arguments of a model with one softmax output."""
    del config
    return {"loss": classification_loss(), "metrics": classification_metrics()}


def _by_output(model: Any, outputs: Any) -> dict[str, np.ndarray]:
    if isinstance(outputs, dict):
        return dict(outputs)
    if isinstance(outputs, (list, tuple)):
        return dict(zip(model.output_names, outputs, strict=True))
    return {model.output_names[0]: outputs}


def predict_split(
    model: Any, dataset: Any, keep_inputs: Sequence[str] = ()
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Run ``model`` over a dataset of ``(inputs, labels)`` batches: (predictions, labels, kept inputs), by name."""
    predictions: dict[str, list[np.ndarray]] = {}
    labels: dict[str, list[np.ndarray]] = {}
    kept: dict[str, list[np.ndarray]] = {}
    for batch_inputs, batch_labels in dataset:
        for name, value in _by_output(model, model.predict_on_batch(batch_inputs)).items():
            predictions.setdefault(name, []).append(np.asarray(value))
        for name, value in batch_labels.items():
            labels.setdefault(name, []).append(value.numpy())
        for name in keep_inputs:
            kept.setdefault(name, []).append(batch_inputs[name].numpy())

    def joined(parts: dict[str, list[np.ndarray]]) -> dict[str, np.ndarray]:
        return {name: np.concatenate(values) for name, values in parts.items()}

    return joined(predictions), joined(labels), joined(kept)


def classifier_report(
    class_names: Sequence[str], output: str, image_input: str | None = None
) -> Callable[..., dict[str, Any]]:
    """The report of a softmax head ``output``: diagram, curves, confusion matrix, per-class accuracy.

    With ``image_input`` (an image classifier), a grid of sample images with predicted and true labels.
    """

    def report(report_dir: str, model: Any, history: Mapping[str, Any], eval_ds: Any, config: Any) -> dict[str, Any]:
        from pipelines import reports

        del config
        predictions, labels, inputs = predict_split(model, eval_ds, [image_input] if image_input else [])
        metrics = reports.write_classification_report(
            report_dir,
            model,
            history,
            labels[output].argmax(-1),
            predictions[output],
            list(class_names),
            images=inputs.get(image_input) if image_input else None,
        )
        metrics["headline"] = f"eval accuracy {metrics['accuracy']:.4f} on {metrics['examples']} examples"
        return metrics

    return report


def regressor_report(output: str) -> Callable[..., dict[str, Any]]:
    """The report of a regression head ``output``: diagram, curves, predicted vs true, residuals."""

    def report(report_dir: str, model: Any, history: Mapping[str, Any], eval_ds: Any, config: Any) -> dict[str, Any]:
        from pipelines import reports

        del config
        predictions, labels, _ = predict_split(model, eval_ds)
        metrics = reports.write_regression_report(
            report_dir, model, history, labels[output].reshape(-1), predictions[output].reshape(-1), output
        )
        metrics["headline"] = (
            f"eval {output} RMSE {metrics['rmse']:.4g}, MAE {metrics['mae']:.4g} on {metrics['examples']} examples"
        )
        return metrics

    return report
