"""Charts across runs, drawn on the server by matplotlib as SVG: metrics over time, drift and anomalies per span.

Nothing runs in the browser; each chart is a function of its numbers and cached by them.
"""

from __future__ import annotations

import datetime
import functools
import io
from collections.abc import Mapping, Sequence

import matplotlib

matplotlib.use("Agg")  # no display: the UI draws into files only
from matplotlib import pyplot as plt  # noqa: E402 - after choosing the backend
from matplotlib.ticker import MaxNLocator  # noqa: E402

MAX_PANELS = 8
Points = tuple[tuple[object, float], ...]


def _svg(fig: plt.Figure) -> str:
    buffer = io.StringIO()
    fig.savefig(buffer, format="svg", bbox_inches="tight")
    plt.close(fig)
    text = buffer.getvalue()
    return text[text.index("<svg") :]


def _panels(count: int, title: str) -> tuple[plt.Figure, list[plt.Axes]]:
    columns = min(count, 2)
    rows = (count + columns - 1) // columns
    # constrained layout keeps the figure's title clear of the panels' own titles
    fig, axes = plt.subplots(rows, columns, figsize=(5.2 * columns, 2.6 * rows), squeeze=False, layout="constrained")
    fig.suptitle(title, fontsize=11)
    flat = list(axes.flat)
    for extra in flat[count:]:
        extra.set_visible(False)
    return fig, flat[:count]


@functools.lru_cache(maxsize=128)
def _metrics_svg(series: tuple[tuple[str, Points], ...]) -> str:
    fig, axes = _panels(len(series), "Evaluation metrics of each newly trained model")
    for ax, (name, points) in zip(axes, series, strict=True):
        times = [t for t, _ in points]
        ax.plot(times, [v for _, v in points], marker="o", color="#2b6cb0")
        ax.set_title(name, fontsize=9)
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3)
    fig.autofmt_xdate()
    return _svg(fig)


def metrics_over_time(metrics: Mapping[str, Sequence[tuple[datetime.datetime, float]]]) -> str:
    """One panel per metric (at most eight), each evaluation's value at its run's start time."""
    if not metrics:
        return ""
    series = tuple((name, tuple(points)) for name, points in sorted(metrics.items())[:MAX_PANELS])
    return _metrics_svg(series)


@functools.lru_cache(maxsize=128)
def _drift_svg(series: tuple[tuple[str, float, Points], ...]) -> str:
    fig, axes = _panels(len(series), "Drift vs the previous validated span")
    for ax, (name, threshold, points) in zip(axes, series, strict=True):
        spans = [int(s) for s, _ in points]
        values = [v for _, v in points]
        colors = ["#c53030" if v > threshold else "#2b6cb0" for v in values]
        ax.plot(spans, values, color="#2b6cb0", alpha=0.5)
        ax.scatter(spans, values, c=colors, zorder=3)
        ax.axhline(threshold, color="#c53030", linestyle="--", linewidth=1, label=f"threshold {threshold:g}")
        ax.set_title(name, fontsize=9)
        ax.set_xlabel("span", fontsize=8)
        ax.set_xticks(spans)
        ax.tick_params(labelsize=7)
        ax.legend(fontsize=7)
        ax.grid(alpha=0.3)
    return _svg(fig)


def drift_per_span(drift: Mapping[str, Mapping[str, object]]) -> str:
    """One panel per feature and measure: its drift score per span, the threshold as a dashed line."""
    if not drift:
        return ""
    series = tuple(
        (name, float(entry["threshold"]), tuple(sorted(entry["points"].items())))
        for name, entry in sorted(drift.items())[:MAX_PANELS]
    )
    return _drift_svg(series)


@functools.lru_cache(maxsize=128)
def _anomalies_svg(points: tuple[tuple[int, int, bool], ...]) -> str:
    fig, ax = plt.subplots(figsize=(5.2, 2.4), layout="constrained")
    spans = [s for s, _, _ in points]
    counts = [c for _, c, _ in points]
    bars = ax.bar(spans, counts, color=["#c53030" if stopped else "#2b6cb0" for _, _, stopped in points])
    ax.bar_label(bars, fontsize=8)  # a span with no anomaly reads "0", not an empty panel
    ax.set_ylim(0, max(counts) * 1.2 + 1)
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_ylabel("anomalies", fontsize=8)
    ax.set_title("Data anomalies per span (red: the run was stopped)", fontsize=10)
    ax.set_xlabel("span", fontsize=8)
    ax.set_xticks(spans)
    ax.tick_params(labelsize=7)
    return _svg(fig)


def anomalies_per_span(anomalies: Mapping[int, Mapping[str, object]]) -> str:
    """Bars: the anomalies data validation found in each span, red where they stopped the run."""
    if not anomalies:
        return ""
    return _anomalies_svg(tuple((s, int(a["count"]), bool(a["stopped"])) for s, a in sorted(anomalies.items())))
