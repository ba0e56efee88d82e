"""What a user's data files must be, checked before anything is read into examples.

Each problem is a :class:`FileInputError` whose message is one line naming the file (and the line,
record or column) and the fix. The checks read the files the way the executors will: CSV with a
header line, TFRecord files of ``tf.train.Example`` (gzip when the name ends in ``.gz``), Parquet.

What the columns must be comes from the task's curated schema (:func:`columns_from_schema`): their
names, their kind (integer, float, text) and whether a value is a list. A column the schema does not
know is refused here, naming the file; a required column that is *missing* from the files is left to
the DataValidator, which reports it with every other anomaly of the span ("Column dropped").

Where the files are and which spans a folder holds is :mod:`components.file_example_gen.spans`.

Long because one check per way an input folder can be wrong (missing, empty, mixed, repeated span), each with its fix.
"""

from __future__ import annotations

import csv
import dataclasses
import difflib
import io
import os
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

FORMATS = ("csv", "tfrecord", "parquet")
KINDS = ("int", "float", "bytes")
# How far the value checks read a TFRecord file (each record is parsed in Python); CSV files are read
# whole (the csv module is fast enough for the sizes a local run holds), Parquet files carry types.
TFRECORD_RECORDS_CHECKED = 1000
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
    """The data format a file name suggests (``.csv``, ``.parquet``, ``.tfrecord[.gz]``), or None."""
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


def check_csv(path: str, columns: Sequence[Column] | None, list_delimiter: str = "|") -> int:
    """Check a CSV file: a header, rows, known columns, parsable numbers. Returns its number of rows."""
    import tensorflow as tf

    with tf.io.gfile.GFile(path, "rb") as f:
        data = f.read()
    if not data.strip():
        raise FileInputError(f"{path} is empty: remove it, or export it again with a header line and rows")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise FileInputError(
            f"{path} is not UTF-8 text (byte {err.start}): export it as UTF-8 CSV, or check that it is a CSV file"
        ) from None
    reader = csv.reader(io.StringIO(text))
    header = next(reader, [])
    names = [name.strip() for name in header]
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
    for cells in reader:
        if not cells:  # a blank line, skipped as TFX's CSV reader does
            continue
        rows += 1
        if len(cells) != len(names):
            raise FileInputError(
                f"{path}, line {reader.line_num}: {len(cells)} values for {len(names)} columns; quote values "
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
                    first_error = f"{path}, line {reader.line_num}, column {name}: {bad!r} is not {expected}"
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
    import pyarrow.parquet as pq
    import tensorflow as tf

    if tf.io.gfile.stat(path).length == 0:
        raise FileInputError(f"{path} is empty: remove it, or write the day's rows into it")
    try:
        with tf.io.gfile.GFile(path, "rb") as f:
            parquet = pq.ParquetFile(io.BytesIO(f.read()))
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
    rows = parquet.metadata.num_rows
    if rows == 0:
        raise FileInputError(f"{path} has no rows: remove it, or write the day's rows into it")
    if columns is None:
        return rows
    by_name = {c.name: c for c in columns}
    arrow_schema = parquet.schema_arrow
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
