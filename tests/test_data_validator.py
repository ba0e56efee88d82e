"""The DataValidator's pieces on real TFDV statistics: anomalies named, drift measured, pictures written."""

from __future__ import annotations

import html
from pathlib import Path

import pandas as pd
import pytest
import tensorflow_data_validation as tfdv
from google.protobuf import text_format
from tensorflow_metadata.proto.v0 import schema_pb2

from components.data_validator.executor import (
    format_anomalies,
    guard_floats,
    kept_dir,
    list_anomalies,
    list_drift,
)
from components.data_validator.report import write_data_report
from pipelines import tasks


def _schema() -> schema_pb2.Schema:
    text = Path(tasks.get("ticket").schema_file).read_text()
    schema = text_format.Parse(text, schema_pb2.Schema())
    del schema.feature[:]  # keep the domains; three features are enough here
    for name, kind in (("department", schema_pb2.BYTES), ("priority", schema_pb2.FLOAT)):
        feature = schema.feature.add(name=name, type=kind)
        feature.presence.min_fraction = 1.0
    schema.feature[0].domain = "department"
    schema.feature[0].drift_comparator.infinity_norm.threshold = 0.25
    schema.feature[1].float_domain.min, schema.feature[1].float_domain.max = 0.0, 1.0
    return schema


def _stats(departments: list[str], priorities: list[float]):  # noqa: ANN202
    return tfdv.generate_statistics_from_dataframe(pd.DataFrame({"department": departments, "priority": priorities}))


@pytest.fixture(scope="module")
def previous():  # noqa: ANN201
    return _stats(["billing", "technical", "account", "shipping"] * 25, [0.1, 0.4, 0.6, 0.9] * 25)


@pytest.mark.reliability
def test_anomalies_are_named_by_split_feature_and_what_was_found(previous) -> None:  # noqa: ANN001
    broken = _stats(["billing"] * 60 + ["sales"] * 40, [0.5] * 80 + [55.0] * 20)
    result = tfdv.validate_statistics(broken, _schema(), previous_statistics=previous)
    found = [str(a) for a in list_anomalies(result, "train")]
    assert any(a.startswith("split train, feature department: ") and "sales" in a for a in found), found
    assert any(a.startswith("split train, feature priority: Out-of-range values") for a in found), found
    drift = {d.feature: d for d in list_drift(result)}
    assert drift["department"].measure == "L_INFTY" and drift["department"].exceeded
    assert drift["department"].value == pytest.approx(0.4, abs=0.01)  # "sales" went from 0% to 40%
    message = format_anomalies(list_anomalies(result, "train"), allowed=False)
    assert "nothing was trained or pushed" in message and "update the curated schema" in message
    assert "the run goes on" in format_anomalies(list_anomalies(result, "train"), allowed=True)


@pytest.mark.reliability
def test_an_empty_string_that_drifted_is_named(previous) -> None:  # noqa: ANN001
    emptied = _stats([""] * 90 + ["billing"] * 10, [0.1, 0.4, 0.6, 0.9] * 25)
    found = list_anomalies(tfdv.validate_statistics(emptied, _schema(), previous_statistics=previous), "train")
    drift = [a for a in found if a.feature == "department" and "Linfty" in a.short]
    assert drift and drift[0].detail.endswith('maximum difference is: "" (the empty string)'), found


def test_clean_data_has_no_anomalies_and_a_small_drift(previous) -> None:  # noqa: ANN001
    same = _stats(["billing", "technical", "account", "shipping"] * 25, [0.2, 0.4, 0.6, 0.8] * 25)
    result = tfdv.validate_statistics(same, _schema(), previous_statistics=previous)
    assert list_anomalies(result, "train") == []
    (drift,) = list_drift(result)
    assert drift.feature == "department" and drift.value < 0.01 and not drift.exceeded


def test_the_data_report_is_a_self_contained_page_of_every_split(previous, tmp_path: Path) -> None:  # noqa: ANN001
    new = _stats(["technical"] * 60 + ["billing"] * 40, [0.3] * 100)
    result = tfdv.validate_statistics(new, _schema(), previous_statistics=previous)
    splits = {"train": new, "eval": previous}
    page = Path(write_data_report(str(tmp_path), splits, "train", previous, list_drift(result), [], "span 2"))
    html = page.read_text()
    assert "data:image/png;base64," in html and "http" not in html.replace("http-equiv", "")  # nothing to fetch
    assert "<td>department</td><td>L_INFTY</td>" in html and "above" in html
    assert "the largest change in the share of any one value" in html  # L-infinity is not a share of rows
    assert "<h3>Split train</h3>" in html and "<h3>Split eval</h3>" in html
    for picture in ("statistics-train.png", "statistics-eval.png", "drift.png"):
        assert (tmp_path / picture).stat().st_size > 5000, picture


