"""The Trainer's and Tuner's datasets: transformed examples as (inputs dict, labels dict) batches."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import tensorflow as tf
import tensorflow_transform as tft
from tfx.components.trainer.fn_args_utils import FnArgs

from pipelines.config import TaskConfig
from pipelines.export import dense
from pipelines.spec import TaskSpec


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
