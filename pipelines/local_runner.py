"""Run a task pipeline locally: LocalDagRunner, ML Metadata in SQLite, Beam DirectRunner.

The runner owns everything machine-specific: the output layout, the metadata connection and the
Beam arguments. It runs the components in order with TFX's own launcher (as ``LocalDagRunner``
does), and reports each one as it starts and ends; a failing component ends the run there. After
the run, :mod:`pipelines.run_summary` reads ML Metadata for what happened *in this run*.

One run at a time per task and output directory: a second run is refused while the first holds
the lock (SQLite ML Metadata and the serving folder are shared).
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import fcntl
import os
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any, TextIO

from pipelines.keras_config import configure_keras

configure_keras()

from absl import logging as absl_logging  # noqa: E402
from tfx.dsl.compiler import constants  # noqa: E402
from tfx.orchestration import metadata as tfx_metadata  # noqa: E402
from tfx.orchestration.local import runner_utils  # noqa: E402
from tfx.orchestration.local.local_dag_runner import LocalDagRunner  # noqa: E402
from tfx.orchestration.portable import launcher, runtime_parameter_utils  # noqa: E402
from tfx.proto.orchestration import pipeline_pb2  # noqa: E402

from components.data_validator import DataValidationError  # noqa: E402
from components.file_example_gen import check_input  # noqa: E402
from pipelines.config import TaskConfig  # noqa: E402
from pipelines.pipeline import VALIDATOR_ID, create_pipeline, reads_files  # noqa: E402
from pipelines.run_summary import ComponentFailure, RunSummary, state_name, summarize  # noqa: E402
from pipelines.spec import TaskSpec  # noqa: E402

SLOW_COMPONENT_SECONDS = 10.0  # a component still running after this long gets a "running" line


@dataclasses.dataclass(frozen=True)
class LocalLayout:
    """Where a local run writes: component outputs, metadata, pushed models, logs."""

    output_dir: str
    task: str

    @property
    def pipeline_root(self) -> str:
        """Component outputs, one folder per component and execution."""
        return os.path.join(self.output_dir, "pipelines", self.task)

    @property
    def metadata_path(self) -> str:
        """The SQLite ML Metadata database of this task."""
        return os.path.join(self.output_dir, "metadata", f"{self.task}.sqlite")

    @property
    def serving_root(self) -> str:
        """TF Serving model base: models land in ``<serving_root>/<task>/<version>/``."""
        return os.path.join(self.output_dir, "serving")

    @property
    def lock_path(self) -> str:
        """Held by the run of this task in progress."""
        return os.path.join(self.output_dir, "metadata", f"{self.task}.lock")

    @property
    def log_dir(self) -> str:
        """Full logs of each run (library output that the console does not show)."""
        return os.path.join(self.output_dir, "logs")


class RunInProgressError(RuntimeError):
    """Another run of the same task holds the output directory."""


class OutputDirError(RuntimeError):
    """The output directory cannot be created or written."""


def prepare_output_dir(layout: LocalLayout) -> None:
    """Create the output folders, or explain why they cannot be."""
    for folder in (os.path.dirname(layout.metadata_path), layout.log_dir, layout.serving_root):
        try:
            os.makedirs(folder, exist_ok=True)
        except OSError as err:
            raise OutputDirError(
                f"cannot create {folder} ({err.strerror}): choose an --output-dir this user can write"
            ) from None
        if not os.access(folder, os.W_OK | os.X_OK):
            raise OutputDirError(f"{folder} is not writable by this user: choose another --output-dir")


@contextlib.contextmanager
def run_lock(layout: LocalLayout) -> Iterator[None]:
    """Hold the task's lock in the output directory for the duration of a run, or refuse at once."""
    handle = open(layout.lock_path, "a+")  # noqa: SIM115 - held for the duration of the run
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        holder = handle.read().strip() or "another process"
        handle.close()
        raise RunInProgressError(
            f"a {layout.task} run is already in progress in {layout.output_dir} ({holder}). Wait for it to "
            "finish, or use another --output-dir: two runs would share ML Metadata and the serving folder."
        ) from None
    handle.seek(0)
    handle.truncate()
    handle.write(f"pid {os.getpid()}, started {datetime.datetime.now().isoformat(timespec='seconds')}")
    handle.flush()
    try:
        yield
    finally:
        fcntl.flock(handle, fcntl.LOCK_UN)
        handle.close()


def beam_args(workers: int) -> list[str]:
    """DirectRunner arguments: in-process for 1 worker, multi-processing for more."""
    if workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    if workers == 1:
        return ["--direct_running_mode=in_memory", "--direct_num_workers=1"]
    return ["--direct_running_mode=multi_processing", f"--direct_num_workers={workers}"]


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