def test_class_labels_get_one_bar_per_integer_and_unique_texts_no_drift_panel() -> None:
    from components.data_validator.executor import Drift
    from components.data_validator.report import _distribution, _features, pictured

    stats = tfdv.generate_statistics_from_dataframe(
        pd.DataFrame({"label": [d for d in range(10) for _ in range(d + 1)], "body": [f"t{i}" for i in range(55)]})
    )
    features = _features(stats)
    kind, labels, shares = _distribution(features["label"])
    assert kind == "integer" and labels == [str(d) for d in range(10)]  # not 0, 0.9, 1.8, ...
    assert shares[9] == pytest.approx(10 / 55, abs=0.005)
    quiet = Drift("body", "L_INFTY", 0.02, 0.1)  # 55 distinct texts: a top-values picture means nothing
    assert not pictured(quiet, features["body"]) and pictured(Drift("body", "L_INFTY", 0.5, 0.1), features["body"])


def test_rejected_data_is_kept_beside_the_outputs_tfx_deletes() -> None:
    assert kept_dir("/root/pipelines/ticket/DataValidator/anomalies/25", "rejected") == (
        "/root/pipelines/ticket/DataValidator/rejected/25"
    )
    assert kept_dir("/root/pipelines/ticket/DataValidator/anomalies/25/", "validated") == (
        "/root/pipelines/ticket/DataValidator/validated/25"
    )


def _float_stats(tmp_path: Path, values: list[float]):  # noqa: ANN202
    """TFDV statistics of tf.Examples with one float feature ``priority`` (NaN stays NaN, unlike pandas)."""
    import tensorflow as tf

    path = str(tmp_path / "examples.tfrecord")
    with tf.io.TFRecordWriter(path) as writer:
        for value in values:
            feature = {"priority": tf.train.Feature(float_list=tf.train.FloatList(value=[value]))}
            writer.write(tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString())
    return tfdv.generate_statistics_from_tfrecord(path)


@pytest.mark.slow  # computes statistics with Beam
@pytest.mark.reliability
def test_nan_and_infinity_are_anomalies_with_a_count_unless_the_schema_allows_them(tmp_path: Path) -> None:
    schema = schema_pb2.Schema()
    schema.feature.add(name="priority", type=schema_pb2.FLOAT)  # no float domain: the guard adds one
    stats = _float_stats(tmp_path, [0.5] * 19 + [float("nan")])
    found = list_anomalies(tfdv.validate_statistics(stats, guard_floats(schema)), "train", stats)
    assert [a.short for a in found] == ["Invalid values"], found
    assert "Float feature has NaN values: 1 of 20 values (5.0%). A NaN is not a missing value" in found[0].detail
    assert list_anomalies(tfdv.validate_statistics(stats, schema), "train", stats) == []  # TFDV alone lets it pass
    schema.feature[0].annotation.tag.append("nan_allowed")
    assert list_anomalies(tfdv.validate_statistics(stats, guard_floats(schema)), "train", stats) == []
    infinite = _float_stats(tmp_path, [0.5] * 9 + [float("inf")])
    found = list_anomalies(tfdv.validate_statistics(infinite, guard_floats(schema)), "train", infinite)
    assert any("Inf values" in a.detail for a in found), found
    assert guard_floats(schema).feature[0].float_domain.disallow_inf and not schema.feature[0].float_domain.disallow_inf


def _penguin_statistics(root: Path, splits: dict[str, pd.DataFrame], span: int) -> object:
    """An ExampleStatistics artifact of penguin rows per split, computed with the schema as StatisticsGen does."""
    from tfx.types import artifact_utils, standard_artifacts

    schema = text_format.Parse(Path(tasks.get("penguin").schema_file).read_text(), schema_pb2.Schema())
    artifact = standard_artifacts.ExampleStatistics()
    artifact.uri = str(root)
    artifact.split_names = artifact_utils.encode_split_names(list(splits))
    artifact.span = span
    for split, frame in splits.items():
        stats = tfdv.generate_statistics_from_dataframe(frame, stats_options=tfdv.StatsOptions(schema=schema))
        (root / f"Split-{split}").mkdir(parents=True)
        (root / f"Split-{split}" / "FeatureStats.pb").write_bytes(stats.SerializeToString())
    return artifact


def _penguins(rows: int, species: list[int] | None = None, seed: int = 0) -> pd.DataFrame:
    import numpy as np

    rng = np.random.default_rng(seed)
    from pipelines.penguin import MEASUREMENTS

    frame = pd.DataFrame({name: rng.uniform(0.2, 0.8, rows) for name in MEASUREMENTS})
    frame["species"] = species if species is not None else [i % 3 for i in range(rows)]
    return frame


