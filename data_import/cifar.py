"""CIFAR-10 binary batches (``cifar-10-binary.tar.gz`` or its folder): read them, and write small fixtures."""

from __future__ import annotations

import os
import tarfile
from collections.abc import Callable
from pathlib import Path

import numpy as np

from data_import.common import (
    Features,
    ImportDataError,
    SplitArrays,
    check_labels,
)

CIFAR_FILES = {
    "train": tuple(f"data_batch_{i}.bin" for i in range(1, 6)),
    "test": ("test_batch.bin",),
}


CIFAR_META = "batches.meta.txt"


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
    check_labels(labels, features, where)
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
