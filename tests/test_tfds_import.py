"""Offline import of upstream raw files into a TFDS data_dir, by data format (no task named here)."""

from __future__ import annotations

import gzip
import os
import tarfile
from pathlib import Path

import numpy as np
import pytest
from helpers.data import read_back

from data_import import cifar, idx, tfds_builder
from data_import.common import Features, ImportDataError

DIGITS = Features((28, 28, 1), tuple(str(i) for i in range(10)))
COLOURS = Features(
    (32, 32, 3), ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
)


def test_idx_round_trip(tmp_path: Path) -> None:
    images = np.arange(2 * 28 * 28, dtype=np.uint8).reshape(2, 28, 28)
    idx.write_idx(tmp_path / "x.gz", images)
    idx.write_idx(tmp_path / "x.raw", images, compress=False)
    np.testing.assert_array_equal(idx.read_idx(tmp_path / "x.gz", 3), images)
    np.testing.assert_array_equal(idx.read_idx(tmp_path / "x.raw", 3), images)


@pytest.mark.parametrize(
    ("corrupt", "message"),
    [
        (lambda data: data[:-5], "truncated or corrupt"),
        (lambda data: b"\x00\x00\x0d\x03" + data[4:], "not an IDX file of unsigned bytes"),
        (lambda data: data[:3] + b"\x01" + data[4:], "expected 3"),
        (lambda data: b"\x00\x00", "too short"),
    ],
)
@pytest.mark.reliability
def test_idx_corruption_is_explained(tmp_path: Path, corrupt, message: str) -> None:
    images = np.zeros((3, 28, 28), dtype=np.uint8)
    idx.write_idx(tmp_path / "raw", images, compress=False)
    data = corrupt((tmp_path / "raw").read_bytes())
    (tmp_path / "bad.gz").write_bytes(gzip.compress(data))
    with pytest.raises(ImportDataError, match=message):
        idx.read_idx(tmp_path / "bad.gz", 3)


