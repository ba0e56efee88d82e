"""Resolver strategies: the Evaluator's baseline model, and the drift baseline of the DataValidator.

**The baseline model**: the latest blessed model *other than the candidate*.

TFX's ``LatestBlessedModelStrategy`` cannot see the model being evaluated. When
a run changes nothing, the Trainer's output is cached, so that strategy
resolves the candidate itself as its own baseline: the Evaluator's inputs
differ from the previous run, it re-executes, compares the model with itself,
and the Pusher pushes the same model again under a new version. Passing the
candidate in lets this strategy leave it out, so an unchanged re-run is
cached end to end and never re-pushes.

**The drift baseline**: the validated statistics the new span's drift is measured against, by one
documented rule (:func:`select_drift_baseline`): pinned by ``validation.baseline_span``, else the data
of the serving model, else the newest validated span; never a span whose files are gone.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from tfx import types
from tfx.dsl.components.common import resolver

from common.metadata_names import ROLLED_BACK_KEY
from common.settings import ConfigError
from components import lineage

MODEL_KEY = "model"
BLESSING_KEY = "model_blessing"
CANDIDATE_KEY = "candidate"
_CURRENT_MODEL_ID = "current_model_id"
_BLESSED = "blessed"


def select_baseline(
    models: list[types.Artifact], blessings: list[types.Artifact], candidates: list[types.Artifact]
) -> dict[str, list[types.Artifact]]:
    """Pick the newest blessed model that is not a candidate nor rolled back, with its blessing."""
    excluded = {c.id for c in candidates} | {m.id for m in models if m.get_int_custom_property(ROLLED_BACK_KEY) == 1}
    blessed = {
        b.get_int_custom_property(_CURRENT_MODEL_ID): b for b in blessings if b.get_int_custom_property(_BLESSED) == 1
    }
    for model in sorted(models, key=lambda a: a.id, reverse=True):
        if model.id not in excluded and model.id in blessed:
            return {MODEL_KEY: [model], BLESSING_KEY: [blessed[model.id]], CANDIDATE_KEY: list(candidates)}
    return {MODEL_KEY: [], BLESSING_KEY: [], CANDIDATE_KEY: list(candidates)}


class LatestBlessedBaselineStrategy(resolver.ResolverStrategy):
    """The Resolver strategy of :func:`select_baseline`.

    Use with ``Resolver(model=Channel(Model), model_blessing=Channel(ModelBlessing),
    candidate=trainer.outputs['model'])``.
    """

    def resolve_artifacts(
        self,
        store: Any,
        input_dict: dict[str, list[types.Artifact]],
    ) -> dict[str, list[types.Artifact]] | None:
        """Return the baseline model and blessing (empty lists when there is none)."""
        del store  # everything needed arrives in input_dict
        return select_baseline(
            input_dict.get(MODEL_KEY, []), input_dict.get(BLESSING_KEY, []), input_dict.get(CANDIDATE_KEY, [])
        )


STATISTICS_KEY = "statistics"
CURRENT_KEY = "current"
EXAMPLES_KEY = "examples"
PUSHED_KEY = "pushed_model"
BASELINE_SPAN_KEY = "baseline_span"  # the strategy's config: validation.baseline_span (None: the rule)


class BaselineError(ConfigError):
    """The pinned drift baseline cannot be used; the message names the spans that can (exit 2: a usage error)."""


def check_pinned_span(store: Any, pipeline: str, validator: str, span: int) -> None:
    """Refuse ``validation.baseline_span=span`` unless the DataValidator ``validator`` validated data of that span.

    ``store`` None: no ML Metadata yet (a first run), so nothing was validated.
    """
    validated = lineage.node_examples(store, pipeline, validator, "ExampleStatistics") if store is not None else []
    spans = {
        s
        for a in validated
        if lineage.int_property(a, lineage.SOURCE_STATISTICS_ID) and (s := lineage.span_of(a)) is not None
    }
    if span not in spans:
        raise BaselineError(
            f"validation.baseline_span={span}: span {span} has no validated data in this task's ML Metadata; the spans "
            f"that have are {', '.join(map(str, sorted(spans))) or 'none yet'}. Pin one of them, or drop "
            "validation.baseline_span to use the rule (the data of the serving model)"
        )


@dataclasses.dataclass(frozen=True)
class Candidate:
    """Validated statistics that could be the drift baseline, with what the lineage says of them.

    Attributes:
        statistics: the DataValidator's ``validated_statistics``.
        examples: the Examples they describe (None: not found, e.g. written by an older version).
        span: their span.
        current: computed from this run's own data (a re-run): never its own baseline.
        present: the span's files are still in the input folder (always, for generated or TFDS data).
        failed: validated in a run that failed later (data that broke training).
        allowed: validated only because ``validation.allow_anomalies`` let its anomalies through.
    """

    statistics: Any
    examples: Any
    span: int
    current: bool = False
    present: bool = True
    failed: bool = False
    allowed: bool = False


@dataclasses.dataclass(frozen=True)
class Choice:
    """The drift baseline chosen, and which rule chose it (``pinned``, ``served``, ``newest`` or ``none``)."""

    candidate: Candidate | None
    rule: str
    pushed_model: Any = None


def select_drift_baseline(
    candidates: list[Candidate], served_examples: set[int] = frozenset(), pinned: int | None = None
) -> Choice:
    """The drift baseline, by one rule (docs/data-validation.md, "The drift baseline").

    1. ``validation.baseline_span`` pins it: the newest validated statistics of that span.
    2. Else the data of the serving model (``served_examples``: the Examples ids it was trained on): the
       newest span of it that is still in the input folder and not this run's own data.
    3. Else (no model pushed yet, or its data is gone or is this run's): the newest validated span that
       is still in the input folder, was not stopped by a failure after validation, and did not pass
       only by ``validation.allow_anomalies``.

    A span whose files are gone from the input folder is never the baseline, and neither is this
    run's own data (a re-run on unchanged data compares with what it compared with before, so its
    DataValidator is cached). A span whose model was refused is never the baseline of later days once
    a model is served: their baseline is the serving model's data.

    Raises:
        BaselineError: ``pinned`` names a span with no usable validated statistics.
    """
    newest_first = sorted(candidates, key=lambda c: (c.span, c.statistics.id), reverse=True)
    usable = [c for c in newest_first if not c.current and c.present]
    if pinned is not None:
        chosen = next((c for c in usable if c.span == pinned), None)
        if chosen is None:
            spans = sorted({c.span for c in usable})
            why = (
                "is this run's own data"
                if any(c.span == pinned and c.current for c in candidates)
                else "has its files gone from the input folder"
                if any(c.span == pinned and not c.present for c in candidates)
                else "has no validated data"
            )
            raise BaselineError(
                f"validation.baseline_span={pinned}: span {pinned} {why}; the spans that can be the drift baseline "
                f"are {', '.join(map(str, spans)) or 'none yet'}. Pin one of them, or drop validation.baseline_span "
                "to use the rule (the data of the serving model)"
            )
        return Choice(chosen, "pinned")
    served = [c for c in usable if c.examples is not None and c.examples.id in served_examples]
    if served:
        return Choice(served[0], "served")
    newest = next((c for c in usable if not c.failed and not c.allowed), None)
    return Choice(newest, "newest" if newest is not None else "none")


def _newest_served(pushed: list[types.Artifact]) -> types.Artifact | None:
    """The newest PushedModel that pushed, and whose version folder is still there (what is served)."""
    import tensorflow as tf

    for artifact in sorted(pushed, key=lambda a: a.id, reverse=True):
        if artifact.get_int_custom_property("pushed") != 1:
            continue
        destination = artifact.get_string_custom_property("pushed_destination")
        if destination and tf.io.gfile.isdir(destination):
            return artifact
    return None


def drift_candidates(
    store: Any, validated: list[types.Artifact], current: list[types.Artifact], examples: list[types.Artifact]
) -> list[Candidate]:
    """Each validated statistics artifact with its examples, span and flags, read from ML Metadata."""
    behind = lineage.examples_behind(store, [a.mlmd_artifact for a in validated])
    by_id = {a.id: a for a in examples}
    failed = lineage.failed_run_artifacts(store, [a.id for a in validated])
    current_ids = {c.id for c in current}
    found = []
    for artifact in validated:
        source = next((by_id[i] for i in sorted(behind.get(artifact.id, ())) if i in by_id), None)
        found.append(
            Candidate(
                statistics=artifact,
                examples=source,
                span=int(artifact.span) if artifact.has_property("span") else 0,
                current=artifact.get_int_custom_property(lineage.SOURCE_STATISTICS_ID) in current_ids,
                present=lineage.files_present(source.mlmd_artifact) if source is not None else True,
                failed=artifact.id in failed,
                allowed=bool(artifact.get_int_custom_property(lineage.ALLOWED_ANOMALIES_KEY)),
            )
        )
    return found


class DriftBaselineStrategy(resolver.ResolverStrategy):
    """The Resolver strategy of :func:`select_drift_baseline`, with the examples behind the chosen statistics.

    Use with ``Resolver(statistics=Channel(ExampleStatistics, DataValidator's validated_statistics),
    current=statistics_gen.outputs['statistics'], examples=Channel(Examples, ExampleGen),
    pushed_model=Channel(PushedModel, Pusher), config={"baseline_span": N or None})``. Outputs the
    baseline statistics (or none on a first run, which is not an error), the Examples behind them
    (yesterday's traffic, for the Evaluator) and, when the rule chose the serving model's data, that
    PushedModel (so the DataValidator can name it).
    """

    def __init__(self, baseline_span: int | None = None) -> None:
        """``baseline_span``: ``validation.baseline_span`` (None: the rule)."""
        self._pinned = baseline_span

    def resolve_artifacts(
        self,
        store: Any,
        input_dict: dict[str, list[types.Artifact]],
    ) -> dict[str, list[types.Artifact]] | None:
        """Return the baseline statistics, their examples and the serving model they came with (lists, maybe empty)."""
        validated = input_dict.get(STATISTICS_KEY, [])
        current = input_dict.get(CURRENT_KEY, [])
        examples = input_dict.get(EXAMPLES_KEY, [])
        served = _newest_served(input_dict.get(PUSHED_KEY, [])) if store is not None else None
        served_examples = {a.id for a in lineage.trained_examples(store, served.mlmd_artifact)} if served else set()
        choice = select_drift_baseline(
            drift_candidates(store, validated, current, examples), served_examples, self._pinned
        )
        chosen = choice.candidate
        return {
            STATISTICS_KEY: [chosen.statistics] if chosen else [],
            CURRENT_KEY: list(current),
            EXAMPLES_KEY: [chosen.examples] if chosen is not None and chosen.examples is not None else [],
            PUSHED_KEY: [served] if choice.rule == "served" else [],
        }
