"""Offline import of upstream raw data files into a TensorFlow Datasets ``data_dir``.

TensorFlow Datasets downloads its source files from the internet, which an
air-gapped machine cannot do. This module reads the *upstream* files of a
data set (MNIST IDX ``.gz`` files, CIFAR-10 binary batches), checks what it
reads, and prepares the data set with the official TFDS builder's name,
version and features. Afterwards ``tfds.builder('mnist', data_dir=...)`` (and
so the pipeline's ExampleGen) loads it exactly as if TFDS had downloaded it.

The checks are on decoded content, not on archive bytes: re-compressed files
whose contents are byte-identical to upstream import fine.
"""

from __future__ import annotations

import dataclasses
import gzip
import os
import tarfile
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np

# Upstream sizes; a smaller file set is accepted (a subset) and reported as such.
MNIST_FILES = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}
MNIST_UPSTREAM_COUNTS = {"train": 60000, "test": 10000}
CIFAR10_FILES = {
    "train": tuple(f"data_batch_{i}.bin" for i in range(1, 6)),
    "test": ("test_batch.bin",),
}
CIFAR10_UPSTREAM_COUNTS = {"train": 50000, "test": 10000}
CIFAR10_RECORD_BYTES = 1 + 32 * 32 * 3
NUM_CLASSES = 10


class ImportDataError(ValueError):
    """The raw files are missing, corrupt or inconsistent. The message names the fix."""


@dataclasses.dataclass(frozen=True)
class SplitArrays:
    """Decoded, checked contents of one split: images (N, H, W, C) uint8 and labels (N,)."""

    images: np.ndarray
    labels: np.ndarray

    def __post_init__(self) -> None:
        if len(self.images) != len(self.labels):
            raise ImportDataError(
                f"{len(self.images)} images but {len(self.labels)} labels: the image and label "
                "files do not belong together."
            )


@dataclasses.dataclass(frozen=True)
class ImportReport:
    """What an import wrote."""

    dataset: str
    version: str
    data_dir: str
    split_counts: dict[str, int]
    label_counts: dict[str, list[int]]
    subset: bool

    def describe(self) -> str:
        """Return a short human-readable summary."""
        lines = [f"imported {self.dataset} {self.version} into {self.data_dir}"]
        for split, count in self.split_counts.items():
            lines.append(f"  {split:5s} {count:6d} examples, per class {self.label_counts[split]}")
        if self.subset:
            lines.append("  note: fewer examples than the upstream data set (a subset)")
        return "\n".join(lines)


# --------------------------------------------------------------------------- MNIST IDX


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


def _check_labels(labels: np.ndarray, where: str) -> None:
    if labels.size and int(labels.max()) >= NUM_CLASSES:
        bad = int(np.argmax(labels >= NUM_CLASSES))
        raise ImportDataError(
            f"{where}: label {int(labels[bad])} at record {bad} is outside 0..{NUM_CLASSES - 1}; the file is corrupt."
        )


def read_mnist_split(source_dir: Path, split: str) -> SplitArrays:
    """Read and check one MNIST split from upstream IDX files.

    Raises:
        ImportDataError: files missing, corrupt, or inconsistent.
    """
    image_file, label_file = MNIST_FILES[split]
    images = read_idx(source_dir / image_file, 3)
    labels = read_idx(source_dir / label_file, 1)
    if images.shape[1:] != (28, 28):
        raise ImportDataError(f"{source_dir / image_file}: images are {images.shape[1:]}, expected (28, 28)")
    _check_labels(labels, str(source_dir / label_file))
    if len(images) == 0:
        raise ImportDataError(f"{source_dir / image_file}: no images")
    return SplitArrays(images=images[..., np.newaxis], labels=labels)


# --------------------------------------------------------------------------- CIFAR-10 binary


