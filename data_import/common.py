"""What every upstream format's reader shares: the errors, the expected features, the decoded arrays, the report."""

from __future__ import annotations

import dataclasses
import gzip
from collections.abc import Sequence
from pathlib import Path

import numpy as np


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


def split_arrays(images: np.ndarray, labels: np.ndarray, split: str, files: Sequence[object]) -> SplitArrays:
    """One split's images and labels, refused unless there is a label per image."""
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


def open_maybe_gzip(path: Path) -> bytes:
    """A file's bytes, gunzipped if it is gzip (whatever its name says)."""
    raw = path.read_bytes()
    if raw[:2] == b"\x1f\x8b":
        try:
            return gzip.decompress(raw)
        except (OSError, EOFError) as err:
            raise ImportDataError(
                f"{path} is not a valid gzip file ({err}); the download is probably truncated. Fetch the file again."
            ) from err
    return raw


def check_labels(labels: np.ndarray, features: Features, where: str) -> None:
    """Refuse a label outside the data set's classes, naming where it is."""
    if labels.size and int(labels.max()) >= features.num_classes:
        bad = int(np.argmax(labels >= features.num_classes))
        raise ImportDataError(
            f"{where}: label {int(labels[bad])} at record {bad} is outside 0..{features.num_classes - 1}; "
            "the file is corrupt. Fetch it again."
        )
