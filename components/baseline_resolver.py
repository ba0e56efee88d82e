"""Resolver strategies: the Evaluator's baseline model, and the latest artifact if there is one.

**The baseline model**: the latest blessed model *other than the candidate*.

TFX's ``LatestBlessedModelStrategy`` cannot see the model being evaluated. When
a run changes nothing, the Trainer's output is cached, so that strategy
resolves the candidate itself as its own baseline: the Evaluator's inputs
differ from the previous run, it re-executes, compares the model with itself,
and the Pusher pushes the same model again under a new version. Passing the
candidate in lets this strategy leave it out, so an unchanged re-run is
cached end to end and never re-pushes.
"""

from __future__ import annotations

from typing import Any

from tfx import types
from tfx.dsl.components.common import resolver

MODEL_KEY = "model"
BLESSING_KEY = "model_blessing"
CANDIDATE_KEY = "candidate"
_CURRENT_MODEL_ID = "current_model_id"
_BLESSED = "blessed"


def select_baseline(
    models: list[types.Artifact], blessings: list[types.Artifact], candidates: list[types.Artifact]
) -> dict[str, list[types.Artifact]]:
    """Pick the newest blessed model that is not a candidate, with its blessing."""
    excluded = {c.id for c in candidates}
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


SOURCE_STATISTICS_ID = "source_statistics_id"  # set by DataValidator on the statistics it re-publishes
ALLOWED_ANOMALIES_KEY = "allowed_anomalies"  # set by DataValidator when validation.allow_anomalies let them pass
STATISTICS_KEY = "statistics"
CURRENT_KEY = "current"
EXAMPLES_KEY = "examples"


def select_previous_statistics(
    validated: list[types.Artifact], current: list[types.Artifact], failed_runs: set[int] = frozenset()
) -> dict[str, list[types.Artifact]]:
    """The newest validated statistics that were not computed from the current data, or none.

    A re-run on unchanged data has the same (cached) statistics: they are left out, so the run
    compares with the same earlier data as before, its DataValidator is cached, and data is never
    compared with itself. Statistics validated in a run that failed later (``failed_runs``: their
    artifact ids) are left out too: data that passed validation but broke training is no baseline; and
    so are statistics whose anomalies ``validation.allow_anomalies`` let through (for that run only).
    """
    excluded = {c.id for c in current}
    for artifact in sorted(validated, key=lambda a: a.id, reverse=True):
        if artifact.id in failed_runs or artifact.get_int_custom_property(ALLOWED_ANOMALIES_KEY):
            continue
        if artifact.get_int_custom_property(SOURCE_STATISTICS_ID) not in excluded:
            return {STATISTICS_KEY: [artifact], CURRENT_KEY: list(current)}
    return {STATISTICS_KEY: [], CURRENT_KEY: list(current)}


def validated_in_failed_runs(store: Any, artifact_ids: list[int]) -> set[int]:
    """The artifacts (of ``artifact_ids``) every run of which, original or cached, had a failed execution.

    Called while a new run resolves its inputs, so every run it looks at is over.
    """
    from ml_metadata.proto import metadata_store_pb2

    if store is None or not artifact_ids:
        return set()
    outputs = (metadata_store_pb2.Event.OUTPUT, metadata_store_pb2.Event.PENDING_OUTPUT)
    producers: dict[int, set[int]] = {}
    for event in store.get_events_by_artifact_ids(artifact_ids):
        if event.type in outputs:
            producers.setdefault(event.artifact_id, set()).add(event.execution_id)
    verdicts: dict[int, bool] = {}

    def run_failed(execution_id: int) -> bool:
        runs = [c for c in store.get_contexts_by_execution(execution_id) if c.type == "pipeline_run"]
        for run in runs:
            if run.id not in verdicts:
                states = {e.last_known_state for e in store.get_executions_by_context(run.id)}
                # FAILED, or RUNNING in a run that is over: a driver's failure, a killed process.
                verdicts[run.id] = bool(
                    states & {metadata_store_pb2.Execution.FAILED, metadata_store_pb2.Execution.RUNNING}
                )
        return bool(runs) and all(verdicts[run.id] for run in runs)

    return {artifact for artifact, executions in producers.items() if all(run_failed(e) for e in executions)}


def source_examples(store: Any, statistics: types.Artifact, examples: list[types.Artifact]) -> list[types.Artifact]:
    """The examples (of ``examples``) that validated ``statistics`` were computed from: StatisticsGen's input."""
    from ml_metadata.proto import metadata_store_pb2

    source = statistics.get_int_custom_property(SOURCE_STATISTICS_ID)
    if store is None or not source or not examples:
        return []
    outputs = (metadata_store_pb2.Event.OUTPUT, metadata_store_pb2.Event.PENDING_OUTPUT)
    producers = [e.execution_id for e in store.get_events_by_artifact_ids([source]) if e.type in outputs]
    inputs = {
        e.artifact_id for e in store.get_events_by_execution_ids(producers) if e.type == metadata_store_pb2.Event.INPUT
    }
    return [a for a in examples if a.id in inputs][:1]


class PreviousValidatedStatisticsStrategy(resolver.ResolverStrategy):
    """The Resolver strategy of :func:`select_previous_statistics`, and the examples behind those statistics.

    Use with ``Resolver(statistics=Channel(ExampleStatistics, DataValidator's validated_statistics),
    current=statistics_gen.outputs['statistics'], examples=Channel(Examples, ExampleGen))``; the
    ``examples`` output is the previous validated span's examples (yesterday's traffic), or empty.
    TFX's ``LatestArtifactStrategy`` fails when a channel is empty (a first run has nothing to compare
    with, which is not an error), and would pick the current data's own statistics on a re-run.
    """

    def resolve_artifacts(
        self,
        store: Any,
        input_dict: dict[str, list[types.Artifact]],
    ) -> dict[str, list[types.Artifact]] | None:
        """Return the previous validated statistics (an empty list when there are none)."""
        validated = input_dict.get(STATISTICS_KEY, [])
        failed = validated_in_failed_runs(store, [a.id for a in validated])
        selected = select_previous_statistics(validated, input_dict.get(CURRENT_KEY, []), failed)
        if EXAMPLES_KEY in input_dict:
            chosen = selected[STATISTICS_KEY]
            selected[EXAMPLES_KEY] = source_examples(store, chosen[0], input_dict[EXAMPLES_KEY]) if chosen else []
        return selected
