"""Trainer ``run_fn`` for tickets: inputs dict and labels dict, dict losses with loss weights, three signatures."""

from __future__ import annotations

import json
import os

import numpy as np
import tensorflow as tf
import tensorflow_transform as tft
import tf_keras as keras
from tfx.components.trainer.fn_args_utils import FnArgs

from models.ticket import add_difficulty_head, build_ticket_model
from pipelines import reports, training
from pipelines.features import transformed_name
from pipelines.keras_config import require_keras2
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
    TicketModelConfig,
)
from serving.export import classification_outputs, export_model

MODEL_CONFIG_KEY = "model_config"
INPUTS = {key: transformed_name(key) for key in (TITLE_KEY, BODY_KEY, TAGS_KEY)}
RAW_SIGNATURE = {
    TITLE_KEY: tf.TensorSpec([None], tf.string, name=TITLE_KEY),
    BODY_KEY: tf.TensorSpec([None], tf.string, name=BODY_KEY),
    TAGS_KEY: tf.TensorSpec([None, None], tf.string, name=TAGS_KEY),  # padded with "" (no tag)
}
# serving_default parses these; a missing title or body is an empty text, missing tags no tags.
EXAMPLE_FEATURE_SPEC = {
    TITLE_KEY: tf.io.FixedLenFeature([1], tf.string, default_value=[""]),
    BODY_KEY: tf.io.FixedLenFeature([1], tf.string, default_value=[""]),
    TAGS_KEY: tf.io.VarLenFeature(tf.string),
}


def labels(config: TicketModelConfig) -> dict[str, str]:
    """Model output name -> transformed label key."""
    keys = [PRIORITY_KEY, DEPARTMENT_KEY] + ([DIFFICULTY_KEY] if config.difficulty_head else [])
    return {key: transformed_name(key) for key in keys}


def build_compiled_model(config: TicketModelConfig, learning_rate: float) -> keras.Model:
    """The ticket model (optionally with the difficulty head), dict losses and loss weights."""
    model = build_ticket_model(VOCAB_SIZE, NUM_TAGS, len(DEPARTMENTS), config.hidden_units, config.features_l1)
    losses: dict[str, keras.losses.Loss] = {
        PRIORITY_KEY: keras.losses.MeanSquaredError(),
        DEPARTMENT_KEY: keras.losses.CategoricalCrossentropy(from_logits=False),
    }
    metrics: dict[str, list] = {
        PRIORITY_KEY: [keras.metrics.RootMeanSquaredError(name="rmse"), keras.metrics.MeanAbsoluteError(name="mae")],
        DEPARTMENT_KEY: [keras.metrics.CategoricalAccuracy(name="accuracy")],
    }
    if config.difficulty_head:
        model = add_difficulty_head(model, len(DIFFICULTIES))
        losses[DIFFICULTY_KEY] = keras.losses.CategoricalCrossentropy(from_logits=False)
        metrics[DIFFICULTY_KEY] = [keras.metrics.CategoricalAccuracy(name="accuracy")]
    model.compile(
        optimizer=keras.optimizers.RMSprop(learning_rate),
        loss=losses,
        loss_weights=config.loss_weights,
        metrics=metrics,
    )
    return model


def raw_to_features(raw: dict[str, tf.Tensor]) -> dict[str, tf.Tensor]:
    """Plain strings -> the raw feature dict the Transform graph takes; "" tags are no tags."""
    tags = tf.sparse.from_dense(raw[TAGS_KEY])  # drops the "" padding
    return {
        TITLE_KEY: tf.reshape(raw[TITLE_KEY], [-1, 1]),
        BODY_KEY: tf.reshape(raw[BODY_KEY], [-1, 1]),
        TAGS_KEY: tags,
    }


def example_outputs(outputs: dict[str, tf.Tensor]) -> dict[str, tf.Tensor]:
    """``serving_default``: each head's raw output under its name (what TFMA evaluates)."""
    return dict(outputs)


def readable_outputs(outputs: dict[str, tf.Tensor]) -> dict[str, tf.Tensor]:
    """``serving_raw``: priority as a score, department (and difficulty) with names and probabilities."""
    result = {"priority": tf.reshape(outputs[PRIORITY_KEY], [-1])}
    for head, names in ((DEPARTMENT_KEY, DEPARTMENTS), (DIFFICULTY_KEY, DIFFICULTIES)):
        if head in outputs:
            for key, value in classification_outputs(outputs[head], names).items():
                result[f"{head}_{key}"] = value
    return result


def run_fn(fn_args: FnArgs) -> None:
    """Train on (inputs dict, labels dict) batches, report, and export the signatures."""
    require_keras2()
    config = training.training_config(fn_args)
    model_config = TicketModelConfig(**json.loads(fn_args.custom_config[MODEL_CONFIG_KEY]))
    label_keys = labels(model_config)
    tft_output = tft.TFTransformOutput(fn_args.transform_output)
    train_ds = training.make_dataset(
        fn_args.train_files,
        tft_output,
        INPUTS,
        label_keys,
        config.batch_size,
        shuffle_buffer=config.shuffle_buffer,
        seed=config.seed,
    )
    eval_ds = training.make_dataset(fn_args.eval_files, tft_output, INPUTS, label_keys, config.batch_size)

    strategy = training.distribution_strategy(config.distribution)
    print(f"[trainer] {type(strategy).__name__}: {strategy.num_replicas_in_sync} replica(s)")
    with strategy.scope():
        model = build_compiled_model(model_config, config.learning_rate)
    model.summary(print_fn=lambda line: print(f"[trainer] {line}"))
    history = training.fit(model, train_ds, eval_ds, config, fn_args.model_run_dir)

    true_departments, true_priority, predictions = [], [], []
    for inputs, batch_labels in eval_ds:
        outputs = model.predict_on_batch(inputs)
        predictions.append(dict(zip(model.output_names, outputs, strict=True)))
        true_departments.append(batch_labels[DEPARTMENT_KEY].numpy().argmax(-1))
        true_priority.append(batch_labels[PRIORITY_KEY].numpy().reshape(-1))
    metrics = reports.write_ticket_report(
        os.path.join(fn_args.model_run_dir, "report"),
        model,
        history.history,
        np.concatenate(true_departments),
        np.concatenate([p[DEPARTMENT_KEY] for p in predictions]),
        np.concatenate(true_priority),
        np.concatenate([p[PRIORITY_KEY].reshape(-1) for p in predictions]),
        list(DEPARTMENTS),
    )
    print(
        f"[trainer] eval department accuracy {metrics['department_accuracy']:.4f}, "
        f"priority RMSE {metrics['priority_rmse']:.4f} on {metrics['examples']} tickets"
    )

    export_model(
        model,
        tft_output,
        training.export_dir(fn_args.serving_model_dir, fn_args.model_run_dir),
        INPUTS,
        EXAMPLE_FEATURE_SPEC,
        RAW_SIGNATURE,
        raw_to_features,
        readable_outputs,
        example_postprocess=example_outputs,
        transformed_label_keys=list(label_keys.values()),
        classify=(DEPARTMENT_KEY, DEPARTMENTS),
        regress=PRIORITY_KEY,
    )
