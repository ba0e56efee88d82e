"""Every drift comparator of every shipped schema can fire: shifted data exceeds its threshold, the same data does not.

The cases are discovered from ``pipelines/*/schema.pbtxt``: each feature with a ``drift_comparator``
is one case, so a comparator added to a schema is tested without touching this file, and a feature
this file cannot shift fails (it is not skipped). The statistics are TFDV's, computed with the schema
as StatisticsGen computes them; image features are measured on pixels by the DataValidator's content
profile (``content.schema_for_tfdv`` takes their comparator off the schema TFDV sees).

A categorical INT such as penguin's ``species`` shows why the schema must be given: without it TFDV
writes numeric statistics for it, and its L-infinity drift reads 0.0 however the classes move.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import tensorflow as tf
import tensorflow_data_validation as tfdv
from google.protobuf import text_format
from tensorflow_metadata.proto.v0 import anomalies_pb2, schema_pb2, statistics_pb2

from components.data_validator import content

ROOT = Path(__file__).resolve().parents[1]
SCHEMA_FILES = sorted(ROOT.glob("pipelines/*/schema.pbtxt"))
ROWS = 400  # a small day: the unshifted pair must stay below the thresholds on spans this size
IMAGES = 200
MEASURE_TYPES = {
    "infinity_norm": anomalies_pb2.DriftSkewInfo.Measurement.L_INFTY,
    "jensen_shannon_divergence": anomalies_pb2.DriftSkewInfo.Measurement.JENSEN_SHANNON_DIVERGENCE,
}


def _schema(task: str) -> schema_pb2.Schema:
    return text_format.Parse((ROOT / "pipelines" / task / "schema.pbtxt").read_text(), schema_pb2.Schema())


def _cases() -> list[tuple[str, str]]:
    return [
        (path.parent.name, feature.name)
        for path in SCHEMA_FILES
        for feature in _schema(path.parent.name).feature
        if feature.HasField("drift_comparator")
    ]


CASES = _cases()


def _feature(schema: schema_pb2.Schema, name: str) -> schema_pb2.Feature:
    (feature,) = [f for f in schema.feature if f.name == name]
    return feature


def _comparator(feature: schema_pb2.Feature) -> tuple[str, float]:
    """(kind, threshold) of the feature's one drift comparator; fails for a kind this file does not know."""
    kinds = [field.name for field, _ in feature.drift_comparator.ListFields()]
    if len(kinds) != 1 or kinds[0] not in MEASURE_TYPES:
        pytest.fail(
            f"feature {feature.name}: drift comparator {kinds} is not one this test knows {list(MEASURE_TYPES)}"
        )
    return kinds[0], getattr(feature.drift_comparator, kinds[0]).threshold


def _string_domain(schema: schema_pb2.Schema, feature: schema_pb2.Feature) -> list[str] | None:
    domain = feature.WhichOneof("domain_info")
    if domain == "string_domain":
        return list(feature.string_domain.value)
    if domain == "domain":
        (named,) = [d for d in schema.string_domain if d.name == feature.domain]
        return list(named.value)
    return None


def _values(schema: schema_pb2.Schema, feature: schema_pb2.Feature, seed: int, shifted: bool) -> np.ndarray:
    """``ROWS`` values of the feature: its usual distribution (a draw of ``seed``), or shifted far from it.

    Categorical: spread over the domain's values, or all on one of them. Free strings: all different, or one
    value for every row (as empty texts of a broken export). Numeric: around the domain's range (0..1 without
    one), or as far again beyond it.
    """
    rng = np.random.default_rng(seed)
    domain = feature.WhichOneof("domain_info")
    if feature.type == schema_pb2.BYTES and domain != "image_domain":
        values = _string_domain(schema, feature)
        if values is not None:
            return np.array([values[0]] * ROWS if shifted else rng.choice(values, ROWS), dtype=object)
        return np.array([""] * ROWS if shifted else [f"text {seed} {i}" for i in range(ROWS)], dtype=object)
    if feature.type == schema_pb2.INT:
        low, high = (feature.int_domain.min, feature.int_domain.max) if domain == "int_domain" else (0, 9)
        if high <= low:
            pytest.fail(f"feature {feature.name}: int domain [{low}, {high}] leaves nothing to shift within")
        if domain == "int_domain" and feature.int_domain.is_categorical:
            return np.full(ROWS, low, np.int64) if shifted else rng.integers(low, high + 1, ROWS)
        values = rng.integers(low, high + 1, ROWS)
        return values + 10 * (high - low + 1) if shifted else values
    if feature.type == schema_pb2.FLOAT:
        has_range = domain == "float_domain" and feature.float_domain.HasField("max")
        low, high = (feature.float_domain.min, feature.float_domain.max) if has_range else (0.0, 1.0)
        values = np.clip(rng.normal((low + high) / 2, (high - low) / 6, ROWS), low, high)
        return values + 10 * (high - low) if shifted else values
    pytest.fail(f"feature {feature.name}: this test cannot make shifted data of type {feature.type}, domain {domain}")


