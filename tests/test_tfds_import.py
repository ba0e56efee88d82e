"""Offline import of upstream raw files into a TFDS data_dir."""

from __future__ import annotations

import gzip
import tarfile
from pathlib import Path

import numpy as np
import pytest

from components import tfds_import
from components.tfds_import import ImportDataError


def test_idx_round_trip(tmp_path: Path) -> None:
    images = np.arange(2 * 28 * 28, dtype=np.uint8).reshape(2, 28, 28)
    tfds_import.write_idx(tmp_path / "x.gz", images)
    tfds_import.write_idx(tmp_path / "x.raw", images, compress=False)
    np.testing.assert_array_equal(tfds_import.read_idx(tmp_path / "x.gz", 3), images)
    np.testing.assert_array_equal(tfds_import.read_idx(tmp_path / "x.raw", 3), images)


@pytest.mark.parametrize(
    ("corrupt", "message"),
    [
        (lambda data: data[:-5], "truncated or corrupt"),
        (lambda data: b"\x00\x00\x0d\x03" + data[4:], "not an IDX file of unsigned bytes"),
        (lambda data: data[:3] + b"\x01" + data[4:], "expected 3"),
        (lambda data: b"\x00\x00", "too short"),
    ],
)
def test_idx_corruption_is_explained(tmp_path: Path, corrupt, message: str) -> None:
    images = np.zeros((3, 28, 28), dtype=np.uint8)
    tfds_import.write_idx(tmp_path / "raw", images, compress=False)
    data = corrupt((tmp_path / "raw").read_bytes())
    (tmp_path / "bad.gz").write_bytes(gzip.compress(data))
    with pytest.raises(ImportDataError, match=message):
        tfds_import.read_idx(tmp_path / "bad.gz", 3)


