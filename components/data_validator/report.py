"""Pictures of the data a user opens without a notebook or network.

* ``statistics-<split>.png``: one panel per feature of each split: a histogram for numbers, one bar per value for
  categorical features (strings, integers marked categorical and small integer ranges such as class labels), the
  pixel intensity histogram for images (TFDV sees only bytes), with the share of missing values.
* ``drift.png`` (when there is a baseline): the baseline span beside the new one for each compared feature where a
  picture means something (a drift above its threshold, few distinct values, numbers, pixels), titled with its
  score against its threshold (red when above). Both are drawn on the same bars: a numeric feature's two
  histograms re-binned onto common bin edges, a categorical feature's values the union of both (every value of
  an integer range or of the schema's domain, also at 0%).
* ``data_report.html``: one self-contained page (pictures embedded) naming the baseline, with the anomalies, the
  drift table (each measurement explained with its own numbers), and a per-feature summary of every split.
  Facets needs scripts from the internet; this page needs nothing.

Long because the data report is one HTML page: per-split statistics, the common bars both spans are drawn on,
pixel panels, drift panels and the sentences that explain each measured drift.
"""

from __future__ import annotations

import base64
import dataclasses
import html
import io
import os
from collections.abc import Sequence
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from tensorflow_metadata.proto.v0 import schema_pb2, statistics_pb2  # noqa: E402

MAX_PANELS = 24
TOP_VALUES = 8
MAX_INTEGER_BARS = 30  # an integer feature (or domain) with at most this range gets one bar per value
MAX_PICTURED_UNIQUES = 50  # a string drift panel is drawn for fewer distinct values (or when above threshold)
EPSILON = 1e-9  # a histogram edge this close to an integer is that integer
MEANINGS = {  # what each measure is; the report adds what the measured value says about the data
    "L_INFTY": "the largest change in the share of any one value",
    "JENSEN_SHANNON_DIVERGENCE": "how far the distributions moved (0: the same, 1: no overlap)",
    "PIXEL_HISTOGRAM_JSD": "how far the pixel intensity histogram moved (0: the same, 1: no overlap)",
    "TEXT_LENGTH_JSD": "how far the number of tokens per text moved (0: the same, 1: no overlap)",
    "UNKNOWN_SHARE": "the share of tokens or values that are new words, unseen in the baseline",
}
# Jensen-Shannon divergence (base 2) in words: the upper bound of each wording.
JSD_WORDS = (
    (0.1, "nearly the same distributions"),
    (0.25, "somewhat different distributions"),
    (0.5, "clearly different distributions"),
    (0.8, "very different distributions that overlap little"),
    (1.01, "distributions that hardly overlap at all"),
)


@dataclasses.dataclass(frozen=True)
class Bars:
    """What one panel draws: one bar per label, the new data's shares and the baseline's (None: no baseline).

    A numeric panel's bars are bins: ``edges`` holds one more value than ``labels``, the same edges for both.
    """

    kind: str
    labels: list[str]
    new: list[float]
    old: list[float] | None = None
    edges: list[float] | None = None


def _features(stats: statistics_pb2.DatasetFeatureStatisticsList) -> dict[str, Any]:
    if not stats.datasets:
        return {}
    return {".".join(f.path.step) or f.name: f for f in stats.datasets[0].features}


def _common(feature: Any) -> Any:
    kind = feature.WhichOneof("stats")
    return getattr(feature, kind).common_stats if kind else None


def _missing_share(feature: Any) -> float:
    common = _common(feature)
    if common is None:
        return 0.0
    total = common.num_non_missing + common.num_missing
    return common.num_missing / total if total else 0.0


def _kind(feature: Any) -> str:
    """``integer``, ``categorical`` (an integer with string statistics: marked categorical), ``string``, ..."""
    kind = feature.WhichOneof("stats") or ""
    if kind == "string_stats":
        return "categorical" if feature.type == statistics_pb2.FeatureNameStatistics.INT else "string"
    if kind == "num_stats":
        return "integer" if _small_integers(feature) else "numeric"
    return kind.replace("_stats", "") or "other"


def _small_integers(feature: Any) -> bool:
    n = feature.num_stats
    return feature.type == statistics_pb2.FeatureNameStatistics.INT and n.max - n.min <= MAX_INTEGER_BARS


