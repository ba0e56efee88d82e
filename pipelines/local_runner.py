"""Run a task pipeline locally: TFX's LocalDagRunner, ML Metadata in SQLite (or MySQL), Beam DirectRunner.

This module owns everything machine-specific: the output layout, the metadata connection and the
Beam arguments. The components run with TFX's stock ``LocalDagRunner``; each is reported as it
starts and ends, from the runner's own log records and ML Metadata; a failing component ends the
run there. After the run, :mod:`pipelines.run_summary` reads ML Metadata for what happened *in this
run*. Entry points select Keras 2 (:func:`pipelines.keras_config.configure_keras`) before they
import this module.

Where a run writes, and its lock, are :mod:`pipelines.local_layout`; where ML Metadata is (SQLite in
the output folder, or a shared MariaDB/MySQL database, with its own lock) is :mod:`pipelines.metadata_store`.
"""

from __future__ import annotations

import dataclasses
import datetime
import logging
import os
import re
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from absl import logging as absl_logging
from tfx.dsl.compiler import constants
from tfx.orchestration.local.local_dag_runner import LocalDagRunner
from tfx.orchestration.portable import runtime_parameter_utils, tfx_runner

from components.baseline_resolver import check_pinned_span
from components.data_validator import DataValidationError
from components.file_example_gen import check_input
from pipelines import metadata_store
from pipelines.config import TaskConfig
from pipelines.database_lock import check_database_not_running, database_lock
from pipelines.local_layout import LocalLayout, check_not_running, prepare_output_dir, run_lock
from pipelines.pipeline import VALIDATOR_ID, create_pipeline, reads_files
from pipelines.run_summary import ComponentFailure, RunSummary, component_state, summarize
from pipelines.spec import TaskSpec

SLOW_COMPONENT_SECONDS = 10.0  # a component still running after this long gets a "running" line


# TFX packages itself (an sdist: 4 s and 49 MB left in /tmp, every time) for each Beam component
# whose Beam arguments name no dependencies, so that remote workers can import it. The DirectRunner's
# workers are this Python environment (in-process, or its subprocesses) and never read the flag
# below; it only tells TFX that the dependencies are in place.
LOCAL_WORKER_ENVIRONMENT = "--sdk_container_image=none-the-direct-runner-runs-this-python"


def beam_args(workers: int) -> list[str]:
    """DirectRunner arguments: in-process for 1 worker, multi-processing for more; TFX is not packaged."""
    if workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    if workers == 1:
        return ["--direct_running_mode=in_memory", "--direct_num_workers=1", LOCAL_WORKER_ENVIRONMENT]
    return ["--direct_running_mode=multi_processing", f"--direct_num_workers={workers}", LOCAL_WORKER_ENVIRONMENT]


class Progress:
    """One line per component: done or cached, with its seconds; a "running" line if it takes long."""

    def __init__(self, printer: Callable[[str], None], slow_seconds: float = SLOW_COMPONENT_SECONDS) -> None:
        self.printer = printer
        self.slow_seconds = slow_seconds
        self._timer: threading.Timer | None = None

    def started(self, node: str) -> None:
        """A component started."""
        self._timer = threading.Timer(self.slow_seconds, self.printer, [f"[pipeline] {node:30s} running ..."])
        self._timer.daemon = True
        self._timer.start()

    def finished(self, node: str, state: str, seconds: float) -> None:
        """A component ended (``done``, ``cached`` or ``FAILED``)."""
        if self._timer:
            self._timer.cancel()
        self.printer(f"[pipeline] {node:30s} {state:7s} {seconds:7.1f} s")


class _HidePasswords(logging.Filter):
    """Hides a database password in a record: the runner logs its ``ConnectionConfig`` ("Using connection config")."""

    PASSWORD = re.compile(r'(password:\s*)"(?:[^"\\]|\\.)*"')

    def filter(self, record: logging.LogRecord) -> bool:  # noqa: D102 - logging's hook
        if record.args and "password" in (text := record.getMessage()):
            record.msg, record.args = self.PASSWORD.sub(r'\1"***"', text), ()
        return True