def _cifar10_source_files(source: Path) -> tuple[Callable[[str], bytes | None], list[str]]:
    """Return a reader for the upstream binary files in ``source`` and the class names.

    ``source`` may be the ``cifar-10-binary.tar.gz`` archive, the extracted
    ``cifar-10-batches-bin`` folder, or a folder that contains either.
    """
    if source.is_dir():
        for candidate in (source, source / "cifar-10-batches-bin"):
            if (candidate / "batches.meta.txt").exists() or any(
                (candidate / f).exists() for f in CIFAR10_FILES["test"] + CIFAR10_FILES["train"]
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
            return _cifar10_source_files(archives[0])

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

    meta = reader("batches.meta.txt")
    if meta is None:
        raise ImportDataError(f"{source}: batches.meta.txt (the class names) is missing")
    names = [line.strip() for line in meta.decode("utf-8").splitlines() if line.strip()]
    if len(names) != NUM_CLASSES:
        raise ImportDataError(f"{source}: batches.meta.txt lists {len(names)} class names, expected 10")
    return reader, names


def parse_cifar10_batch(data: bytes, where: str) -> SplitArrays:
    """Decode one CIFAR-10 binary batch: records of 1 label byte + 3,072 pixel bytes (R, G, B planes).

    Raises:
        ImportDataError: the size is not a whole number of records, or a label is out of range.
    """
    if len(data) == 0 or len(data) % CIFAR10_RECORD_BYTES:
        raise ImportDataError(
            f"{where}: {len(data)} bytes is not a whole number of {CIFAR10_RECORD_BYTES}-byte "
            "records; the file is truncated or not a CIFAR-10 *binary* batch (the Python-pickle "
            "version is not supported)."
        )
    records = np.frombuffer(data, dtype=np.uint8).reshape(-1, CIFAR10_RECORD_BYTES)
    labels = records[:, 0].copy()
    _check_labels(labels, where)
    images = records[:, 1:].reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1).copy()
    return SplitArrays(images=images, labels=labels)


def read_cifar10(source: Path) -> tuple[dict[str, SplitArrays], list[str]]:
    """Read and check all CIFAR-10 binary batches under ``source``.

    Returns:
        The splits ('train', 'test') and the ten class names.

    Raises:
        ImportDataError: files missing, corrupt, or inconsistent.
    """
    reader, names = _cifar10_source_files(source)
    splits = {}
    for split, files in CIFAR10_FILES.items():
        parts = []
        for name in files:
            data = reader(name)
            if data is None:
                raise ImportDataError(
                    f"{source}: {name} is missing; the upstream binary version has "
                    f"{', '.join(CIFAR10_FILES['train'] + CIFAR10_FILES['test'])}"
                )
            parts.append(parse_cifar10_batch(data, f"{source}:{name}"))
        splits[split] = SplitArrays(
            images=np.concatenate([p.images for p in parts]),
            labels=np.concatenate([p.labels for p in parts]),
        )
    return splits, names


# --------------------------------------------------------------------------- TFDS builders


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


def _prepare(
    dataset: str,
    splits: dict[str, SplitArrays],
    data_dir: Path,
    upstream: dict[str, int],
    class_names: list[str] | None = None,
    overwrite: bool = False,
) -> ImportReport:
    import tensorflow_datasets as tfds

    public_cls = tfds.builder_cls(dataset)
    version = str(public_cls.VERSION)
    target = data_dir / dataset / version
    if target.exists():
        if not overwrite:
            raise ImportDataError(
                f"{target} already exists. Pass --overwrite to replace it, or use another --data-dir."
            )
        import shutil

        shutil.rmtree(target)
    builder = _make_builder_cls(public_cls, dataset)(splits=splits, class_names=class_names, data_dir=str(data_dir))
    builder.download_and_prepare(
        download_config=tfds.download.DownloadConfig(download_mode=tfds.download.GenerateMode.REUSE_DATASET_IF_EXISTS)
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
        label_counts={s: np.bincount(a.labels, minlength=NUM_CLASSES).tolist() for s, a in splits.items()},
        subset=any(counts[s] < upstream[s] for s in counts),
    )


def import_mnist(source_dir: str | os.PathLike, data_dir: str | os.PathLike, overwrite: bool = False) -> ImportReport:
    """Import the four upstream MNIST IDX files into ``data_dir`` as TFDS ``mnist``.

    Raises:
        ImportDataError: files missing, corrupt or inconsistent; or the data set already exists.
    """
    source = Path(source_dir)
    if not source.is_dir():
        raise ImportDataError(f"{source} is not a folder; give the folder holding the MNIST .gz files")
    missing = [f for pair in MNIST_FILES.values() for f in pair if not (source / f).exists()]
    if missing:
        raise ImportDataError(
            f"{source} lacks {', '.join(missing)}. Expected the four upstream MNIST files: "
            f"{', '.join(f for pair in MNIST_FILES.values() for f in pair)}"
        )
    splits = {split: read_mnist_split(source, split) for split in MNIST_FILES}
    return _prepare("mnist", splits, Path(data_dir), MNIST_UPSTREAM_COUNTS, overwrite=overwrite)


def import_cifar10(source: str | os.PathLike, data_dir: str | os.PathLike, overwrite: bool = False) -> ImportReport:
    """Import the upstream CIFAR-10 binary batches into ``data_dir`` as TFDS ``cifar10``.

    Args:
        source: ``cifar-10-binary.tar.gz``, or a folder holding it or ``cifar-10-batches-bin/``.
        data_dir: the TFDS data directory to write.
        overwrite: replace an existing import.

    Raises:
        ImportDataError: files missing, corrupt or inconsistent; or the data set already exists.
    """
    splits, names = read_cifar10(Path(source))
    return _prepare("cifar10", splits, Path(data_dir), CIFAR10_UPSTREAM_COUNTS, class_names=names, overwrite=overwrite)


