"""The DataValidator's data report on real TFDV statistics: what its charts draw and what its sentences say.

Statistics are computed in memory from small pandas frames (``tfdv.generate_statistics_from_dataframe``); the
charts are read back from the matplotlib figures the report draws (bar heights, bin edges, legends), the page
from the HTML it writes.
"""

from __future__ import annotations

import html
import re
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
import tensorflow_data_validation as tfdv
from tensorflow_metadata.proto.v0 import schema_pb2

from components.data_validator import report
from components.data_validator.anomalies import Drift, list_drift

BASELINE = "drift vs span 5 (the data of the serving model, version 1795479126)"
DEPARTMENTS = ["billing", "technical", "account", "shipping"]


def _schema() -> schema_pb2.Schema:
    """species: an INT label marked categorical (0, 1, 2); department: strings (L-infinity); weight: JSD."""
    schema = schema_pb2.Schema()
    species = schema.feature.add(name="species", type=schema_pb2.INT)
    species.int_domain.min, species.int_domain.max, species.int_domain.is_categorical = 0, 2, True
    species.drift_comparator.infinity_norm.threshold = 0.25
    department = schema.feature.add(name="department", type=schema_pb2.BYTES)
    department.drift_comparator.infinity_norm.threshold = 0.1
    weight = schema.feature.add(name="weight", type=schema_pb2.FLOAT)
    weight.drift_comparator.jensen_shannon_divergence.threshold = 0.1
    return schema


def _stats(frame: pd.DataFrame, schema: schema_pb2.Schema | None = None) -> Any:
    options = tfdv.StatsOptions(schema=schema) if schema is not None else tfdv.StatsOptions()
    return tfdv.generate_statistics_from_dataframe(frame, stats_options=options)


def _frame(species: list[int], departments: list[str], weights: np.ndarray) -> pd.DataFrame:
    return pd.DataFrame({"species": species, "department": departments, "weight": weights})


def _feature(stats: Any, name: str) -> Any:
    return report._features(stats)[name]


def _drawn(ax: Any) -> dict[str, Any]:
    """What an axis shows: bars per legend label (x, width, height), tick labels, legend texts, title."""
    legend = ax.get_legend()
    return {
        "bars": {c.get_label(): [(r.get_x(), r.get_width(), r.get_height()) for r in c.patches] for c in ax.containers},
        "ticks": [t.get_text() for t in ax.get_xticklabels()],
        "legend": [t.get_text() for t in legend.get_texts()] if legend else [],
        "title": ax.get_title(),
    }


def _panel(feature: Any, previous: Any = None, **kwargs: Any) -> tuple[report.Bars, dict[str, Any]]:
    fig, ax = plt.subplots()
    bars = report._panel(ax, "feature", feature, previous, **kwargs)
    drawn = _drawn(ax)
    plt.close(fig)
    return bars, drawn


@pytest.fixture()
def figures(monkeypatch: pytest.MonkeyPatch) -> dict[str, dict[str, Any]]:
    """Picture file name -> {suptitle, axes: [what each axis shows]} of every figure the report writes."""
    seen: dict[str, dict[str, Any]] = {}
    original = report._figure_png

    def keep(fig: Any, path: str) -> bytes:
        title = fig._suptitle.get_text() if fig._suptitle is not None else ""
        seen[Path(path).name] = {"suptitle": title, "axes": [_drawn(ax) for ax in fig.axes if ax.axison]}
        return original(fig, path)

    monkeypatch.setattr(report, "_figure_png", keep)
    return seen


# 1. Numbers: both spans on the same bins.


