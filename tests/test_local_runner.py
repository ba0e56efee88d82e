"""The local runner without running a pipeline: summaries, slice names, the run lock, the output folder."""

from __future__ import annotations

import multiprocessing
import os
from pathlib import Path

import pytest
from tensorflow_model_analysis.proto import metrics_for_slice_pb2

from pipelines.local_layout import (
    LocalLayout,
    OutputDirError,
    RunInProgressError,
    prepare_output_dir,
    run_in_progress,
    run_lock,
)
from pipelines.run_summary import ComponentFailure, ExitCode, RunSummary
from pipelines.tfma_results import slice_name


def _summary(**changes: object) -> RunSummary:
    values = dict(
        task="mnist",
        run_id="2026-11-23T10:00:00",
        wall_seconds=12.0,
        components={"TFDSExampleGen": "COMPLETE", "Trainer": "COMPLETE", "AtomicPusher": "COMPLETE"},
        seconds={"TFDSExampleGen": 1.5, "Trainer": 9.0, "AtomicPusher": 0.1},
        metrics={"sparse_categorical_accuracy": 0.99},
        blessed=True,
        pushed=True,
        pushed_destination="/out/serving/mnist/7",
        artifacts={},
    )
    values.update(changes)
    return RunSummary(**values)


@pytest.mark.reliability
def test_the_summary_says_why_nothing_was_pushed() -> None:
    assert "pushed to: /out/serving/mnist/7" in _summary().describe()
    assert "pushed: no (the model was not blessed;" in _summary(blessed=False, pushed=False).describe()
    # A blessed model whose push failed is not "not blessed": the summary names the failure.
    failed = _summary(
        pushed=False,
        components={"TFDSExampleGen": "COMPLETE", "Trainer": "COMPLETE", "AtomicPusher": "FAILED"},
        failure=ComponentFailure("AtomicPusher", "PermissionError: [Errno 13] Permission denied: '/out/serving'"),
    )
    text = failed.describe()
    assert "blessed: yes" in text and "failed: AtomicPusher: PermissionError" in text
    assert "pushed: no (the run stopped at AtomicPusher; the serving directory is unchanged)" in text
    assert not failed.succeeded
    cached = _summary(pushed=False, components={"AtomicPusher": "CACHED"})
    assert "already pushed or refused this model" in cached.describe()


def test_the_summary_says_each_failed_infra_check_and_when_infra_validation_was_skipped() -> None:
    failures = "latency serving_default (gRPC Predict, batch 32): p99 812 ms over the budget of 500 ms\ncontract x"
    text = _summary(infra_blessed=False, infra_reason=failures, pushed=False).describe().splitlines()
    at = text.index("   infra validation: NO, not servable as promised:")
    assert text[at + 1 : at + 3] == [f"     {line}" for line in failures.splitlines()]
    skipped = _summary(blessed=False, infra_blessed=False, infra_reason="not tried", pushed=False).describe()
    assert "infra validation: skipped (the Evaluator did not bless the model, so it was not tried)" in skipped


def test_exit_codes_tell_a_scheduler_what_happened() -> None:
    assert _summary().exit_code == ExitCode.PUSHED_OR_NOTHING_TO_DO == 0
    nothing = _summary(pushed=False, components={"Trainer": "CACHED", "AtomicPusher": "CACHED"})
    assert nothing.exit_code == 0
    assert _summary(blessed=False, pushed=False).exit_code == ExitCode.NOT_BLESSED == 4
    assert _summary(infra_blessed=False, pushed=False).exit_code == 4
    validator = ComponentFailure("DataValidator", "DataValidationError: data validation found 3 anomalies")
    assert _summary(pushed=False, failure=validator).exit_code == ExitCode.DATA_REFUSED == 3
    files = ComponentFailure("CsvExampleGen", "FileInputError: /data/span-2/a.csv is empty: remove it")
    assert _summary(pushed=False, failure=files).exit_code == 3
    crash = ComponentFailure("Trainer", "ResourceExhaustedError: OOM")
    assert _summary(pushed=False, failure=crash).exit_code == ExitCode.FAILED == 1
    assert '"exit_code": 3' in _summary(pushed=False, failure=validator).to_json()


def test_slice_names_keep_a_value_of_zero() -> None:
    key = metrics_for_slice_pb2.SliceKey()
    key.single_slice_keys.add(column="label", int64_value=0)
    assert slice_name(key) == "label=0"  # was "label=" when 0 was treated as missing
    other = metrics_for_slice_pb2.SliceKey()
    other.single_slice_keys.add(column="department", bytes_value=b"billing")
    assert slice_name(other) == "department=billing"
    assert slice_name(metrics_for_slice_pb2.SliceKey()) == "overall"


def _hold_lock(output_dir: str, held: multiprocessing.Event, release: multiprocessing.Event) -> None:
    with run_lock(LocalLayout(output_dir, "mnist")):
        held.set()
        release.wait(60)


@pytest.mark.reliability
def test_a_reader_sees_whether_a_run_holds_the_output_dir_without_taking_it(tmp_path: Path) -> None:
    """What the UI asks to show a run as running: the lock itself, which a dead process no longer holds."""
    layout = LocalLayout(str(tmp_path), "mnist")
    prepare_output_dir(layout)
    assert not run_in_progress(layout.lock_path)  # no run yet
    with run_lock(layout):
        assert run_in_progress(layout.lock_path)
        assert run_in_progress(layout.lock_path)  # asking took nothing
    assert not run_in_progress(layout.lock_path)  # the lock file stays; nobody holds it


