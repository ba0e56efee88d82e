"""Library output off the console: everything written to the process's stderr goes to the run's log file."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from typing import TextIO


@contextlib.contextmanager
def quiet_output(log_path: str) -> Iterator[TextIO]:
    """Send everything written to the process's stderr (C++ and library logs, warnings) to ``log_path``.

    Yields a stream to the user's stderr, for messages the user must see. The redirection is at the
    file-descriptor level, so TensorFlow's C++ logging and child processes are caught too.
    """
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