def _buckets(feature: Any) -> list[tuple[float, float, float]]:
    """(low, high, count) of each bucket of a numeric feature's equal-width histogram (none for other features)."""
    if feature is None or feature.WhichOneof("stats") != "num_stats":
        return []
    histogram = next((h for h in feature.num_stats.histograms if h.type == h.STANDARD), None)
    return [(b.low_value, b.high_value, b.sample_count) for b in histogram.buckets] if histogram else []


def common_edges(*histograms: Sequence[tuple[float, float, float]]) -> np.ndarray:
    """Equal-width bin edges over the union of the histograms' ranges, as many bins as the finest of them."""
    ends = [end for buckets in histograms for low, high, _ in buckets for end in (low, high) if np.isfinite(end)]
    if not ends:
        return np.array([0.0, 1.0])
    low, high = min(ends), max(ends)
    if high <= low:  # one value in both
        return np.array([low - 0.5, low + 0.5])
    return np.linspace(low, high, max(len(b) for b in histograms) + 1)


def rebin(buckets: Sequence[tuple[float, float, float]], edges: np.ndarray) -> np.ndarray:
    """A histogram's counts on other bin edges, each bucket's count spread evenly over its width.

    A bucket of no width (a constant) or with an infinite end counts as one point (its finite end).
    """
    counts = np.zeros(len(edges) - 1)
    for low, high, count in buckets:
        if not np.isfinite(low) and not np.isfinite(high):
            continue
        low, high = (low if np.isfinite(low) else high), (high if np.isfinite(high) else low)
        if high > low:
            overlap = np.clip(np.minimum(edges[1:], high) - np.maximum(edges[:-1], low), 0.0, None)
            counts += count * overlap / (high - low)
        else:
            counts[int(np.clip(np.searchsorted(edges, low, side="right") - 1, 0, len(counts) - 1))] += count
    return counts


def _integer_shares(buckets: Sequence[tuple[float, float, float]]) -> dict[str, float]:
    """Value -> share of an integer feature, read from TFDV's equal-width histogram.

    TFDV's buckets are ``(low, high]`` (the first ``[low, high]``): the bucket ``(0.8, 1.0]`` holds the 1s, the
    next, ``(1.0, 1.2]``, none. A bucket holding no integer carries only the sketch's noise (left out); one that
    spans several integers shares its count evenly among them.
    """
    shares: dict[int, float] = {}
    for index, (low, high, count) in enumerate(buckets):
        first = int(np.ceil(low - EPSILON)) if index == 0 else int(np.floor(low + EPSILON)) + 1
        values = range(first, int(np.floor(high + EPSILON)) + 1)
        for value in values:
            shares[value] = shares.get(value, 0.0) + count / len(values)
    total = sum(shares.values()) or 1.0
    return {str(v): shares[v] / total for v in sorted(shares)}


def value_shares(feature: Any) -> dict[str, float] | None:
    """Value -> share of a categorical feature; None for other numbers, bytes or no feature.

    Categorical: string statistics (of strings, or of integers the schema marks ``is_categorical``: all values of
    the rank histogram, not only the top few) or an integer of a small range (its histogram's integers).
    """
    kind = feature.WhichOneof("stats") if feature is not None else None
    if kind == "string_stats":
        s = feature.string_stats
        listed = [(b.label, b.sample_count) for b in s.rank_histogram.buckets]
        listed = listed or [(v.value, v.frequency) for v in s.top_values]
        total = max(sum(c for _, c in listed), s.common_stats.tot_num_values) or 1.0
        return {value: count / total for value, count in listed}
    if kind == "num_stats" and _small_integers(feature) and _buckets(feature):
        return _integer_shares(_buckets(feature))
    return None


def _integers(values: Sequence[str]) -> list[int] | None:
    try:
        return [int(v) for v in values]
    except ValueError:
        return None


def _categorical_bars(kind: str, new: dict[str, float], old: dict[str, float] | None, domain: Sequence[str]) -> Bars:
    """One bar per value of either side (and of the domain): an integer range shows every integer of it."""
    seen = list(dict.fromkeys([*domain, *new, *(old or {})]))
    integers = _integers(seen) if kind in ("integer", "categorical") else None
    if integers and max(integers) - min(integers) <= MAX_INTEGER_BARS:
        keys = [str(v) for v in range(min(integers), max(integers) + 1)]
    else:

        def ranked(shares: dict[str, float]) -> list[str]:
            return sorted(shares, key=lambda v: -shares[v])[:TOP_VALUES]

        keys = list(dict.fromkeys([*domain, *ranked(old or {}), *ranked(new)]))
    return Bars(
        kind,
        [(k or '""')[:18] for k in keys],
        [new.get(k, 0.0) for k in keys],
        None if old is None else [old.get(k, 0.0) for k in keys],
    )


