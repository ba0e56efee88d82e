"""Pictures of the data a user opens without a notebook or network.

* ``statistics-<split>.png``: one panel per feature of each split: a histogram for numbers (integer
  bars for small integer ranges such as class labels), the most frequent values for strings, the
  pixel intensity histogram for images (TFDV sees only bytes), with the share of missing values.
* ``drift.png`` (when there is a previous span): the previous span beside the new one for each
  compared feature where a picture means something (a drift above its threshold, few distinct
  values, numbers, pixels), titled with its score against its threshold (red when above).
* ``data_report.html``: one self-contained page (pictures embedded) with the anomalies, the drift
  table (each measure explained), and a per-feature summary of every split. Facets needs scripts
  from the internet; this page needs nothing.

Long because the data report is one HTML page: per-split statistics, pixel panels, drift panels and their captions.
"""

from __future__ import annotations

import base64
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
from tensorflow_metadata.proto.v0 import statistics_pb2  # noqa: E402

MAX_PANELS = 24
TOP_VALUES = 8
MAX_INTEGER_BARS = 30  # an integer feature with at most this range gets one bar per value
MAX_PICTURED_UNIQUES = 50  # a string drift panel is drawn for fewer distinct values (or when above threshold)
MEANINGS = {
    "L_INFTY": "the largest change in the share of any one value (0.53: one value's share moved 53 points)",
    "JENSEN_SHANNON_DIVERGENCE": "how far the distributions moved (0: the same, 1: no overlap)",
    "PIXEL_HISTOGRAM_JSD": "how far the pixel intensity histogram moved (0: the same, 1: no overlap)",
    "UNKNOWN_SHARE": "the share of tokens or values that are new words, unseen in the previous span",
}


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


def _distribution(feature: Any) -> tuple[str, list[str], list[float]]:
    """(kind, labels, shares) of a feature: histogram buckets, top values, or byte sizes."""
    kind = feature.WhichOneof("stats")
    if kind == "num_stats":
        histogram = next((h for h in feature.num_stats.histograms if h.type == h.STANDARD), None)
        if histogram is None or not histogram.buckets:
            return "numeric", [], []
        counts = np.array([b.sample_count for b in histogram.buckets], dtype=float)
        if (
            feature.type == statistics_pb2.FeatureNameStatistics.INT
            and feature.num_stats.max - feature.num_stats.min <= (MAX_INTEGER_BARS)
        ):
            return "integer", *_integer_bars(histogram.buckets, counts)
        labels = [f"{b.low_value:.3g}" for b in histogram.buckets]
        return "numeric", labels, (counts / max(counts.sum(), 1)).tolist()
    if kind == "string_stats":
        top = list(feature.string_stats.top_values)[:TOP_VALUES]
        total = feature.string_stats.common_stats.num_non_missing or 1
        labels = [(v.value or '""')[:18] for v in top]
        return "string", labels, [v.frequency / total for v in top]
    if kind == "bytes_stats":
        b = feature.bytes_stats
        return "bytes", ["min", "mean", "max"], [b.min_num_bytes, b.avg_num_bytes, b.max_num_bytes]
    return "other", [], []


def _integer_bars(buckets: Sequence[Any], counts: np.ndarray) -> tuple[list[str], list[float]]:
    """One bar per integer value: TFDV's equal-width buckets (0, 0.9, 1.8, ...) hold one integer each."""
    shares: dict[int, float] = {}
    for index, (bucket, count) in enumerate(zip(buckets, counts, strict=True)):
        last = index == len(buckets) - 1
        values = [
            v
            for v in range(int(np.ceil(bucket.low_value)), int(np.floor(bucket.high_value)) + 1)
            if v < bucket.high_value or last
        ]
        for value in values:  # a bucket spanning several integers shares its count among them
            shares[value] = shares.get(value, 0.0) + count / len(values)
    total = max(sum(shares.values()), 1)
    return [str(v) for v in sorted(shares)], [shares[v] / total for v in sorted(shares)]


def _pixel_panel(ax: Any, name: str, entry: dict[str, Any], old: dict[str, Any] | None, title: str | None) -> None:
    """The pixel intensity histogram of an image feature (and the previous span's, for drift)."""
    bins = len(entry["histogram"])
    x = np.arange(bins)
    width = 0.4 if old else 0.8
    if old:
        ax.bar(x - 0.2, old["histogram"], width, label="previous", color="tab:gray")
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


