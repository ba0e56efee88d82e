"""Transform's preprocessing_fn for tickets: text to multi-hot over a learned vocabulary, and the labels.

* ``title``, ``body``: lower-cased, split on anything that is not a letter or
  digit, mapped through one vocabulary of the 10,000 most frequent tokens of
  the training split (computed over title and body together), as multi-hot
  vectors [batch, 10000]. Out-of-vocabulary tokens are dropped; an empty
  text gives an all-zero vector.
* ``tags``: multi-hot [batch, 100] over the tag vocabulary learned from the
  training split; unknown tags are dropped.
* ``department``: one-hot [batch, 4] over the known department names.
* ``priority``: the float score, [batch, 1].
* ``difficulty``: one-hot [batch, 3].

Multi-hot outputs are SparseTensors with a fixed width, so the transformed
examples store only the ones; the Trainer densifies them per batch.
"""

from __future__ import annotations

import tensorflow as tf
import tensorflow_transform as tft

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
    TAG_VOCAB_NAME,
    TAGS_KEY,
    TITLE_KEY,
    TOKEN_VOCAB_NAME,
    VOCAB_SIZE,
)


def tokenize(text: tf.Tensor) -> tf.SparseTensor:
    """Strings [batch] or [batch, 1] -> lower-case alphanumeric tokens, a SparseTensor [batch, n]."""
    text = tf.strings.lower(tf.reshape(text, [-1]))
    text = tf.strings.regex_replace(text, r"[^a-z0-9]+", " ")
    return tf.strings.split(text).to_sparse()


def multi_hot(ids: tf.SparseTensor, depth: int) -> tf.SparseTensor:
    """Vocabulary ids (−1 for out-of-vocabulary) -> a 0/1 SparseTensor [batch, depth], duplicates merged."""
    ids = tf.sparse.retain(ids, ids.values >= 0)
    dense = tf.sparse.to_indicator(ids, depth)  # [batch, depth]: keeps rows that have no ids
    hot = tf.sparse.from_dense(tf.cast(dense, tf.float32))
    # A true sparse output of fixed width: tf.Transform stores it as a SparseFeature of size
    # `depth` (indices and values only), not as a variable-length list.
    tft.experimental.annotate_sparse_output_shape(hot, [depth])
    return hot


def one_hot_names(values: tf.Tensor, names: tuple[str, ...]) -> tf.Tensor:
    """Strings [batch] or [batch, 1] -> one-hot [batch, len(names)]; an unknown name gives all zeros."""
    return tf.cast(tf.equal(tf.reshape(values, [-1, 1]), tf.constant(names)[tf.newaxis, :]), tf.float32)


def _dense_strings(values: tf.Tensor | tf.SparseTensor) -> tf.SparseTensor:
    if isinstance(values, tf.SparseTensor):
        return values
    if isinstance(values, tf.RaggedTensor):
        return values.to_sparse()
    return tf.sparse.from_dense(values)


def preprocessing_fn(inputs: dict[str, tf.Tensor]) -> dict[str, tf.Tensor]:
    """Raw ticket features -> model features and labels (see the module docstring)."""
    require_keras2()
    title, body = tokenize(inputs[TITLE_KEY]), tokenize(inputs[BODY_KEY])
    tokens = tf.sparse.concat(axis=1, sp_inputs=[title, body], expand_nonconcat_dims=True)
    vocab = tft.vocabulary(tokens, top_k=VOCAB_SIZE, vocab_filename=TOKEN_VOCAB_NAME)
    tags = _dense_strings(inputs[TAGS_KEY])
    tags = tf.sparse.retain(tags, tf.strings.length(tags.values) > 0)
    tag_vocab = tft.vocabulary(tags, top_k=NUM_TAGS, vocab_filename=TAG_VOCAB_NAME)
    return {
        transformed_name(TITLE_KEY): multi_hot(tft.apply_vocabulary(title, vocab, default_value=-1), VOCAB_SIZE),
        transformed_name(BODY_KEY): multi_hot(tft.apply_vocabulary(body, vocab, default_value=-1), VOCAB_SIZE),
        transformed_name(TAGS_KEY): multi_hot(tft.apply_vocabulary(tags, tag_vocab, default_value=-1), NUM_TAGS),
        transformed_name(DEPARTMENT_KEY): one_hot_names(inputs[DEPARTMENT_KEY], DEPARTMENTS),
        transformed_name(PRIORITY_KEY): tf.reshape(tf.cast(inputs[PRIORITY_KEY], tf.float32), [-1, 1]),
        transformed_name(DIFFICULTY_KEY): one_hot_names(inputs[DIFFICULTY_KEY], DIFFICULTIES),
    }
