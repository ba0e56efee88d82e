"""The ticket task's Trainer and Evaluator hooks: model, losses, labels, report, TFMA config, signatures.

The model has three named inputs (``title``, ``body``, ``tags``) and two or three named outputs
(``priority``, ``department`` and optionally ``difficulty``), trained with dict losses and loss
weights; the generic training loop (``pipelines/training.py``) calls these hooks.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import numpy as np
import tensorflow as tf
import tf_keras as keras

from models.multi_input import MultiInputModel, add_head, build_multi_input_model
from pipelines.features import transformed_name
from pipelines.heads import classification_loss, classification_metrics, regression_loss, regression_metrics
from pipelines.spec import ServingContract
from pipelines.ticket.config import (
    BODY_KEY,
    DEPARTMENT_KEY,
    DEPARTMENTS,
    DIFFICULTIES,
    DIFFICULTY_KEY,
    NUM_TAGS,
    PRIORITY_KEY,
    TAGS_KEY,
    TITLE_KEY,
    VOCAB_SIZE,
    TicketConfig,
)

INPUTS = {key: transformed_name(key) for key in (TITLE_KEY, BODY_KEY, TAGS_KEY)}


def inputs(config: TicketConfig) -> dict[str, str]:
    """Model input name -> transformed feature key."""
    del config
    return dict(INPUTS)


def labels(config: TicketConfig) -> dict[str, str]:
    """Model output name -> transformed label key (difficulty only with the third head)."""
    keys = [PRIORITY_KEY, DEPARTMENT_KEY] + ([DIFFICULTY_KEY] if config.model.difficulty_head else [])
    return {key: transformed_name(key) for key in keys}


def build_model(config: TicketConfig) -> keras.Model:
    """The ticket model (1,286,789 parameters), with the difficulty head if the config asks for it.

    ``title``, ``body`` (multi-hot over the vocabulary) and ``tags`` (multi-hot over the tags) ->
    Concatenate -> Dense(64, relu) -> ``priority`` (sigmoid) and ``department`` (softmax). With
    ``model.api=subclassed``, the same network as a ``keras.Model`` subclass (built, so it can be counted).
    """
    widths = {TITLE_KEY: VOCAB_SIZE, BODY_KEY: VOCAB_SIZE, TAGS_KEY: NUM_TAGS}
    heads = {PRIORITY_KEY: (1, "sigmoid"), DEPARTMENT_KEY: (len(DEPARTMENTS), "softmax")}
    if config.model.api == "subclassed":
        if config.model.difficulty_head:
            heads[DIFFICULTY_KEY] = (len(DIFFICULTIES), "softmax")
        return MultiInputModel(
            widths, heads, config.model.hidden_units, config.model.features_l1, name="ticket_model_subclassed"
        ).build_from_widths()
    model = build_multi_input_model(
        inputs=widths,
        heads=heads,
        hidden_units=config.model.hidden_units,
        features_l1=config.model.features_l1,
        name="ticket_model",
    )
    if config.model.difficulty_head:
        model = add_head(model, DIFFICULTY_KEY, len(DIFFICULTIES), "softmax")
    return model


def compile_args(config: TicketConfig) -> dict[str, Any]:
    """Dict losses and metrics per output, and the configured loss weights."""
    heads = [DEPARTMENT_KEY] + ([DIFFICULTY_KEY] if config.model.difficulty_head else [])
    return {
        "loss": {PRIORITY_KEY: regression_loss(), **{head: classification_loss() for head in heads}},
        "metrics": {PRIORITY_KEY: regression_metrics(), **{head: classification_metrics() for head in heads}},
        "loss_weights": config.model.loss_weights,
    }


def serving(config: TicketConfig) -> ServingContract:
    """``serving_raw``: title ``[batch]``, body ``[batch]``, tags ``[batch, n]`` strings ("" pads the tags)."""
    from common.contract import classification_output_dtypes
    from pipelines.export import classification_outputs

    def raw_to_features(raw: Mapping[str, tf.Tensor]) -> dict[str, tf.Tensor]:
        return {
            TITLE_KEY: tf.reshape(raw[TITLE_KEY], [-1, 1]),
            BODY_KEY: tf.reshape(raw[BODY_KEY], [-1, 1]),
            TAGS_KEY: tf.sparse.from_dense(raw[TAGS_KEY]),  # drops the "" padding
        }

    def readable(outputs: Mapping[str, tf.Tensor]) -> dict[str, tf.Tensor]:
        result = {PRIORITY_KEY: tf.reshape(outputs[PRIORITY_KEY], [-1])}
        for head, names in ((DEPARTMENT_KEY, DEPARTMENTS), (DIFFICULTY_KEY, DIFFICULTIES)):
            if head in outputs:
                result.update(classification_outputs(outputs[head], names, prefix=f"{head}_"))
        return result

    return ServingContract(
        raw_inputs={
            TITLE_KEY: tf.TensorSpec([None], tf.string, name=TITLE_KEY),
            BODY_KEY: tf.TensorSpec([None], tf.string, name=BODY_KEY),
            TAGS_KEY: tf.TensorSpec([None, None], tf.string, name=TAGS_KEY),
        },
        raw_to_features=raw_to_features,
        outputs=readable,
        # A missing title or body is an empty text, missing tags no tags.
        example_features={
            TITLE_KEY: tf.io.FixedLenFeature([1], tf.string, default_value=[""]),
            BODY_KEY: tf.io.FixedLenFeature([1], tf.string, default_value=[""]),
            TAGS_KEY: tf.io.VarLenFeature(tf.string),
        },
        example_outputs=dict,  # each head's raw output under its name: what TFMA evaluates
        classify=(DEPARTMENT_KEY, DEPARTMENTS),
        regress=PRIORITY_KEY,
        transformed_labels=list(labels(config).values()),
        declared_outputs={
            PRIORITY_KEY: "float32",
            **classification_output_dtypes(f"{DEPARTMENT_KEY}_"),
            **(classification_output_dtypes(f"{DIFFICULTY_KEY}_") if config.model.difficulty_head else {}),
        },
    )


def report(
    report_dir: str, model: keras.Model, history: Mapping[str, Any], eval_ds: tf.data.Dataset, config: TicketConfig
) -> dict[str, Any]:
    """Department confusion matrix and per-class accuracy, priority scatter, curves and diagram, ``metrics.json``."""
    from pipelines import reports

    del config
    true_departments, true_priority, predictions = [], [], []
    for batch_inputs, batch_labels in eval_ds:
        outputs = model.predict_on_batch(batch_inputs)
        if not isinstance(outputs, dict):  # a Functional model answers a list in output order
            outputs = dict(zip(model.output_names, outputs, strict=True))
        predictions.append(outputs)
        true_departments.append(batch_labels[DEPARTMENT_KEY].numpy().argmax(-1))
        true_priority.append(batch_labels[PRIORITY_KEY].numpy().reshape(-1))
    true_departments = np.concatenate(true_departments)
    predicted = np.concatenate([p[DEPARTMENT_KEY] for p in predictions]).argmax(axis=-1)
    true_priority = np.concatenate(true_priority)
    errors = np.concatenate([p[PRIORITY_KEY].reshape(-1) for p in predictions]) - true_priority
    matrix = reports.confusion_matrix(true_departments, predicted, len(DEPARTMENTS))
    metrics = {
        "examples": int(len(true_departments)),
        "department_accuracy": float((predicted == true_departments).mean()) if len(true_departments) else 0.0,
        "priority_rmse": float(np.sqrt(np.mean(errors**2))) if len(errors) else 0.0,
        "priority_mae": float(np.mean(np.abs(errors))) if len(errors) else 0.0,
        "department_confusion_matrix": matrix.tolist(),
        "departments": list(DEPARTMENTS),
    }
    files = {
        **reports.classifier_pictures(
            report_dir,
            model,
            history,
            matrix,
            DEPARTMENTS,
            f"Department (eval, accuracy {metrics['department_accuracy']:.4f})",
        ),
        "priority": reports.plot_regression(
            true_priority,
            true_priority + errors,
            os.path.join(report_dir, "priority.png"),
            f"Priority (eval, RMSE {metrics['priority_rmse']:.4f})",
        ),
    }
    metrics["files"] = {k: v for k, v in files.items() if v}
    reports.write_metrics(report_dir, metrics)
    metrics["headline"] = (
        f"eval department accuracy {metrics['department_accuracy']:.4f}, "
        f"priority RMSE {metrics['priority_rmse']:.4f} on {metrics['examples']} tickets"
    )
    return metrics


def eval_config(config: TicketConfig) -> Any:
    """TFMA per output: department accuracy and per-class recall, priority RMSE and MAE, thresholds on both.

    Labels are the transformed ones (one-hot department, float priority), which TFMA gets from the
    model's ``transform_features`` signature. A model is blessed only if department accuracy >= the
    bound and priority RMSE <= the bound on the evaluation split, and neither is worse than the last
    blessed model's by more than the allowed margin.
    """
    import tensorflow_model_analysis as tfma

    from common.contract import EXAMPLE_SIGNATURE, TRANSFORM_SIGNATURE
    from pipelines.evaluation import classification_metrics_specs, regression_metrics_specs

    evaluation = config.eval
    metrics_specs = [
        *classification_metrics_specs(
            DEPARTMENT_KEY,
            len(DEPARTMENTS),
            evaluation.min_department_accuracy,
            evaluation.max_department_accuracy_drop,
            auc=False,
        ),
        *regression_metrics_specs(PRIORITY_KEY, evaluation.max_priority_rmse, evaluation.max_priority_rmse_increase),
    ]
    if config.model.difficulty_head:
        metrics_specs.append(
            tfma.MetricsSpec(
                output_names=[DIFFICULTY_KEY], metrics=[tfma.MetricConfig(class_name="CategoricalAccuracy")]
            )
        )
    return tfma.EvalConfig(
        model_specs=[
            tfma.ModelSpec(
                signature_name=EXAMPLE_SIGNATURE,
                label_keys=labels(config),
                preprocessing_function_names=[TRANSFORM_SIGNATURE],
            )
        ],
        slicing_specs=[tfma.SlicingSpec(), tfma.SlicingSpec(feature_keys=[DEPARTMENT_KEY])],
        options=tfma.Options(include_default_metrics={"value": False}),
        metrics_specs=metrics_specs,
    )


__all__ = ["build_model", "compile_args", "eval_config", "inputs", "labels", "report", "serving"]