@pytest.mark.reliability
def test_truncated_gzip_is_explained(tmp_path: Path) -> None:
    idx.write_idx(tmp_path / "x.gz", np.zeros((3, 28, 28), dtype=np.uint8))
    data = (tmp_path / "x.gz").read_bytes()
    (tmp_path / "x.gz").write_bytes(data[: len(data) // 2])
    with pytest.raises(ImportDataError, match="not a valid gzip file"):
        idx.read_idx(tmp_path / "x.gz", 3)


@pytest.mark.reliability
def test_label_out_of_range_and_count_mismatch_name_the_split_and_files(tmp_path: Path) -> None:
    idx.write_idx_fixture(tmp_path, DIGITS, size=40, seed=0)  # test split: 10 images
    idx.write_idx(tmp_path / "t10k-labels-idx1-ubyte.gz", np.array([1] * 9 + [10], dtype=np.uint8))
    with pytest.raises(ImportDataError, match="label 10 at record 9 is outside 0..9"):
        idx.read_idx_split(tmp_path, "test", DIGITS)
    idx.write_idx(tmp_path / "t10k-labels-idx1-ubyte.gz", np.ones(9, dtype=np.uint8))
    with pytest.raises(ImportDataError, match=r"split 'test': 10 images but 9 labels in .*t10k-images.*t10k-labels"):
        idx.read_idx_split(tmp_path, "test", DIGITS)


@pytest.mark.reliability
def test_images_of_the_wrong_size_are_refused(tmp_path: Path) -> None:
    idx.write_idx_fixture(tmp_path, Features((20, 20, 1), DIGITS.class_names), size=20, seed=0)
    with pytest.raises(ImportDataError, match=r"images are \(20, 20\), but the data set's images are \(28, 28, 1\)"):
        idx.read_idx_split(tmp_path, "train", DIGITS)


@pytest.mark.reliability
def test_missing_idx_files_are_named(tmp_path: Path) -> None:
    idx.write_idx_fixture(tmp_path, DIGITS, size=20, seed=0)
    (tmp_path / "train-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(ImportDataError, match="lacks train-labels-idx1-ubyte.gz"):
        tfds_builder.import_dataset("mnist", "idx", tmp_path, tmp_path / "tfds")


@pytest.mark.parametrize("dataset", ["mnist", "fashion_mnist"])
def test_idx_import_loads_under_the_public_name(dataset: str, tmp_path: Path) -> None:
    import tensorflow_datasets as tfds

    raw = tfds_builder.make_fixture(dataset, "idx", tmp_path / "raw", size=40)
    report = tfds_builder.import_dataset(dataset, "idx", raw, tmp_path / "tfds")
    assert report.split_counts == {"train": 40, "test": 10} and report.label_counts["train"] == [4] * 10
    builder = tfds.builder(dataset, data_dir=str(tmp_path / "tfds"))
    assert builder.is_prepared() and builder.info.features["image"].shape == (28, 28, 1)
    features = tfds_builder.dataset_features(dataset)
    expected = idx.read_idx_split(raw, "test", features)
    loaded = list(read_back(dataset, tmp_path / "tfds", "test"))
    by_key = sorted((e["label"], e["image"].tobytes()) for e in loaded)
    assert by_key == sorted(zip(expected.labels.tolist(), (i.tobytes() for i in expected.images), strict=True))
    if dataset == "fashion_mnist":
        assert builder.info.features["label"].names[-1] == "Ankle boot"
    with pytest.raises(ImportDataError, match="--overwrite"):
        tfds_builder.import_dataset(dataset, "idx", raw, tmp_path / "tfds")
    assert (
        tfds_builder.import_dataset(dataset, "idx", raw, tmp_path / "tfds", overwrite=True).split_counts["test"] == 10
    )


def test_cifar_binary_record_layout() -> None:
    # Two records with known bytes: label, then the R plane, G plane, B plane (row-major 32x32).
    records = bytearray()
    for label, (r, g, b) in ((3, (10, 20, 30)), (0, (200, 100, 0))):
        records += bytes([label]) + bytes([r]) * 1024 + bytes([g]) * 1024 + bytes([b]) * 1024
    records[1 + 5 * 32 + 7] = 255  # red pixel at row 5, column 7 of the first image
    arrays = cifar.parse_cifar_batch(bytes(records), "test", COLOURS)
    assert arrays.labels.tolist() == [3, 0]
    assert arrays.images.shape == (2, 32, 32, 3) and arrays.images.dtype == np.uint8
    assert arrays.images[0, 0, 0].tolist() == [10, 20, 30]
    assert arrays.images[0, 5, 7].tolist() == [255, 20, 30]
    assert arrays.images[1, 31, 31].tolist() == [200, 100, 0]


def test_cifar_write_then_parse_is_identity(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    images = rng.integers(0, 256, (5, 32, 32, 3), dtype=np.uint8)
    labels = np.array([0, 9, 4, 4, 1], dtype=np.uint8)
    cifar.write_cifar_batch(tmp_path / "b.bin", images, labels)
    arrays = cifar.parse_cifar_batch((tmp_path / "b.bin").read_bytes(), "b.bin", COLOURS)
    np.testing.assert_array_equal(arrays.images, images)
    np.testing.assert_array_equal(arrays.labels, labels)


@pytest.mark.reliability
def test_cifar_corrupt_batch_is_explained() -> None:
    with pytest.raises(ImportDataError, match="whole number of 3073-byte records"):
        cifar.parse_cifar_batch(b"\x01" * 3000, "x.bin", COLOURS)
    with pytest.raises(ImportDataError, match="label 12"):
        cifar.parse_cifar_batch(bytes([12]) + b"\x00" * 3072, "x.bin", COLOURS)


@pytest.mark.parametrize("as_archive", [False, True])
def test_cifar_import_from_folder_or_archive(tmp_path: Path, as_archive: bool) -> None:
    import tensorflow_datasets as tfds

    folder = tfds_builder.make_fixture(
        "cifar10", "cifar_binary", tmp_path / "raw", size=20, class_names=COLOURS.class_names
    )
    source: Path = folder
    if as_archive:
        source = tmp_path / "cifar-10-binary.tar.gz"
        with tarfile.open(source, "w:gz") as tar:
            tar.add(folder, arcname="cifar-10-batches-bin")
    report = tfds_builder.import_dataset("cifar10", "cifar_binary", source, tmp_path / "tfds")
    assert report.split_counts == {"train": 100, "test": 20}
    builder = tfds.builder("cifar10", data_dir=str(tmp_path / "tfds"))
    assert builder.info.features["label"].names[:2] == ["airplane", "automobile"]
    first = next(read_back("cifar10", tmp_path / "tfds", "test[:1]"))
    assert first["image"].shape == (32, 32, 3) and first["id"].decode().startswith("test_")


@pytest.mark.reliability
def test_cifar_missing_batch_is_named(tmp_path: Path) -> None:
    folder = tfds_builder.make_fixture("cifar10", "cifar_binary", tmp_path, size=10)
    (folder / "data_batch_3.bin").unlink()
    with pytest.raises(ImportDataError, match="data_batch_3.bin is missing"):
        cifar.read_cifar_source(tmp_path, COLOURS)


@pytest.mark.reliability
def test_unwritable_data_dir_and_a_path_under_a_file_are_clear_errors(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    raw = tfds_builder.make_fixture("mnist", "idx", tmp_path / "raw", size=20)
    (tmp_path / "a_file").write_text("x")
    with pytest.raises(ImportDataError, match="a_file is a file, not a folder"):
        tfds_builder.import_dataset("mnist", "idx", raw, tmp_path / "a_file" / "tfds")
    locked = tmp_path / "locked"
    locked.mkdir()
    os.chmod(locked, 0o500)
    # This suite may run as root, whom permissions do not stop: answer as the kernel would for a user.
    real_access = os.access
    monkeypatch.setattr(os, "access", lambda path, mode: False if Path(path) == locked else real_access(path, mode))
    with pytest.raises(ImportDataError, match="locked is not writable by this user"):
        tfds_builder.import_dataset("mnist", "idx", raw, locked / "tfds")
    assert not (locked / "tfds").exists()


@pytest.mark.reliability
def test_unknown_format_lists_the_known_ones() -> None:
    with pytest.raises(ImportDataError, match="unknown raw data format 'csv'; known: cifar_binary, idx"):
        tfds_builder.raw_format("csv")
