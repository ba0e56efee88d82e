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


def distribution_strategy(name: str) -> tf.distribute.Strategy:
    """The ``tf.distribute`` strategy the config names; build and compile the model in its scope.

    * ``mirrored``: synchronous data parallelism over every local GPU (or the CPU when there is none).
    * ``multi_worker``: ``MultiWorkerMirroredStrategy``; the cluster and this worker's role come from
      ``TF_CONFIG`` (``{"cluster": {"worker": ["host:port", ...]}, "task": {"type": "worker", "index": i}}``),
      as Vertex AI and Kubeflow set it for multi-replica training jobs.
    * ``none``: TensorFlow's default strategy (no replication).
    """
    if name == "none":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        return tf.distribute.MirroredStrategy()
    if name == "multi_worker":
        cluster_spec(os.environ.get("TF_CONFIG"))
        return tf.distribute.MultiWorkerMirroredStrategy()
    raise ValueError(f"training.distribution={name!r} is not one of mirrored, multi_worker, none")


def cluster_spec(tf_config: str | None) -> dict[str, Any]:
    """Parse and check ``TF_CONFIG``; a ValueError says what is missing and how to set it."""
    example = '{"cluster": {"worker": ["host1:12345", "host2:12345"]}, "task": {"type": "worker", "index": 0}}'
    if not tf_config:
        raise ValueError(f"training.distribution=multi_worker needs TF_CONFIG, e.g. TF_CONFIG='{example}'")
    try:
        parsed = json.loads(tf_config)
    except json.JSONDecodeError as err:
        raise ValueError(f"TF_CONFIG is not JSON ({err}); expected e.g. {example}") from None
    workers = parsed.get("cluster", {}).get("worker") or []
    task = parsed.get("task", {})
    if not workers or task.get("type") not in ("worker", "chief") or not isinstance(task.get("index"), int):
        raise ValueError(f"TF_CONFIG needs cluster.worker addresses and task.type/index; expected e.g. {example}")
    if task["type"] == "worker" and not 0 <= task["index"] < len(workers):
        raise ValueError(f"TF_CONFIG task.index {task['index']} is not in 0..{len(workers) - 1}")
    return parsed


def is_chief() -> bool:
    """True unless ``TF_CONFIG`` makes this process a non-chief worker (which must not export)."""
    raw = os.environ.get("TF_CONFIG")
    if not raw:
        return True
    parsed = json.loads(raw)
    task, cluster = parsed.get("task", {}), parsed.get("cluster", {})
    if task.get("type") == "chief":
        return True
    return "chief" not in cluster and task.get("type") == "worker" and task.get("index") == 0


def export_dir(serving_model_dir: str, tmp_root: str) -> str:
    """Where this process saves the model: the real place on the chief, a scratch folder elsewhere.

    Under MultiWorkerMirroredStrategy every worker must run ``save`` (it has collective ops), but
    only the chief's copy is the model; the others write to ``tmp_root`` and it is discarded.
    """
    return serving_model_dir if is_chief() else os.path.join(tmp_root, f"worker-{os.getpid()}")


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