class _ComponentLog(logging.Filter):
    """Progress from TFX's own records: the stock runner logs each component as it starts and finishes.

    ``LocalDagRunner.run_with_ir`` logs ``Component <id> is running.`` before it launches a component
    and ``Component <id> is finished.`` after; how it ended (done, or cached) is read from ML Metadata.
    A filter on absl's logger sees those INFO records, and passes on only the records the logger
    would have passed before (``floor``): watching changes nothing of what is logged.
    """

    RUNNING, FINISHED = "Component %s is running.", "Component %s is finished."

    def __init__(self, progress: Progress, state_of: Callable[[str], str], floor: int) -> None:
        super().__init__()
        self.progress = progress
        self.state_of = state_of
        self.floor = floor
        self.current: str | None = None  # the component running now
        self.started = 0.0
        self.seen: list[str] = []

    def filter(self, record: logging.LogRecord) -> bool:  # noqa: D102 - logging's hook
        try:
            if record.msg == self.RUNNING:
                self.current, self.started = str(record.args[0]), time.monotonic()  # type: ignore[index]
                self.seen.append(self.current)
                self.progress.started(self.current)
            elif record.msg == self.FINISHED and self.current is not None:
                node, self.current = self.current, None
                try:
                    state = self.state_of(node)
                except Exception:  # noqa: BLE001 - progress must never fail a component that ran
                    state = "COMPLETE"
                self.progress.finished(node, "cached" if state == "CACHED" else "done", self.elapsed())
        except Exception:  # noqa: BLE001 - a broken console must not fail the run either
            absl_logging.warning("progress line not printed", exc_info=True)
        return record.levelno >= self.floor

    def elapsed(self) -> float:
        """Seconds since the running component started."""
        return time.monotonic() - self.started


@dataclasses.dataclass
class DagRun:
    """A run of a pipeline: its id in ML Metadata, and the failure that ended it (None: it completed)."""

    run_id: str
    failure: ComponentFailure | None = None
    error: BaseException | None = None
    components: list[str] = dataclasses.field(default_factory=list)  # as they started


def run_dag(pipeline: Any, progress: Progress) -> DagRun:
    """Run a TFX pipeline with TFX's stock ``LocalDagRunner``, reporting each component as it starts and ends.

    The pipeline is compiled and given its run id here (the runner keeps an id that is already set),
    so the run can be read back from ML Metadata. A component that fails ends the run, as the stock
    runner does; its error is returned, not raised. An error of the runner itself, between
    components, is raised.
    """
    pipeline_ir = tfx_runner._make_pipeline_proto(pipeline)  # noqa: SLF001 - the IR the stock run() makes
    run = DagRun(datetime.datetime.now().isoformat())
    runtime_parameter_utils.substitute_runtime_parameter(
        pipeline_ir, {constants.PIPELINE_RUN_ID_PARAMETER_NAME: run.run_id}
    )
    connection_config = pipeline.metadata_connection_config
    tfx_logger = logging.getLogger("absl")  # absl.logging, where TFX logs
    level = tfx_logger.level
    watcher = _ComponentLog(
        progress, lambda node: component_state(connection_config, run.run_id, node), tfx_logger.getEffectiveLevel()
    )
    hide_passwords = _HidePasswords()
    tfx_logger.addFilter(hide_passwords)
    tfx_logger.addFilter(watcher)
    tfx_logger.setLevel(min(logging.INFO, tfx_logger.getEffectiveLevel()))
    try:
        LocalDagRunner().run_with_ir(pipeline_ir)
    except Exception as err:  # noqa: BLE001 - a component's failure ends the run with its reason
        if watcher.current is None:  # the runner itself failed, between components: not a component's error
            raise
        absl_logging.exception("Component %s failed", watcher.current)
        progress.finished(watcher.current, "FAILED", watcher.elapsed())
        run.failure = ComponentFailure(watcher.current, _first_line(err), _more_lines(err))
        run.error = err
    finally:
        tfx_logger.removeFilter(watcher)
        tfx_logger.removeFilter(hide_passwords)
        tfx_logger.setLevel(level)
    run.components = watcher.seen
    return run


def _first_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return f"{type(err).__name__}: {text[0] if text else ''}".rstrip(": ")


def _more_lines(err: BaseException, limit: int = 40) -> list[str]:
    """The message's lines after the first (a user-facing error may list what it found), at most ``limit``."""
    lines = [line.rstrip() for line in str(err).strip().splitlines()[1:]]
    return lines[:limit] + ([f"... {len(lines) - limit} more lines in the log"] if len(lines) > limit else [])


