"""Test data the project makes itself: upstream-format fixtures imported into TFDS, and reading them back."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

from data_import import tfds_builder
from pipelines import tasks


def import_fixture(task: str, root: Path, size: int = 200) -> str:
    """Write the task's upstream-format fixture under ``root`` and import it; returns the TFDS data_dir."""
    spec = tasks.get(task)
    source = spec.source
    raw = tfds_builder.make_fixture(
        source.dataset, source.raw_format, root / "raw", size, class_names=source.label_names
    )
    data_dir = root / "tfds"
    tfds_builder.import_dataset(spec.source.dataset, spec.source.raw_format, raw, data_dir)
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


PENGUIN_CSV = (
    Path(__file__).resolve().parents[2] / "pipelines" / "penguin" / "data" / "span-1" / "penguins_processed.csv"
)


def penguin_rows() -> list[dict]:
    """The rows of TFX's penguin CSV shipped with the task: species as int, the measurements as floats."""
    import csv

    with open(PENGUIN_CSV, encoding="utf-8") as f:
        return [{k: int(v) if k == "species" else float(v) for k, v in row.items()} for row in csv.DictReader(f)]


def write_penguin_span(input_base: Path, span: int, fmt: str, rows: list[dict]) -> Path:
    """Write ``rows`` as span ``span`` under ``input_base`` (``span-<N>/penguins.<ext>``) in format ``fmt``."""
    import csv

    import pyarrow as pa
    import pyarrow.parquet as pq
    import tensorflow as tf

    folder = input_base / f"span-{span}"
    folder.mkdir(parents=True, exist_ok=True)
    if fmt == "csv":
        path = folder / "penguins.csv"
        with open(path, "w", newline="", encoding="utf-8") as f:
            writer = csv.DictWriter(f, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
    elif fmt == "parquet":
        path = folder / "penguins.parquet"
        pq.write_table(pa.table({k: [row[k] for row in rows] for k in rows[0]}), str(path))
    else:
        path = folder / "penguins.tfrecord.gz"
        with tf.io.TFRecordWriter(str(path), options="GZIP") as writer:
            for row in rows:
                feature = {
                    k: tf.train.Feature(int64_list=tf.train.Int64List(value=[v]))
                    if isinstance(v, int)
                    else tf.train.Feature(float_list=tf.train.FloatList(value=[v]))
                    for k, v in row.items()
                }
                writer.write(tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString())
    return path


def png_claiming(width: int, height: int) -> bytes:
    """A PNG whose header claims ``width`` x ``height`` greyscale pixels (its pixels are not there): a bomb's header."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b"")


def write_image_span(
    input_base: Path,
    span: int,
    class_folders: list[str],
    per_class: int,
    shape: tuple[int, int, int],
    fmt: str = "png",
    seed: int = 0,
) -> dict[str, tuple[int, object]]:
    """Write span ``span`` of an image task as files: ``span-<N>/<class folder>/<i>.<fmt>``, random pixels.

    Each image is noise over a per-class brightness (never blank). Returns the path of each file
    relative to ``input_base`` -> (its label, its uint8 pixels [H, W, C] as written; JPEG is lossy).
    """
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(seed + span)
    written = {}
    for label, folder in enumerate(class_folders):
        (input_base / f"span-{span}" / folder).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            base = 20 + 20 * label
            pixels = np.clip(base + rng.integers(0, 60, size=shape), 0, 255).astype(np.uint8)
            relative = f"span-{span}/{folder}/{i:03d}.{fmt}"
            image = Image.fromarray(pixels[..., 0] if shape[-1] == 1 else pixels)
            image.save(input_base / relative, format="JPEG" if fmt in ("jpg", "jpeg") else "PNG", quality=95)
            written[relative] = (label, pixels)
    return written


def write_image_tfrecord_span(input_base: Path, span: int, images: dict[str, tuple[int, object]]) -> Path:
    """Write ``images`` (path -> (label, pixels)) as one gzip TFRecord of tf.Examples, as TFDSExampleGen writes them."""
    import tensorflow as tf

    from components.file_example_gen.images import image_example

    folder = input_base / f"span-{span}"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "images.tfrecord.gz"
    with tf.io.TFRecordWriter(str(path), options="GZIP") as writer:
        for label, pixels in images.values():
            writer.write(image_example(pixels, label).SerializeToString())
    return path
