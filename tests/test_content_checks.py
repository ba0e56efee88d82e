"""The DataValidator's content checks, run as the pipeline runs them: its executor on real Examples and statistics.

Day-2 quiet failures that TFDV's statistics let pass: inverted and all-black images (an image is only
bytes to TFDV) and a vocabulary shift (a text is only whole strings). Each case is a day's span
validated against the profile of the previous validated span, as the pipeline does.
Also the checks on their own, on real profiles and TFDV statistics: truncated texts (their length
histogram) and a categorical value that disappears (``categories.vanished_values``).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import tensorflow as tf
import tensorflow_data_validation as tfdv
from google.protobuf import text_format
from tensorflow_metadata.proto.v0 import schema_pb2
from tfx.types import artifact_utils, standard_artifacts

from components.data_validator import categories, content
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


def _ticket_schema() -> schema_pb2.Schema:
    return text_format.Parse(Path(tasks.get("ticket").schema_file).read_text(), schema_pb2.Schema())


def _ticket_records(span: int, count: int, truncated: float = 0.0) -> list[dict]:
    """A day of generated tickets; ``truncated`` of the bodies cut to their first 5 characters (a broken export)."""
    rng = np.random.default_rng(span)
    records = [make_record(0, i, {"span": span}) for i in range(count)]
    for record in records:
        if rng.random() < truncated:
            record["body"] = record["body"][:5]
    return records


def _text_profile(records: list[dict]) -> dict:
    return content.profile(
        [to_example(r).SerializeToString() for r in records], content.content_features(_ticket_schema())
    )


def _length_drift(new: dict, old: dict, schema: schema_pb2.Schema) -> dict[str, tuple[float, float, str]]:
    return {
        name: (value, threshold, why)
        for name, measure, value, threshold, why in content.content_drift(new, old, schema)
        if measure == content.TEXT_LENGTH_MEASURE
    }


@pytest.fixture(scope="module")
def tickets_day1() -> dict:
    return _text_profile(_ticket_records(1, 1000))


def test_a_normal_day_of_texts_keeps_its_length_well_below_the_threshold(tickets_day1) -> None:  # noqa: ANN001
    schema = _ticket_schema()
    measured = _length_drift(_text_profile(_ticket_records(2, 1000)), tickets_day1, schema)
    assert set(measured) == {"title", "body"}  # every natural_language_domain feature, without a tag
    for value, threshold, _ in measured.values():
        assert threshold == content.DEFAULT_MAX_LENGTH_JSD and value < threshold / 5, measured
    assert tickets_day1["body"]["texts"] == 1000 and 30 < tickets_day1["body"]["length_mean"] < 40
    assert len(tickets_day1["body"]["lengths"]) == content.LENGTH_BINS == len(content.length_bin_labels())


def test_truncated_bodies_are_measured_by_their_length(tickets_day1) -> None:  # noqa: ANN001
    schema = _ticket_schema()
    truncated = _text_profile(_ticket_records(2, 1000, truncated=0.3))
    measured = _length_drift(truncated, tickets_day1, schema)
    value, threshold, why = measured["body"]
    assert value > 3 * threshold, measured
    assert measured["title"][0] < threshold  # the titles were not cut
    assert why.startswith(f"The number of tokens per text moved (Jensen-Shannon {value:.3f} > 0.03): ")
    assert f"{tickets_day1['body']['length_mean']:.1f} -> {truncated['body']['length_mean']:.1f} tokens" in why
    assert "texts of at most 2 tokens 0.0% -> 3" in why and "fix the export" in why
    assert content.short_description(content.TEXT_LENGTH_MEASURE) == "Text length drift"
    assert content.short_description(content.UNKNOWN_MEASURE) == "Unknown vocabulary"
    assert content.short_description(content.PIXEL_MEASURE) == "Pixel drift"
    # The checks that let it pass: few new words, and whole strings that are nearly all different.
    assert content.unknown_share(truncated["body"], tickets_day1["body"]) < 0.03
    # An annotation tag sets the feature's own bound.
    (body,) = [f for f in schema.feature if f.name == "body"]
    body.annotation.tag.append("max_length_jsd: 0.5")
    assert _length_drift(truncated, tickets_day1, schema)["body"][1] == 0.5


def test_a_profile_written_before_the_length_histogram_is_skipped(tickets_day1) -> None:  # noqa: ANN001
    old = {
        name: {k: v for k, v in entry.items() if k not in ("texts", "length_mean", "lengths")}
        for name, entry in tickets_day1.items()
    }
    new = _text_profile(_ticket_records(2, 300, truncated=0.3))
    measured = content.content_drift(new, old, _ticket_schema())
    assert {m[1] for m in measured} == {content.UNKNOWN_MEASURE}  # the vocabulary is still compared
    assert content.content_drift(old, new, _ticket_schema())  # and the other way round, neither crashes


def _statistics(frame: pd.DataFrame, schema: schema_pb2.Schema | None):  # noqa: ANN202
    """TFDV's statistics of a data frame, with the schema as StatisticsGen computes them (or without)."""
    options = tfdv.StatsOptions(schema=schema) if schema is not None else tfdv.StatsOptions()
    return tfdv.generate_statistics_from_dataframe(frame, stats_options=options)


