"""What a user's data files must be, checked before anything is read into examples.

Each problem is a :class:`FileInputError` whose message is one line naming the file (and the line,
record or column) and the fix. The checks read the files the way the executors will: CSV with a
header line, TFRecord files of ``tf.train.Example``, Parquet; a CSV or TFRecord file whose name ends
in ``.gz`` is gzip-compressed (as Beam's ``CompressionTypes.AUTO`` reads it). :func:`csv_records` is
the one CSV reader of the checks, the executor and the driver's content digest.

What the columns must be comes from the task's curated schema (:func:`columns_from_schema`): their
names, their kind (integer, float, text) and whether a value is a list. A column the schema does not
know is refused here, naming the file. A required column that one file of a span lacks while the
span's other files have it is refused here too, naming that file (:func:`check_required_columns`); one
that *every* file lacks is left to the DataValidator, which reports it with every other anomaly of the
span ("Column dropped").

Where the files are and which spans a folder holds is :mod:`components.file_example_gen.spans`.

Long because one check per way an input folder can be wrong (missing, empty, mixed, repeated span), each with its fix,
and the one streaming CSV reader that the checks, the executor and the driver's content digest share.
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import dataclasses
import difflib
import gzip
import io
import os
import zlib
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any, BinaryIO

FORMATS = ("csv", "tfrecord", "parquet")
KINDS = ("int", "float", "bytes")
# How far the value checks read a TFRecord file (each record is parsed in Python); CSV files are read
# to the end, streaming (the csv module is fast enough for the sizes a local run holds), Parquet files carry types.
TFRECORD_RECORDS_CHECKED = 1000
_BLOCK = 1 << 20  # bytes read at a time from a CSV file
_EXTENSIONS = {".csv": "csv", ".parquet": "parquet", ".tfrecord": "tfrecord", ".tfrecords": "tfrecord"}


class FileInputError(ValueError):
    """The input files are missing or malformed; the message names the file and the fix."""


@dataclasses.dataclass(frozen=True)
class Column:
    """One column (feature) the data may hold, as the curated schema describes it.

    Attributes:
        name: the column (CSV header, Parquet column, tf.Example feature).
        kind: ``int``, ``float`` or ``bytes`` (text).
        required: every row must have a value (the schema's ``presence.min_fraction`` is 1).
        multivalued: a list per row (no fixed shape of one value); in CSV, one cell holds the values
            separated by the list delimiter.
    """

    name: str
    kind: str
    required: bool = True
    multivalued: bool = False

    def to_dict(self) -> dict[str, Any]:
        """JSON-like form (what travels in the ExampleGen's ``custom_config``)."""
        return dataclasses.asdict(self)


def columns_from_schema(schema: Any) -> list[Column]:
    """The columns a ``tensorflow_metadata`` ``Schema`` proto describes (every feature, any environment)."""
    from tensorflow_metadata.proto.v0 import schema_pb2

    kinds = {schema_pb2.INT: "int", schema_pb2.FLOAT: "float", schema_pb2.BYTES: "bytes"}
    columns = []
    for feature in schema.feature:
        single = feature.HasField("shape") and [d.size for d in feature.shape.dim] == [1]
        if feature.HasField("value_count") and feature.value_count.max == 1:
            single = True
        required = feature.HasField("presence") and feature.presence.min_fraction >= 1.0
        columns.append(Column(feature.name, kinds.get(feature.type, "bytes"), required, not single))
    return columns


def columns_from_dicts(values: Iterable[Mapping[str, Any]]) -> list[Column]:
    """Inverse of :meth:`Column.to_dict` over a list."""
    return [
        Column(str(v["name"]), str(v["kind"]), bool(v.get("required", True)), bool(v.get("multivalued", False)))
        for v in values
    ]


def format_of(path: str) -> str | None:
    """The data format a file name suggests (``.csv[.gz]``, ``.parquet``, ``.tfrecord[.gz]``), or None."""
    name = path.lower().removesuffix(".gz")
    return _EXTENSIONS.get(os.path.splitext(name)[1])


def _unknown_columns_message(where: str, unknown: Sequence[str], columns: Sequence[Column], what: str) -> str:
    known = [c.name for c in columns]
    hints = []
    for name in unknown:
        close = difflib.get_close_matches(name, known, n=1, cutoff=0.6) or difflib.get_close_matches(
            name.lower(), [k.lower() for k in known], n=1, cutoff=0.6
        )
        if close:
            hints.append(f"{name!r} -> {close[0]!r}?")
    hint = f" (did you mean {', '.join(hints)})" if hints else ""
    shown = ", ".join(repr(n) for n in unknown[:8]) + (f" and {len(unknown) - 8} more" if len(unknown) > 8 else "")
    return (
        f"{where} {what} {shown} that the schema does not know{hint}; the schema's columns are "
        f"{', '.join(known)}. Rename them in the file, or add them to the curated schema "
        "(`tfx-keras schema infer TASK` shows what the data holds)"
    )


def _parse_number(text: str, kind: str) -> bool:
    try:
        if kind == "int":
            int(text)
        else:
            float(text)
    except ValueError:
        return False
    return True


def is_gzip(path: str) -> bool:
    """True if a data file's name says it is gzip-compressed (``.gz``), as Beam's ``CompressionTypes.AUTO`` reads it."""
    return path.lower().endswith(".gz")


def _read(path: str, stream: BinaryIO, size: int) -> bytes:
    try:
        return stream.read(size)
    except (gzip.BadGzipFile, EOFError, zlib.error) as err:
        reason = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise FileInputError(
            f"{path} is not a readable gzip file ({reason}): its name ends in .gz, so it is read as gzip-compressed "
            "CSV; export and compress it again, or drop .gz from its name if it is not compressed"
        ) from None


def _text_lines(path: str, stream: BinaryIO) -> Iterator[str]:
    """The lines of UTF-8 text (a BOM dropped), each with its line end (LF, CRLF or CR), streaming."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    offset, tail, number, first = 0, "", 0, True
    while True:
        block = _read(path, stream, _BLOCK)
        if first:
            first = False
            if block.startswith(codecs.BOM_UTF8):
                block, offset = block[len(codecs.BOM_UTF8) :], len(codecs.BOM_UTF8)
            elif block.startswith(b"\x1f\x8b") and not is_gzip(path):
                raise FileInputError(
                    f"{path} is gzip-compressed but its name does not end in .gz: rename it to "
                    f"{os.path.basename(path)}.gz, or decompress it (gunzip)"
                )
        pending = len(decoder.getstate()[0])  # bytes of an earlier block that began a character
        try:
            text = tail + decoder.decode(block, final=not block)
        except UnicodeDecodeError as err:
            raise FileInputError(
                f"{path} is not UTF-8 text (byte {offset - pending + err.start}): export it as UTF-8 CSV, or "
                "check that it is a CSV file"
            ) from None
        offset += len(block)
        lines = io.StringIO(text, newline="").readlines()
        # the last line may go on in the next block (a "\r" may be half of "\r\n"): kept for it
        tail = lines.pop() if block and lines and not lines[-1].endswith("\n") else ""
        for line in lines:
            number += 1
            if "\x00" in line:
                raise FileInputError(
                    f"{path}, line {number}: a NUL byte; the file is binary or not UTF-8 (UTF-16?): export it "
                    "as UTF-8 CSV, or check that it is a CSV file"
                )
            yield line
        if not block:
            return


def csv_records(path: str, stream: BinaryIO | None = None) -> Iterator[tuple[int, list[str]]]:
    """The records of a CSV file, the header first, each with the line it starts on; streaming.

    Reads UTF-8 (a BOM dropped), any line ends, gzip when the name ends in ``.gz``; a blank line is an
    empty record. ``stream``: the file's bytes, already open (by default the file is opened here).

    Raises:
        FileInputError: not gzip though named so, not UTF-8, a NUL byte, a cell over the csv module's limit.
    """
    import tensorflow as tf

    with contextlib.ExitStack() as stack:
        if stream is None:
            stream = stack.enter_context(tf.io.gfile.GFile(path, "rb"))
        if is_gzip(path):
            stream = stack.enter_context(gzip.GzipFile(fileobj=stream, mode="rb"))
        reader = csv.reader(_text_lines(path, stream))
        while True:
            start = reader.line_num + 1
            try:
                cells = next(reader)
            except StopIteration:
                return
            except csv.Error as err:
                if "field limit" in str(err):
                    raise FileInputError(
                        f"{path}, line {start}: a cell of more than {csv.field_size_limit()} characters (the record "
                        f'runs to line {reader.line_num}), most often a quote (") opened and never closed; close '
                        'the quote (a quote inside a quoted cell is written "")'
                    ) from None
                raise FileInputError(f"{path}, line {start}: {err}; fix the line, or export the file again") from None
            yield start, cells


def csv_header(path: str) -> list[str]:
    """The column names of a CSV file's header line (stripped); empty for an empty file."""
    records = csv_records(path)
    try:
        return [name.strip() for name in next(records, (0, []))[1]]
    finally:
        records.close()


def check_csv(path: str, columns: Sequence[Column] | None, list_delimiter: str = "|") -> int:
    """Check a CSV file: a header, rows, known columns, parsable numbers. Returns its number of rows."""
    records = csv_records(path)
    header = next(records, None)
    if header is None or not "".join(header[1]).strip():
        if header is None or not any("".join(cells).strip() for _, cells in records):
            raise FileInputError(f"{path} is empty: remove it, or export it again with a header line and rows")
        raise FileInputError(f"{path}, line 1: the header line is blank; put the column names on the first line")
    names = [name.strip() for name in header[1]]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise FileInputError(f"{path}: the header names {', '.join(duplicates)} more than once; name each column once")
    by_name = {c.name: c for c in columns or ()}
    if columns is not None:
        unknown = [n for n in names if n not in by_name]
        if unknown:
            what = "the header has columns" if len(unknown) < len(names) else "the first line (the header) has names"
            raise FileInputError(_unknown_columns_message(f"{path}:", unknown, columns, what))
    rows, first_error, errors = 0, "", 0
    for line, cells in records:
        if not cells:  # a blank line, skipped as TFX's CSV reader does
            continue
        rows += 1
        if len(cells) != len(names):
            raise FileInputError(
                f"{path}, line {line}: {len(cells)} values for {len(names)} columns; quote values "
                'that contain commas ("a, b") and give every row one value per header column'
            )
        for name, cell in zip(names, cells, strict=True):
            column = by_name.get(name)
            if column is None or column.kind == "bytes" or not cell:
                continue
            values = [v for v in cell.split(list_delimiter)] if column.multivalued else [cell]
            bad = next((v for v in values if not _parse_number(v.strip(), column.kind)), None)
            if bad is not None:
                errors += 1
                if not first_error:
                    expected = "an integer" if column.kind == "int" else "a number"
                    first_error = f"{path}, line {line}, column {name}: {bad!r} is not {expected}"
    if first_error:
        more = f" ({errors - 1} more such values in this file)" if errors > 1 else ""
        raise FileInputError(
            f"{first_error}{more}; fix the value (an empty cell is a missing value), or, if the column really "
            "holds text, change its type in the curated schema"
        )
    if rows == 0:
        raise FileInputError(f"{path} has a header but no rows: remove it, or export the day's rows into it")
    return rows


def _feature_kind(feature: Any) -> str | None:
    kind = feature.WhichOneof("kind")
    return {"int64_list": "int", "float_list": "float", "bytes_list": "bytes"}.get(kind or "")


def check_tfrecord(path: str, columns: Sequence[Column] | None) -> int:
    """Check a TFRecord file of ``tf.train.Example``: readable, not empty, known features of the right kind.

    Returns the number of records (the whole file is read; the first ``TFRECORD_RECORDS_CHECKED``
    records are parsed and compared with the columns).
    """
    import tensorflow as tf
    from google.protobuf.message import DecodeError

    if tf.io.gfile.stat(path).length == 0:
        raise FileInputError(f"{path} is empty: remove it, or write the day's examples into it")
    compression = "GZIP" if path.endswith(".gz") else ""
    by_name = {c.name: c for c in columns or ()}
    count = 0
    hint = (
        f" (its name says {format_of(path)}: set data.format={format_of(path)})"
        if format_of(path)
        not in (
            None,
            "tfrecord",
        )
        else ""
    )
    try:
        for record in tf.data.TFRecordDataset(path, compression_type=compression).as_numpy_iterator():
            count += 1
            if count > TFRECORD_RECORDS_CHECKED or columns is None:
                continue
            try:
                example = tf.train.Example.FromString(record)
            except DecodeError:
                raise FileInputError(
                    f"{path}, record {count}: not a serialized tf.train.Example; write tf.train.Example protos"
                ) from None
            features = example.features.feature
            unknown = sorted(set(features) - set(by_name))
            if unknown:
                raise FileInputError(
                    _unknown_columns_message(f"{path}, record {count}", unknown, columns or (), "has features")
                )
            for name, feature in features.items():
                kind, column = _feature_kind(feature), by_name[name]
                if kind is not None and kind != column.kind and not (kind == "int" and column.kind == "float"):
                    raise FileInputError(
                        f"{path}, record {count}, feature {name}: {kind} values where the schema says {column.kind}; "
                        f"write {column.kind} values, or change the feature's type in the curated schema"
                    )
    except tf.errors.DataLossError:
        where = f"after record {count}" if count else "at its start"
        raise FileInputError(
            f"{path} is not a TFRecord file or is corrupt {where}{hint}; write it again "
            "(gzip-compressed files must end in .gz)"
        ) from None
    if count == 0:
        raise FileInputError(f"{path} holds no records: remove it, or write the day's examples into it")
    return count


def _arrow_kind(arrow_type: Any) -> tuple[str | None, bool]:
    import pyarrow as pa

    multivalued = pa.types.is_list(arrow_type) or pa.types.is_large_list(arrow_type)
    if multivalued:
        arrow_type = arrow_type.value_type
    if pa.types.is_integer(arrow_type) or pa.types.is_boolean(arrow_type):
        return "int", multivalued
    if pa.types.is_floating(arrow_type):
        return "float", multivalued
    if pa.types.is_string(arrow_type) or pa.types.is_binary(arrow_type) or pa.types.is_large_string(arrow_type):
        return "bytes", multivalued
    return None, multivalued


def check_parquet(path: str, columns: Sequence[Column] | None) -> int:
    """Check a Parquet file: readable, not empty, known columns of a convertible type. Returns its rows."""
    import tensorflow as tf

    if tf.io.gfile.stat(path).length == 0:
        raise FileInputError(f"{path} is empty: remove it, or write the day's rows into it")
    try:
        with parquet_file(path) as opened:  # its footer only: the rows are not read here
            parquet = opened
            rows = parquet.metadata.num_rows
            arrow_schema = parquet.schema_arrow
    except Exception as err:  # noqa: BLE001 - pyarrow raises several types for a file that is not Parquet
        hint = (
            f" (its name says {format_of(path)}: set data.format={format_of(path)})"
            if format_of(path)
            not in (
                None,
                "parquet",
            )
            else ""
        )
        raise FileInputError(f"{path} is not a Parquet file{hint}: {str(err).splitlines()[0]}") from None
    if rows == 0:
        raise FileInputError(f"{path} has no rows: remove it, or write the day's rows into it")
    if columns is None:
        return rows
    by_name = {c.name: c for c in columns}
    unknown = [name for name in arrow_schema.names if name not in by_name]
    if unknown:
        raise FileInputError(_unknown_columns_message(path, unknown, columns, "has columns"))
    for field in arrow_schema:
        kind, _ = _arrow_kind(field.type)
        column = by_name[field.name]
        if kind is None or (kind != column.kind and not (kind == "int" and column.kind == "float")):
            raise FileInputError(
                f"{path}, column {field.name}: Parquet type {field.type} where the schema says {column.kind}; "
                f"write {column.kind} values, or change the column's type in the curated schema"
            )
    return rows


class _Seekable(io.RawIOBase):
    """A ``tf.io.gfile.GFile`` as the seekable file pyarrow reads (local or ``gs://``), without reading it whole."""

    def __init__(self, file: Any) -> None:
        super().__init__()
        self._file = file

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self._file.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def seek(self, offset: int, whence: int = 0) -> int:
        self._file.seek(offset, whence)
        return self._file.tell()

    def tell(self) -> int:
        return self._file.tell()


@contextlib.contextmanager
def parquet_file(path: str) -> Iterator[Any]:
    """A ``pyarrow.parquet.ParquetFile`` reading ``path`` as it goes (its schema, its batches)."""
    import pyarrow.parquet as pq
    import tensorflow as tf

    with tf.io.gfile.GFile(path, "rb") as f:
        yield pq.ParquetFile(_Seekable(f))


def file_columns(fmt: str, path: str) -> set[str]:
    """The columns a file holds (its header, its Parquet columns, or the features of its first records).

    For TFRecord, the features in the first ``TFRECORD_RECORDS_CHECKED`` records (a record may leave a
    feature out: a missing value).
    """
    import tensorflow as tf

    if fmt == "csv":
        return set(csv_header(path))
    if fmt == "parquet":
        with parquet_file(path) as parquet:
            return set(parquet.schema_arrow.names)
    compression = "GZIP" if is_gzip(path) else ""
    names: set[str] = set()
    dataset = tf.data.TFRecordDataset(path, compression_type=compression).take(TFRECORD_RECORDS_CHECKED)
    for record in dataset.as_numpy_iterator():
        names.update(tf.train.Example.FromString(record).features.feature)
    return names


def check_required_columns(fmt: str, files: Sequence[str], columns: Sequence[Column] | None) -> None:
    """Check that no file of a span lacks a required column that the span's other files have.

    Call it with every file of the span (all splits), after :func:`check_files`. A required column
    that *every* file lacks is not refused here: the schema's columns are those of every environment
    (a label is required for training but absent from a serving export, ``not_in_environment``), so
    only the DataValidator, which knows the environment, can tell a column the span must have; it
    reports it ("Column dropped") with the span's other anomalies, where an upstream change that
    dropped a column is reviewed with the drift it brings. One file lacking what its siblings have is
    a broken export of that file, and only here can it be named.

    Raises:
        FileInputError: the first file (in the order given) that lacks such a column, naming the columns.
    """
    required = [c.name for c in columns or () if c.required]
    if not required or len(files) < 2 or fmt not in FORMATS:
        return
    held = {path: file_columns(fmt, path) for path in files}
    for path in files:
        lacking = [n for n in required if n not in held[path] and any(n in names for names in held.values())]
        if not lacking:
            continue
        others = [p for p in files if p != path]
        having = sum(1 for p in others if all(n in held[p] for n in lacking))
        them = "them" if len(lacking) > 1 else "it"
        if having == len(others):
            who = f"the span's other file has {them}" if having == 1 else f"the span's other files have {them}"
        elif having:
            who = f"{having} of the span's {len(others)} other files have {them}"
        else:
            who = f"other files of the span have {them}"
        what = {
            "csv": "the header lacks the required column(s)",
            "parquet": "the file lacks the required column(s)",
            "tfrecord": f"its records (up to the first {TFRECORD_RECORDS_CHECKED}) lack the required feature(s)",
        }[fmt]
        raise FileInputError(
            f"{path}: {what} {', '.join(lacking)} ({who}); export this file again with every column, "
            "or, if the column may be missing, make it optional in the curated schema (presence.min_fraction "
            "below 1)"
        )


def check_files(fmt: str, files: Sequence[str], columns: Sequence[Column] | None, list_delimiter: str = "|") -> int:
    """Check every file of a split in format ``fmt``; returns the number of rows or records in all."""
    if fmt not in FORMATS:
        raise FileInputError(f"data.format={fmt!r} is not one of {', '.join(FORMATS)}")
    total = 0
    for path in files:
        if fmt == "csv":
            total += check_csv(path, columns, list_delimiter)
        elif fmt == "tfrecord":
            total += check_tfrecord(path, columns)
        else:
            total += check_parquet(path, columns)
    return total
