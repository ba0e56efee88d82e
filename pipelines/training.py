"""Training machinery shared by every task's ``run_fn``.

A task's ``run_fn`` stays thin: it names its inputs and labels, calls the
model builder in ``models/``, and hands over to :func:`fit` here and to the
export code in ``serving/``. Batches are mapped to an *inputs dict* and a
*labels dict* keyed by the model's input and output names, which serves
single- and multi-output models alike (TFX's own dataset options take a
single label key).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Mapping, Sequence
from typing import Any

import tensorflow as tf
import tensorflow_transform as tft
import tf_keras as keras
from tfx.components.trainer.fn_args_utils import FnArgs

from pipelines.config import TrainingConfig
from pipelines.keras_config import keras_version, require_keras2

TRAINING_CONFIG_KEY = "training_config"


def training_config(fn_args: FnArgs) -> TrainingConfig:
    """Read the TrainingConfig from the Trainer's ``custom_config``; seed Python, NumPy and TensorFlow with it.

    Seeding here, before any model or dataset is built, makes initial weights and shuffling follow the seed.
    """
    config = TrainingConfig.from_json((fn_args.custom_config or {})[TRAINING_CONFIG_KEY])
    keras.utils.set_random_seed(config.seed)
    return config


def make_dataset(
    file_pattern: str | Sequence[str],
    tf_transform_output: tft.TFTransformOutput,
    inputs: Mapping[str, str],
    labels: Mapping[str, str],
    batch_size: int,
    shuffle_buffer: int | None = None,
    seed: int | None = None,
    cache: bool = True,
) -> tf.data.Dataset:
    """Read transformed examples as ``(inputs dict, labels dict)`` batches.

    Args:
        file_pattern: transformed TFRecord files (gzip) or glob patterns.
        tf_transform_output: the Transform output (gives the feature spec).
        inputs: model input name -> transformed feature key.
        labels: model output name -> transformed label key.
        batch_size: examples per batch.
        shuffle_buffer: shuffle with this buffer (None: keep file order).
        seed: shuffle seed.
        cache: keep the parsed examples in memory after the first pass.

    Returns:
        A finite dataset (one pass per epoch).
    """
    patterns = [file_pattern] if isinstance(file_pattern, str) else list(file_pattern)
    files = sorted(f for p in patterns for f in tf.io.gfile.glob(p))
    if not files:
        raise FileNotFoundError(f"no transformed examples match {patterns}")
    spec = tf_transform_output.transformed_feature_spec()
    wanted = {**{k: spec[k] for k in inputs.values()}, **{k: spec[k] for k in labels.values()}}

    def dense(value: tf.Tensor | tf.SparseTensor) -> tf.Tensor:  # multi-hot features are stored sparse
        return tf.sparse.to_dense(value) if isinstance(value, tf.SparseTensor) else value

    def split(batch: dict[str, tf.Tensor]) -> tuple[dict[str, tf.Tensor], dict[str, tf.Tensor]]:
        return (
            {name: dense(batch[key]) for name, key in inputs.items()},
            {name: dense(batch[key]) for name, key in labels.items()},
        )

    ds = tf.data.TFRecordDataset(files, compression_type="GZIP", num_parallel_reads=tf.data.AUTOTUNE)
    ds = ds.batch(256).map(lambda x: tf.io.parse_example(x, wanted), num_parallel_calls=tf.data.AUTOTUNE).unbatch()
    if cache:
        ds = ds.cache()
    if shuffle_buffer:
        ds = ds.shuffle(shuffle_buffer, seed=seed, reshuffle_each_iteration=True)
    return ds.batch(batch_size).map(split, num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE)


class EpochLogger(keras.callbacks.Callback):
    """One readable progress line per epoch, with its duration (Trainer logs are files, not terminals)."""

    def __init__(self, epochs: int) -> None:
        super().__init__()
        self.epochs = epochs
        self.durations: list[float] = []
        self._start = 0.0

    def on_epoch_begin(self, epoch: int, logs: Mapping[str, float] | None = None) -> None:
        """Start the epoch's clock."""
        del epoch, logs  # Keras's callback signature
        self._start = time.time()

    def on_epoch_end(self, epoch: int, logs: Mapping[str, float] | None = None) -> None:
        """Print the epoch's metrics and duration."""
        self.durations.append(time.time() - self._start)
        shown = "  ".join(f"{k}={v:.4f}" for k, v in sorted((logs or {}).items()))
        print(f"[trainer] epoch {epoch + 1}/{self.epochs}  {self.durations[-1]:.1f}s  {shown}", flush=True)


def standard_callbacks(config: TrainingConfig, model_run_dir: str, monitor: str = "val_loss") -> list[Any]:
    """EarlyStopping (restoring the best weights), ReduceLROnPlateau, ModelCheckpoint and TensorBoard."""
    return [
        keras.callbacks.EarlyStopping(
            monitor=monitor, patience=config.early_stopping_patience, restore_best_weights=True, verbose=1
        ),
        keras.callbacks.ReduceLROnPlateau(
            monitor=monitor, factor=config.reduce_lr_factor, patience=config.reduce_lr_patience, min_lr=1e-6, verbose=1
        ),
        keras.callbacks.ModelCheckpoint(
            os.path.join(model_run_dir, "checkpoints", "best.weights.h5"),
            monitor=monitor,
            save_best_only=True,
            save_weights_only=True,
        ),
        keras.callbacks.TensorBoard(log_dir=os.path.join(model_run_dir, "logs"), update_freq="epoch"),
        EpochLogger(config.epochs),
    ]


def epoch_seconds(callbacks: list[Any]) -> list[float]:
    """The per-epoch durations measured by the EpochLogger among ``callbacks``."""
    return next((list(c.durations) for c in callbacks if isinstance(c, EpochLogger)), [])


def fit(
    model: keras.Model, train_ds: tf.data.Dataset, eval_ds: tf.data.Dataset, config: TrainingConfig, model_run_dir: str
) -> keras.callbacks.History:
    """Fit ``model`` with the standard callbacks; write ``history.json`` into ``model_run_dir``."""
    require_keras2()
    callbacks = standard_callbacks(config, model_run_dir)
    history = model.fit(
        train_ds.repeat() if config.steps_per_epoch else train_ds,
        validation_data=eval_ds,
        epochs=config.epochs,
        steps_per_epoch=config.steps_per_epoch,
        callbacks=callbacks,
        verbose=2,
    )
    tf.io.gfile.makedirs(model_run_dir)
    record = {
        "history": {k: [float(v) for v in vs] for k, vs in history.history.items()},
        "epochs_run": len(history.epoch),
        "epoch_seconds": epoch_seconds(callbacks),
        "keras_version": keras_version(),
        "config": json.loads(config.to_json()),
    }
    with tf.io.gfile.GFile(os.path.join(model_run_dir, "history.json"), "w") as f:
        json.dump(record, f, indent=2)
    return history