def test_a_second_run_in_the_same_output_dir_is_refused_while_the_first_runs(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    from pipelines.cli import main

    layout = LocalLayout(str(tmp_path), "mnist")
    prepare_output_dir(layout)
    held, release = multiprocessing.Event(), multiprocessing.Event()
    first = multiprocessing.Process(target=_hold_lock, args=(str(tmp_path), held, release))
    first.start()
    try:
        assert held.wait(60)
        with pytest.raises(RunInProgressError, match=r"a mnist run is already in progress in .*\(pid \d+"):
            with run_lock(layout):
                pass
        with run_lock(LocalLayout(str(tmp_path), "ticket")):  # another task may run beside it
            pass
        # Through the CLI: one line, exit 2, before anything is built or written.
        assert main(["run", "mnist", "--output-dir", str(tmp_path), "--data-dir", str(tmp_path / "no_data")]) == 2
        err = capsys.readouterr().err
        assert "error: a mnist run is already in progress in" in err and "Traceback" not in err
    finally:
        release.set()
        first.join(60)
    with run_lock(layout):  # free again once the first run ended
        pass


@pytest.mark.reliability
def test_an_output_dir_that_cannot_be_written_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    with pytest.raises(OutputDirError, match="--output-dir .*file is a file, not a folder: choose a folder"):
        prepare_output_dir(LocalLayout(str(tmp_path / "file"), "mnist"))
    (tmp_path / "below").mkdir()
    (tmp_path / "below" / "metadata").write_text("x")  # a file where a folder of the layout goes
    with pytest.raises(OutputDirError, match="cannot create .*below/metadata .*choose an --output-dir"):
        prepare_output_dir(LocalLayout(str(tmp_path / "below"), "mnist"))
    prepare_output_dir(LocalLayout(str(tmp_path / "ok"), "mnist"))
    assert {p.name for p in (tmp_path / "ok").iterdir()} == {"metadata", "logs", "serving"}
    assert os.access(tmp_path / "ok" / "serving", os.W_OK)


@pytest.mark.reliability
def test_a_read_only_output_dir_is_a_one_line_error_from_the_cli(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    from pipelines import local_layout
    from pipelines.cli import main

    read_only = tmp_path / "read_only"
    read_only.mkdir()
    real_access = os.access
    # chmod does not stop root (this machine's user), so the check is told what a normal user's would say.
    monkeypatch.setattr(
        local_layout.os,
        "access",
        lambda path, mode: not str(path).startswith(str(read_only)) and real_access(path, mode),
    )
    assert main(["run", "ticket", "--output-dir", str(read_only)]) == 2
    err = capsys.readouterr().err
    assert "is not writable by this user: choose another --output-dir" in err and "Traceback" not in err


def _tiny_pipeline(root: Path, count: int, fail: int = 0) -> object:
    from helpers.tiny_components import SumNumbers, WriteNumbers
    from tfx import v1 as tfx

    numbers = WriteNumbers(count=count)
    total = SumNumbers(examples=numbers.outputs["examples"], fail=fail)
    return tfx.dsl.Pipeline(
        pipeline_name="tiny",
        pipeline_root=str(root / "root"),
        components=[numbers, total],
        metadata_connection_config=tfx.orchestration.metadata.sqlite_metadata_connection_config(str(root / "m.db")),
        enable_cache=True,
    )


def test_the_stock_runner_reports_each_component_done_cached_or_failed(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, request: pytest.FixtureRequest
) -> None:
    """Progress lines come from TFX's own LocalDagRunner records and ML Metadata, and match the run's summary."""
    import logging

    from pipelines.local_runner import Progress, run_dag
    from pipelines.run_summary import summarize

    absl_logger = logging.getLogger("absl")
    before = absl_logger.level
    absl_logger.setLevel(logging.WARNING)  # as a caller that wants warnings only
    request.addfinalizer(lambda: absl_logger.setLevel(before))

    def run(count: int, fail: int = 0) -> tuple[object, list[str]]:
        lines: list[str] = []
        dag = run_dag(_tiny_pipeline(tmp_path, count, fail), Progress(lines.append))
        return dag, [" ".join(line.split()[:3]) for line in lines]

    dag, lines = run(4)
    assert lines == ["[pipeline] WriteNumbers done", "[pipeline] SumNumbers done"] and dag.failure is None
    assert (tmp_path / "root").exists() and dag.components == ["WriteNumbers", "SumNumbers"]
    summary = summarize(_tiny_pipeline(tmp_path, 4).metadata_connection_config, "tiny", dag.run_id, dag.components)
    assert summary.components == {"WriteNumbers": "COMPLETE", "SumNumbers": "COMPLETE"}

    dag, lines = run(4)  # nothing changed: both outputs are reused
    assert lines == ["[pipeline] WriteNumbers cached", "[pipeline] SumNumbers cached"]

    dag, lines = run(5, fail=1)  # a new input, and a component that raises: the run ends there, named
    assert lines == ["[pipeline] WriteNumbers done", "[pipeline] SumNumbers FAILED"]
    assert dag.failure is not None and dag.failure.component == "SumNumbers"
    assert dag.failure.reason == "ValueError: the numbers do not add up"
    assert dag.failure.details == ["second line of the reason"]
    # Watching TFX's INFO records changed nothing of what is logged: nothing below the logger's level got out.
    assert absl_logger.level == logging.WARNING
    assert [r.getMessage() for r in caplog.records if r.name == "absl" and r.levelno < logging.WARNING] == []


def test_local_beam_runs_do_not_package_tfx_for_remote_workers() -> None:
    """TFX builds an sdist of itself (4 s, 49 MB in /tmp) per Beam component unless the args name dependencies."""
    from tfx.utils import dependency_utils

    from pipelines.local_runner import beam_args

    for workers in (1, 2):
        assert dependency_utils.make_beam_dependency_flags(beam_args(workers)) == beam_args(workers)
