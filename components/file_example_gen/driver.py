"""The driver of the file-based ExampleGens: TFX's, with clear errors and a fingerprint of the files' contents.

TFX's ``FileBasedDriver`` resolves the span (the latest, or the one the range config names) and
fingerprints the input so that a changed file re-runs the ExampleGen and everything after it. Two
things are changed here:

* a missing folder, no file matching the pattern, or a span that is not there is one line naming the
  folder, the pattern and the fix (TFX raises e.g. ``ValueError: Glob pattern does not match regex
  pattern``, or silently fingerprints zero files);
* the fingerprint covers each file's name, size, modification time in nanoseconds and, for files up
  to ``HASHED_BYTES``, a hash of its content. TFX's counts modification times in whole seconds, so a
  file fixed and saved within the same second at the same size kept the cached, stale examples;
* a span whose content equals a span read before (the same export delivered again under a new
  span) is refused, naming both spans, unless the options allow duplicate spans: it would pass every
  check with zero drift, and a window of spans would count its rows twice.

Kubeflow v2 runs TFX's own driver in its own container; there the fingerprint is TFX's.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import json
import os
import struct
import zlib
from collections.abc import Iterable, Iterator
from typing import Any, BinaryIO

from absl import logging
from tfx.components.example_gen import driver as tfx_driver
from tfx.components.example_gen import utils
from tfx.dsl.io import fileio
from tfx.orchestration import data_types
from tfx.proto import example_gen_pb2, range_config_pb2
from tfx.types import standard_component_specs
from tfx.utils import proto_utils

from components import example_gen_options
from components.file_example_gen.checks import FileInputError, csv_records, format_of, is_gzip, parquet_file
from components.file_example_gen.spans import check_input, late_spans
from components.lineage import node_examples

HASHED_BYTES = 256 * 2**20  # larger files are fingerprinted by name, size and modification time only
CONTENT_DIGEST = "content_digest"  # exec property and Examples custom property: the span's content


def content_hash(path: str) -> str:
    """The SHA-256 of a file's content, or "" for a file over ``HASHED_BYTES``."""
    if fileio.stat(path).length > HASHED_BYTES:
        return ""
    sha = hashlib.sha256()
    with fileio.open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            sha.update(block)
    return sha.hexdigest()


class _Hashing:
    """A binary stream that hashes (SHA-256) every byte read through it."""

    def __init__(self, stream: BinaryIO) -> None:
        self.stream, self.sha = stream, hashlib.sha256()

    def read(self, size: int = -1) -> bytes:
        data = self.stream.read(size)
        self.sha.update(data)
        return data


def _records_digest(fmt: str, names: Iterable[str], keys: Iterable[bytes]) -> str:
    """A digest of the multiset of ``keys``: the sum of their SHA-256 modulo 2**256 and their number."""
    total, count = 0, 0
    for key in keys:
        total = (total + int.from_bytes(hashlib.sha256(key).digest(), "big")) % 2**256
        count += 1
    text = "\0".join([fmt, *sorted(names), str(count), f"{total:064x}"])
    return f"{fmt}:{hashlib.sha256(text.encode()).hexdigest()}"


def _csv_digest(path: str, stream: BinaryIO) -> str:
    """Rows as records: cells in the order of their sorted column names, joined by NUL (which no cell holds)."""
    records = csv_records(path, stream)
    try:
        names = [name.strip() for name in next(records, (0, []))[1]]
        order = sorted(range(len(names)), key=names.__getitem__)

        def keys() -> Iterator[bytes]:
            for _, cells in records:
                if cells and len(cells) != len(names):
                    raise ValueError(f"{path}: not records")
                if cells:  # a blank line is no row, as TFX reads it
                    yield "\0".join(cells[i] for i in order).encode()

        return _records_digest("csv", names, keys())
    finally:
        records.close()


