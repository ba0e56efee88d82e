"""ImportSchemaGen that notices when the curated schema file changes.

TFX's ImportSchemaGen has one execution property, the schema file's *path*, so its cache key does
not change when the file is edited in place: the next run would reuse the previous schema. This
subclass adds the file's content hash as a second execution property. The executor is TFX's own
(it copies the file into the Schema artifact); the hash only makes an edited schema re-import.
"""

from __future__ import annotations

import hashlib

from tfx.components.schema_gen.import_schema_gen.component import ImportSchemaGen as TfxImportSchemaGen
from tfx.types.component_spec import ExecutionParameter
from tfx.types.standard_component_specs import ImportSchemaGenSpec

CONTENT_HASH_KEY = "content_hash"


class CuratedSchemaSpec(ImportSchemaGenSpec):
    """ImportSchemaGenSpec plus the schema file's content hash."""

    PARAMETERS = {**ImportSchemaGenSpec.PARAMETERS, CONTENT_HASH_KEY: ExecutionParameter(type=str)}


def file_hash(path: str) -> str:
    """sha256 of a file's bytes (hex, first 16 characters)."""
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()[:16]


class ImportSchemaGen(TfxImportSchemaGen):
    """``tfx.components.ImportSchemaGen`` whose cache key includes the schema's content.

    Args:
        schema_file: the schema as the component's executor will read it (a path in the container on
            Kubeflow).
        local_schema_file: the same file here, hashed when the pipeline is built (default: ``schema_file``).
    """

    def __init__(self, schema_file: str, local_schema_file: str | None = None) -> None:
        super().__init__(schema_file=schema_file)
        self.spec = CuratedSchemaSpec(
            **self.spec.exec_properties,
            **self.spec.outputs,
            **{CONTENT_HASH_KEY: file_hash(local_schema_file or schema_file)},
        )
