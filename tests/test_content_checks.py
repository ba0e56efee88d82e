"""The DataValidator's content checks, run as the pipeline runs them: its executor on real Examples and statistics.

Day-2 quiet failures that TFDV's statistics let pass: inverted and all-black images (an image is only
bytes to TFDV) and a vocabulary shift (a text is only whole strings). Each case is a day's span
validated against the profile of the previous validated span, as the pipeline does.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_data_validation as tfdv
from google.protobuf import text_format
from tensorflow_metadata.proto.v0 import schema_pb2
from tfx.types import artifact_utils, standard_artifacts

from components.data_validator import content
from components.data_validator.executor import DataValidationError, Executor
from pipelines import tasks
from pipelines.ticket.generator import make_record, to_example

pytestmark = [pytest.mark.reliability, pytest.mark.slow]  # TFDV statistics run Beam


def _image_schema() -> schema_pb2.Schema:
    return text_format.Parse(
        """
        feature { name: "image" type: BYTES image_domain {} presence { min_fraction: 1.0 }
                  drift_comparator { jensen_shannon_divergence { threshold: 0.02 } } }
        feature { name: "label" type: INT int_domain { min: 0 max: 9 } presence { min_fraction: 1.0 } }
        """,
        schema_pb2.Schema(),
    )


def _digits(count: int, seed: int) -> np.ndarray:
    """Dark 28x28 images with a bright stroke or two, as handwritten digits are."""
    rng = np.random.default_rng(seed)
    images = np.zeros((count, 28, 28, 1), np.uint8)
    for image in images:
        for _ in range(rng.integers(1, 3)):
            top, left = rng.integers(4, 18, size=2)
            image[top : top + rng.integers(3, 10), left : left + rng.integers(2, 8)] = rng.integers(160, 256)
    return images


def _image_examples(images: np.ndarray) -> list[bytes]:
    return [
        tf.train.Example(
            features=tf.train.Features(
                feature={
                    "image": tf.train.Feature(bytes_list=tf.train.BytesList(value=[tf.io.encode_png(im).numpy()])),
                    "label": tf.train.Feature(int64_list=tf.train.Int64List(value=[i % 10])),
                }
            )
        ).SerializeToString()
        for i, im in enumerate(images)
    ]


def _artifacts(root: Path, examples: dict[str, list[bytes]]) -> tuple:
    """An Examples artifact (gzip TFRecords) and its TFDV statistics, as ExampleGen and StatisticsGen write them."""
    examples_artifact = standard_artifacts.Examples()
    examples_artifact.uri = str(root / "examples")
    statistics = standard_artifacts.ExampleStatistics()
    statistics.uri = str(root / "statistics")
    for artifact in (examples_artifact, statistics):
        artifact.split_names = artifact_utils.encode_split_names(list(examples))
        artifact.span = 2
    for split, records in examples.items():
        (root / "examples" / f"Split-{split}").mkdir(parents=True)
        data = root / "examples" / f"Split-{split}" / "data.gz"
        with tf.io.TFRecordWriter(str(data), tf.io.TFRecordOptions(compression_type="GZIP")) as writer:
            for record in records:
                writer.write(record)
        stats = tfdv.generate_statistics_from_tfrecord(str(data))
        (root / "statistics" / f"Split-{split}").mkdir(parents=True)
        (root / "statistics" / f"Split-{split}" / "FeatureStats.pb").write_bytes(stats.SerializeToString())
    return examples_artifact, statistics


def _validate(root: Path, examples: dict[str, list[bytes]], schema: schema_pb2.Schema, baseline=None):  # noqa: ANN001, ANN202
    """Run the DataValidator's executor; returns (validated statistics, anomalies artifact, error or None)."""
    examples_artifact, statistics = _artifacts(root, examples)
    schema_artifact = standard_artifacts.Schema()
    schema_artifact.uri = str(root / "schema")
    (root / "schema").mkdir()
    (root / "schema" / "schema.pbtxt").write_text(text_format.MessageToString(schema))
    anomalies, validated = standard_artifacts.ExampleAnomalies(), standard_artifacts.ExampleStatistics()
    anomalies.uri, validated.uri = str(root / "out" / "anomalies" / "1"), str(root / "out" / "validated" / "1")
    inputs = {"statistics": [statistics], "schema": [schema_artifact], "examples": [examples_artifact]}
    if baseline is not None:
        inputs["baseline_statistics"] = [baseline]
    error = None
    try:
        Executor().Do(inputs, {"anomalies": [anomalies], "validated_statistics": [validated]}, {"drift_split": "train"})
    except DataValidationError as raised:
        error = raised
    return validated, anomalies, error