def _tfrecord_keys(path: str, stream: BinaryIO) -> Iterator[bytes]:
    """The records of a TFRecord file as they are written (length, its CRC, the record, its CRC)."""
    while header := stream.read(12):
        (length,) = struct.unpack("<Q", header[:8]) if len(header) == 12 else (HASHED_BYTES + 1,)
        record = stream.read(length) if length <= HASHED_BYTES else b""
        if len(record) != length or len(stream.read(4)) != 4:
            raise ValueError(f"{path}: not records")
        yield record


def _parquet_digest(path: str) -> str:
    """Rows as records: the values in the order of the sorted column names."""
    with parquet_file(path) as parquet:
        names = sorted(parquet.schema_arrow.names)
        batches = parquet.iter_batches(batch_size=8192, columns=names)
        keys = (repr(row).encode() for b in batches for row in zip(*(c.to_pylist() for c in b.columns), strict=True))
        return _records_digest("parquet", names, keys)


def file_digests(path: str, fmt: str | None = None) -> tuple[str, str]:
    """The SHA-256 of a file's bytes and its content digest, both "" for a file over ``HASHED_BYTES``.

    The content digest is of the records the file holds, whatever their order: CSV rows whatever the
    order of their columns, with or without a BOM, any line ends, gzip or not; TFRecord records as
    written; Parquet rows whatever the order of their columns. A file of another format (``fmt``, or
    the one its name says), or one that cannot be read as records, is digested by its bytes. CSV and
    TFRecord files are read once, streaming; Parquet files twice (pyarrow reads the footer first).
    """
    if fileio.stat(path).length > HASHED_BYTES:
        return "", ""
    fmt = fmt or format_of(path)
    if fmt == "parquet":
        sha = content_hash(path)
        try:
            return sha, _parquet_digest(path)
        except Exception:  # noqa: BLE001 - pyarrow raises several types for a file that is not Parquet
            return sha, f"bytes:{sha}"
    digest = ""
    with fileio.open(path, "rb") as raw:
        stream = _Hashing(raw)
        try:
            if fmt == "csv":
                digest = _csv_digest(path, stream)
            elif fmt == "tfrecord":
                with gzip.GzipFile(fileobj=stream, mode="rb") if is_gzip(path) else contextlib.nullcontext(stream) as f:
                    digest = _records_digest("tfrecord", [], _tfrecord_keys(path, f))
        except (ValueError, gzip.BadGzipFile, EOFError, zlib.error):  # not records (FileInputError too): by bytes
            digest = ""
        for _ in iter(lambda: stream.read(1 << 20), b""):  # the rest of the bytes, for their SHA-256
            pass
    sha = stream.sha.hexdigest()
    return sha, digest or f"bytes:{sha}"


def content_digest(path: str, fmt: str | None = None) -> str:
    """The digest of the records a file holds, whatever their order (see :func:`file_digests`)."""
    return file_digests(path, fmt)[1]


def file_fingerprint(path: str, digest: str | None = None) -> str:
    """Name, size, modification time (ns) and, up to ``HASHED_BYTES``, the SHA-256 of the content."""
    stat = fileio.stat(path)
    digest = content_hash(path) if digest is None else digest
    return f"{os.path.basename(path)}:{stat.length}:{stat.mtime_nsec}:{digest}"


def splits_fingerprint(
    input_base: str, splits: list[example_gen_pb2.Input.Split], fmt: str | None = None
) -> tuple[str, str]:
    """The fingerprint of every file of every (resolved) split pattern, and the span's content digest.

    The fingerprint, which decides whether the cached examples still hold, sees any change of a
    file's bytes. The content digest depends on the records the files hold only (not the files'
    names, times or order, nor a CSV file's column order, row order, BOM, line ends or gzip, see
    :func:`file_digests`): the same export delivered again under another span has the same digest.
    Empty if a file is too large to hash. ``fmt``: the files' format (None: the one each name says).
    """
    lines, hashes = [], []
    for split in splits:
        files = sorted(fileio.glob(os.path.join(input_base, split.pattern)))
        lines.append(f"split:{split.name},num_files:{len(files)}")
        for path in files:
            sha, digest = file_digests(path, fmt)
            hashes.append(f"{split.name}:{digest}")
            lines.append(file_fingerprint(path, sha))
    complete = all(not h.endswith(":") for h in hashes)
    content = hashlib.sha256("\n".join(sorted(hashes)).encode()).hexdigest() if hashes and complete else ""
    return "\n".join(lines), content


