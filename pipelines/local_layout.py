"""Where a local run writes (component outputs, ML Metadata, pushed models, logs), and one run at a time.

A second run of a task in the same output directory is refused while the first holds the lock:
they would share SQLite ML Metadata and the serving folder. With ML Metadata on a shared MySQL
database, a run also holds a lock in that database (:mod:`pipelines.database_lock`), which other
output folders and hosts see.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import fcntl
import os
from collections.abc import Iterator
from typing import Any


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


def check_output_dir(layout: LocalLayout) -> None:
    """Refuse an output directory that is a file (before a dry run's plan, or a run's first folder)."""
    if os.path.exists(layout.output_dir) and not os.path.isdir(layout.output_dir):
        raise OutputDirError(f"--output-dir {layout.output_dir} is a file, not a folder: choose a folder")


def prepare_output_dir(layout: LocalLayout) -> None:
    """Create the output folders, or explain why they cannot be."""
    check_output_dir(layout)
    for folder in (os.path.dirname(layout.metadata_path), layout.log_dir, layout.serving_root):
        try:
            os.makedirs(folder, exist_ok=True)
        except OSError as err:
            raise OutputDirError(
                f"cannot create {folder} ({err.strerror}): choose an --output-dir this user can write"
            ) from None
        if not os.access(folder, os.W_OK | os.X_OK):
            raise OutputDirError(f"{folder} is not writable by this user: choose another --output-dir")


def _take(layout: LocalLayout, handle: Any) -> None:
    """Take the lock on the open lock file, or raise RunInProgressError naming who holds it."""
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


def run_in_progress(lock_path: str) -> bool:
    """Whether a run holds the lock file ``lock_path`` now (a reader's question: it takes nothing)."""
    try:
        with open(lock_path) as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_SH | fcntl.LOCK_NB)
            except BlockingIOError:
                return True
            return False  # released when the file closes
    except OSError:  # no lock file: no run ever held it
        return False


def check_not_running(layout: LocalLayout) -> None:
    """Refuse at once if a run of the task holds the output directory; creates nothing (the check before the checks)."""
    if os.path.isfile(layout.lock_path):
        with open(layout.lock_path) as handle:
            _take(layout, handle)  # released when the file closes


@contextlib.contextmanager
def run_lock(layout: LocalLayout) -> Iterator[None]:
    """Hold the task's lock in the output directory for the duration of a run, or refuse at once."""
    handle = open(layout.lock_path, "a+")  # noqa: SIM115 - held for the duration of the run
    _take(layout, handle)
    handle.seek(0)
    handle.truncate()
    handle.write(f"pid {os.getpid()}, started {datetime.datetime.now().isoformat(timespec='seconds')}")
    handle.flush()
    try:
        yield
    finally:
        fcntl.flock(handle, fcntl.LOCK_UN)
        handle.close()
