"""TFDSExampleGen: encoding, exact examples per split, and argument checks at construction."""

from __future__ import annotations

import collections
import glob
import os
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_datasets as tfds
from tfx.types import standard_artifacts, standard_component_specs
from tfx.utils import proto_utils

from components.tfds_example_gen import DatasetNotPreparedError, TFDSExampleGen, TFDSExampleGenError
from components.tfds_example_gen import executor as tfds_executor

SPLITS = {"train": "train[:90%]", "eval": "train[90%:]", "test": "test"}


def _png(image: np.ndarray) -> bytes:
    return tf.io.encode_png(image).numpy()


def test_zero_label_is_kept_arrays_are_flattened_and_images_stay_encoded_with_their_size() -> None:
    array = np.zeros((2, 3), dtype=np.uint8)
    array[1, 2] = 7
    image = np.zeros((2, 3, 1), dtype=np.uint8)
    image[1, 2, 0] = 7
    example = tfds_executor.to_tf_example(
        {
            "image": _png(image),
            "pixels": array,
            "label": np.int64(0),
            "score": np.float32(0.0),
            "name": b"",
            "meta": {"id": np.int64(0)},
        },
        image_keys=["image"],
    )
    feature = example.features.feature
    assert list(feature["label"].int64_list.value) == [0]
    assert list(feature["score"].float_list.value) == [0.0]
    assert list(feature["name"].bytes_list.value) == [b""]
    assert list(feature["meta/id"].int64_list.value) == [0]
    assert list(feature["pixels"].int64_list.value) == [0, 0, 0, 0, 0, 7]
    assert list(feature["image"].bytes_list.value) == [_png(image)]  # the encoded bytes, untouched
    sizes = [feature[f"image/{k}"].int64_list.value[0] for k in ("height", "width", "channels")]
    assert sizes == [2, 3, 1]  # read from the PNG header, no decoding
    broken = tfds_executor.to_tf_example({"image": b"not an image"}, image_keys=["image"]).features.feature
    assert "image/height" not in broken  # an unreadable image has no size: the schema's presence check fails


@pytest.mark.parametrize("dataset", ["mnist", "cifar10"])
def test_every_mock_example_decodes_back_exactly(dataset: str) -> None:
    """With tfds.testing.mock_data: encode each example as the executor reads it, decode with the metadata."""
    with tfds.testing.mock_data(num_examples=5):
        builder = tfds.builder(dataset)
        metadata = tfds_executor.feature_metadata(builder)
        images = list(tfds_executor.image_features(builder))
        examples = list(tfds.as_numpy(builder.as_dataset(split="train")))
    assert images == ["image"]
    assert metadata["features"]["image"]["dtype"] == "uint8" and metadata["features"]["image"]["image_format"] == "png"
    assert metadata["features"]["label"]["num_classes"] == 10
    for original in examples:
        stored = {**original, "image": _png(original["image"])}  # as SkipDecoding reads it: TFDS stores PNG
        encoded = tf.train.Example.FromString(tfds_executor.to_tf_example(stored, images).SerializeToString())
        for key, value in original.items():
            decoded = tfds_executor.decode_feature(encoded, key, metadata)
            if metadata["features"][key]["dtype"] == "string":
                assert decoded.tolist() == value
            else:
                assert decoded.dtype == np.asarray(value).dtype
                np.testing.assert_array_equal(decoded, value)
        height, width, channels = original["image"].shape
        assert tfds_executor.decode_feature(encoded, "image/height", metadata) == height
        assert tfds_executor.decode_feature(encoded, "image/channels", metadata) == channels


def _run_executor(component: TFDSExampleGen, output_dir: Path) -> standard_artifacts.Examples:
    examples = standard_artifacts.Examples()
    examples.uri = str(output_dir)
    exec_properties = {}
    for key, value in component.exec_properties.items():
        exec_properties[key] = proto_utils.proto_to_json(value) if hasattr(value, "DESCRIPTOR") else value
    tfds_executor.Executor().Do({}, {standard_component_specs.EXAMPLES_KEY: [examples]}, exec_properties)
    return examples


def _read_split(uri: str, split: str) -> list[tf.train.Example]:
    files = glob.glob(os.path.join(uri, f"Split-{split}", "*.gz"))
    assert files, f"no files written for split {split}"
    return [tf.train.Example.FromString(r.numpy()) for r in tf.data.TFRecordDataset(files, compression_type="GZIP")]


