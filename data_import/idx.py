"""IDX files (MNIST, Fashion-MNIST): read the upstream train/t10k images and labels, and write small fixtures."""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import numpy as np

from data_import.common import (
    Features,
    ImportDataError,
    SplitArrays,
    check_labels,
    open_maybe_gzip,
    split_arrays,
)

IDX_FILES = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}


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
    data = open_maybe_gzip(path)
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
    check_labels(labels, features, str(label_file))
    return split_arrays(images[..., np.newaxis], labels, split, (image_file, label_file))


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