def compare(feature: Any, previous: Any = None, domain: Sequence[str] = ()) -> Bars:
    """The bars of a feature and, with ``previous`` (the baseline's statistics of it), the baseline's on the same bars.

    Numbers: both histograms re-binned onto common equal-width edges over the union of their ranges (each
    histogram's own bins differ from day to day, which would make a quiet day look like two distributions).
    Categorical features: the union of the values (``domain``: values to show even at 0%).
    """
    kind = _kind(feature)
    shares, old_shares = value_shares(feature), value_shares(previous)
    buckets, old_buckets = _buckets(feature), _buckets(previous)
    if shares is not None and (previous is None or old_shares is not None or not (buckets and old_buckets)):
        return _categorical_bars(kind, shares, old_shares, domain)
    if buckets:
        edges = common_edges(buckets, *([old_buckets] if old_buckets else []))
        counts = rebin(buckets, edges)
        old = rebin(old_buckets, edges) if old_buckets else None
        return Bars(
            "numeric",
            [f"{e:.3g}" for e in edges[:-1]],
            (counts / max(counts.sum(), 1e-12)).tolist(),
            None if old is None else (old / max(old.sum(), 1e-12)).tolist(),
            edges.tolist(),
        )
    if kind == "bytes":
        b = feature.bytes_stats
        o = previous.bytes_stats if previous is not None and previous.HasField("bytes_stats") else None
        old_sizes = [o.min_num_bytes, o.avg_num_bytes, o.max_num_bytes] if o is not None else None
        return Bars(kind, ["min", "mean", "max"], [b.min_num_bytes, b.avg_num_bytes, b.max_num_bytes], old_sizes)
    return Bars(kind, [], [])


def _distribution(feature: Any) -> tuple[str, list[str], list[float]]:
    """(kind, labels, shares) of a feature: histogram bins, one share per value, or byte sizes."""
    bars = compare(feature)
    return bars.kind, bars.labels, bars.new


def domains(schema: schema_pb2.Schema | None) -> dict[str, list[str]]:
    """Feature -> each value its schema domain declares (integers marked categorical, strings), to show at 0% too.

    Only domains of at most :data:`MAX_INTEGER_BARS` values: a panel of more bars reads as nothing.
    """
    if schema is None:
        return {}
    named = {d.name: list(d.value) for d in schema.string_domain}
    found = {}
    for feature in schema.feature:
        kind = feature.WhichOneof("domain_info")
        values: list[str] = []
        if kind == "int_domain" and feature.int_domain.is_categorical:
            d = feature.int_domain
            if d.HasField("min") and d.HasField("max") and d.max - d.min <= MAX_INTEGER_BARS:
                values = [str(v) for v in range(d.min, d.max + 1)]
        elif kind == "string_domain":
            values = list(feature.string_domain.value)
        elif kind == "domain":
            values = named.get(feature.domain, [])
        if 0 < len(values) <= MAX_INTEGER_BARS:
            found[feature.name] = values
    return found


def baseline_label(baseline: str) -> str:
    """The legend's name for the baseline: ``baseline: span 5`` of ``drift vs span 5 (the data of ...)``."""
    short = baseline.removeprefix("drift vs ").split(" (")[0].strip()
    return f"baseline: {short}" if short else "previous"