def _run_validator(tmp_path: Path, statistics: object, **exec_properties: object) -> tuple[object, Exception | None]:
    """The DataValidator's executor on ``statistics`` with the penguin schema; (anomalies artifact, error or None)."""
    from tfx.types import standard_artifacts

    from components.data_validator.executor import DataValidationError, Executor

    schema = standard_artifacts.Schema()
    schema.uri = str(tmp_path / "schema")
    (tmp_path / "schema").mkdir(parents=True)
    (tmp_path / "schema" / "schema.pbtxt").write_text(Path(tasks.get("penguin").schema_file).read_text())
    anomalies, validated = standard_artifacts.ExampleAnomalies(), standard_artifacts.ExampleStatistics()
    anomalies.uri = str(tmp_path / "DataValidator" / "anomalies" / "7")
    validated.uri = str(tmp_path / "DataValidator" / "validated_statistics" / "7")
    inputs = {"statistics": [statistics], "schema": [schema]}
    for key in ("baseline_statistics", "baseline_model"):
        if exec_properties.get(key) is not None:
            inputs[key] = [exec_properties.pop(key)]
    try:
        Executor().Do(inputs, {"anomalies": [anomalies], "validated_statistics": [validated]}, exec_properties)
    except DataValidationError as err:
        return anomalies, err
    return anomalies, None


@pytest.mark.reliability
def test_a_split_of_a_few_rows_is_stopped_in_one_line_even_under_allow_anomalies(tmp_path: Path) -> None:
    import json

    statistics = _penguin_statistics(tmp_path / "stats", {"train": _penguins(60), "eval": _penguins(3)}, span=4)
    _, error = _run_validator(tmp_path, statistics, allow_anomalies=1, min_rows=20, drift_split="train")
    assert error is not None
    lines = str(error).splitlines()
    assert lines[1] == (
        "  split eval, feature (data set): Too few rows. 3 rows, the minimum is 20 (validation.min_rows): a split "
        "this small measures no drift and trains or evaluates nothing. Deliver the whole span (a cut-off export?), "
        "or lower validation.min_rows"
    )
    assert len(lines) == 3 and "allow_anomalies does not let these through" in lines[2]
    # The verdict the next runs' summaries read: the span and its anomalies, beside the rejected report.
    verdict = json.loads((tmp_path / "DataValidator" / "rejected" / "7" / "verdict.json").read_text())
    assert verdict["span"] == 4 and "Too few rows" in verdict["anomalies"][0]
    # The same span with enough rows passes.
    statistics = _penguin_statistics(tmp_path / "ok", {"train": _penguins(60), "eval": _penguins(30)}, span=4)
    assert _run_validator(tmp_path / "ok-run", statistics, min_rows=20, drift_split="train")[1] is None


@pytest.mark.reliability
def test_a_new_label_class_is_refused_even_under_allow_anomalies_naming_where_classes_are_declared(
    tmp_path: Path,
) -> None:
    frames = {"train": _penguins(60, [i % 4 for i in range(60)]), "eval": _penguins(30)}  # species 3: a fourth class
    statistics = _penguin_statistics(tmp_path / "stats", frames, span=2)
    _, error = _run_validator(
        tmp_path, statistics, allow_anomalies=1, drift_split="train", schema_source="pipelines/penguin/schema.pbtxt"
    )
    assert error is not None
    text = str(error)
    assert "split train, feature species: Out-of-range values" in text
    assert "A new class of the label species" in text and "pipelines/penguin/schema.pbtxt" in text
    assert "allow_anomalies does not let these through" in text


def test_the_drift_baseline_is_named_with_the_rule_that_chose_it(tmp_path: Path) -> None:
    from tfx.types import standard_artifacts

    frames = {"train": _penguins(60), "eval": _penguins(30)}
    baseline = _penguin_statistics(tmp_path / "base", frames, span=5)
    new = _penguin_statistics(tmp_path / "new", {"train": _penguins(60, seed=1), "eval": _penguins(30, seed=1)}, 6)
    served = standard_artifacts.PushedModel()
    served.set_string_custom_property("pushed_version", "1796520375")
    cases = {
        "span 5 (the data of the serving model, version 1796520375)": {"baseline_model": served},
        "span 5 (pinned by validation.baseline_span)": {"baseline_span": 5},
        "span 5 (the newest earlier validated span: no served model's data to compare with)": {},
    }
    for i, (expected, extra) in enumerate(cases.items()):
        anomalies, error = _run_validator(
            tmp_path / str(i), new, baseline_statistics=baseline, drift_split="train", **extra
        )
        assert error is None, error
        assert anomalies.get_string_custom_property("baseline") == expected
        page = Path(anomalies.get_string_custom_property("report")).read_text()
        assert html.escape(f"drift vs {expected}") in page
    first, _ = _run_validator(tmp_path / "first", new, drift_split="train")
    assert first.get_string_custom_property("baseline") == "nothing (no earlier validated span to compare with)"
