"""The Transform step of every tabular task (``pipelines/tabular.py`` declares the tables).

Transform runs ``pipelines.tabular_transform.preprocessing_fn`` for every tabular task; the task
named in its ``custom_config`` gives the table (columns, label, auxiliary target) to encode:

* a number as a z-score from full-pass statistics of the training split (``tft.mean``/``tft.var``
  over the values present); an optional one's missing value is filled (its default, else the mean)
  and flagged in a second column;
* a category one-hot: over the declared values plus "other", or over the training split's most
  frequent values (``tft.compute_and_apply_vocabulary``) plus out-of-vocabulary buckets; integer
  codes are compared as text; an optional one's missing value is its default (else "other") and flagged;
* a class label one-hot (by id for an integer column, by name for a text one); a float target as is;
  a derived label computed first from its inputs;
* the kinds of ``pipelines/tabular_kinds.py``: quantile buckets one-hot (``tft.bucketize``), crosses
  hashed one-hot, a timestamp's hour, weekday and month one-hot, a derived column computed by the
  task's function and then encoded as the column it declares.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
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


def _missing_marker(dtype: Any) -> Any:
    import tensorflow as tf

    from common.contract import MISSING_FLOAT, MISSING_INT, MISSING_TEXT

    if dtype == tf.string:
        return tf.constant(MISSING_TEXT)
    return tf.constant(MISSING_FLOAT if dtype.is_floating else MISSING_INT, dtype)


def derive(fn: Any, names: Sequence[str], inputs: Mapping[str, Any]) -> Any:
    """``fn`` on the raw columns ``names`` as [batch, 1] tensors (a missing value as its marker); [batch, 1]."""
    import tensorflow as tf

    dense = {name: _dense(inputs[name], _missing_marker(inputs[name].dtype))[0] for name in names}
    return tf.reshape(fn(**dense), [-1, 1])


def _bucket_ids(column: Any, value: Any, cache: dict[str, Any]) -> tuple[Any, Any]:
    """A Bucketized column's bucket ids [batch, 1] (quantiles of the training split) and missing flag, once."""
    import tensorflow as tf
    import tensorflow_transform as tft

    key = f"buckets:{column.name}"
    if key not in cache:
        values = tf.cast(value.values if isinstance(value, tf.SparseTensor) else value, tf.float32)
        dense, missing = _dense(value, tf.constant(0, value.dtype))
        dense = tf.cast(dense, tf.float32)
        if missing is not None:
            dense = tf.where(missing > 0, tft.mean(values), dense)
        cache[key] = (tft.bucketize(dense, num_buckets=column.buckets), missing)
    return cache[key]


def encode_bucketized(column: Any, inputs: Mapping[str, Any], cache: dict[str, Any]) -> Any:
    """A :class:`~pipelines.tabular_kinds.Bucketized` column one-hot [batch, buckets] (and the missing flag)."""
    import tensorflow as tf

    ids, missing = _bucket_ids(column, inputs[column.name], cache)
    hot = tf.one_hot(tf.reshape(ids, [-1]), depth=column.buckets, dtype=tf.float32)
    return hot if missing is None else tf.concat([hot, missing], axis=1)


def encode_crossed(column: Any, inputs: Mapping[str, Any], cache: dict[str, Any]) -> Any:
    """A :class:`~pipelines.tabular_kinds.Crossed` column: its parts' values joined, hashed, one-hot."""
    import tensorflow as tf

    declared = cache.get(COLUMNS_KEY, {})
    texts = []
    for part in column.parts:
        value = inputs[part]
        if hasattr(declared.get(part), "buckets"):  # a declared Bucketized column: crossed by its bucket
            ids, _ = _bucket_ids(declared[part], value, cache)
            texts.append(tf.strings.as_string(ids))
            continue
        dense, _ = _dense(value, _missing_marker(value.dtype))
        texts.append(dense if dense.dtype == tf.string else tf.strings.as_string(dense))
    joined = tf.strings.reduce_join(tf.concat(texts, axis=1), axis=1, separator="\x1f")
    ids = tf.strings.to_hash_bucket_fast(joined, column.hash_buckets)
    return tf.one_hot(ids, depth=column.hash_buckets, dtype=tf.float32)


def encode_timestamp(column: Any, value: Any) -> Any:
    """A :class:`~pipelines.tabular_kinds.Timestamp` (UTC seconds): hour, weekday, month one-hot, missing flag.

    The month is the civil calendar's (Howard Hinnant's ``civil_from_days``, integer ops only).
    """
    import tensorflow as tf

    dense, missing = _dense(value, tf.constant(0, value.dtype))
    seconds = tf.reshape(tf.cast(dense, tf.int64), [-1])
    days = tf.math.floordiv(seconds, 86400)
    z = days + 719468
    era = tf.math.floordiv(z, 146097)
    doe = z - era * 146097
    yoe = tf.math.floordiv(doe - doe // 1460 + doe // 36524 - doe // 146096, 365)
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    parts = {
        "hour": tf.math.floormod(tf.math.floordiv(seconds, 3600), 24),
        "weekday": tf.math.floormod(days + 3, 7),  # 1970-01-01 was a Thursday; Monday is 0
        "month": tf.where(mp < 10, mp + 2, mp - 10),  # 0 is January
    }
    hot = [tf.one_hot(parts[p], depth=TIMESTAMP_PARTS[p], dtype=tf.float32) for p in column.parts]
    if missing is not None:
        hot = [h * (1.0 - missing) for h in hot] + [missing]  # a missing time: no hour, weekday or month
    return tf.concat(hot, axis=1)


TIMESTAMP_PARTS = {"hour": 24, "weekday": 7, "month": 12}  # a timestamp's parts and their one-hot widths
COLUMNS_KEY = "columns"  # the cache's entry: the declared columns by name (a cross reads its parts' kinds)


def transform(table: Any, inputs: Mapping[str, Any]) -> dict[str, Any]:
    """The Transform step of a tabular task (see the module docstring)."""
    from pipelines.keras_config import require_keras2

    require_keras2()
    outputs = {}
    cache: dict[str, Any] = {COLUMNS_KEY: {c.name: c for c in table.columns}}  # computed once, used twice
    for column in table.columns:
        outputs[transformed_name(column.name)] = column.encode(inputs, cache)
    for target in {t.name: t for t in table.targets().values()}.values():
        value = derive(target.derive, target.inputs, inputs) if target.derive is not None else inputs[target.name]
        outputs[transformed_name(target.name)] = encode_target(target, value)
    return outputs


def preprocessing_fn(inputs: dict[str, Any], custom_config: Mapping[str, Any]) -> dict[str, Any]:
    """Transform's entry point for every tabular task: the task named in ``custom_config`` declares the table."""
    from pipelines import tasks

    return transform(tasks.get(custom_config[TASK_KEY]).declaration, inputs)