@pytest.mark.slow  # runs the executor's Beam pipeline
def test_executor_writes_exactly_the_tfds_examples_of_each_split(mnist_data_dir: str, tmp_path: Path) -> None:
    component = TFDSExampleGen("mnist", SPLITS, data_dir=mnist_data_dir)
    artifact = _run_executor(component, tmp_path / "examples")
    metadata = tfds_executor.read_feature_metadata(artifact.uri)
    assert metadata["features"]["image"] == {
        "dtype": "uint8",
        "shape": [28, 28, 1],
        "encoding": "bytes_list",
        "image_format": "png",
    }
    assert artifact.get_string_custom_property("tfds_dataset") == "mnist:3.0.1"
    sizes = {}
    for split, expression in SPLITS.items():
        written = _read_split(artifact.uri, split)
        sizes[split] = len(written)
        builder = tfds.builder("mnist", data_dir=mnist_data_dir)
        stored = builder.as_dataset(split=expression, decoders={"image": tfds.decode.SkipDecoding()})
        expected = [
            tfds_executor.to_tf_example(e, ["image"]).SerializeToString(deterministic=True)
            for e in tfds.as_numpy(stored)
        ]
        got = [e.SerializeToString(deterministic=True) for e in written]
        assert collections.Counter(got) == collections.Counter(expected)
        labels = [
            decoded
            for e in written
            for decoded in tfds_executor.decode_feature(e, "label", metadata).reshape(-1).tolist()
        ]
        assert 0 in labels  # zeros survive
    assert sizes == {"train": 180, "eval": 20, "test": 50}


def test_unknown_dataset_suggests_the_name() -> None:
    with pytest.raises(TFDSExampleGenError, match="Unknown TFDS data set 'mnsit'.*'mnist'"):
        TFDSExampleGen("mnsit", SPLITS)


@pytest.mark.parametrize(
    ("splits", "message"),
    [
        ({"train": "train[:80"}, "not a TFDS split expression"),
        ({"train": "validation"}, "does not fit the data set"),
        ({"train": "train[100%:]"}, "selects no examples"),
        ({"my split": "train"}, "must be an identifier"),
        ({}, "splits is empty"),
    ],
)
def test_bad_splits_fail_at_construction(mnist_data_dir: str, splits: dict, message: str) -> None:
    with pytest.raises(TFDSExampleGenError, match=message):
        TFDSExampleGen("mnist", splits, data_dir=mnist_data_dir)


def test_missing_data_offline_names_both_ways_out(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from components.tfds_example_gen import DatasetDownloadError, executor

    with pytest.raises(DatasetNotPreparedError, match="tfx-keras data import.*--download") as error:
        TFDSExampleGen("mnist", SPLITS, data_dir=str(tmp_path))
    assert error.value.dataset == "mnist" and error.value.data_dir == str(tmp_path)
    # With download allowed and the download host reachable, the component builds (the executor downloads).
    monkeypatch.setattr(executor, "download_host_unreachable", lambda timeout=5.0: "")
    TFDSExampleGen("mnist", SPLITS, data_dir=str(tmp_path), download=True)
    # Without network it fails at once, naming why, instead of after minutes of retries in the executor.
    monkeypatch.setattr(executor, "download_host_unreachable", lambda timeout=5.0: "cannot connect: no route")
    with pytest.raises(DatasetDownloadError, match="could not download 'mnist'.*cannot connect: no route"):
        TFDSExampleGen("mnist", SPLITS, data_dir=str(tmp_path), download=True)


def test_fingerprint_changes_when_the_data_changes(tmp_path: Path) -> None:
    from data_import.tfds_builder import import_dataset, make_fixture

    import_dataset("mnist", "idx", make_fixture("mnist", "idx", tmp_path / "raw1", size=200), tmp_path / "a")
    first = TFDSExampleGen("mnist", SPLITS, data_dir=str(tmp_path / "a")).exec_properties
    again = TFDSExampleGen("mnist", SPLITS, data_dir=str(tmp_path / "a")).exec_properties
    other_raw = make_fixture("mnist", "idx", tmp_path / "raw2", size=210, seed=3)
    import_dataset("mnist", "idx", other_raw, tmp_path / "a", overwrite=True)
    changed = TFDSExampleGen("mnist", SPLITS, data_dir=str(tmp_path / "a")).exec_properties
    key = standard_component_specs.CUSTOM_CONFIG_KEY
    assert first[key] == again[key]
    assert first[key] != changed[key]