def _pixel_panel(
    ax: Any,
    name: str,
    entry: dict[str, Any],
    old: dict[str, Any] | None,
    title: str | None,
    old_label: str = "previous",
) -> None:
    """The pixel intensity histogram of an image feature (and the baseline's, for drift)."""
    bins = len(entry["histogram"])
    x = np.arange(bins)
    width = 0.4 if old else 0.8
    if old:
        ax.bar(x - 0.2, old["histogram"], width, label=old_label, color="tab:gray")
    ax.bar(x + (0.2 if old else 0), entry["histogram"], width, label="new", color="tab:blue")
    ax.set_xticks(x[:: max(1, bins // 4)], [f"{int(i * 256 / bins)}" for i in x[:: max(1, bins // 4)]], fontsize=6)
    ax.set_xlabel("pixel intensity", fontsize=7)
    if old:
        ax.legend(fontsize=6)
    ax.set_title(
        title
        or f"{name} (image: {entry['images']} sampled, mean {entry['mean']:.3f}, std {entry['std']:.3f}, "
        f"{entry['blank']} blank)",
        fontsize=8,
    )
    ax.tick_params(axis="y", labelsize=6)


def _panel(
    ax: Any,
    name: str,
    feature: Any,
    previous: Any = None,
    title: str | None = None,
    old_label: str = "previous",
    domain: Sequence[str] = (),
) -> Bars:
    """Draw a feature (beside its baseline ``previous``) on ``ax``; returns the bars drawn."""
    bars = compare(feature, previous, domain)
    if not bars.labels:
        ax.text(0.5, 0.5, "no distribution", ha="center", va="center")
        ax.set_axis_off()
    elif bars.edges is not None:  # bins on the numbers' own axis, the same for both
        edges = np.asarray(bars.edges)
        left, width = edges[:-1], np.diff(edges)
        if bars.old is not None:
            ax.bar(left, bars.old, width / 2, align="edge", label=old_label, color="tab:gray")
            ax.bar(left + width / 2, bars.new, width / 2, align="edge", label="new", color="tab:blue")
        else:
            ax.bar(left, bars.new, width, align="edge", color="tab:blue", edgecolor="white", linewidth=0.5)
        ax.tick_params(axis="x", labelsize=6)
    else:
        x = np.arange(len(bars.labels))
        if bars.old is not None:
            ax.bar(x - 0.2, bars.old, 0.4, label=old_label, color="tab:gray")
            ax.bar(x + 0.2, bars.new, 0.4, label="new", color="tab:blue")
        else:
            ax.bar(x, bars.new, color="tab:blue")
        turned = max(len(label) for label in bars.labels) > 3  # words turned, numbers upright
        ax.set_xticks(x, bars.labels, rotation=60 if turned else 0, ha="right" if turned else "center", fontsize=6)
        if bars.kind == "bytes":
            ax.set_ylabel("bytes", fontsize=7)
    if bars.old is not None and bars.labels:
        ax.legend(fontsize=6)
    ax.set_title(title or f"{name} ({bars.kind}, {100 * _missing_share(feature):.0f}% missing)", fontsize=8)
    ax.tick_params(axis="y", labelsize=6)
    return bars


def _figure_png(fig: Any, path: str) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
    plt.close(fig)
    data = buffer.getvalue()
    with tf.io.gfile.GFile(path, "wb") as f:
        f.write(data)
    return data


def plot_statistics(
    stats: statistics_pb2.DatasetFeatureStatisticsList,
    path: str,
    title: str,
    profiles: dict[str, dict[str, Any]] | None = None,
    schema: schema_pb2.Schema | None = None,
) -> bytes:
    """One panel per feature (up to 24), images by their pixels (``profiles``); returns the PNG bytes.

    With the ``schema``, a categorical feature shows every value of its domain, also those at 0%.
    """
    features = dict(list(_features(stats).items())[:MAX_PANELS])
    images = {n: e for n, e in (profiles or {}).items() if e.get("kind") == "image"}
    declared = domains(schema)
    cols = min(4, max(1, len(features)))
    rows = max(1, int(np.ceil(len(features) / cols)))
    fig, axes = plt.subplots(rows, cols, figsize=(3.6 * cols, 2.6 * rows), squeeze=False)
    for ax, (name, feature) in zip(axes.flat, features.items(), strict=False):
        if name in images:
            _pixel_panel(ax, name, images[name], None, None)
        else:
            _panel(ax, name, feature, domain=declared.get(name, ()))
    for ax in list(axes.flat)[len(features) :]:
        ax.set_axis_off()
    fig.suptitle(f"Feature statistics: {title}", fontsize=10)
    fig.tight_layout()
    return _figure_png(fig, path)


def pictured(measurement: Any, feature: Any) -> bool:
    """Whether a drift panel means something: above threshold, pixels, numbers, or few distinct strings."""
    if measurement.exceeded or measurement.measure == "PIXEL_HISTOGRAM_JSD":
        return True
    if measurement.measure == "UNKNOWN_SHARE" or feature is None:
        return False
    kind = feature.WhichOneof("stats")
    return kind == "num_stats" or (kind == "string_stats" and feature.string_stats.unique <= MAX_PICTURED_UNIQUES)


def plot_drift(
    stats: statistics_pb2.DatasetFeatureStatisticsList,
    previous: statistics_pb2.DatasetFeatureStatisticsList,
    drift: Sequence[Any],
    path: str,
    profiles: dict[str, dict[str, Any]] | None = None,
    old_profiles: dict[str, dict[str, Any]] | None = None,
    baseline: str = "",
    schema: schema_pb2.Schema | None = None,
) -> bytes:
    """The baseline span beside the new one on the same bars for every compared feature, titled with its score.

    ``baseline`` names the baseline (the legend and the figure's title), ``schema`` gives the domains to show.
    """
    new, old = _features(stats), _features(previous)
    profiles, old_profiles = profiles or {}, old_profiles or {}
    declared, label = domains(schema), baseline_label(baseline)
    cols = min(3, max(1, len(drift)))
    rows = max(1, int(np.ceil(len(drift) / cols)))
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.0 * rows), squeeze=False)
    for ax, measurement in zip(axes.flat, drift, strict=False):
        name = measurement.feature
        title = (
            f"{name}: {measurement.measure.lower()} {measurement.value:.3f} "
            f"(threshold {measurement.threshold:.3f}){' ABOVE' if measurement.exceeded else ''}"
        )
        if measurement.measure == "PIXEL_HISTOGRAM_JSD" and name in profiles:
            _pixel_panel(ax, name, profiles[name], old_profiles.get(name), title, label)
        elif name in new:
            _panel(ax, name, new[name], old.get(name), title, label, declared.get(name, ()))
        ax.title.set_color("tab:red" if measurement.exceeded else "black")
    for ax in list(axes.flat)[len(drift) :]:
        ax.set_axis_off()
    what = baseline[:1].upper() + baseline[1:] if baseline else "Drift: the previous validated span"
    fig.suptitle(f"{what} (gray) beside the new data (blue)", fontsize=10)
    fig.tight_layout()
    return _figure_png(fig, path)


def _share(x: float) -> str:
    return f"{x:.0%}" if x >= 0.1 or x == 0 else f"{x:.1%}"


def _points(x: float) -> str:
    return f"{100 * x:+.0f} points" if abs(x) >= 0.1 else f"{100 * x:+.1f} points"


def _jsd_words(value: float) -> str:
    return next((words for bound, words in JSD_WORDS if value < bound), JSD_WORDS[-1][1])


def _largest_move(new: Any, old: Any) -> tuple[str, float, float] | None:
    """(value, baseline share, new share) of the value whose share moved most, over all values of both."""
    shares, old_shares = value_shares(new), value_shares(old)
    if not shares and not old_shares:
        return None
    shares, old_shares = shares or {}, old_shares or {}
    value = max(dict.fromkeys([*old_shares, *shares]), key=lambda v: abs(shares.get(v, 0) - old_shares.get(v, 0)))
    return value, old_shares.get(value, 0.0), shares.get(value, 0.0)


def _distance_words(new: Any, old: Any) -> str:
    """How much of the data lies elsewhere than in the baseline, on the chart's bars, and where it moved most."""
    bars = compare(new, old)
    if bars.old is None or not bars.labels:
        return ""
    difference = np.asarray(bars.new) - np.asarray(bars.old)
    most = int(np.argmax(np.abs(difference)))
    if bars.edges is not None:
        where = f"the bin {bars.edges[most]:.3g} to {bars.edges[most + 1]:.3g}"
        unit = "bins"
    else:
        where, unit = f"the value {bars.labels[most]}", "values"
    return (
        f"; {_share(float(np.abs(difference).sum() / 2))} of the data lies in other {unit} than in the baseline, "
        f"most change at {where}: {_share(bars.old[most])} -> {_share(bars.new[most])}"
    )


def meaning(
    measurement: Any,
    new: Any = None,
    old: Any = None,
    profile: dict[str, Any] | None = None,
    old_profile: dict[str, Any] | None = None,
) -> str:
    """What a drift measurement says about this data, in words with the measured numbers.

    Args:
        measurement: the drift measured (``feature``, ``measure``, ``value``, ``threshold``).
        new: the feature's statistics in the new data (a ``FeatureNameStatistics``), or None.
        old: the same in the baseline, or None.
        profile: the feature's content profile in the new data (images, texts), or None.
        old_profile: the same in the baseline.
    """
    measure, value = measurement.measure, measurement.value
    what = MEANINGS.get(measure, measure.lower())
    if measure == "L_INFTY":
        moved = _largest_move(new, old) if new is not None and old is not None else None
        if moved is None:
            return f"{what}: {value:.3f}, one value's share moved {100 * value:.0f} points"
        name, before, after = moved
        return (
            f"{what}: {value:.3f}, the value whose share moved most: {name or '(the empty string)'} "
            f"{_share(before)} -> {_share(after)} ({_points(after - before)})"
        )
    if measure in ("JENSEN_SHANNON_DIVERGENCE", "PIXEL_HISTOGRAM_JSD", "TEXT_LENGTH_JSD"):
        text = f"{what}: {value:.3f}, {_jsd_words(value)}"
        if measure == "JENSEN_SHANNON_DIVERGENCE" and new is not None and old is not None:
            text += _distance_words(new, old)
        elif measure == "PIXEL_HISTOGRAM_JSD" and profile and old_profile and "mean" in profile:
            text += f"; pixel mean {old_profile.get('mean', 0):.3f} -> {profile['mean']:.3f}"
        elif measure == "TEXT_LENGTH_JSD" and profile and old_profile and "length_mean" in profile:
            text += f"; {old_profile.get('length_mean', 0):.1f} -> {profile['length_mean']:.1f} tokens per text"
        return text
    if measure == "UNKNOWN_SHARE":
        return f"{what}: {value:.1%} of them (at most {measurement.threshold:.1%})"
    return f"{what}: {value:.3f}"


def _feature_rows(stats: statistics_pb2.DatasetFeatureStatisticsList, profiles: dict[str, Any]) -> str:
    rows = []
    for name, feature in _features(stats).items():
        kind = feature.WhichOneof("stats") or ""
        detail = ""
        if kind == "num_stats":
            n = feature.num_stats
            detail = f"mean {n.mean:.4g}, min {n.min:.4g}, max {n.max:.4g}"
        elif kind == "string_stats":
            s = feature.string_stats
            top = ", ".join(f"{v.value or '(empty)'} ({v.frequency:.0f})" for v in list(s.top_values)[:3])
            detail = f"{s.unique} unique; top: {top}"
        elif kind == "bytes_stats":
            b = feature.bytes_stats
            detail = f"{b.unique} unique, {b.avg_num_bytes:.0f} bytes on average"
        entry = profiles.get(name, {})
        if entry.get("kind") == "image":
            detail += (
                f"; {entry['images']} images sampled: pixel mean {entry['mean']:.3f}, std {entry['std']:.3f}, "
                f"{entry['blank']} blank"
            )
        elif entry.get("kind") in ("text", "categorical"):
            detail += (
                f"; {len(entry['vocabulary'])} distinct {'words' if entry['kind'] == 'text' else 'values'} sampled"
            )
        common = _common(feature)
        count = common.num_non_missing if common is not None else 0
        shown = "categorical int" if _kind(feature) == "categorical" else kind.replace("_stats", "")
        rows.append(
            f"<tr><td>{html.escape(name)}</td><td>{shown}</td><td>{count}</td>"
            f"<td>{100 * _missing_share(feature):.1f}%</td><td>{html.escape(detail)}</td></tr>"
        )
    return "\n".join(rows)


def _baseline_line(baseline: str, previous: Any, drift_split: str) -> str:
    """The page's first line: what the new data was compared with, or that nothing was."""
    said = html.escape(baseline[:1].upper() + baseline[1:])
    if previous is None:
        why = said or f"The first validated span, or a baseline without split {html.escape(drift_split)}."
        return f'<p class="baseline"><b>No baseline: nothing was compared.</b> {why}</p>'
    return f'<p class="baseline"><b>{said or "Drift vs the previous validated span"}</b> (gray in the pictures)</p>'


def write_data_report(
    report_dir: str,
    split_stats: dict[str, statistics_pb2.DatasetFeatureStatisticsList],
    drift_split: str,
    previous: statistics_pb2.DatasetFeatureStatisticsList | None,
    drift: Sequence[Any],
    anomalies: Sequence[Any],
    title: str,
    profiles: dict[str, dict[str, Any]] | None = None,
    old_profiles: dict[str, dict[str, Any]] | None = None,
    baseline: str = "",
    schema: schema_pb2.Schema | None = None,
) -> str:
    """Write the pictures and ``data_report.html`` into ``report_dir``; returns the page's path.

    Args:
        report_dir: where the files go.
        split_stats: each split's statistics.
        drift_split: the split compared with ``previous`` (the baseline span's).
        previous: the baseline span's statistics of ``drift_split`` (None: nothing to compare with).
        drift: the drift measurements of ``drift_split``.
        anomalies: every anomaly found.
        title: the page's title.
        profiles: split -> feature -> content profile (images, texts).
        old_profiles: the baseline span's profiles.
        baseline: what the drift was measured against, e.g. ``drift vs span 5 (the data of the serving model,
            version 1795479126)``: the page's first line and the baseline's name in the pictures.
        schema: the curated schema: categorical panels show every value of a feature's domain, also at 0%.
    """
    tf.io.gfile.makedirs(report_dir)
    profiles = profiles or {}
    images = [
        plot_statistics(
            stats,
            os.path.join(report_dir, f"statistics-{split}.png"),
            f"{title}, split {split}",
            profiles.get(split),
            schema,
        )
        for split, stats in split_stats.items()
    ]
    new = _features(split_stats[drift_split]) if drift_split in split_stats else {}
    old = _features(previous) if previous is not None else {}
    shown = [d for d in drift if pictured(d, new.get(d.feature))]
    if previous is not None and drift_split in split_stats and shown:
        picture = plot_drift(
            split_stats[drift_split],
            previous,
            shown,
            os.path.join(report_dir, "drift.png"),
            profiles.get(drift_split),
            (old_profiles or {}).get(drift_split),
            baseline,
            schema,
        )
        images.insert(0, picture)
    anomaly_items = "".join(f"<li>{html.escape(str(a))}</li>" for a in anomalies) or "<li>none</li>"
    new_profiles, old_by = profiles.get(drift_split, {}), (old_profiles or {}).get(drift_split, {})
    rows = []
    for d in drift:
        why = meaning(d, new.get(d.feature), old.get(d.feature), new_profiles.get(d.feature), old_by.get(d.feature))
        rows.append(
            f"<tr><td>{html.escape(d.feature)}</td><td>{d.measure}</td><td>{d.value:.4f}</td><td>{d.threshold:.4f}"
            f"</td><td>{'above' if d.exceeded else 'below'}</td><td>{html.escape(why)}</td></tr>"
        )
    pictures = "".join(
        f'<p><img alt="data" src="data:image/png;base64,{base64.b64encode(png).decode()}"></p>' for png in images
    )
    features = "".join(
        f"<h3>Split {html.escape(split)}</h3><table><tr><th>feature</th><th>type</th><th>present</th>"
        f"<th>missing</th><th>summary</th></tr>\n{_feature_rows(stats, profiles.get(split, {}))}</table>"
        for split, stats in split_stats.items()
    )
    if drift:
        drift_section = (
            "<table><tr><th>feature</th><th>measure</th><th>value</th><th>threshold</th><th></th>"
            f"<th>what it means</th></tr>{''.join(rows)}</table>"
        )
    elif previous is None:
        drift_section = "<p>No baseline span: nothing was compared.</p>"
    else:
        drift_section = "<p>No drift comparator in the schema: nothing was compared.</p>"
    heading = baseline or ("against the previous validated span" if previous is not None else "nothing compared")
    page = f"""<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>Data report: {html.escape(title)}</title>
<style>body{{font-family:sans-serif;margin:2em}}table{{border-collapse:collapse}}
td,th{{border:1px solid #ccc;padding:3px 8px;font-size:13px}}img{{max-width:100%}}
.baseline{{font-size:16px;padding:6px 10px;background:#eef3fb;border-left:4px solid #4a78c2}}</style></head>
<body><h1>Data report: {html.escape(title)}</h1>
{_baseline_line(baseline, previous, drift_split)}
<h2>Anomalies</h2><ul>{anomaly_items}</ul>
<h2>Drift of split {html.escape(drift_split)}: {html.escape(heading)}</h2>
{drift_section}
<h2>Pictures</h2>{pictures}
<h2>Features</h2>{features}</body></html>
"""
    path = os.path.join(report_dir, "data_report.html")
    with tf.io.gfile.GFile(path, "w") as f:
        f.write(page)
    return path
