"""Offline import of upstream raw data files into a TensorFlow Datasets ``data_dir``.

TensorFlow Datasets downloads its source files from the internet, which an air-gapped machine
cannot do. This module reads the *upstream* files of a data set in one of the formats of
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
import gzip
import io
import os
import shutil
import tarfile
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import numpy as np

IDX_FILES = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}
CIFAR_FILES = {
    "train": tuple(f"data_batch_{i}.bin" for i in range(1, 6)),
    "test": ("test_batch.bin",),
}
CIFAR_META = "batches.meta.txt"


class ImportDataError(ValueError):
    """The raw files are missing, corrupt or inconsistent. The message names the fix."""


@dataclasses.dataclass(frozen=True)
class Features:
    """What the TFDS builder expects: image shape (H, W, C) and class names."""

    image_shape: tuple[int, int, int]
    class_names: tuple[str, ...]

    @property
    def num_classes(self) -> int:
        """Number of classes."""
        return len(self.class_names)


@dataclasses.dataclass(frozen=True)
class SplitArrays:
    """Decoded, checked contents of one split: images (N, H, W, C) uint8 and labels (N,)."""

    images: np.ndarray
    labels: np.ndarray


def _split_arrays(images: np.ndarray, labels: np.ndarray, split: str, files: Sequence[object]) -> SplitArrays:
    if len(images) != len(labels):
        raise ImportDataError(
            f"split {split!r}: {len(images)} images but {len(labels)} labels in {', '.join(map(str, files))}: "
            "the image and label files do not belong together. Fetch both again."
        )
    return SplitArrays(images=images, labels=labels)


@dataclasses.dataclass(frozen=True)
class ImportReport:
    """What an import wrote."""

    dataset: str
    version: str
    data_dir: str
    split_counts: dict[str, int]
    label_counts: dict[str, list[int]]

    def describe(self) -> str:
        """Return a short human-readable summary."""
        lines = [f"imported {self.dataset} {self.version} into {self.data_dir}"]
        for split, count in self.split_counts.items():
            lines.append(f"  {split:5s} {count:6d} examples, per class {self.label_counts[split]}")
        return "\n".join(lines)


# --------------------------------------------------------------------------- IDX (MNIST, Fashion-MNIST)


def _open_maybe_gzip(path: Path) -> bytes:
    raw = path.read_bytes()
    if raw[:2] == b"\x1f\x8b":
        try:
            return gzip.decompress(raw)
        except (OSError, EOFError) as err:
            raise ImportDataError(
                f"{path} is not a valid gzip file ({err}); the download is probably truncated. Fetch the file again."
            ) from err
    return raw


def read_idx(path: Path, expected_dims: int) -> np.ndarray:
    """Read an IDX file (gzip-compressed or not) of unsigned bytes.

    Args:
        path: the file.
        expected_dims: 1 for a label file, 3 for an image file.

    Returns:
        The array, dtype uint8, with the shape the header gives.

    Raises:
        ImportDataError: the file is missing, not IDX, or its size disagrees with its header.
    """
    if not path.exists():
        raise ImportDataError(f"missing file {path}")
    data = _open_maybe_gzip(path)
    if len(data) < 4 + 4 * expected_dims:
        raise ImportDataError(f"{path}: {len(data)} bytes is too short for an IDX header")
    zero, dtype_code, ndim = data[0] << 8 | data[1], data[2], data[3]
    if zero != 0 or dtype_code != 0x08:
        raise ImportDataError(
            f"{path}: not an IDX file of unsigned bytes (magic {data[:4].hex()}, expected 0000080{expected_dims})"
        )
    if ndim != expected_dims:
        raise ImportDataError(
            f"{path}: IDX file with {ndim} dimensions, expected {expected_dims} "
            f"({'labels' if expected_dims == 1 else 'images'}); are image and label files swapped?"
        )
    shape = tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    header = 4 + 4 * ndim
    expected = int(np.prod(shape))
    if len(data) - header != expected:
        raise ImportDataError(
            f"{path}: header announces shape {shape} ({expected} bytes) but the file holds "
            f"{len(data) - header} bytes; the file is truncated or corrupt. Fetch it again."
        )
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(shape)


def _check_labels(labels: np.ndarray, features: Features, where: str) -> None:
    if labels.size and int(labels.max()) >= features.num_classes:
        bad = int(np.argmax(labels >= features.num_classes))
        raise ImportDataError(
            f"{where}: label {int(labels[bad])} at record {bad} is outside 0..{features.num_classes - 1}; "
            "the file is corrupt. Fetch it again."
        )


def read_idx_split(source_dir: Path, split: str, features: Features) -> SplitArrays:
    """Read and check one split from the upstream IDX files (``train-images-idx3-ubyte.gz`` ...).

    Raises:
        ImportDataError: files missing, corrupt, or inconsistent with each other or with ``features``.
    """
    image_file, label_file = (source_dir / name for name in IDX_FILES[split])
    images = read_idx(image_file, 3)
    labels = read_idx(label_file, 1)
    height, width, channels = features.image_shape
    if images.shape[1:] != (height, width) or channels != 1:
        raise ImportDataError(
            f"{image_file}: images are {images.shape[1:]}, but the data set's images are {features.image_shape}"
        )
    if len(images) == 0:
        raise ImportDataError(f"{image_file}: no images")
    _check_labels(labels, features, str(label_file))
    return _split_arrays(images[..., np.newaxis], labels, split, (image_file, label_file))


def read_idx_source(source: Path, features: Features) -> tuple[dict[str, SplitArrays], list[str] | None]:
    """The train and test splits of an IDX folder (the four upstream files, gzip-compressed or not)."""
    if not source.is_dir():
        raise ImportDataError(f"{source} is not a folder; give the folder holding the four upstream .gz files")
    expected = [name for pair in IDX_FILES.values() for name in pair]
    missing = [name for name in expected if not (source / name).exists()]
    if missing:
        raise ImportDataError(
            f"{source} lacks {', '.join(missing)}. Expected the four upstream files: {', '.join(expected)}"
        )
    return {split: read_idx_split(source, split, features) for split in IDX_FILES}, None


def write_idx(path: str | os.PathLike, array: np.ndarray, compress: bool = True) -> None:
    """Write a uint8 array as an IDX file (fixtures make upstream-format data with it)."""
    array = np.asarray(array, dtype=np.uint8)
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(d.to_bytes(4, "big") for d in array.shape)
    data = header + array.tobytes()
    Path(path).write_bytes(gzip.compress(data, mtime=0) if compress else data)


def write_idx_fixture(folder: Path, features: Features, size: int, seed: int) -> Path:
    """Small, *learnable* IDX files: each class is a distinct bar (position and direction) plus noise.

    The images are synthetic but in the exact upstream format, so the import, the pipeline and a
    trained model can be checked end to end on a few hundred examples. ``size`` images in train,
    a quarter of that in test.
    """
    rng = np.random.default_rng(seed)
    height, width, _ = features.image_shape
    folder.mkdir(parents=True, exist_ok=True)
    templates = np.zeros((features.num_classes, height, width), dtype=np.float32)
    for label in range(features.num_classes):
        pos = 3 + 2 * label
        if label % 2:
            templates[label, :, pos : pos + 3] = 255
        else:
            templates[label, pos : pos + 3, :] = 255
    for split, count in (("train", size), ("test", max(features.num_classes, size // 4))):
        labels = np.arange(count) % features.num_classes
        rng.shuffle(labels)
        noise = rng.uniform(0, 60, size=(count, height, width))
        images = np.clip(templates[labels] * rng.uniform(0.7, 1.0, (count, 1, 1)) + noise, 0, 255)
        image_file, label_file = IDX_FILES[split]
        write_idx(folder / image_file, images.astype(np.uint8))
        write_idx(folder / label_file, labels.astype(np.uint8))
    return folder


# --------------------------------------------------------------------------- CIFAR binary batches


def _cifar_source_files(source: Path) -> tuple[Callable[[str], bytes | None], list[str]]:
    """Return a reader for the upstream binary files in ``source`` and the class names.

    ``source`` may be the ``.tar.gz`` archive of the binary version, the extracted
    ``*-batches-bin`` folder, or a folder that contains either.
    """
    if source.is_dir():
        for candidate in (source, *sorted(source.glob("*-batches-bin"))):
            if (candidate / CIFAR_META).exists() or any(
                (candidate / f).exists() for f in CIFAR_FILES["test"] + CIFAR_FILES["train"]
            ):
                folder = candidate
                break
        else:
            archives = sorted(source.glob("*.tar.gz"))
            if not archives:
                raise ImportDataError(
                    f"{source} holds neither cifar-10-batches-bin/ nor a .tar.gz archive of it. Give "
                    "the folder of the upstream binary version (cifar-10-binary.tar.gz)."
                )
            return _cifar_source_files(archives[0])

        def read_dir(name: str) -> bytes | None:
            path = folder / name
            return path.read_bytes() if path.exists() else None

        reader = read_dir
    elif source.is_file():
        try:
            with tarfile.open(source, "r:*") as tar:
                members = {Path(m.name).name: tar.extractfile(m) for m in tar.getmembers() if m.isfile()}
                contents = {name: f.read() for name, f in members.items() if f is not None}
        except (tarfile.TarError, OSError, EOFError) as err:
            raise ImportDataError(f"{source}: not a readable tar archive ({err}). Fetch it again.") from err

        def read_tar(name: str) -> bytes | None:
            return contents.get(name)

        reader = read_tar
    else:
        raise ImportDataError(f"{source} does not exist")

    meta = reader(CIFAR_META)
    if meta is None:
        raise ImportDataError(f"{source}: {CIFAR_META} (the class names) is missing")
    names = [line.strip() for line in meta.decode("utf-8").splitlines() if line.strip()]
    return reader, names


def parse_cifar_batch(data: bytes, where: str, features: Features) -> SplitArrays:
    """Decode one binary batch: records of 1 label byte + H*W*C pixel bytes (one plane per channel).

    Raises:
        ImportDataError: the size is not a whole number of records, or a label is out of range.
    """
    height, width, channels = features.image_shape
    record_bytes = 1 + height * width * channels
    if len(data) == 0 or len(data) % record_bytes:
        raise ImportDataError(
            f"{where}: {len(data)} bytes is not a whole number of {record_bytes}-byte records; the file is "
            "truncated or not a *binary* batch (the Python-pickle version is not supported)."
        )
    records = np.frombuffer(data, dtype=np.uint8).reshape(-1, record_bytes)
    labels = records[:, 0].copy()
    _check_labels(labels, features, where)
    images = records[:, 1:].reshape(-1, channels, height, width).transpose(0, 2, 3, 1).copy()
    return SplitArrays(images=images, labels=labels)


def read_cifar_source(source: Path, features: Features) -> tuple[dict[str, SplitArrays], list[str] | None]:
    """Read and check every binary batch under ``source``; returns the splits and the meta file's class names.

    Raises:
        ImportDataError: files missing, corrupt, or inconsistent.
    """
    reader, names = _cifar_source_files(source)
    if len(names) != features.num_classes:
        raise ImportDataError(
            f"{source}: {CIFAR_META} lists {len(names)} class names, the data set has {features.num_classes}"
        )
    splits = {}
    for split, files in CIFAR_FILES.items():
        parts = []
        for name in files:
            data = reader(name)
            if data is None:
                all_files = ", ".join(CIFAR_FILES["train"] + CIFAR_FILES["test"])
                raise ImportDataError(f"{source}: {name} is missing; the upstream binary version has {all_files}")
            parts.append(parse_cifar_batch(data, f"{source}:{name}", features))
        splits[split] = SplitArrays(
            images=np.concatenate([p.images for p in parts]), labels=np.concatenate([p.labels for p in parts])
        )
    return splits, names


def write_cifar_batch(path: str | os.PathLike, images: np.ndarray, labels: np.ndarray) -> None:
    """Write images (N, H, W, C) uint8 and labels (N,) in the binary record format."""
    images = np.asarray(images, dtype=np.uint8)
    planes = images.transpose(0, 3, 1, 2).reshape(len(images), -1)
    records = np.concatenate([np.asarray(labels, dtype=np.uint8)[:, None], planes], axis=1)
    Path(path).write_bytes(records.tobytes())


def write_cifar_fixture(folder: Path, features: Features, size: int, seed: int) -> Path:
    """A tiny ``*-batches-bin/`` folder: ``size`` images per batch file, one well-separated colour per class."""
    rng = np.random.default_rng(seed)
    out = folder / "cifar-batches-bin"
    out.mkdir(parents=True, exist_ok=True)
    hues = np.linspace(0, 1, features.num_classes, endpoint=False)
    colours = (
        np.stack([127 + 120 * np.cos(2 * np.pi * (hues + shift)) for shift in (0.0, 1 / 3, 2 / 3)], axis=1)
        * np.where(np.arange(features.num_classes) % 2, 1.0, 0.6)[:, None]
    )
    for name in CIFAR_FILES["train"] + CIFAR_FILES["test"]:
        labels = np.arange(size) % features.num_classes
        rng.shuffle(labels)
        shape = (size, *features.image_shape)
        images = np.clip(colours[labels][:, None, None, :] + rng.normal(0, 20, shape), 0, 255)
        write_cifar_batch(out / name, images.astype(np.uint8), labels)
    (out / CIFAR_META).write_text("\n".join(features.class_names) + "\n\n")
    return out


# --------------------------------------------------------------------------- the format table


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


# --------------------------------------------------------------------------- TFDS builders


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