def test_two_samples_of_one_distribution_draw_nearly_the_same_bars_on_identical_bins() -> None:
    rng = np.random.default_rng(0)
    old = _feature(_stats(pd.DataFrame({"weight": rng.normal(50, 10, 4000)})), "weight")
    new = _feature(_stats(pd.DataFrame({"weight": rng.normal(50, 10, 4000)})), "weight")
    own_old, own_new = report._buckets(old), report._buckets(new)
    assert own_old[0][0] != own_new[0][0] and own_old[-1][1] != own_new[-1][1]  # each day has its own bins

    bars, drawn = _panel(new, old, old_label="baseline: span 5")
    edges = np.asarray(bars.edges)
    assert edges[0] == min(own_old[0][0], own_new[0][0]) and edges[-1] == max(own_old[-1][1], own_new[-1][1])
    previous, latest = drawn["bars"]["baseline: span 5"], drawn["bars"]["new"]
    assert len(previous) == len(latest) == len(edges) - 1
    # Each bin holds the baseline's bar in its left half and the new one in its right half: the same edges.
    np.testing.assert_allclose([x for x, _, _ in previous], edges[:-1])
    np.testing.assert_allclose([x + w for x, w, _ in previous], [x for x, _, _ in latest])
    np.testing.assert_allclose([x + w for x, w, _ in latest], edges[1:])
    heights_old, heights_new = np.array([h for *_, h in previous]), np.array([h for *_, h in latest])
    assert heights_old.sum() == pytest.approx(1) and heights_new.sum() == pytest.approx(1)
    assert np.abs(heights_old - heights_new).max() < 0.03, (heights_old, heights_new)

    shifted = _feature(_stats(pd.DataFrame({"weight": rng.normal(70, 10, 4000)})), "weight")
    moved = report.compare(shifted, old)
    assert np.abs(np.array(moved.new) - np.array(moved.old)).sum() / 2 > 0.5  # a real shift still shows


def test_rebinning_keeps_the_counts_and_is_exact_on_the_same_edges() -> None:
    buckets = [(0.0, 1.0, 10.0), (1.0, 2.0, 30.0), (2.0, 3.0, 0.0), (3.0, 4.0, 20.0)]
    same = report.rebin(buckets, np.array([0.0, 1.0, 2.0, 3.0, 4.0]))
    np.testing.assert_allclose(same, [10, 30, 0, 20])
    wider = report.rebin(buckets, report.common_edges(buckets, [(2.0, 8.0, 5.0)]))  # union range 0..8, 4 bins
    np.testing.assert_allclose(wider, [40, 20, 0, 0])
    np.testing.assert_allclose(report.rebin([(5.0, 5.0, 7.0)], np.array([0.0, 4.0, 8.0])), [0, 7])  # a constant


# 2. What each drift measurement means, from the measured numbers.


@pytest.fixture(scope="module")
def baseline_stats() -> Any:
    rng = np.random.default_rng(1)
    species = [0] * 200 + [1] * 80 + [2] * 120
    return _stats(_frame(species, DEPARTMENTS * 100, rng.normal(50, 10, 400)), _schema())


def _measured(new: Any, previous: Any) -> dict[str, Drift]:
    result = tfdv.validate_statistics(new, _schema(), previous_statistics=previous)
    return {d.feature: d for d in list_drift(result)}


def test_each_drift_sentence_carries_its_own_measured_numbers(baseline_stats: Any) -> None:
    rng = np.random.default_rng(2)
    # shipping 25% -> 52%, the others 16% each; then billing 25% -> 70%, the others 10% each.
    shipping = ["shipping"] * 208 + ["billing", "technical", "account"] * 64
    billing = ["billing"] * 280 + ["technical", "account", "shipping"] * 40
    species = [0, 1, 2, 0] * 100
    days = {
        "shipping": _stats(_frame(species, shipping, rng.normal(52, 10, 400)), _schema()),
        "billing": _stats(_frame(species, billing, rng.normal(75, 10, 400)), _schema()),
    }
    sentences = {}
    for day, stats in days.items():
        drift = _measured(stats, baseline_stats)
        for name in ("department", "weight"):
            measured = drift[name]
            sentences[day, name] = text = report.meaning(
                measured, _feature(stats, name), _feature(baseline_stats, name)
            )
            assert f"{measured.value:.3f}" in text, text
        assert drift["department"].measure == "L_INFTY" and drift["weight"].measure == "JENSEN_SHANNON_DIVERGENCE"
        points = re.search(r"\(\+(\d+) points\)", sentences[day, "department"])
        assert points and int(points.group(1)) == round(100 * drift["department"].value), sentences[day, "department"]
    assert "shipping 25% -> 52% (+27 points)" in sentences["shipping", "department"]
    assert "billing 25% -> 70% (+45 points)" in sentences["billing", "department"]
    assert "0.53" not in sentences["shipping", "department"] + sentences["billing", "department"]
    assert sentences["shipping", "weight"] != sentences["billing", "weight"]
    # The share of the data in other bins than in the baseline grows with the shift (2 sd against 0.2 sd).
    elsewhere = {day: int(re.search(r"; (\d+)% of the data", sentences[day, "weight"]).group(1)) for day in days}
    assert elsewhere["billing"] > 50 > elsewhere["shipping"] and "clearly" not in sentences["shipping", "weight"]


