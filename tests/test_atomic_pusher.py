"""Atomic publication of pushed models and the baseline resolver."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from helpers.artifacts import artifact
from tfx.types import standard_artifacts

from components import atomic_pusher
from components.baseline_resolver import BaselineError, Candidate, select_baseline, select_drift_baseline


def _saved_model(path: Path, payload: str = "x") -> Path:
    (path / "variables").mkdir(parents=True)
    (path / "variables" / "variables.index").write_text(payload)
    (path / "saved_model.pb").write_text(payload)
    return path


def test_versions_strictly_increase(tmp_path: Path) -> None:
    model = _saved_model(tmp_path / "model")
    base = tmp_path / "serving" / "mnist"
    first, path1 = atomic_pusher.publish_model(str(model), str(base), now=1000)
    second, path2 = atomic_pusher.publish_model(str(model), str(base), now=1000)  # same second
    third, _ = atomic_pusher.publish_model(str(model), str(base), now=900)  # clock went back
    assert (first, second, third) == ("1000", "1001", "1002")
    assert (Path(path2) / "saved_model.pb").read_text() == "x"
    assert sorted(os.listdir(base)) == ["1000", "1001", "1002"]


@pytest.mark.reliability
def test_interrupted_copy_leaves_no_version(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    model = _saved_model(tmp_path / "model")
    base = tmp_path / "serving" / "mnist"
    atomic_pusher.publish_model(str(model), str(base), now=1000)

    def copy_half_then_die(src: str, dst: str, **_: object) -> None:
        os.makedirs(os.path.join(dst, "variables"))
        Path(dst, "variables", "variables.index").write_text("partial")
        raise OSError("disk full")

    monkeypatch.setattr(atomic_pusher.io_utils, "copy_dir", copy_half_then_die)
    with pytest.raises(OSError, match="disk full"):
        atomic_pusher.publish_model(str(model), str(base), now=2000)
    assert os.listdir(base) == ["1000"]  # no half-written version, no staging left behind
    assert atomic_pusher.existing_versions(str(base)) == [1000]


@pytest.mark.reliability
def test_not_a_saved_model_is_refused(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="no saved_model.pb"):
        atomic_pusher.publish_model(str(tmp_path / "empty"), str(tmp_path / "serving"))
    assert not (tmp_path / "serving").exists() or os.listdir(tmp_path / "serving") == []


@pytest.mark.reliability
def test_stale_staging_directories_are_removed(tmp_path: Path) -> None:
    base = tmp_path / "serving"
    stale = base / ".staging-5-dead"
    fresh = base / ".staging-6-live"
    stale.mkdir(parents=True)
    fresh.mkdir()
    old = time.time() - 2 * atomic_pusher.STALE_STAGING_SECONDS
    os.utime(stale, (old, old))
    atomic_pusher.publish_model(str(_saved_model(tmp_path / "m")), str(base), now=7)
    assert sorted(os.listdir(base)) == [".staging-6-live", "7"]


def test_baseline_is_the_latest_blessed_model_other_than_the_candidate() -> None:
    models = [artifact(standard_artifacts.Model, i) for i in (1, 2, 3)]
    blessings = [
        artifact(standard_artifacts.ModelBlessing, 10 + i, current_model_id=i, blessed=b)
        for i, b in ((1, 1), (2, 1), (3, 0))
    ]
    # Model 3 was not blessed: the baseline is model 2.
    result = select_baseline(models, blessings, candidates=[models[2]])
    assert [m.id for m in result["model"]] == [2] and [b.id for b in result["model_blessing"]] == [12]
    # An unchanged re-run: the cached candidate is model 2 itself; it must not be its own baseline.
    result = select_baseline(models, blessings, candidates=[models[1]])
    assert [m.id for m in result["model"]] == [1]
    # Nothing blessed but the candidate: no baseline, as on the first run.
    result = select_baseline(models[:1], blessings[:1], candidates=[models[0]])
    assert result["model"] == [] and result["model_blessing"] == []


def _candidate(stats_id: int, span: int, examples_id: int | None = None, **flags: bool) -> Candidate:
    examples = artifact(standard_artifacts.Examples, examples_id) if examples_id else None
    return Candidate(artifact(standard_artifacts.ExampleStatistics, stats_id), examples, span, **flags)


def test_drift_baseline_rule_serving_model_data_then_newest_validated() -> None:
    day1, day2, day3 = _candidate(41, 1, 11), _candidate(42, 2, 12), _candidate(43, 3, 13)
    # Before any push: the newest validated span.
    choice = select_drift_baseline([day1, day2, day3])
    assert (choice.candidate, choice.rule) == (day3, "newest")
    # Span 3 passed validation but its model was refused; the serving model was trained on spans 1-2:
    # later days are compared with span 2, not locked out by span 3.
    choice = select_drift_baseline([day1, day2, day3], served_examples={11, 12})
    assert (choice.candidate, choice.rule) == (day2, "served")
    # The serving model's span 2 was deleted from the input folder: never the baseline; its older span 1 is.
    gone = _candidate(42, 2, 12, present=False)
    assert select_drift_baseline([day1, gone, day3], served_examples={11, 12}).candidate == day1
    # ... and a span deleted before any push is never the newest validated either.
    assert select_drift_baseline([day1, day2, _candidate(43, 3, 13, present=False)]).candidate == day2
    # A re-run on unchanged data never compares with itself.
    rerun = _candidate(43, 3, 13, current=True)
    assert select_drift_baseline([day1, day2, rerun]).candidate == day2
    # Data that broke training later, or passed only by allow_anomalies, is not the newest validated baseline.
    assert select_drift_baseline([day1, day2, _candidate(43, 3, 13, failed=True)]).candidate == day2
    assert select_drift_baseline([day1, day2, _candidate(43, 3, 13, allowed=True)]).candidate == day2
    # ... but the serving model's data is its baseline even if the user let its anomalies through (they accepted it).
    allowed = _candidate(43, 3, 13, allowed=True)
    assert select_drift_baseline([day1, day2, allowed], served_examples={13}).candidate == allowed
    # The first run: nothing to compare with, and that is not an error.
    assert select_drift_baseline([]).rule == "none" and select_drift_baseline([]).candidate is None


@pytest.mark.reliability
def test_a_pinned_baseline_is_that_span_or_a_clear_error() -> None:
    day1, day2, day3 = _candidate(41, 1, 11), _candidate(42, 2, 12), _candidate(43, 3, 13, current=True)
    choice = select_drift_baseline([day1, day2, day3], served_examples={12}, pinned=1)
    assert (choice.candidate, choice.rule) == (day1, "pinned")
    with pytest.raises(BaselineError, match=r"baseline_span=3: span 3 is this run's own data; .* are 1, 2"):
        select_drift_baseline([day1, day2, day3], pinned=3)
    with pytest.raises(BaselineError, match=r"span 7 has no validated data"):
        select_drift_baseline([day1, day2], pinned=7)
    with pytest.raises(BaselineError, match=r"span 2 has its files gone"):
        select_drift_baseline([day1, _candidate(42, 2, 12, present=False)], pinned=2)


def _sqlite_store(tmp_path: Path) -> object:
    """A real ML Metadata store in a SQLite file, as the local runner keeps one."""
    from ml_metadata import metadata_store
    from ml_metadata.proto import metadata_store_pb2

    config = metadata_store_pb2.ConnectionConfig()
    config.sqlite.filename_uri = str(tmp_path / "m.db")
    config.sqlite.connection_mode = metadata_store_pb2.SqliteMetadataSourceConfig.READWRITE_OPENCREATE
    return metadata_store.MetadataStore(config)


def test_runs_that_failed_after_validation_are_found_in_ml_metadata(tmp_path: Path) -> None:
    """A real SQLite ML Metadata store: runs, their executions and the statistics each validated."""
    from ml_metadata.proto import metadata_store_pb2

    from components.lineage import failed_run_artifacts

    store = _sqlite_store(tmp_path)
    artifact_type = store.put_artifact_type(metadata_store_pb2.ArtifactType(name="ExampleStatistics"))
    execution_type = store.put_execution_type(metadata_store_pb2.ExecutionType(name="Component"))
    run_type = store.put_context_type(metadata_store_pb2.ContextType(name="pipeline_run"))
    State = metadata_store_pb2.Execution  # noqa: N806 - the enum's namespace

    def run(name: str, later_state: int) -> int:
        """A run whose DataValidator validated statistics, then a later component ended in ``later_state``."""
        [context] = store.put_contexts([metadata_store_pb2.Context(type_id=run_type, name=name)])
        [artifact] = store.put_artifacts([metadata_store_pb2.Artifact(type_id=artifact_type, uri=name)])
        validator, later = store.put_executions(
            [
                metadata_store_pb2.Execution(type_id=execution_type, last_known_state=State.COMPLETE),
                metadata_store_pb2.Execution(type_id=execution_type, last_known_state=later_state),
            ]
        )
        output = metadata_store_pb2.Event.OUTPUT
        store.put_events([metadata_store_pb2.Event(artifact_id=artifact, execution_id=validator, type=output)])
        store.put_attributions_and_associations(
            [], [metadata_store_pb2.Association(context_id=context, execution_id=e) for e in (validator, later)]
        )
        return artifact

    good, broken, killed = run("run-1", State.COMPLETE), run("run-2", State.FAILED), run("run-3", State.RUNNING)
    assert failed_run_artifacts(store, [good, broken, killed]) == {broken, killed}
    assert failed_run_artifacts(store, []) == set() and failed_run_artifacts(None, [good]) == set()


def test_yesterdays_traffic_is_the_examples_the_validated_statistics_came_from(tmp_path: Path) -> None:
    """A real SQLite ML Metadata store: ExampleGen -> examples -> StatisticsGen -> statistics."""
    from ml_metadata.proto import metadata_store_pb2

    from components.lineage import examples_behind

    store = _sqlite_store(tmp_path)
    examples_type = store.put_artifact_type(metadata_store_pb2.ArtifactType(name="Examples"))
    stats_type = store.put_artifact_type(metadata_store_pb2.ArtifactType(name="ExampleStatistics"))
    execution_type = store.put_execution_type(metadata_store_pb2.ExecutionType(name="StatisticsGen"))
    Event = metadata_store_pb2.Event  # noqa: N806 - the enum's namespace

    def day(name: str) -> tuple[int, int]:
        """One day's examples and the statistics StatisticsGen computed from them."""
        examples, stats = store.put_artifacts(
            [
                metadata_store_pb2.Artifact(type_id=examples_type, uri=f"{name}/examples"),
                metadata_store_pb2.Artifact(type_id=stats_type, uri=f"{name}/statistics"),
            ]
        )
        [execution] = store.put_executions([metadata_store_pb2.Execution(type_id=execution_type)])
        store.put_events(
            [
                Event(artifact_id=examples, execution_id=execution, type=Event.INPUT),
                Event(artifact_id=stats, execution_id=execution, type=Event.OUTPUT),
            ]
        )
        return examples, stats

    (examples_1, stats_1), (examples_2, _) = day("day-1"), day("day-2")
    validated = artifact(standard_artifacts.ExampleStatistics, 99, source_statistics_id=stats_1)
    assert examples_behind(store, [validated.mlmd_artifact]) == {99: {examples_1}}
    assert examples_behind(None, [validated.mlmd_artifact]) == {99: set()}  # no store: no yesterday's traffic
    assert examples_2 not in examples_behind(store, [validated.mlmd_artifact])[99]