def local_pipeline(
    spec: TaskSpec,
    config: TaskConfig,
    layout: LocalLayout,
    workers: int = 1,
    enable_cache: bool = True,
    extra_beam_args: Sequence[str] = (),
) -> Any:
    """The task's TFX pipeline for this machine, after the checks that stop a run before anything starts.

    Building it writes nothing (a run refused by its checks, or a dry run, leaves no output folder behind:
    :func:`prepare_output_dir` makes the folders when a run starts).

    Raises:
        FileInputError: the task reads files, and their folder or the files of a split are missing.
        DatasetNotPreparedError: the task reads a TFDS data set that is not prepared (and not to be downloaded).
        MetadataConnectionError: ML Metadata is on a MySQL server that cannot be reached or used.
    """
    connection = metadata_store.connection_config(config.metadata.url, layout.metadata_path)
    metadata_store.check_connection(connection)
    if reads_files(spec, config):  # the ExampleGen's driver checks the same; here it stops before anything starts
        check_input(config.data.input_base, config.data.split_patterns, config.data.span)
    if config.validation.baseline_span is not None:
        check_pinned_span(
            metadata_store.open_existing(connection), spec.name, VALIDATOR_ID, config.validation.baseline_span
        )
    return create_pipeline(
        spec,
        config,
        pipeline_root=layout.pipeline_root,
        serving_root=layout.serving_root,
        metadata_connection_config=connection,
        beam_pipeline_args=[*beam_args(workers), *extra_beam_args],
        enable_cache=enable_cache,
    )


def run_pipeline(
    spec: TaskSpec,
    config: TaskConfig,
    output_dir: str,
    workers: int = 1,
    enable_cache: bool = True,
    printer: Callable[[str], None] | None = None,
    extra_beam_args: Sequence[str] = (),
    log_file: str | None = None,
) -> RunSummary:
    """Build and run the task's pipeline locally; return what happened in this run.

    A component that fails ends the run there; the summary names it and its reason.

    Args:
        spec: the task.
        config: the task's validated configuration.
        output_dir: root of the local layout (see :class:`LocalLayout`).
        workers: Beam DirectRunner workers (1: in-process).
        enable_cache: reuse unchanged component outputs.
        printer: where progress lines go (None: nowhere).
        extra_beam_args: appended to the Beam arguments.
        log_file: where the run's full log is (shown in the summary).

    Raises:
        RunInProgressError: another run of this task holds ``output_dir``, or its MySQL metadata database.
        OutputDirError: ``output_dir`` cannot be written.
        FileInputError: the task reads files, and their folder or the files of a split are missing.
        MetadataConnectionError: ML Metadata is on a MySQL server that cannot be reached or used.
    """
    layout = LocalLayout(os.path.abspath(output_dir), spec.name)
    check_not_running(layout)
    pipeline = local_pipeline(spec, config, layout, workers, enable_cache, extra_beam_args)  # checks, writes nothing
    connection = pipeline.metadata_connection_config
    check_database_not_running(connection, spec.name)
    prepare_output_dir(layout)
    with run_lock(layout), database_lock(connection, spec.name):
        start = time.time()
        runner = run_dag(pipeline, Progress(printer or (lambda _line: None)))
        try:
            summary = summarize(
                connection,
                pipeline.pipeline_info.pipeline_name,
                run_id=runner.run_id,
                node_order=[c.id for c in pipeline.components],
                wall_seconds=time.time() - start,
                window_spans=getattr(config.data, "window_spans", 1),
            )
        except RuntimeError as err:  # ML Metadata's client: the server went away during the run
            if not metadata_store.is_mysql(connection):
                raise
            raise metadata_store.lost(connection, err, runner.failure.component if runner.failure else "") from None
    summary.failure = runner.failure
    if runner.failure is not None:  # a driver's failure leaves its execution RUNNING in ML Metadata
        summary.components[runner.failure.component] = "FAILED"
    summary.eval_split = config.data.eval_split
    if isinstance(runner.error, DataValidationError):
        summary.drift = runner.error.drift  # what the rejected data measured (its artifacts are not published)
        summary.artifacts["data report"] = runner.error.report
    if summary.failure is not None and summary.failure.component == VALIDATOR_ID:
        summary.failure.hint = (
            f"the curated schema is {spec.schema_file} (docs/data-validation.md); "
            "`--set validation.allow_anomalies=true` trains anyway"
        )
    summary.log_file = log_file
    return summary
