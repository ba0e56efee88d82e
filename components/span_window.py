"""The training window: the newest spans read, of which only those whose data passed validation are trained on.

TFX's ``SpanRangeStrategy`` takes the newest ``num_spans`` spans of every Examples artifact the
ExampleGen wrote, so a span the DataValidator stopped (a broken export, exit 3) entered the next
day's training window. Here the window is the ``num_spans`` newest span numbers read (stopped spans
and spans whose files were since deleted keep their place: the window covers the same days), and of
each span its newest read data is trained on only if the DataValidator let it through
(``validated_statistics`` were published for it, in a run that did not fail afterwards). Spans left
out are returned by :func:`select_window` with the reason, which the run summary prints.

The resolver must run after this run's DataValidator (the pipeline orders it so), so that the
current span's validation is known.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from tfx import types
from tfx.dsl.components.common import resolver

from components import lineage

EXAMPLES_KEY = "examples"
VALIDATED_KEY = "validated"
CURRENT_KEY = "current"


@dataclasses.dataclass(frozen=True)
class Window:
    """The spans of a training window: those trained on, and those left out with why."""

    trained: list[Any]  # the Examples artifacts (ML Metadata protos), oldest span first
    skipped: dict[int, str]  # span -> why it is left out
    allowed: list[int] = dataclasses.field(default_factory=list)  # spans that passed only by allow_anomalies


def select_window(
    read: list[Any],
    validated: dict[int, bool],
    num_spans: int,
    present: dict[int, bool] | None = None,
    stopped: dict[int, str] | None = None,
) -> Window:
    """The window of ``num_spans`` newest spans among ``read`` (Examples artifacts, one span each).

    Args:
        read: every Examples artifact (ML Metadata protos) the ExampleGen wrote, several per span if re-read.
        validated: Examples id -> True if it passed validation (False: only by ``allow_anomalies``);
            an id not in it was not validated.
        num_spans: ``data.window_spans``.
        present: Examples id -> its files are still in the input folder (default: all are).
        stopped: Examples id -> how the DataValidator stopped it (the summary's reason).
    """
    present, stopped = present or {}, stopped or {}
    newest: dict[int, Any] = {}
    for artifact in read:
        span = lineage.span_of(artifact)
        if span is not None and (span not in newest or artifact.id > newest[span].id):
            newest[span] = artifact
    trained, skipped, allowed = [], {}, []
    for span in sorted(newest, reverse=True)[:num_spans]:
        artifact = newest[span]
        if not present.get(artifact.id, True):
            skipped[span] = f"span {span}'s files are gone from the input folder"
        elif artifact.id not in validated:
            skipped[span] = stopped.get(artifact.id) or f"span {span} was never validated (its run ended before)"
        else:
            trained.append(artifact)
            if not validated[artifact.id]:
                allowed.append(span)
    return Window(sorted(trained, key=lineage.span_of), dict(sorted(skipped.items())), sorted(allowed))


def read_window(
    store: Any, examples: list[Any], validated_statistics: list[Any], current_ids: set[int], num_spans: int
) -> Window:
    """:func:`select_window` with what ML Metadata says of each span (ML Metadata protos in and out).

    ``current_ids``: this run's Examples (validated in this run, which is not over, so not "failed").
    """
    from components.data_validator.component import DataValidator

    behind = lineage.examples_behind(store, validated_statistics)
    failed = lineage.failed_run_artifacts(store, [a.id for a in validated_statistics])
    passed: dict[int, bool] = {}
    for stats in validated_statistics:
        sources = behind.get(stats.id, set())
        if stats.id in failed and not sources & current_ids:
            continue
        clean = not lineage.int_property(stats, lineage.ALLOWED_ANOMALIES_KEY)
        for source in sources:
            passed[source] = passed.get(source, False) or clean
    present = {a.id: lineage.files_present(a) for a in examples}
    unvalidated = [a.id for a in examples if a.id not in passed]
    stops = lineage.stopped_by_validation(store, unvalidated, DataValidator.get_class_type())
    return select_window(examples, passed, num_spans, present, {i: s.reason() for i, s in stops.items()})


class ValidatedSpanWindowStrategy(resolver.ResolverStrategy):
    """The ``num_spans`` newest spans read, only those that passed validation (see the module docstring).

    Use with ``Resolver(examples=Channel(Examples, ExampleGen), validated=Channel(ExampleStatistics,
    DataValidator's validated_statistics), current=example_gen.outputs['examples'],
    config={'num_spans': N})``, after the DataValidator.
    """

    def __init__(self, num_spans: int = 1) -> None:
        """``num_spans``: ``data.window_spans``."""
        self._num_spans = int(num_spans)

    def resolve_artifacts(
        self,
        store: Any,
        input_dict: dict[str, list[types.Artifact]],
    ) -> dict[str, list[types.Artifact]] | None:
        """Return the validated Examples of the window (``examples``), oldest span first."""
        examples = input_dict.get(EXAMPLES_KEY, [])
        current = input_dict.get(CURRENT_KEY, [])
        window = read_window(
            store,
            [a.mlmd_artifact for a in examples],
            [a.mlmd_artifact for a in input_dict.get(VALIDATED_KEY, [])],
            {a.id for a in current},
            self._num_spans,
        )
        by_id = {a.id: a for a in examples}
        return {  # every input key has an output (TFX's input graph reads each)
            EXAMPLES_KEY: [by_id[a.id] for a in window.trained],
            VALIDATED_KEY: list(input_dict.get(VALIDATED_KEY, [])),
            CURRENT_KEY: list(current),
        }
