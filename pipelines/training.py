"""The training loop every task shares: one ``run_fn`` for the Trainer, one :func:`train_and_export`.

The Trainer's ``custom_config`` names the task and carries its whole validated configuration; the
task's :class:`pipelines.spec.TaskSpec` says how to build, compile, feed, report and export its
model. The datasets (:mod:`pipelines.datasets`), callbacks (:mod:`pipelines.callbacks`) and the
tf.distribute strategy (:mod:`pipelines.distribution`) are their own modules.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Mapping
from typing import Any

import tensorflow as tf
import tensorflow_transform as tft
import tf_keras as keras
from tfx.components.trainer.fn_args_utils import FnArgs

from common.contract import CONFIG_KEY, TASK_KEY, TFLITE_FILE
from pipelines import tasks
from pipelines.callbacks import EpochLogger, epoch_seconds, standard_callbacks
from pipelines.config import TaskConfig, TrainingConfig, from_json
from pipelines.datasets import make_datasets
from pipelines.distribution import distribution_strategy, export_dir
from pipelines.export import export_model, write_tflite
from pipelines.keras_config import keras_version, require_keras2
from pipelines.spec import TaskSpec


def task_and_config(custom_config: Mapping[str, Any] | None) -> tuple[TaskSpec, TaskConfig]:
    """The task and its validated config from a Trainer's or Transform's ``custom_config``."""
    custom_config = custom_config or {}
    if TASK_KEY not in custom_config or CONFIG_KEY not in custom_config:
        raise ValueError(f"custom_config must name the {TASK_KEY!r} and carry its {CONFIG_KEY!r}, got {custom_config}")
    spec = tasks.get(custom_config[TASK_KEY])
    return spec, from_json(spec.config_class, custom_config[CONFIG_KEY])


# The training settings a Tuner searches (their names are the hyperparameters' names).
TUNABLE = ("optimizer", "learning_rate")


def run_fn(fn_args: FnArgs) -> None:
    """The Trainer's entry point for every task (``pipelines.training.run_fn``).

    With a Tuner upstream, its best hyperparameters (``fn_args.hyperparameters``) replace the
    configured optimizer and learning rate.
    """
    require_keras2()
    spec, config = task_and_config(fn_args.custom_config)
    config = with_hyperparameters(config, fn_args.hyperparameters)
    train_and_export(fn_args, spec, config)


def with_hyperparameters(config: TaskConfig, hyperparameters: Mapping[str, Any] | None) -> TaskConfig:
    """``config`` with the Tuner's best values (a KerasTuner ``HyperParameters`` config) in ``training``."""
    values = dict((hyperparameters or {}).get("values", {}))
    tuned = {key: values[key] for key in TUNABLE if key in values}
    if not tuned:
        return config
    print("[trainer] hyperparameters from the Tuner: " + ", ".join(f"{k}={v}" for k, v in tuned.items()), flush=True)
    training = TrainingConfig.model_validate({**config.training.model_dump(), **tuned})
    return config.model_copy(update={"training": training})


def make_optimizer(config: TrainingConfig) -> keras.optimizers.Optimizer:
    """The optimizer ``training.optimizer`` names, at ``training.learning_rate``."""
    optimizers = {
        "rmsprop": keras.optimizers.RMSprop,
        "adam": keras.optimizers.Adam,
        "sgd": keras.optimizers.SGD,
        "adagrad": keras.optimizers.Adagrad,
    }
    return optimizers[config.optimizer](config.learning_rate)


def train_and_export(fn_args: FnArgs, spec: TaskSpec, config: TaskConfig) -> keras.callbacks.History:
    """Fit the task's model, write its report, export its serving signatures; returns the history.

    Seeds Python, NumPy and TensorFlow with ``training.seed`` before any model or dataset is built,
    so initial weights and shuffling follow the seed.
    """
    training = config.training
    setup_start = time.time()
    keras.utils.set_random_seed(training.seed)
    tft_output = tft.TFTransformOutput(fn_args.transform_graph_path)
    inputs = dict(spec.inputs(config))
    train_ds, eval_ds = make_datasets(fn_args, spec, config, tft_output)

    strategy = distribution_strategy(training.distribution)
    with strategy.scope():
        model = spec.build_model(config)
        model.compile(optimizer=make_optimizer(training), **spec.compile_args(config))
    replicas = strategy.num_replicas_in_sync
    where = f"{type(strategy).__name__}, {replicas} replicas" if replicas > 1 else "one device"
    print(f"[trainer] {model.name}: {model.count_params():,} parameters, {where}", flush=True)
    setup_seconds = time.time() - setup_start
    history = fit(model, train_ds, eval_ds, training, fn_args.model_run_dir)
    start = time.time()
    metrics = spec.report(os.path.join(fn_args.model_run_dir, "report"), model, history.history, eval_ds, config)
    report_seconds = time.time() - start
    start = time.time()
    saved_model_dir = export_dir(fn_args.serving_model_dir, fn_args.model_run_dir)
    export_model(model, tft_output, saved_model_dir, inputs, spec.serving(config), config.infra.max_latency_ms)
    if config.export.tflite and spec.tflite is not None:
        size = write_tflite(spec.tflite(model, config), model, os.path.join(saved_model_dir, TFLITE_FILE))
        print(f"[trainer] TensorFlow Lite model: {TFLITE_FILE}, {size / 1e6:.2f} MB", flush=True)
    print(f"[trainer] {metrics['headline']}", flush=True)
    print(
        f"[trainer] time: setup {setup_seconds:.1f} s, report {report_seconds:.1f} s, "
        f"export {time.time() - start:.1f} s",
        flush=True,
    )
    return history


def fit(
    model: keras.Model, train_ds: tf.data.Dataset, eval_ds: tf.data.Dataset, config: TrainingConfig, model_run_dir: str
) -> keras.callbacks.History:
    """Fit ``model`` with the standard callbacks; write ``history.json`` into ``model_run_dir``."""
    require_keras2()
    callbacks = standard_callbacks(config, model_run_dir)
    start = time.time()
    history = model.fit(
        train_ds.repeat() if config.steps_per_epoch else train_ds,
        validation_data=eval_ds,
        epochs=config.epochs,
        steps_per_epoch=config.steps_per_epoch,
        callbacks=callbacks,
        verbose=0,  # the EpochLogger prints one line per epoch
    )
    fit_seconds = time.time() - start
    logger = next(c for c in callbacks if isinstance(c, EpochLogger))
    print(
        f"[trainer] fit {fit_seconds:.1f} s: {sum(logger.durations):.1f} s in epochs, "
        f"{sum(logger.between):.1f} s before and between them",
        flush=True,
    )
    stopper = next(c for c in callbacks if isinstance(c, keras.callbacks.EarlyStopping))
    if stopper.stopped_epoch:
        print(
            f"[trainer] early stopping after epoch {stopper.stopped_epoch + 1}: no {stopper.monitor} improvement "
            f"in {stopper.patience} epochs; keeping the weights of epoch {stopper.best_epoch + 1}",
            flush=True,
        )
    tf.io.gfile.makedirs(model_run_dir)
    record = {
        "history": {k: [float(v) for v in vs] for k, vs in history.history.items()},
        "epochs_run": len(history.epoch),
        "epoch_seconds": epoch_seconds(callbacks),
        "fit_seconds": fit_seconds,
        "keras_version": keras_version(),
        "config": config.model_dump(),
    }
    with tf.io.gfile.GFile(os.path.join(model_run_dir, "history.json"), "w") as f:
        json.dump(record, f, indent=2)
    return history