def _statistics(
    name: str, values: np.ndarray, schema: schema_pb2.Schema
) -> statistics_pb2.DatasetFeatureStatisticsList:
    return tfdv.generate_statistics_from_dataframe(
        pd.DataFrame({name: values}), stats_options=tfdv.StatsOptions(schema=schema)
    )


def _drift(
    name: str,
    new: statistics_pb2.DatasetFeatureStatisticsList,
    old: statistics_pb2.DatasetFeatureStatisticsList,
    schema,
) -> anomalies_pb2.DriftSkewInfo.Measurement:  # noqa: ANN001
    """TFDV's one drift measurement of the feature (the executor's call: schema for TFDV, TRAINING environment)."""
    environment = "TRAINING" if "TRAINING" in schema.default_environment else None
    result = tfdv.validate_statistics(
        new, content.schema_for_tfdv(schema), environment=environment, previous_statistics=old
    )
    measured = [
        m for info in result.drift_skew_info if ".".join(info.path.step) == name for m in info.drift_measurements
    ]
    assert len(measured) == 1, f"feature {name}: TFDV recorded {measured or 'no drift measurement'}"
    return measured[0]


def _images(schema: schema_pb2.Schema, seed: int) -> np.ndarray:
    """Dark images with a bright block or two, of the size the schema declares (image/height, width, channels)."""

    def size(name: str, default: int) -> int:
        features = {f.name: f for f in schema.feature}
        return int(features[name].int_domain.min) if name in features else default

    height, width, channels = size("image/height", 28), size("image/width", 28), size("image/channels", 1)
    rng = np.random.default_rng(seed)
    images = np.zeros((IMAGES, height, width, channels), np.uint8)
    for image in images:
        for _ in range(rng.integers(1, 3)):
            top, left = rng.integers(2, height // 2, size=2)
            image[top : top + rng.integers(3, 10), left : left + rng.integers(2, 8)] = rng.integers(160, 256)
    return images


def _pixel_profile(name: str, images: np.ndarray) -> dict:
    records = [
        tf.train.Example(
            features=tf.train.Features(
                feature={name: tf.train.Feature(bytes_list=tf.train.BytesList(value=[tf.io.encode_png(im).numpy()]))}
            )
        ).SerializeToString()
        for im in images
    ]
    return content.profile(records, {name: "image"})


def test_every_task_schema_is_discovered_with_its_comparators() -> None:
    tasks = {path.parent.name for path in SCHEMA_FILES}
    assert {"mnist", "fashion_mnist", "cifar10", "ticket", "penguin"} <= tasks
    assert {task for task, _ in CASES} == tasks, "a shipped schema has no drift comparator at all"
    assert ("penguin", "species") in CASES and ("ticket", "department") in CASES and ("mnist", "image") in CASES


@pytest.mark.parametrize(("task", "name"), CASES, ids=[f"{t}-{n}" for t, n in CASES])
def test_the_drift_comparator_fires_on_shifted_data_and_not_on_the_same_data(task: str, name: str) -> None:
    schema = _schema(task)
    feature = _feature(schema, name)
    kind, threshold = _comparator(feature)
    if feature.WhichOneof("domain_info") == "image_domain":
        assert kind == "jensen_shannon_divergence", "image drift is measured as a pixel histogram's Jensen-Shannon"
        assert not _feature(content.schema_for_tfdv(schema), name).HasField("drift_comparator")
        old, same = _pixel_profile(name, _images(schema, 1)), _pixel_profile(name, _images(schema, 2))
        inverted = _pixel_profile(name, 255 - _images(schema, 2))
        measured = {}
        for label, new in (("same", same), ("inverted", inverted)):
            ((_, measure, value, limit, _),) = content.content_drift(new, old, schema)
            assert measure == content.PIXEL_MEASURE and limit == threshold
            measured[label] = value
        assert measured["inverted"] > threshold > measured["same"], measured
        return
    old = _statistics(name, _values(schema, feature, 1, shifted=False), schema)
    same = _statistics(name, _values(schema, feature, 2, shifted=False), schema)
    shifted = _statistics(name, _values(schema, feature, 2, shifted=True), schema)
    measured = {label: _drift(name, new, old, schema) for label, new in (("same", same), ("shifted", shifted))}
    for measurement in measured.values():
        assert measurement.type == MEASURE_TYPES[kind] and measurement.threshold == pytest.approx(threshold)
    values = {label: round(m.value, 4) for label, m in measured.items()}
    assert measured["shifted"].value > threshold > measured["same"].value, values


def test_a_categorical_int_measures_nothing_without_the_schema() -> None:
    """Penguin's species: all birds of one species read L-infinity 0.0 on statistics computed without the schema."""
    schema = _schema("penguin")
    feature = _feature(schema, "species")
    old_values, new_values = _values(schema, feature, 1, False), _values(schema, feature, 2, True)
    plain = [
        tfdv.generate_statistics_from_dataframe(pd.DataFrame({"species": v}), stats_options=tfdv.StatsOptions())
        for v in (old_values, new_values)
    ]
    assert plain[0].datasets[0].features[0].HasField("num_stats")  # numbers: no value counts to compare
    assert _drift("species", plain[1], plain[0], schema).value == 0.0
    aware = [_statistics("species", v, schema) for v in (old_values, new_values)]
    assert aware[0].datasets[0].features[0].HasField("string_stats")
    assert _drift("species", aware[1], aware[0], schema).value > 0.25


def test_schema_infer_measures_a_long_tailed_column_on_quantile_buckets() -> None:
    """One 1,710-mile trip that changes split: a false alarm on the standard histogram, none on quantiles."""
    from pipelines.schema_inference import DRIFT_THRESHOLD, suggest_drift

    rng = np.random.default_rng(0)
    monday, tuesday = rng.gamma(2, 2, 2000), rng.gamma(2, 2, 2000)
    monday[0] = 1710.0  # the outlier is in Monday's training split, not in Tuesday's
    frame = pd.DataFrame({"trip_miles": monday, "fare": 3 + 2.5 * monday.clip(0, 12)})
    statistics = tfdv.generate_statistics_from_dataframe(frame)
    schema = tfdv.infer_schema(statistics)
    notes = suggest_drift(schema, statistics)
    assert len(notes) == 1 and notes[0].startswith("trip_miles is long-tailed (max 1710, 90% of rows under")
    features = {f.name: f for f in schema.feature}
    chosen = features["trip_miles"].drift_comparator.jensen_shannon_divergence
    assert chosen.source.type == schema_pb2.HistogramSelection.QUANTILES and chosen.threshold == DRIFT_THRESHOLD
    assert not features["fare"].drift_comparator.jensen_shannon_divergence.HasField("source")  # no tail: standard

    def drift(new: np.ndarray, quantiles: bool) -> float:
        measured = schema_pb2.Schema()
        measured.CopyFrom(schema)
        feature = next(f for f in measured.feature if f.name == "trip_miles")
        if not quantiles:
            feature.drift_comparator.jensen_shannon_divergence.ClearField("source")
        day = tfdv.generate_statistics_from_dataframe(pd.DataFrame({"trip_miles": new, "fare": 3 + 2.5 * new}))
        result = tfdv.validate_statistics(day, measured, previous_statistics=statistics)
        return next(
            m.value for i in result.drift_skew_info if i.path.step == ["trip_miles"] for m in i.drift_measurements
        )

    assert drift(tuesday, quantiles=False) > 0.7  # the false alarm the issue saw (0.705)
    assert drift(tuesday, quantiles=True) < DRIFT_THRESHOLD / 2
    assert drift(tuesday * 2, quantiles=True) > DRIFT_THRESHOLD  # every distance doubled: still caught
