"""Test data the project makes itself: upstream-format fixtures imported into TFDS, and reading them back."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

from components import tfds_import
from pipelines import tasks


def import_fixture(task: str, root: Path, size: int = 200) -> str:
    """Write the task's upstream-format fixture under ``root`` and import it; returns the TFDS data_dir."""
    spec = tasks.get(task)
    source = spec.source
    raw = tfds_import.make_fixture(
        source.dataset, source.raw_format, root / "raw", size, class_names=source.label_names
    )
    data_dir = root / "tfds"
    tfds_import.import_dataset(spec.source.dataset, spec.source.raw_format, raw, data_dir)
    return str(data_dir)


def read_back(dataset: str, data_dir: str | os.PathLike, split: str) -> Iterator[dict]:
    """The examples TFDS loads for ``split``, as numpy dicts."""
    import tensorflow_datasets as tfds

    builder = tfds.builder(dataset, data_dir=str(data_dir))
    yield from tfds.as_numpy(builder.as_dataset(split=split, shuffle_files=False))


def corrupt_tfds_images(dataset: str, data_dir: str | os.PathLike, bad_labels: int = 3, small_images: int = 3) -> None:
    """Rewrite the prepared TFDS files in place, as disk or export faults would: some labels become 12
    (outside 0..9), some images 20 x 20 pixels instead of the data set's size. TFDS's metadata is kept."""
    import glob

    import numpy as np
    import tensorflow as tf

    for path in sorted(glob.glob(os.path.join(str(data_dir), dataset, "*", f"{dataset}-train.tfrecord-*"))):
        records = [tf.train.Example.FromString(r.numpy()) for r in tf.data.TFRecordDataset(path)]
        for example in records[:bad_labels]:
            example.features.feature["label"].int64_list.value[:] = [12]
        small = tf.io.encode_png(np.full((20, 20, 1), 128, np.uint8)).numpy()
        for example in records[bad_labels : bad_labels + small_images]:
            example.features.feature["image"].bytes_list.value[:] = [small]
        with tf.io.TFRecordWriter(path) as writer:
            for example in records:
                writer.write(example.SerializeToString())
