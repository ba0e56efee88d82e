"""Graphs drawn on the server by Graphviz ``dot`` as SVG: a run's DAG, a model's lineage. Each node is a link."""

from __future__ import annotations

import functools
import html
import shutil
import subprocess
from collections.abc import Iterable, Sequence

STATE_COLORS = {
    "COMPLETE": "#b7e1b0",
    "CACHED": "#cfe0f5",
    "FAILED": "#f4b4ae",
    "RUNNING": "#fbe3a1",
    "PENDING": "#eeeeee",
    "NOT_RUN": "#ffffff",
}
STATE_WORDS = {"COMPLETE": "done", "CACHED": "cached", "FAILED": "failed", "RUNNING": "running",
               "PENDING": "pending", "NOT_RUN": "not run"}  # fmt: skip


class GraphvizMissingError(RuntimeError):
    """The ``dot`` binary is not installed."""


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


@functools.lru_cache(maxsize=256)
def render(source: str) -> str:
    """SVG markup of a DOT graph (the XML prologue dropped, for inlining in a page)."""
    dot = shutil.which("dot")
    if dot is None:
        raise GraphvizMissingError("Graphviz `dot` is not installed: run ./scripts/setup.sh (apt-get install graphviz)")
    svg = subprocess.run([dot, "-Tsvg"], input=source, capture_output=True, text=True, check=True, timeout=30).stdout
    return svg[svg.index("<svg") :]


def dag_source(
    nodes: Sequence[tuple[str, str, float | None, str]],
    edges: Iterable[tuple[str, str]],
    declared: Iterable[tuple[str, str]] = (),
) -> str:
    """DOT of a run's DAG: ``nodes`` as (node id, state, seconds, link), filled by state, labelled with seconds.

    ``edges`` are drawn solid (data seen flowing), ``declared`` dashed (wired, but no event shows it).
    """
    lines = ["digraph run {", "rankdir=LR; bgcolor=transparent;",
             'node [shape=box style="rounded,filled" fontname="Helvetica" fontsize=11];']  # fmt: skip
    known = {node for node, *_ in nodes}
    for node, state, seconds, href in nodes:
        word = STATE_WORDS.get(state, state.lower())
        timing = f"\n{seconds:.1f} s" if seconds is not None and state in ("COMPLETE", "FAILED") else ""
        label = f"{node}\n{word}{timing}"
        css = "state_" + word.replace(" ", "_")
        lines.append(
            f"{_quote(node)} [label={_quote(label)} fillcolor={_quote(STATE_COLORS.get(state, '#ffffff'))} "
            f'href={_quote(href)} target="_top" id={_quote("node-" + node)} class={_quote(css)}];'
        )
    lines += [f"{_quote(a)} -> {_quote(b)};" for a, b in sorted(edges) if a in known and b in known]
    lines += [f"{_quote(a)} -> {_quote(b)} [style=dashed];" for a, b in sorted(declared) if a in known and b in known]
    lines.append("}")
    return "\n".join(lines)


def lineage_source(
    artifacts: Sequence[tuple[int, str, str]],
    executions: Sequence[tuple[int, str, str]],
    edges: Iterable[tuple[str, str]],
) -> str:
    """DOT of a lineage: artifacts (id, label, link) as notes, executions (id, label, link) as boxes."""
    lines = ["digraph lineage {", "rankdir=LR; bgcolor=transparent;",
             'node [fontname="Helvetica" fontsize=10];']  # fmt: skip
    for artifact_id, label, href in artifacts:
        lines.append(f'a{artifact_id} [shape=note style=filled fillcolor="#fdf6e3" label={_quote(label)} '
                     f'href={_quote(href)} target="_top"];')  # fmt: skip
    for execution_id, label, href in executions:
        lines.append(f'e{execution_id} [shape=box style="rounded,filled" fillcolor="#cfe0f5" label={_quote(label)} '
                     f'href={_quote(href)} target="_top"];')  # fmt: skip
    names = {f"a{a}" for a, *_ in artifacts} | {f"e{e}" for e, *_ in executions}
    lines += [f"{a} -> {b};" for a, b in sorted(edges) if a in names and b in names]
    lines.append("}")
    return "\n".join(lines)


def escape(text: str) -> str:
    """HTML-escaped text (for titles built outside the templates)."""
    return html.escape(text)
