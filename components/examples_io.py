"""Reading the records of an Examples artifact's split: one helper the components share."""

from __future__ import annotations

import glob
import os

import tensorflow as tf


def read_examples(examples_uri: str, split: str, count: int) -> list[bytes]:
    """The first ``count`` serialized examples of a split of an Examples artifact (gzip TFRecords).

    Raises:
        FileNotFoundError: the artifact has no such split.
    """
    files = sorted(glob.glob(os.path.join(examples_uri, f"Split-{split}", "*")))
    if not files:
        raise FileNotFoundError(f"{examples_uri} has no split {split!r}")
    dataset = tf.data.TFRecordDataset(files, compression_type="GZIP").take(count)
    return list(dataset.as_numpy_iterator())


def count_examples(examples_uri: str, split: str) -> int:
    """How many examples a split of an Examples artifact has (0 if it has no such split)."""
    files = sorted(glob.glob(os.path.join(examples_uri, f"Split-{split}", "*")))
    if not files:
        return 0
    return sum(1 for _ in tf.data.TFRecordDataset(files, compression_type="GZIP"))
