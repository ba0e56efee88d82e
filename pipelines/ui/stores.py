"""Which ML Metadata stores the UI reads: the one place that decides it.

Local runs keep one SQLite file per task under ``<output-dir>/metadata/`` (:mod:`pipelines.local_layout`).
A shared MySQL/MariaDB store would be one more :class:`MetadataSource` built here from its URL.
"""

from __future__ import annotations

import dataclasses
import glob
import os

from ml_metadata.proto import metadata_store_pb2

from pipelines.local_layout import LocalLayout
from pipelines.run_records import sqlite_config


class StoreError(RuntimeError):
    """No ML Metadata to show, with the fix in the message."""


@dataclasses.dataclass(frozen=True)
class MetadataSource:
    """One ML Metadata store and the pipeline whose runs to show from it (None: every pipeline it holds)."""

    pipeline: str | None
    config: metadata_store_pb2.ConnectionConfig
    lock_path: str | None = None  # a local run holds this file while it runs (None: unknown)


def sources_for(output_dir: str) -> list[MetadataSource]:
    """The stores of the local runs under ``output_dir``: ``metadata/<task>.sqlite``, opened read-only.

    Raises:
        StoreError: the folder does not exist, or holds no ML Metadata.
    """
    if not os.path.isdir(output_dir):
        raise StoreError(
            f"{output_dir} does not exist: pass the --output-dir of your runs (tfx-keras run TASK --output-dir DIR)"
        )
    found = sorted(glob.glob(os.path.join(output_dir, "metadata", "*.sqlite")))
    if not found:
        raise StoreError(
            f"no ML Metadata in {output_dir} (no metadata/*.sqlite): run a pipeline first "
            "(tfx-keras run TASK --output-dir DIR), or pass the --output-dir it wrote to"
        )
    sources = []
    for path in found:
        task = os.path.splitext(os.path.basename(path))[0]
        lock = LocalLayout(output_dir, task).lock_path
        sources.append(MetadataSource(task, sqlite_config(path, read_only=True), lock))
    return sources