def test_the_report_table_explains_each_row_with_its_numbers(baseline_stats: Any, tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    shipping = ["shipping"] * 208 + ["billing", "technical", "account"] * 64
    new = _stats(_frame([0] * 400, shipping, rng.normal(50, 10, 400)), _schema())
    drift = list(_measured(new, baseline_stats).values())
    page = Path(
        report.write_data_report(
            str(tmp_path), {"train": new}, "train", baseline_stats, drift, [], "span 6", baseline=BASELINE
        )
    ).read_text()
    cells = {
        re.search(r"<td>([^<]+)</td>", row).group(1): html.unescape(re.findall(r"<td>([^<]*)</td>", row)[-1])
        for row in re.findall(r"<tr><td>.*?</tr>", page.split("<h2>Pictures")[0])
    }
    by_feature = {d.feature: d for d in drift}
    assert set(cells) == set(by_feature)
    for name, text in cells.items():
        assert f"{by_feature[name].value:.3f}" in text, text
    assert "shipping 25% -> 52%" in cells["department"]
    assert "0 50% -> 100% (+50 points)" in cells["species"]  # a day of Adelie penguins only


# 3. The baseline is named.


def test_the_baseline_is_named_at_the_top_and_in_the_legend(
    baseline_stats: Any, tmp_path: Path, figures: dict[str, Any]
) -> None:
    rng = np.random.default_rng(4)
    new = _stats(_frame([0, 1, 2, 2] * 100, DEPARTMENTS * 100, rng.normal(50, 10, 400)), _schema())
    drift = list(_measured(new, baseline_stats).values())
    # Positional as the executor calls it, the baseline by keyword.
    path = report.write_data_report(
        str(tmp_path), {"train": new}, "train", baseline_stats, drift, [], "span 6", baseline=BASELINE
    )
    page = Path(path).read_text()
    top = page.index(html.escape("Drift vs span 5 (the data of the serving model, version 1795479126)"))
    assert top < page.index("<h2>Anomalies")
    panels = figures["drift.png"]["axes"]
    assert panels and all(panel["legend"] == ["baseline: span 5", "new"] for panel in panels), panels
    assert all(set(panel["bars"]) == {"baseline: span 5", "new"} for panel in panels)
    assert figures["drift.png"]["suptitle"].startswith("Drift vs span 5 (the data of the serving model")


def test_a_first_run_says_that_nothing_was_compared(tmp_path: Path, baseline_stats: Any) -> None:
    first = "drift vs nothing (no earlier validated span to compare with)"
    page = Path(
        report.write_data_report(
            str(tmp_path), {"train": baseline_stats}, "train", None, [], [], "span 1", baseline=first
        )
    )
    text = page.read_text()
    assert text.index("No baseline: nothing was compared.") < text.index("<h2>Anomalies")
    assert html.escape("Drift vs nothing (no earlier validated span to compare with)") in text
    assert not (tmp_path / "drift.png").exists()
    unnamed = Path(
        report.write_data_report(str(tmp_path / "plain"), {"train": baseline_stats}, "train", None, [], [], "x")
    )
    assert "No baseline: nothing was compared." in unnamed.read_text()


# 4. Categorical labels: an INT label marked categorical.


@pytest.mark.parametrize("baseline_has_schema", [True, False], ids=["categorical-baseline", "numeric-baseline"])
def test_a_day_of_one_species_shows_the_baseline_shares_of_every_species(baseline_has_schema: bool) -> None:
    rng = np.random.default_rng(5)
    # The baseline: 50% Adelie, 20% Chinstrap, 30% Gentoo; a span computed before StatisticsGen was given the
    # schema has numeric statistics of species (TFDV's histogram puts the 1s into the bucket (0.8, 1.0]).
    baseline = _stats(
        _frame([0] * 200 + [1] * 80 + [2] * 120, DEPARTMENTS * 100, rng.normal(50, 10, 400)),
        _schema() if baseline_has_schema else None,
    )
    new = _stats(_frame([0] * 300, DEPARTMENTS * 75, rng.normal(50, 10, 300)), _schema())
    old_species, new_species = _feature(baseline, "species"), _feature(new, "species")
    assert new_species.WhichOneof("stats") == "string_stats"  # categorical statistics of an INT feature
    expected = "string_stats" if baseline_has_schema else "num_stats"
    assert old_species.WhichOneof("stats") == expected

    bars, drawn = _panel(new_species, old_species, old_label="baseline: span 5", domain=["0", "1", "2"])
    assert bars.kind == "categorical" and bars.edges is None
    assert drawn["ticks"] == ["0", "1", "2"]
    np.testing.assert_allclose([h for *_, h in drawn["bars"]["baseline: span 5"]], [0.5, 0.2, 0.3], atol=0.005)
    np.testing.assert_allclose([h for *_, h in drawn["bars"]["new"]], [1.0, 0.0, 0.0], atol=1e-9)
    # Without the schema's domain too: 0, 1 and 2 are read from both statistics.
    assert _panel(new_species, old_species)[1]["ticks"] == ["0", "1", "2"]


def test_every_value_of_the_domain_is_drawn_also_at_zero(tmp_path: Path, figures: dict[str, Any]) -> None:
    schema = _schema()
    only_gentoo = _stats(_frame([2] * 48, DEPARTMENTS * 12, np.linspace(40, 60, 48)), schema)
    report.write_data_report(str(tmp_path), {"train": only_gentoo}, "train", None, [], [], "span 7", schema=schema)
    (panel,) = [a for a in figures["statistics-train.png"]["axes"] if a["title"].startswith("species")]
    assert panel["title"].startswith("species (categorical")
    assert panel["ticks"] == ["0", "1", "2"]
    (heights,) = panel["bars"].values()  # one span, one set of bars
    np.testing.assert_allclose([h for *_, h in heights], [0.0, 0.0, 1.0])
    assert report.domains(schema) == {"species": ["0", "1", "2"]}


def test_a_string_value_beyond_the_top_values_is_read_with_its_real_share() -> None:
    common = [f"v{i}" for i in range(9) for _ in range(10 - i)] * 10  # v0 100 times, ..., v8 20 times
    old = _stats(pd.DataFrame({"department": common + ["v9"] * 10}))  # v9 is the rarest: 10 of 550
    new = _stats(pd.DataFrame({"department": common + ["v9"] * 360}))  # v9: 40%
    bars = report.compare(_feature(new, "department"), _feature(old, "department"))
    shares = dict(zip(bars.labels, bars.old, strict=True))
    assert shares["v9"] == pytest.approx(10 / 550), shares  # not 0: it is outside the baseline's top 8
    assert dict(zip(bars.labels, bars.new, strict=True))["v9"] == pytest.approx(0.4)
    schema = schema_pb2.Schema()
    schema.feature.add(name="department", type=schema_pb2.BYTES).drift_comparator.infinity_norm.threshold = 0.1
    (measured,) = list_drift(tfdv.validate_statistics(new, schema, previous_statistics=old))
    text = report.meaning(measured, _feature(new, "department"), _feature(old, "department"))
    assert f"{measured.value:.3f}, the value whose share moved most: v9 1.8% -> 40% (+38 points)" in text, text


def test_integer_histograms_are_read_at_their_upper_edges() -> None:
    stats = _stats(pd.DataFrame({"label": [0] * 50 + [1] * 20 + [2] * 30}))  # numeric statistics: no schema
    kind, labels, shares = report._distribution(_feature(stats, "label"))
    assert kind == "integer" and labels == ["0", "1", "2"]
    np.testing.assert_allclose(shares, [0.5, 0.2, 0.3], atol=0.005)