def test_truncated_gzip_is_explained(tmp_path: Path) -> None:
    tfds_import.write_idx(tmp_path / "x.gz", np.zeros((3, 28, 28), dtype=np.uint8))
    data = (tmp_path / "x.gz").read_bytes()
    (tmp_path / "x.gz").write_bytes(data[: len(data) // 2])
    with pytest.raises(ImportDataError, match="not a valid gzip file"):
        tfds_import.read_idx(tmp_path / "x.gz", 3)


def test_mnist_label_out_of_range_and_count_mismatch(tmp_path: Path) -> None:
    tfds_import.make_mnist_fixture(tmp_path, train=20, test=10)
    tfds_import.write_idx(tmp_path / "t10k-labels-idx1-ubyte.gz", np.array([1] * 9 + [10], dtype=np.uint8))
    with pytest.raises(ImportDataError, match="label 10 at record 9 is outside 0..9"):
        tfds_import.read_mnist_split(tmp_path, "test")
    tfds_import.write_idx(tmp_path / "t10k-labels-idx1-ubyte.gz", np.ones(9, dtype=np.uint8))
    with pytest.raises(ImportDataError, match="10 images but 9 labels"):
        tfds_import.read_mnist_split(tmp_path, "test")


def test_missing_mnist_files_are_named(tmp_path: Path) -> None:
    tfds_import.make_mnist_fixture(tmp_path, train=20, test=10)
    (tmp_path / "train-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(ImportDataError, match="lacks train-labels-idx1-ubyte.gz"):
        tfds_import.import_mnist(tmp_path, tmp_path / "tfds")


def test_mnist_import_loads_under_the_public_name(mnist_raw_dir: str, mnist_data_dir: str) -> None:
    import tensorflow_datasets as tfds

    builder = tfds.builder("mnist", data_dir=mnist_data_dir)
    assert builder.is_prepared()
    assert {k: v.num_examples for k, v in builder.info.splits.items()} == {"train": 200, "test": 50}
    assert builder.info.features["image"].shape == (28, 28, 1)
    assert builder.info.features["label"].num_classes == 10
    expected = tfds_import.read_mnist_split(Path(mnist_raw_dir), "test")
    loaded = list(tfds_import.read_back("mnist", mnist_data_dir, "test"))
    by_key = sorted((e["label"], e["image"].tobytes()) for e in loaded)
    assert by_key == sorted(zip(expected.labels.tolist(), (i.tobytes() for i in expected.images), strict=True))


def test_import_refuses_to_overwrite(mnist_raw_dir: str, tmp_path: Path) -> None:
    report = tfds_import.import_mnist(mnist_raw_dir, tmp_path)
    assert report.split_counts == {"train": 200, "test": 50} and report.subset
    assert report.label_counts["test"] == [5] * 10
    with pytest.raises(ImportDataError, match="--overwrite"):
        tfds_import.import_mnist(mnist_raw_dir, tmp_path)
    assert tfds_import.import_mnist(mnist_raw_dir, tmp_path, overwrite=True).split_counts["train"] == 200


def test_cifar10_binary_record_layout(tmp_path: Path) -> None:
    # Two records with known bytes: label, then the R plane, G plane, B plane (row-major 32x32).
    records = bytearray()
    for label, (r, g, b) in ((3, (10, 20, 30)), (0, (200, 100, 0))):
        records += bytes([label]) + bytes([r]) * 1024 + bytes([g]) * 1024 + bytes([b]) * 1024
    records[1 + 5 * 32 + 7] = 255  # red pixel at row 5, column 7 of the first image
    arrays = tfds_import.parse_cifar10_batch(bytes(records), "test")
    assert arrays.labels.tolist() == [3, 0]
    assert arrays.images.shape == (2, 32, 32, 3) and arrays.images.dtype == np.uint8
    assert arrays.images[0, 0, 0].tolist() == [10, 20, 30]
    assert arrays.images[0, 5, 7].tolist() == [255, 20, 30]
    assert arrays.images[1, 31, 31].tolist() == [200, 100, 0]


def test_cifar10_write_then_parse_is_identity(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    images = rng.integers(0, 256, (5, 32, 32, 3), dtype=np.uint8)
    labels = np.array([0, 9, 4, 4, 1], dtype=np.uint8)
    tfds_import.write_cifar10_batch(tmp_path / "b.bin", images, labels)
    arrays = tfds_import.parse_cifar10_batch((tmp_path / "b.bin").read_bytes(), "b.bin")
    np.testing.assert_array_equal(arrays.images, images)
    np.testing.assert_array_equal(arrays.labels, labels)


def test_cifar10_corrupt_batch_is_explained() -> None:
    with pytest.raises(ImportDataError, match="whole number of 3073-byte records"):
        tfds_import.parse_cifar10_batch(b"\x01" * 3000, "x.bin")
    with pytest.raises(ImportDataError, match="label 12"):
        tfds_import.parse_cifar10_batch(bytes([12]) + b"\x00" * 3072, "x.bin")


@pytest.mark.parametrize("as_archive", [False, True])
def test_cifar10_import_from_folder_or_archive(tmp_path: Path, as_archive: bool) -> None:
    import tensorflow_datasets as tfds

    folder = tfds_import.make_cifar10_fixture(tmp_path / "raw", per_file=20)
    source: Path = folder
    if as_archive:
        source = tmp_path / "cifar-10-binary.tar.gz"
        with tarfile.open(source, "w:gz") as tar:
            tar.add(folder, arcname="cifar-10-batches-bin")
    report = tfds_import.import_cifar10(source, tmp_path / "tfds")
    assert report.split_counts == {"train": 100, "test": 20}
    builder = tfds.builder("cifar10", data_dir=str(tmp_path / "tfds"))
    assert builder.info.features["label"].names[:2] == ["airplane", "automobile"]
    first = next(tfds_import.read_back("cifar10", tmp_path / "tfds", "test[:1]"))
    assert first["image"].shape == (32, 32, 3) and first["id"].decode().startswith("test_")


def test_cifar10_missing_batch_is_named(tmp_path: Path) -> None:
    folder = tfds_import.make_cifar10_fixture(tmp_path, per_file=10)
    (folder / "data_batch_3.bin").unlink()
    with pytest.raises(ImportDataError, match="data_batch_3.bin is missing"):
        tfds_import.read_cifar10(tmp_path)
