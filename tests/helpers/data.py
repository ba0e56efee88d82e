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
