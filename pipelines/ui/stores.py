"""Which ML Metadata stores the UI reads: the one place that decides it.

Local runs keep one SQLite file per task under ``<output-dir>/metadata/`` (:mod:`pipelines.local_layout`);
runs given ``--metadata mysql://...`` keep every task in one shared MariaDB/MySQL database
(:mod:`pipelines.metadata_store`), one :class:`MetadataSource` showing all its pipelines.
"""

from __future__ import annotations

import dataclasses
import glob
import os

from ml_metadata.proto import metadata_store_pb2

from pipelines.local_layout import LocalLayout
from pipelines.metadata_store import MetadataConnectionError, connection_config, open_store


class StoreError(RuntimeError):
    """No ML Metadata to show, with the fix in the message."""


@dataclasses.dataclass(frozen=True)
class MetadataSource:
    """One ML Metadata store and the pipeline whose runs to show from it (None: every pipeline it holds)."""

    pipeline: str | None
    config: metadata_store_pb2.ConnectionConfig
    lock_path: str | None = None  # a local run holds this file while it runs (None: unknown)


def sources_for(output_dir: str, metadata_url: str = "") -> list[MetadataSource]:
    """The runs' stores: ``<output_dir>/metadata/<task>.sqlite`` read-only, or the database of ``metadata_url``.

    Raises:
        StoreError: the folder does not exist, holds no ML Metadata, or the database cannot be reached.
        pipelines.metadata_store.MetadataURLError: ``metadata_url`` is malformed.
    """
    if metadata_url:
        config = connection_config(metadata_url, "", read_only=True)
        try:
            open_store(config)
        except MetadataConnectionError as err:
            raise StoreError(str(err)) from None
        return [MetadataSource(None, config, None)]
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
        sources.append(MetadataSource(task, connection_config(None, path, read_only=True), lock))
    return sources
