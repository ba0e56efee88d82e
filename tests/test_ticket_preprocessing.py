"""The ticket preprocessing_fn on known rows (tf.Transform): vocabulary, multi-hot, OOV, empty texts, labels."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_transform as tft
import tensorflow_transform.beam as tft_beam
from tensorflow_transform.tf_metadata import dataset_metadata, schema_utils

from pipelines.ticket.config import TAG_VOCAB_NAME, TOKEN_VOCAB_NAME
from pipelines.ticket.preprocessing import preprocessing_fn

SPEC = {
    "title": tf.io.FixedLenFeature([1], tf.string),
    "body": tf.io.FixedLenFeature([1], tf.string),
    "tags": tf.io.VarLenFeature(tf.string),
    "department": tf.io.FixedLenFeature([1], tf.string),
    "priority": tf.io.FixedLenFeature([1], tf.float32),
    "difficulty": tf.io.FixedLenFeature([1], tf.string),
}


def _row(title: str, body: str, tags: list[str], department: str, priority: float, difficulty: str) -> dict:
    return {
        "title": [title.encode()],
        "body": [body.encode()],
        "tags": [t.encode() for t in tags],
        "department": [department.encode()],
        "priority": [priority],
        "difficulty": [difficulty.encode()],
    }


def _dense(row: dict, key: str, width: int) -> np.ndarray:
    """A multi-hot output row, stored as a SparseFeature (indices and values), as a dense vector."""
    out = np.zeros(width, dtype=np.float32)
    out[np.asarray(row[f"{key}$sparse_indices_0"], dtype=int)] = row[f"{key}$sparse_values"]
    return out


@pytest.mark.slow  # a tf.Transform Beam pipeline: seconds
def test_known_rows(tmp_path: Path) -> None:
    train = [
        _row("Refund my INVOICE!", "invoice, refund; invoice", ["refunds", "vip"], "billing", 0.9, "quick"),
        _row("App crash", "crash on login", ["bugs"], "technical", 0.2, "difficult"),
        _row("", "invoice", [], "billing", 0.0, "medium"),  # empty title, no tags
    ]
    metadata = dataset_metadata.DatasetMetadata(schema_utils.schema_from_feature_spec(SPEC))
    with tft_beam.Context(temp_dir=str(tmp_path)):
        (rows, _), transform_fn = (train, metadata) | tft_beam.AnalyzeAndTransformDataset(preprocessing_fn)
        _ = transform_fn | tft_beam.WriteTransformFn(str(tmp_path / "tft"))
    output = tft.TFTransformOutput(str(tmp_path / "tft"))
    vocab = output.vocabulary_by_name(TOKEN_VOCAB_NAME)
    # Title and body share one vocabulary, ordered by frequency: 'invoice' appears 5 times.
    assert vocab[0] == b"invoice" and set(vocab) == {b"invoice", b"refund", b"my", b"crash", b"app", b"on", b"login"}
    tag_vocab = output.vocabulary_by_name(TAG_VOCAB_NAME)
    assert set(tag_vocab) == {b"refunds", b"vip", b"bugs"}
    spec = output.transformed_feature_spec()
    assert list(spec["title_xf"].size) == [10_000] and list(spec["tags_xf"].size) == [100]

    first, second, third = rows
    title = _dense(first, "title_xf", 10_000)
    expected = np.zeros(10_000, np.float32)
    for token in (b"refund", b"my", b"invoice"):  # lower-cased, punctuation split off, counted once
        expected[vocab.index(token)] = 1.0
    np.testing.assert_array_equal(title, expected)
    assert _dense(third, "title_xf", 10_000).sum() == 0  # empty text -> all zeros
    tags = _dense(first, "tags_xf", 100)
    assert tags.sum() == 2 and tags[tag_vocab.index(b"vip")] == 1
    np.testing.assert_array_equal(first["department_xf"], [1, 0, 0, 0])
    np.testing.assert_array_equal(second["department_xf"], [0, 1, 0, 0])
    np.testing.assert_allclose(first["priority_xf"], [0.9], rtol=1e-6)
    np.testing.assert_array_equal(second["difficulty_xf"], [0, 0, 1])


@pytest.mark.slow  # a tf.Transform Beam pipeline: seconds
def test_unseen_tokens_tags_and_departments_at_serving_time(tmp_path: Path) -> None:
    train = [_row("refund", "invoice", ["refunds"], "billing", 0.5, "quick")]
    metadata = dataset_metadata.DatasetMetadata(schema_utils.schema_from_feature_spec(SPEC))
    with tft_beam.Context(temp_dir=str(tmp_path)):
        transform_fn = (train, metadata) | tft_beam.AnalyzeDataset(preprocessing_fn)
        _ = transform_fn | tft_beam.WriteTransformFn(str(tmp_path / "tft"))
    layer = tft.TFTransformOutput(str(tmp_path / "tft")).transform_features_layer()
    out = layer(
        {
            "title": tf.constant([["zzz unknown words"], ["refund"]]),
            "body": tf.constant([[""], ["refund"]]),
            "tags": tf.sparse.from_dense(tf.constant([["no-such-tag"], [""]])),
            "department": tf.constant([["no-such-department"], ["billing"]]),
            "priority": tf.constant([[0.1], [0.2]]),
            "difficulty": tf.constant([["quick"], ["quick"]]),
        }
    )
    assert tf.sparse.to_dense(out["title_xf"]).numpy()[0].sum() == 0  # out-of-vocabulary tokens are dropped
    assert tf.sparse.to_dense(out["title_xf"]).numpy()[1].sum() == 1
    assert tf.sparse.to_dense(out["tags_xf"]).numpy().sum() == 0  # unknown tag and "" are no tags
    np.testing.assert_array_equal(out["department_xf"].numpy(), [[0, 0, 0, 0], [1, 0, 0, 0]])
