"""Offline import of upstream raw data files into a TensorFlow Datasets ``data_dir``.

TensorFlow Datasets downloads its source files from the internet, which an air-gapped machine
cannot do. This package reads the *upstream* files of a data set in one of the formats of
:data:`FORMATS`, checks what it reads against the official TFDS builder's features (image shape,
number of classes), and prepares the data set under the builder's public name, version and features.
Afterwards ``tfds.builder(name, data_dir=...)`` (and so the pipeline's ExampleGen) loads it exactly as
if TFDS had downloaded it.

A task names its data set and format in its spec; adding a data set in a known format needs no
change here, a new format is one entry in :data:`FORMATS`. The checks are on decoded content, not
on archive bytes: re-compressed files whose contents are byte-identical to upstream import fine.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import os
import shutil
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import numpy as np

from data_import.cifar import read_cifar_source, write_cifar_fixture
from data_import.common import (
    Features,
    ImportDataError,
    ImportReport,
    SplitArrays,
)
from data_import.idx import read_idx_source, write_idx_fixture


@dataclasses.dataclass(frozen=True)
class RawFormat:
    """An upstream file format: what ``--source`` holds, how to read it, how to write a small fixture."""

    name: str
    source: str  # what --source must be, for help texts and errors
    read: Callable[[Path, Features], tuple[dict[str, SplitArrays], list[str] | None]]
    write_fixture: Callable[[Path, Features, int, int], Path]


FORMATS: dict[str, RawFormat] = {
    "idx": RawFormat(
        "idx",
        "a folder with the four upstream IDX files (train-images-idx3-ubyte.gz, ...)",
        read_idx_source,
        write_idx_fixture,
    ),
    "cifar_binary": RawFormat(
        "cifar_binary",
        "the binary version's .tar.gz, or its extracted *-batches-bin/ folder",
        read_cifar_source,
        write_cifar_fixture,
    ),
}


def raw_format(name: str) -> RawFormat:
    """The format called ``name``."""
    if name not in FORMATS:
        raise ImportDataError(f"unknown raw data format {name!r}; known: {', '.join(sorted(FORMATS))}")
    return FORMATS[name]


def dataset_features(dataset: str) -> Features:
    """The image shape and class names the public TFDS builder declares (no data needed)."""
    features = _builder_info(dataset).features
    return Features(tuple(features["image"].shape), tuple(features["label"].names))


def _builder_info(dataset: str):  # noqa: ANN202 - tfds.core.DatasetInfo
    import tempfile

    import tensorflow_datasets as tfds

    with tempfile.TemporaryDirectory() as empty:
        return tfds.builder(dataset, data_dir=empty).info


def _make_builder_cls(public_cls: type, dataset: str) -> type:
    """Subclass the official builder under its public name, fed from arrays instead of downloads."""

    class OfflineBuilder(public_cls, skip_registration=True):  # type: ignore[misc, valid-type]
        name = dataset

        def __init__(
            self, *, splits: dict[str, SplitArrays], class_names: list[str] | None = None, **kwargs: object
        ) -> None:
            self._offline_splits = splits
            self._offline_class_names = class_names
            super().__init__(**kwargs)

        def _split_generators(self, dl_manager: object) -> dict[str, Iterator]:  # noqa: ARG002
            if self._offline_class_names:
                self.info.features["label"].names = self._offline_class_names
            return {split: self._generate_examples(split) for split in self._offline_splits}

        def _generate_examples(self, split: str) -> Iterator[tuple[str, dict]]:  # type: ignore[override]
            arrays = self._offline_splits[split]
            with_id = "id" in self.info.features
            for index, (image, label) in enumerate(zip(arrays.images, arrays.labels, strict=True)):
                record = {"image": image, "label": int(label)}
                if with_id:  # the upstream builder's ids, e.g. cifar10 'train_00042'
                    record["id"] = f"{split}_{index:05d}"
                yield f"{split}_{index:05d}", record

    OfflineBuilder.__name__ = f"Offline{public_cls.__name__}"
    return OfflineBuilder


def import_dataset(
    dataset: str,
    format_name: str,
    source: str | os.PathLike,
    data_dir: str | os.PathLike,
    overwrite: bool = False,
) -> ImportReport:
    """Import the upstream files of ``dataset`` (in ``format_name``) into ``data_dir`` as TFDS ``dataset``.

    Raises:
        ImportDataError: files missing, corrupt or inconsistent; the target exists; the folder is unwritable.
    """
    import tensorflow_datasets as tfds

    fmt = raw_format(format_name)
    features = dataset_features(dataset)
    source = Path(source)
    if not source.exists():
        raise ImportDataError(f"{source} does not exist; give {fmt.source}")
    splits, class_names = fmt.read(source, features)
    data_dir = Path(data_dir)
    _check_writable(data_dir)
    public_cls = tfds.builder_cls(dataset)
    version = str(public_cls.VERSION)
    target = data_dir / dataset / version
    if target.exists():
        if not overwrite:
            raise ImportDataError(
                f"{target} already exists. Pass --overwrite to replace it, or use another --data-dir."
            )
        shutil.rmtree(target)
    builder = _make_builder_cls(public_cls, dataset)(splits=splits, class_names=class_names, data_dir=str(data_dir))
    tfds.disable_progress_bar()  # the report below says what was written; TFDS's bars and prints are noise here
    with contextlib.redirect_stdout(io.StringIO()):
        builder.download_and_prepare(
            download_config=tfds.download.DownloadConfig(
                download_mode=tfds.download.GenerateMode.REUSE_DATASET_IF_EXISTS
            )
        )
    # Read back through the *public* builder, as the pipeline will.
    check = tfds.builder(dataset, data_dir=str(data_dir))
    counts = {split: check.info.splits[split].num_examples for split in splits}
    for split, arrays in splits.items():
        if counts[split] != len(arrays.labels):
            raise ImportDataError(f"wrote {len(arrays.labels)} {split} examples but TFDS reads back {counts[split]}")
    return ImportReport(
        dataset=dataset,
        version=version,
        data_dir=str(data_dir),
        split_counts=counts,
        label_counts={s: np.bincount(a.labels, minlength=features.num_classes).tolist() for s, a in splits.items()},
    )


def _check_writable(data_dir: Path) -> None:
    """Refuse a data_dir that cannot be created or written, naming the path and the fix."""
    for parent in (data_dir, *data_dir.parents):
        if parent.exists():
            if not parent.is_dir():
                raise ImportDataError(f"--data-dir {data_dir}: {parent} is a file, not a folder. Choose another path.")
            if not os.access(parent, os.W_OK | os.X_OK):
                raise ImportDataError(
                    f"--data-dir {data_dir}: {parent} is not writable by this user. Choose a folder you can write."
                )
            return


def make_fixture(
    dataset: str,
    format_name: str,
    out: str | os.PathLike,
    size: int = 200,
    seed: int = 0,
    class_names: Sequence[str] = (),
) -> Path:
    """Write a small synthetic data set for ``dataset`` in its upstream format; returns the path to import.

    ``class_names`` default to the TFDS builder's (some builders learn them from the upstream files).
    """
    features = dataset_features(dataset)
    if class_names:
        features = dataclasses.replace(features, class_names=tuple(class_names))
    return raw_format(format_name).write_fixture(Path(out), features, size, seed)