def _ticket_frame(records: list[dict]) -> pd.DataFrame:
    return pd.DataFrame([{k: r[k] for k in ("title", "body", "department", "difficulty", "priority")} for r in records])


def test_a_department_that_disappears_is_found_whatever_the_l_infinity_threshold() -> None:
    schema = _ticket_schema()
    old = _statistics(_ticket_frame(_ticket_records(1, 1200)), schema)
    normal = _statistics(_ticket_frame(_ticket_records(2, 1200)), schema)
    assert categories.vanished_values(normal, old, schema) == []
    without = [r for r in _ticket_records(2, 1200) if r["department"] != "billing"]
    new = _statistics(_ticket_frame(without), schema)
    ((feature, short, detail),) = categories.vanished_values(new, old, schema)
    assert (feature, short) == ("department", "Value disappeared")
    billing = sum(r["department"] == "billing" for r in _ticket_records(1, 1200))
    expected = billing / 1200 * len(without)
    assert detail.startswith(
        f"Value 'billing' held {billing / 1200:.1%} of the baseline's values ({billing} of 1200) and holds 0.0% now "
        f"(0 of {len(without)}, {expected:.0f} expected)."
    ), detail
    assert "Restore the value in the export" in detail and "validation.allow_anomalies=true" in detail
    # TFDV's L-infinity of the same pair stays at about the share of the value: a threshold of 0.25 is a coin toss.
    result = tfdv.validate_statistics(new, content.schema_for_tfdv(schema), previous_statistics=old)
    (l_infinity,) = [i.drift_measurements[0].value for i in result.drift_skew_info if i.path.step == ["department"]]
    assert abs(l_infinity - billing / 1200) < 0.01
    # Nearly gone counts too (at most 10% of the expected count), a quarter left does not.
    few = [r for r in _ticket_records(2, 1200) if r["department"] != "billing" or r["ticket_id"].endswith("00")]
    assert categories.vanished_values(_statistics(_ticket_frame(few), schema), old, schema)
    some = [r for r in _ticket_records(2, 1200) if r["department"] != "billing" or int(r["ticket_id"][-1]) < 3]
    assert categories.vanished_values(_statistics(_ticket_frame(some), schema), old, schema) == []
    # A span too small to expect 10 rows of the value says nothing; a min_value_share above its share neither.
    assert categories.vanished_values(_statistics(_ticket_frame(without[:30]), schema), old, schema) == []
    (department,) = [f for f in schema.feature if f.name == "department"]
    department.annotation.tag.append("min_value_share: 0.3")
    assert categories.vanished_values(new, old, schema) == []


def test_a_species_that_disappears_needs_statistics_computed_with_the_schema() -> None:
    schema = text_format.Parse(Path(tasks.get("penguin").schema_file).read_text(), schema_pb2.Schema())
    data = Path(tasks.get("penguin").schema_file).parent / "data" / "span-1" / "penguins_processed.csv"
    frame = pd.read_csv(data)
    without = frame[frame["species"] != 1]  # no Chinstrap (a fifth of the birds)
    old, new = _statistics(frame, schema), _statistics(without, schema)
    ((feature, short, detail),) = categories.vanished_values(new, old, schema)
    chinstrap = int((frame["species"] == 1).sum())
    assert (feature, short) == ("species", "Value disappeared")
    assert (
        f"Value '1' held {chinstrap / len(frame):.1%} of the baseline's values ({chinstrap} of {len(frame)})" in detail
    )
    # The L-infinity comparator (0.25) lets it pass: the largest move is the vanished share itself.
    result = tfdv.validate_statistics(new, content.schema_for_tfdv(schema), previous_statistics=old)
    (l_infinity,) = [i.drift_measurements[0].value for i in result.drift_skew_info if i.path.step == ["species"]]
    assert l_infinity < 0.25
    # Without the schema TFDV writes numbers for species: no value counts to read, nothing to find.
    assert categories.vanished_values(_statistics(without, None), _statistics(frame, None), schema) == []
