"""The training loop every task shares: one ``run_fn`` for the Trainer, one :func:`train_and_export`.

The Trainer's ``custom_config`` names the task and carries its whole validated configuration; the
task's :class:`pipelines.spec.TaskSpec` says how to build, compile, feed, report and export its
model. Batches are mapped to an *inputs dict* and a *labels dict* keyed by the model's input and
output names, which serves single- and multi-output models alike (TFX's own dataset options take a
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

from common.contract import CONFIG_KEY, TASK_KEY, TFLITE_FILE
from pipelines import tasks
from pipelines.config import TaskConfig, TrainingConfig, from_json
from pipelines.export import dense, export_model, write_tflite
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
    export_model(model, tft_output, saved_model_dir, inputs, spec.serving(config))
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


def make_datasets(
    fn_args: FnArgs, spec: TaskSpec, config: TaskConfig, tft_output: tft.TFTransformOutput
) -> tuple[tf.data.Dataset, tf.data.Dataset]:
    """The training (shuffled, augmented if configured) and evaluation datasets of a Trainer or Tuner."""
    training = config.training
    inputs, labels = dict(spec.inputs(config)), dict(spec.labels(config))
    train_ds = make_dataset(
        fn_args.train_files,
        tft_output,
        inputs,
        labels,
        training.batch_size,
        shuffle_buffer=training.shuffle_buffer,
        seed=training.seed,
    )
    if training.augment and spec.augment is not None:
        train_ds = train_ds.map(spec.augment, num_parallel_calls=tf.data.AUTOTUNE)
    return train_ds, make_dataset(fn_args.eval_files, tft_output, inputs, labels, training.batch_size)


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
        self.between: list[float] = []  # seconds from the end of the previous epoch (or the start) to this one
        self._start = self._end = 0.0

    def on_train_begin(self, logs: Mapping[str, float] | None = None) -> None:
        """Start the clock of the time before the first epoch."""
        del logs
        self._end = time.time()

    def on_epoch_begin(self, epoch: int, logs: Mapping[str, float] | None = None) -> None:
        """Start the epoch's clock."""
        del epoch, logs  # Keras's callback signature
        self._start = time.time()
        self.between.append(self._start - self._end)

    def on_epoch_end(self, epoch: int, logs: Mapping[str, float] | None = None) -> None:
        """Print the epoch's metrics, learning rate and duration."""
        self._end = time.time()
        self.durations.append(self._end - self._start)
        logs = dict(logs or {})
        rate = logs.pop("lr", None)
        # The losses, and the validation metrics: what decides early stopping and what the Evaluator checks.
        keys = sorted(
            k for k in logs if k in ("loss", "val_loss") or (k.startswith("val_") and not k.endswith("_loss"))
        )
        shown = "  ".join(f"{k}={logs[k]:.4f}" for k in keys)
        if rate is not None:
            shown += f"  lr={rate:.2g}"
        print(f"[trainer] epoch {epoch + 1}/{self.epochs}  {self.durations[-1]:.1f}s  {shown}", flush=True)


def standard_callbacks(config: TrainingConfig, model_run_dir: str, monitor: str = "val_loss") -> list[Any]:
    """EarlyStopping (restoring the best weights), ReduceLROnPlateau, ModelCheckpoint and TensorBoard."""
    return [
        keras.callbacks.EarlyStopping(
            monitor=monitor, patience=config.early_stopping_patience, restore_best_weights=True, verbose=0
        ),
        keras.callbacks.ReduceLROnPlateau(
            monitor=monitor, factor=config.reduce_lr_factor, patience=config.reduce_lr_patience, min_lr=1e-6, verbose=0
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

    * ``auto``: ``MirroredStrategy`` when there are two or more local GPUs, else the default strategy
      (a single device gains nothing from replication and pays for it in every step).
    * ``mirrored``: synchronous data parallelism over every local GPU (or the CPU when there is none).
    * ``multi_worker``: ``MultiWorkerMirroredStrategy``; the cluster and this worker's role come from
      ``TF_CONFIG`` (``{"cluster": {"worker": ["host:port", ...]}, "task": {"type": "worker", "index": i}}``),
      as Vertex AI and Kubeflow set it for multi-replica training jobs.
    * ``none``: TensorFlow's default strategy (no replication).
    """
    if name == "auto":
        name = "mirrored" if len(tf.config.list_logical_devices("GPU")) > 1 else "none"
    if name == "none":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        return tf.distribute.MirroredStrategy()
    if name == "multi_worker":
        cluster_spec(os.environ.get("TF_CONFIG"))
        return tf.distribute.MultiWorkerMirroredStrategy()
    raise ValueError(f"training.distribution={name!r} is not one of auto, mirrored, multi_worker, none")


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
