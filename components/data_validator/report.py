"""Pictures of the data a user opens without a notebook or network.

* ``statistics.png``: one panel per feature of the validated split: a histogram for numbers, the most
  frequent values for strings, the size distribution for bytes; with the share of missing values.
* ``drift.png`` (when there is a previous span): each compared feature's distribution in the previous
  span beside the new one, titled with its drift score against its threshold (red when above).
* ``data_report.html``: one self-contained page (pictures embedded) with the anomalies, the drift
  table and a per-feature summary. Facets needs scripts from the internet; this page needs nothing.
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


def plot_statistics(stats: statistics_pb2.DatasetFeatureStatisticsList, path: str, title: str) -> bytes:
    """One panel per feature (up to 24); returns the PNG bytes."""
    features = dict(list(_features(stats).items())[:MAX_PANELS])
    cols = min(4, max(1, len(features)))
    rows = max(1, int(np.ceil(len(features) / cols)))
    fig, axes = plt.subplots(rows, cols, figsize=(3.6 * cols, 2.6 * rows), squeeze=False)
    for ax, (name, feature) in zip(axes.flat, features.items(), strict=False):
        _panel(ax, name, feature)
    for ax in list(axes.flat)[len(features) :]:
        ax.set_axis_off()
    fig.suptitle(f"Feature statistics: {title}", fontsize=10)
    fig.tight_layout()
    return _figure_png(fig, path)


def plot_drift(
    stats: statistics_pb2.DatasetFeatureStatisticsList,
    previous: statistics_pb2.DatasetFeatureStatisticsList,
    drift: Sequence[Any],
    path: str,
) -> bytes:
    """The previous span beside the new one for every compared feature, titled with its score."""
    new, old = _features(stats), _features(previous)
    cols = min(3, max(1, len(drift)))
    rows = max(1, int(np.ceil(len(drift) / cols)))
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.0 * rows), squeeze=False)
    for ax, measurement in zip(axes.flat, drift, strict=False):
        name = measurement.feature
        title = (
            f"{name}: {measurement.measure.lower()} {measurement.value:.3f} "
            f"(threshold {measurement.threshold:.3f}){' ABOVE' if measurement.exceeded else ''}"
        )
        if name in new:
            _panel(ax, name, new[name], previous=old.get(name), title=title)
        ax.title.set_color("tab:red" if measurement.exceeded else "black")
    for ax in list(axes.flat)[len(drift) :]:
        ax.set_axis_off()
    fig.suptitle("Drift: the previous validated span beside the new one", fontsize=10)
    fig.tight_layout()
    return _figure_png(fig, path)


def _feature_rows(stats: statistics_pb2.DatasetFeatureStatisticsList) -> str:
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
        common = _common(feature)
        count = common.num_non_missing if common is not None else 0
        rows.append(
            f"<tr><td>{html.escape(name)}</td><td>{kind.replace('_stats', '')}</td><td>{count}</td>"
            f"<td>{100 * _missing_share(feature):.1f}%</td><td>{html.escape(detail)}</td></tr>"
        )
    return "\n".join(rows)


def write_data_report(
    report_dir: str,
    stats: statistics_pb2.DatasetFeatureStatisticsList,
    previous: statistics_pb2.DatasetFeatureStatisticsList | None,
    drift: Sequence[Any],
    anomalies: Sequence[Any],
    title: str,
) -> str:
    """Write the pictures and ``data_report.html`` into ``report_dir``; returns the page's path."""
    tf.io.gfile.makedirs(report_dir)
    images = [plot_statistics(stats, os.path.join(report_dir, "statistics.png"), title)]
    if previous is not None and drift:
        images.insert(0, plot_drift(stats, previous, drift, os.path.join(report_dir, "drift.png")))
    anomaly_items = "".join(f"<li>{html.escape(str(a))}</li>" for a in anomalies) or "<li>none</li>"
    drift_rows = "".join(
        f"<tr><td>{html.escape(d.feature)}</td><td>{d.measure}</td><td>{d.value:.4f}</td><td>{d.threshold:.4f}</td>"
        f"<td>{'above' if d.exceeded else 'below'}</td></tr>"
        for d in drift
    )
    pictures = "".join(
        f'<p><img alt="data" src="data:image/png;base64,{base64.b64encode(png).decode()}"></p>' for png in images
    )
    page = f"""<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>Data report: {html.escape(title)}</title>
<style>body{{font-family:sans-serif;margin:2em}}table{{border-collapse:collapse}}
td,th{{border:1px solid #ccc;padding:3px 8px;font-size:13px}}img{{max-width:100%}}</style></head>
<body><h1>Data report: {html.escape(title)}</h1>
<h2>Anomalies</h2><ul>{anomaly_items}</ul>
<h2>Drift against the previous validated span</h2>
{
        "<table><tr><th>feature</th><th>measure</th><th>value</th><th>threshold</th><th></th></tr>"
        + drift_rows
        + "</table>"
        if drift
        else "<p>No previous validated span, or no drift comparator in the schema: nothing compared.</p>"
    }
<h2>Pictures</h2>{pictures}
<h2>Features</h2><table><tr><th>feature</th><th>type</th><th>present</th><th>missing</th><th>summary</th></tr>
{_feature_rows(stats)}</table></body></html>
"""
    path = os.path.join(report_dir, "data_report.html")
    with tf.io.gfile.GFile(path, "w") as f:
        f.write(page)
    return path
