"""The Transform step of every tabular task (``pipelines/tabular.py`` declares the tables).

Transform runs ``pipelines.tabular_transform.preprocessing_fn`` for every tabular task; the task
named in its ``custom_config`` gives the table (columns, label, auxiliary target) to encode:

* a number as a z-score from full-pass statistics of the training split (``tft.mean``/``tft.var``
  over the values present); an optional one's missing value is filled (its default, else the mean)
  and flagged in a second column;
* a category one-hot: over the declared values plus "other", or over the training split's most
  frequent values (``tft.compute_and_apply_vocabulary``) plus out-of-vocabulary buckets; integer
  codes are compared as text; an optional one's missing value is its default (else "other") and flagged;
* a class label one-hot (by id for an integer column, by name for a text one); a float target as is.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from common.contract import TASK_KEY
from pipelines.features import transformed_name


def _dense(value: Any, default: Any) -> tuple[Any, Any | None]:
    """A raw column as [batch, 1] and, for an optional (sparse) one, a [batch, 1] missing flag."""
    import tensorflow as tf
    import tensorflow_transform as tft

    if isinstance(value, tf.SparseTensor):
        counts = tf.math.bincount(
            tf.cast(value.indices[:, 0], tf.int32), minlength=tf.cast(value.dense_shape[0], tf.int32)
        )
        missing = tf.reshape(tf.cast(tf.equal(counts, 0), tf.float32), [-1, 1])
        return tft.sparse_tensor_to_dense_with_shape(value, [None, 1], default_value=default), missing
    return tf.reshape(value, [-1, 1]), None


def encode_numeric(column: Any, value: Any) -> Any:
    """A :class:`~pipelines.tabular.Numeric` column as its z-score [batch, 1] (and missing flag [batch, 1])."""
    import tensorflow as tf
    import tensorflow_transform as tft

    values = tf.cast(value.values if isinstance(value, tf.SparseTensor) else value, tf.float32)
    mean, var = tft.mean(values), tft.var(values)
    dense, missing = _dense(value, tf.constant(0, value.dtype))
    dense = tf.cast(dense, tf.float32)
    if missing is not None:
        fill = tf.constant(column.default, tf.float32) if column.default is not None else mean
        dense = tf.where(missing > 0, fill, dense)
    std = tf.sqrt(var)
    z = (dense - mean) / tf.where(std > 0, std, tf.ones_like(std))
    return z if missing is None else tf.concat([z, missing], axis=1)


def encode_categorical(column: Any, value: Any) -> Any:
    """A :class:`~pipelines.tabular.Categorical` column one-hot [batch, width] (and the missing flag)."""
    import tensorflow as tf
    import tensorflow_transform as tft

    is_text = value.dtype == tf.string
    default = column.default if column.default is not None else ("" if is_text else -1)
    dense, missing = _dense(value, tf.constant(default, value.dtype))
    text = dense if is_text else tf.strings.as_string(dense)
    if column.vocabulary:
        vocabulary = tf.constant([str(v) for v in column.vocabulary])
        hot = tf.cast(tf.equal(text, vocabulary[tf.newaxis, :]), tf.float32)
        encoded = tf.concat([hot, 1.0 - tf.reduce_max(hot, axis=1, keepdims=True)], axis=1)
    else:
        ids = tft.compute_and_apply_vocabulary(
            tf.reshape(text, [-1]),
            top_k=column.max_tokens,
            num_oov_buckets=column.oov_buckets,
            vocab_filename=column.name,
        )
        encoded = tf.one_hot(ids, depth=column.max_tokens + column.oov_buckets, dtype=tf.float32)
    return encoded if missing is None else tf.concat([encoded, missing], axis=1)


def encode_target(label: Any, value: Any) -> Any:
    """A target: one-hot class [batch, classes] (an unknown class: all zeros), or the float [batch, 1]."""
    import tensorflow as tf

    dense, _ = _dense(value, tf.constant("" if value.dtype == tf.string else 0, value.dtype))
    if not label.is_classification:
        return tf.cast(dense, tf.float32)
    if value.dtype == tf.string:
        names = tf.constant(list(label.class_names))
        return tf.cast(tf.equal(dense, names[tf.newaxis, :]), tf.float32)  # an unknown name: all zeros
    return tf.one_hot(tf.reshape(tf.cast(dense, tf.int64), [-1]), depth=len(label.class_names), dtype=tf.float32)


def transform(table: Any, inputs: Mapping[str, Any]) -> dict[str, Any]:
    """The Transform step of a tabular task (see the module docstring)."""
    from pipelines.keras_config import require_keras2

    require_keras2()
    outputs = {}
    for column in table.columns:
        outputs[transformed_name(column.name)] = column.encode(inputs[column.name])
    for target in {t.name: t for t in table.targets().values()}.values():
        outputs[transformed_name(target.name)] = encode_target(target, inputs[target.name])
    return outputs


def preprocessing_fn(inputs: dict[str, Any], custom_config: Mapping[str, Any]) -> dict[str, Any]:
    """Transform's entry point for every tabular task: the task named in ``custom_config`` declares the table."""
    from pipelines import tasks

    return transform(tasks.get(custom_config[TASK_KEY]).declaration, inputs)