@pytest.fixture(scope="module")
def digits_day1(tmp_path_factory: pytest.TempPathFactory):  # noqa: ANN201
    validated, _, error = _validate(
        tmp_path_factory.mktemp("day1"), {"train": _image_examples(_digits(300, 1))}, _image_schema()
    )
    assert error is None
    return validated


def test_a_normal_day_of_images_passes_and_its_pixels_are_recorded(digits_day1, tmp_path: Path) -> None:  # noqa: ANN001
    validated, anomalies, error = _validate(
        tmp_path, {"train": _image_examples(_digits(300, 2))}, _image_schema(), baseline=digits_day1
    )
    assert error is None
    drift = json.loads(Path(anomalies.uri, "drift.json").read_text())["measurements"]
    (pixels,) = [d for d in drift if d["feature"] == "image"]
    assert pixels["measure"] == content.PIXEL_MEASURE and pixels["value"] < 0.005
    profile = content.read_profile(str(Path(validated.uri, content.CONTENT_FILE)))
    assert profile["train"]["image"]["images"] == 300 and 0.02 < profile["train"]["image"]["mean"] < 0.3


def test_inverted_images_are_stopped_by_their_pixel_histogram(digits_day1, tmp_path: Path) -> None:  # noqa: ANN001
    inverted = 255 - _digits(300, 2)
    _, _, error = _validate(tmp_path, {"train": _image_examples(inverted)}, _image_schema(), baseline=digits_day1)
    assert error is not None
    message = str(error)
    assert "split train, feature image: Pixel drift. The pixel intensity histogram moved" in message, message
    assert "Inverted images" in message and "nothing was trained or pushed" in message
    # TFDV alone sees bytes of the same size: no anomaly without the content check.
    stats = tfdv.generate_statistics_from_tfrecord(str(tmp_path / "examples" / "Split-train" / "data.gz"))
    assert not tfdv.validate_statistics(stats, content.schema_for_tfdv(_image_schema())).anomaly_info


def test_all_black_images_are_stopped_even_without_a_previous_span(tmp_path: Path) -> None:
    black = np.zeros((200, 28, 28, 1), np.uint8)
    _, _, error = _validate(
        tmp_path, {"train": _image_examples(_digits(200, 3)), "eval": _image_examples(black)}, _image_schema()
    )
    assert error is not None
    assert "split eval, feature image: Blank images. 200 of 200 sampled images (100.0%) are a single colour" in str(
        error
    )
    assert "split train" not in str(error)


def _tickets(span: int, drift: str, count: int = 800) -> list[bytes]:
    return [to_example(make_record(0, i, {"span": span, "drift": drift})).SerializeToString() for i in range(count)]


def test_a_vocabulary_shift_is_stopped_naming_the_new_words(tmp_path: Path) -> None:
    schema = text_format.Parse(Path(tasks.get("ticket").schema_file).read_text(), schema_pb2.Schema())
    day1, _, error = _validate(tmp_path / "day1", {"train": _tickets(1, "none")}, schema)
    assert error is None
    _, anomalies, error = _validate(tmp_path / "day2", {"train": _tickets(2, "none")}, schema, baseline=day1)
    assert error is None, error
    measured = {
        d["feature"]: d["value"]
        for d in json.loads(Path(anomalies.uri, "drift.json").read_text())["measurements"]
        if d["measure"] == content.UNKNOWN_MEASURE
    }
    assert measured["body"] < 0.01 and measured["title"] < 0.01, measured  # thresholds: 0.03 and 0.06
    _, _, error = _validate(tmp_path / "shifted", {"train": _tickets(2, "renamed_keywords")}, schema, baseline=day1)
    assert error is not None
    message = str(error)
    assert "split train, feature body: Unknown vocabulary." in message, message
    assert "of the tokens are new words, not in the last validated span (at most 3.0%)" in message
    assert "most frequent new:" in message
