"""The driver of the file-based ExampleGens: TFX's, with clear errors and a fingerprint of the files' contents.

TFX's ``FileBasedDriver`` resolves the span (the latest, or the one the range config names) and
fingerprints the input so that a changed file re-runs the ExampleGen and everything after it. Two
things are changed here:

* a missing folder, no file matching the pattern, or a span that is not there is one line naming the
  folder, the pattern and the fix (TFX raises e.g. ``ValueError: Glob pattern does not match regex
  pattern``, or silently fingerprints zero files);
* the fingerprint covers each file's name, size, modification time in nanoseconds and, for files up
  to ``HASHED_BYTES``, a hash of its content. TFX's counts modification times in whole seconds, so a
  file fixed and saved within the same second at the same size kept the cached, stale examples.

Kubeflow v2 runs TFX's own driver in its own container; there the fingerprint is TFX's.
"""

from __future__ import annotations

import hashlib
import os
from typing import Any

from tfx.components.example_gen import driver as tfx_driver
from tfx.components.example_gen import utils
from tfx.dsl.io import fileio
from tfx.orchestration import data_types
from tfx.proto import example_gen_pb2, range_config_pb2
from tfx.types import standard_component_specs
from tfx.utils import proto_utils

from components.file_example_gen.checks import FileInputError
from components.file_example_gen.spans import check_input

HASHED_BYTES = 256 * 2**20  # larger files are fingerprinted by name, size and modification time only


def file_fingerprint(path: str) -> str:
    """Name, size, modification time (ns) and, up to ``HASHED_BYTES``, the SHA-256 of the content."""
    stat = fileio.stat(path)
    digest = ""
    if stat.length <= HASHED_BYTES:
        sha = hashlib.sha256()
        with fileio.open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                sha.update(block)
        digest = sha.hexdigest()
    return f"{os.path.basename(path)}:{stat.length}:{stat.mtime_nsec}:{digest}"


def splits_fingerprint(input_base: str, splits: list[example_gen_pb2.Input.Split]) -> str:
    """The fingerprint of every file of every (resolved) split pattern."""
    lines = []
    for split in splits:
        files = sorted(fileio.glob(os.path.join(input_base, split.pattern)))
        lines.append(f"split:{split.name},num_files:{len(files)}")
        lines.extend(file_fingerprint(f) for f in files)
    return "\n".join(lines)


class FileDriver(tfx_driver.FileBasedDriver):
    """TFX's file-based driver with clear input errors and a content fingerprint."""

    def resolve_exec_properties(
        self,
        exec_properties: dict[str, Any],
        pipeline_info: data_types.PipelineInfo,
        component_info: data_types.ComponentInfo,
    ) -> dict[str, Any]:
        """Check the input folder and patterns, resolve the span as TFX does, fingerprint the files."""
        input_config = example_gen_pb2.Input()
        proto_utils.json_to_proto(exec_properties[standard_component_specs.INPUT_CONFIG_KEY], input_config)
        input_base = exec_properties.get(standard_component_specs.INPUT_BASE_KEY)
        span = None
        if exec_properties.get(standard_component_specs.RANGE_CONFIG_KEY):
            range_config = range_config_pb2.RangeConfig()
            proto_utils.json_to_proto(exec_properties[standard_component_specs.RANGE_CONFIG_KEY], range_config)
            if range_config.HasField("static_range"):
                span = range_config.static_range.start_span_number
        check_input(input_base, {s.name: s.pattern for s in input_config.splits}, span)
        try:
            resolved = super().resolve_exec_properties(exec_properties, pipeline_info, component_info)
        except ValueError as err:
            patterns = ", ".join(s.pattern for s in input_config.splits)
            raise FileInputError(
                f"the files under {input_base} do not fit the pattern {patterns}: {err}. Give every split the "
                "same spans (and versions), or fix data.pattern"
            ) from None
        resolved_config = example_gen_pb2.Input()
        proto_utils.json_to_proto(resolved[standard_component_specs.INPUT_CONFIG_KEY], resolved_config)
        resolved[utils.FINGERPRINT_PROPERTY_NAME] = splits_fingerprint(input_base, list(resolved_config.splits))
        return resolved