class ProgressDagRunner(LocalDagRunner):
    """``LocalDagRunner`` that reports each component as it starts and ends, and stops at a failure.

    The loop is LocalDagRunner's own (TFX 1.16 ``run_with_ir``): the components run in topological
    order through TFX's launcher, with the same run id, caching and ML Metadata records.
    """

    def __init__(self, progress: Progress) -> None:
        super().__init__()
        self.progress = progress
        self.failure: ComponentFailure | None = None
        self.error: BaseException | None = None
        self.run_id = ""

    def run_with_ir(self, pipeline: pipeline_pb2.Pipeline, run_options: Any = None) -> None:
        """Run every component of the compiled pipeline in order; record the first failure."""
        del run_options  # partial runs are not used here
        self.run_id = datetime.datetime.now().isoformat()
        runtime_parameter_utils.substitute_runtime_parameter(
            pipeline, {constants.PIPELINE_RUN_ID_PARAMETER_NAME: self.run_id}
        )
        deployment_config = runner_utils.extract_local_deployment_config(pipeline)
        connection_config = getattr(
            deployment_config.metadata_connection_config,
            deployment_config.metadata_connection_config.WhichOneof("connection_config"),
        )
        for node in pipeline.nodes:
            pipeline_node = node.pipeline_node
            node_id = pipeline_node.node_info.id
            component_launcher = launcher.Launcher(
                pipeline_node=pipeline_node,
                mlmd_connection=tfx_metadata.Metadata(connection_config),
                pipeline_info=pipeline.pipeline_info,
                pipeline_runtime_spec=pipeline.runtime_spec,
                executor_spec=runner_utils.extract_executor_spec(deployment_config, node_id),
                custom_driver_spec=runner_utils.extract_custom_driver_spec(deployment_config, node_id),
            )
            start = time.monotonic()
            self.progress.started(node_id)
            try:
                execution_info = component_launcher.launch()
            except Exception as err:  # noqa: BLE001 - any component failure ends the run with its reason
                absl_logging.exception("Component %s failed", node_id)
                self.progress.finished(node_id, "FAILED", time.monotonic() - start)
                self.failure = ComponentFailure(node_id, _first_line(err), _more_lines(err))
                self.error = err
                return
            state = _execution_state(connection_config, execution_info)
            self.progress.finished(node_id, "cached" if state == "CACHED" else "done", time.monotonic() - start)


def _execution_state(connection_config: Any, execution_info: Any) -> str:
    """COMPLETE, CACHED ... of the execution a launch recorded (COMPLETE if it recorded none)."""
    execution_id = getattr(execution_info, "execution_id", None)
    if execution_id is None:
        return "COMPLETE"
    with tfx_metadata.Metadata(connection_config) as handle:
        (execution,) = handle.store.get_executions_by_id([execution_id])
    return state_name(execution)


def _first_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return f"{type(err).__name__}: {text[0] if text else ''}".rstrip(": ")


def _more_lines(err: BaseException, limit: int = 40) -> list[str]:
    """The message's lines after the first (a user-facing error may list what it found), at most ``limit``."""
    lines = [line.rstrip() for line in str(err).strip().splitlines()[1:]]
    return lines[:limit] + ([f"... {len(lines) - limit} more lines in the log"] if len(lines) > limit else [])


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
        RunInProgressError: another run of this task holds ``output_dir``.
        OutputDirError: ``output_dir`` cannot be written.
        FileInputError: the task reads files, and their folder or the files of a split are missing.
    """
    if reads_files(spec, config):  # the ExampleGen's driver checks the same; here it stops before anything starts
        check_input(config.data.input_base, config.data.split_patterns, config.data.span)
    layout = LocalLayout(os.path.abspath(output_dir), spec.name)
    prepare_output_dir(layout)
    with run_lock(layout):
        pipeline = create_pipeline(
            spec,
            config,
            pipeline_root=layout.pipeline_root,
            serving_root=layout.serving_root,
            metadata_connection_config=tfx_metadata.sqlite_metadata_connection_config(layout.metadata_path),
            beam_pipeline_args=[*beam_args(workers), *extra_beam_args],
            enable_cache=enable_cache,
        )
        runner = ProgressDagRunner(Progress(printer or (lambda _line: None)))
        start = time.time()
        runner.run(pipeline)
        summary = summarize(
            layout.metadata_path,
            pipeline.pipeline_info.pipeline_name,
            run_id=runner.run_id,
            node_order=[c.id for c in pipeline.components],
            wall_seconds=time.time() - start,
        )
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


@contextlib.contextmanager
def quiet_output(log_path: str) -> Iterator[TextIO]:
    """Send everything written to the process's stderr (C++ and library logs, warnings) to ``log_path``.

    Yields a stream to the user's stderr, for messages the user must see. The redirection is at the
    file-descriptor level, so TensorFlow's C++ logging and child processes are caught too.
    """
    import sys

    os.makedirs(os.path.dirname(log_path), exist_ok=True)
    log = open(log_path, "a", buffering=1)  # noqa: SIM115 - closed below
    previous = sys.stderr
    saved = os.dup(2)
    try:
        on_fd2 = previous.fileno() == 2
    except (AttributeError, OSError, ValueError):  # a captured stream (tests): it is not fd 2
        on_fd2 = False
    user_stderr = os.fdopen(os.dup(saved), "w", buffering=1) if on_fd2 else previous
    previous.flush()
    os.dup2(log.fileno(), 2)
    sys.stderr = log
    try:
        yield user_stderr
    finally:
        sys.stderr = previous
        os.dup2(saved, 2)
        os.close(saved)
        if on_fd2:
            user_stderr.close()
        log.close()