def _panel(ax: Any, name: str, feature: Any, previous: Any = None, title: str | None = None) -> None:
    kind, labels, shares = _distribution(feature)
    if not labels:
        ax.text(0.5, 0.5, "no distribution", ha="center", va="center")
        ax.set_axis_off()
    elif previous is not None:
        _, old_labels, old_shares = _distribution(previous)
        keys = list(dict.fromkeys(old_labels + labels))[: TOP_VALUES * 2]
        old = dict(zip(old_labels, old_shares, strict=False))
        new = dict(zip(labels, shares, strict=False))
        x = np.arange(len(keys))
        ax.bar(x - 0.2, [old.get(k, 0) for k in keys], 0.4, label="previous", color="tab:gray")
        ax.bar(x + 0.2, [new.get(k, 0) for k in keys], 0.4, label="new", color="tab:blue")
        ax.set_xticks(x, keys, rotation=60, ha="right", fontsize=6)
        ax.legend(fontsize=6)
    else:
        x = np.arange(len(labels))
        ax.bar(x, shares, color="tab:blue")
        step = max(1, len(labels) // 8)
        ax.set_xticks(x[::step], labels[::step], rotation=60, ha="right", fontsize=6)
        if kind == "bytes":
            ax.set_ylabel("bytes", fontsize=7)
    ax.set_title(title or f"{name} ({kind}, {100 * _missing_share(feature):.0f}% missing)", fontsize=8)
    ax.tick_params(axis="y", labelsize=6)


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
) -> bytes:
    """One panel per feature (up to 24), images by their pixels (``profiles``); returns the PNG bytes."""
    features = dict(list(_features(stats).items())[:MAX_PANELS])
    images = {n: e for n, e in (profiles or {}).items() if e.get("kind") == "image"}
    cols = min(4, max(1, len(features)))
    rows = max(1, int(np.ceil(len(features) / cols)))
    fig, axes = plt.subplots(rows, cols, figsize=(3.6 * cols, 2.6 * rows), squeeze=False)
    for ax, (name, feature) in zip(axes.flat, features.items(), strict=False):
        if name in images:
            _pixel_panel(ax, name, images[name], None, None)
        else:
            _panel(ax, name, feature)
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
) -> bytes:
    """The previous span beside the new one for every compared feature, titled with its score."""
    new, old = _features(stats), _features(previous)
    profiles, old_profiles = profiles or {}, old_profiles or {}
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
            _pixel_panel(ax, name, profiles[name], old_profiles.get(name), title)
        elif name in new:
            _panel(ax, name, new[name], previous=old.get(name), title=title)
        ax.title.set_color("tab:red" if measurement.exceeded else "black")
    for ax in list(axes.flat)[len(drift) :]:
        ax.set_axis_off()
    fig.suptitle("Drift: the previous validated span beside the new one", fontsize=10)
    fig.tight_layout()
    return _figure_png(fig, path)


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
        rows.append(
            f"<tr><td>{html.escape(name)}</td><td>{kind.replace('_stats', '')}</td><td>{count}</td>"
            f"<td>{100 * _missing_share(feature):.1f}%</td><td>{html.escape(detail)}</td></tr>"
        )
    return "\n".join(rows)


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
) -> str:
    """Write the pictures and ``data_report.html`` into ``report_dir``; returns the page's path.

    Args:
        report_dir: where the files go.
        split_stats: each split's statistics.
        drift_split: the split compared with ``previous`` (the previous validated span's).
        previous: the previous span's statistics of ``drift_split`` (None: the first span).
        drift: the drift measurements of ``drift_split``.
        anomalies: every anomaly found.
        title: the page's title.
        profiles: split -> feature -> content profile (images, texts).
        old_profiles: the previous span's profiles.
        baseline: what the drift was measured against, e.g. ``drift vs span 5 (the data of the serving model, ...)``.
    """
    tf.io.gfile.makedirs(report_dir)
    profiles = profiles or {}
    images = [
        plot_statistics(
            stats, os.path.join(report_dir, f"statistics-{split}.png"), f"{title}, split {split}", profiles.get(split)
        )
        for split, stats in split_stats.items()
    ]
    new = _features(split_stats[drift_split]) if drift_split in split_stats else {}
    shown = [d for d in drift if pictured(d, new.get(d.feature))]
    if previous is not None and drift_split in split_stats and shown:
        picture = plot_drift(
            split_stats[drift_split],
            previous,
            shown,
            os.path.join(report_dir, "drift.png"),
            profiles.get(drift_split),
            (old_profiles or {}).get(drift_split),
        )
        images.insert(0, picture)
    anomaly_items = "".join(f"<li>{html.escape(str(a))}</li>" for a in anomalies) or "<li>none</li>"
    drift_rows = "".join(
        f"<tr><td>{html.escape(d.feature)}</td><td>{d.measure}</td><td>{d.value:.4f}</td><td>{d.threshold:.4f}</td>"
        f"<td>{'above' if d.exceeded else 'below'}</td><td>{html.escape(MEANINGS.get(d.measure, ''))}</td></tr>"
        for d in drift
    )
    pictures = "".join(
        f'<p><img alt="data" src="data:image/png;base64,{base64.b64encode(png).decode()}"></p>' for png in images
    )
    features = "".join(
        f"<h3>Split {html.escape(split)}</h3><table><tr><th>feature</th><th>type</th><th>present</th>"
        f"<th>missing</th><th>summary</th></tr>\n{_feature_rows(stats, profiles.get(split, {}))}</table>"
        for split, stats in split_stats.items()
    )
    drift_section = (
        "<table><tr><th>feature</th><th>measure</th><th>value</th><th>threshold</th><th></th><th>what it means</th>"
        f"</tr>{drift_rows}</table>"
        if drift
        else "<p>No previous validated span, or no drift comparator in the schema: nothing compared.</p>"
    )
    page = f"""<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>Data report: {html.escape(title)}</title>
<style>body{{font-family:sans-serif;margin:2em}}table{{border-collapse:collapse}}
td,th{{border:1px solid #ccc;padding:3px 8px;font-size:13px}}img{{max-width:100%}}</style></head>
<body><h1>Data report: {html.escape(title)}</h1>
<h2>Anomalies</h2><ul>{anomaly_items}</ul>
<h2>Drift of split {html.escape(drift_split)}: {html.escape(baseline or "against the previous validated span")}</h2>
{drift_section}
<h2>Pictures</h2>{pictures}
<h2>Features</h2>{features}</body></html>
"""
    path = os.path.join(report_dir, "data_report.html")
    with tf.io.gfile.GFile(path, "w") as f:
        f.write(page)
    return path