def earlier_span_with(examples: list[Any], digest: str, span: int) -> int | None:
    """The span of an earlier Examples artifact (ML Metadata protos) whose files had this content digest, if any."""
    for artifact in examples:
        value = artifact.custom_properties.get(CONTENT_DIGEST)
        if value is None or value.string_value != digest:
            continue
        earlier = artifact.properties["span"].int_value if "span" in artifact.properties else None
        if earlier is not None and earlier != span:
            return earlier
    return None


SPAN_NOTES = "span_notes"  # exec property and Examples custom property: late spans, one line each (JSON)


class FileDriver(tfx_driver.FileBasedDriver):
    """TFX's file-based driver with clear input errors, a content fingerprint, and late spans read or named."""

    _pipeline = ""
    _node = ""

    def run(self, execution_info: Any) -> Any:
        """TFX's ``run``, remembering which pipeline and node this is (to find the spans it read before)."""
        if execution_info.pipeline_info is not None:
            self._pipeline = execution_info.pipeline_info.id
        if execution_info.pipeline_node is not None:
            self._node = execution_info.pipeline_node.node_info.id
        return super().run(execution_info)

    def _read_before(self) -> list[Any]:
        with self._metadata_handle as handle:
            return node_examples(handle.store, self._pipeline, self._node)

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
        options = example_gen_options.unpack_options(exec_properties, "file-based ExampleGen")
        span = None
        if exec_properties.get(standard_component_specs.RANGE_CONFIG_KEY):
            range_config = range_config_pb2.RangeConfig()
            proto_utils.json_to_proto(exec_properties[standard_component_specs.RANGE_CONFIG_KEY], range_config)
            if range_config.HasField("static_range"):
                span = range_config.static_range.start_span_number
        found = check_input(input_base, {s.name: s.pattern for s in input_config.splits}, span)
        read_before = self._read_before()
        notes: list[str] = []
        if span is None:  # the latest: unless a span arrived late and belongs in the training window
            read: dict[int, int] = {}
            for artifact in read_before:
                if "span" in artifact.properties:
                    number = int(artifact.properties["span"].int_value)
                    read[number] = max(read.get(number, 0), int(artifact.create_time_since_epoch))
            modified = {n: max(fileio.stat(f).mtime_nsec for f in files) // 10**6 for n, files in found.items()}
            late, notes = late_spans(found, read, int(options.get("window_spans") or 1), modified)
            for line in notes:
                logging.warning("%s", line)
            if late is not None:
                exec_properties = dict(exec_properties)
                exec_properties[standard_component_specs.RANGE_CONFIG_KEY] = proto_utils.proto_to_json(
                    range_config_pb2.RangeConfig(
                        static_range=range_config_pb2.StaticRange(start_span_number=late, end_span_number=late)
                    )
                )
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
        fingerprint, digest = splits_fingerprint(input_base, list(resolved_config.splits))
        resolved[utils.FINGERPRINT_PROPERTY_NAME] = fingerprint
        resolved[CONTENT_DIGEST] = digest
        resolved[SPAN_NOTES] = json.dumps(notes)
        if digest and not options.get("allow_duplicate_spans"):
            earlier = earlier_span_with(read_before, digest, int(resolved[utils.SPAN_PROPERTY_NAME]))
            if earlier is not None:
                raise FileInputError(
                    f"span {resolved[utils.SPAN_PROPERTY_NAME]} under {input_base} holds exactly the data of span "
                    f"{earlier}, read before: the same export delivered again? Remove the repeated span, or set "
                    "data.allow_duplicate_spans=true if the repeat is meant"
                )
        return resolved