IMPORTERS: dict[str, Callable[..., ImportReport]] = {"mnist": import_mnist, "cifar10": import_cifar10}

# --------------------------------------------------------------------------- fixtures


def write_idx(path: str | os.PathLike, array: np.ndarray, compress: bool = True) -> None:
    """Write a uint8 array as an IDX file (used by tests and fixtures to make upstream-format data)."""
    array = np.asarray(array, dtype=np.uint8)
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(d.to_bytes(4, "big") for d in array.shape)
    data = header + array.tobytes()
    Path(path).write_bytes(gzip.compress(data, mtime=0) if compress else data)


def write_cifar10_batch(path: str | os.PathLike, images: np.ndarray, labels: np.ndarray) -> None:
    """Write images (N, 32, 32, 3) uint8 and labels (N,) in the CIFAR-10 binary record format."""
    images = np.asarray(images, dtype=np.uint8)
    planes = images.transpose(0, 3, 1, 2).reshape(len(images), -1)
    records = np.concatenate([np.asarray(labels, dtype=np.uint8)[:, None], planes], axis=1)
    Path(path).write_bytes(records.tobytes())


def make_mnist_fixture(folder: str | os.PathLike, train: int = 200, test: int = 50, seed: int = 0) -> Path:
    """Write small, *learnable* MNIST-format IDX files: each digit class is a distinct stroke pattern.

    The images are synthetic (not MNIST digits) but in the exact upstream format,
    so the import, the pipeline and a trained model can be checked end to end
    on a few hundred examples.
    """
    rng = np.random.default_rng(seed)
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    templates = np.zeros((NUM_CLASSES, 28, 28), dtype=np.float32)
    for digit in range(NUM_CLASSES):  # a bar at a class-specific place and direction
        pos = 3 + 2 * digit
        if digit % 2:
            templates[digit, :, pos : pos + 3] = 255
        else:
            templates[digit, pos : pos + 3, :] = 255
    for split, count in (("train", train), ("test", test)):
        labels = np.arange(count) % NUM_CLASSES
        rng.shuffle(labels)
        noise = rng.uniform(0, 60, size=(count, 28, 28))
        images = np.clip(templates[labels] * rng.uniform(0.7, 1.0, (count, 1, 1)) + noise, 0, 255)
        image_file, label_file = MNIST_FILES[split]
        write_idx(folder / image_file, images.astype(np.uint8))
        write_idx(folder / label_file, labels.astype(np.uint8))
    return folder


def make_cifar10_fixture(folder: str | os.PathLike, per_file: int = 20, seed: int = 0) -> Path:
    """Write a tiny ``cifar-10-batches-bin/`` folder in the upstream binary format."""
    rng = np.random.default_rng(seed)
    out = Path(folder) / "cifar-10-batches-bin"
    out.mkdir(parents=True, exist_ok=True)
    # Ten well-separated colours, one per class, so a small model learns the fixture in a few epochs.
    colours = np.array(
        [
            [230, 25, 75],
            [60, 180, 75],
            [255, 225, 25],
            [0, 130, 200],
            [245, 130, 48],
            [145, 30, 180],
            [70, 240, 240],
            [240, 50, 230],
            [0, 0, 0],
            [255, 255, 255],
        ]
    )
    for name in CIFAR10_FILES["train"] + CIFAR10_FILES["test"]:
        labels = np.arange(per_file) % NUM_CLASSES
        rng.shuffle(labels)
        images = np.clip(colours[labels][:, None, None, :] + rng.normal(0, 20, (per_file, 32, 32, 3)), 0, 255)
        write_cifar10_batch(out / name, images.astype(np.uint8), labels)
    names = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
    (out / "batches.meta.txt").write_text("\n".join(names) + "\n\n")
    return out


def read_back(dataset: str, data_dir: str | os.PathLike, split: str) -> Iterator[dict]:
    """Yield the examples TFDS loads for ``split`` as numpy dicts (for checks and tests)."""
    import tensorflow_datasets as tfds

    builder = tfds.builder(dataset, data_dir=str(data_dir))
    yield from tfds.as_numpy(builder.as_dataset(split=split, shuffle_files=False))


__all__ = [
    "IMPORTERS",
    "ImportDataError",
    "ImportReport",
    "import_cifar10",
    "import_mnist",
    "make_cifar10_fixture",
    "make_mnist_fixture",
    "parse_cifar10_batch",
    "read_back",
    "read_cifar10",
    "read_idx",
    "read_mnist_split",
    "write_cifar10_batch",
    "write_idx",
]
