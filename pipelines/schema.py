"""The curated schema as the pipelines read it: the columns it describes, for the file ExampleGens.

The schema itself is ``pipelines/<task>/schema.pbtxt``; ``tfx-keras schema infer`` (in
:mod:`pipelines.schema_inference`) writes a first one to curate.
"""

from __future__ import annotations

import os
from typing import Any


def schema_columns(schema_file: str) -> list[Any] | None:
    """The columns (``components.file_example_gen.Column``) the curated schema describes; None if it is missing."""
    from tfx.utils import io_utils

    from components.file_example_gen.checks import columns_from_schema

    if not os.path.isfile(schema_file):
        return None
    return columns_from_schema(io_utils.SchemaReader().read(schema_file))
