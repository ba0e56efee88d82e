"""Executors of the file-based ExampleGens: TFX's own, with the files checked first and types from the schema.

Each executor subclasses TFX's executor for its format and changes what TFX leaves to chance:

* **Checks first.** Before Beam reads anything, every file of every split is checked
  (:mod:`components.file_example_gen.checks`): an empty file, a column the schema does not know, a
  value that is not a number, a file that is not in the format given. The run stops there with one
  line naming the file and the fix.
* **Types from the curated schema.** TFX's CsvExampleGen infers each column's type from its values
  (a float column whose values happen to be whole numbers becomes INT; a zip code loses its leading
  zero), and TFX's Parquet executor drops every 0, 0.0 and "" (``dict_to_example`` treats them as
  missing). Here a value is written with the kind the schema gives its column; an empty CSV cell is a
  missing value, except in a required text column, where it is the empty text; a list column's cell
  holds its values separated by the list delimiter.
* **Spans recorded.** TFX's driver resolves the span; the executor writes it into the ``Examples``
  artifact's own ``span`` (and ``version``) property, which span-aware resolvers read, and records
  what was read (files and rows per split) for the run summary.

Without columns (``tfx-keras schema infer`` on data that has no schema yet), files are checked for
emptiness only and read as TFX reads them. A CSV file whose name ends in ``.gz`` is gzip-compressed,
with a schema or without.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import apache_beam as beam
import tensorflow as tf
from tfx.components.example_gen import base_example_gen_executor
from tfx.components.example_gen.csv_example_gen import executor as csv_executor
from tfx.components.example_gen.custom_executors import parquet_executor
from tfx.components.example_gen.import_example_gen import executor as import_executor
from tfx.dsl.io import fileio
from tfx.proto import example_gen_pb2
from tfx.types import artifact_utils, standard_component_specs
from tfx.utils import proto_utils
from tfx_bsl.coders import csv_decoder

from common.metadata_names import INPUT_PROPERTY
from components import example_gen_options
from components.file_example_gen.checks import (
    Column,
    FileInputError,
    check_files,
    check_required_columns,
    columns_from_dicts,
    csv_header,
    csv_records,
)
from components.file_example_gen.driver import CONTENT_DIGEST, SPAN_NOTES


def read_options(exec_properties: Mapping[str, Any]) -> dict[str, Any]:
    """The options packed into ``custom_config`` by the component: format, columns, list delimiter."""
    options = example_gen_options.unpack_options(exec_properties, "file-based ExampleGen")
    columns = options.get("columns")
    return {
        "format": str(options["format"]),
        "columns": columns_from_dicts(columns) if columns is not None else None,
        "list_delimiter": str(options.get("list_delimiter") or "|"),
    }


def feature(values: Sequence[Any], kind: str) -> tf.train.Feature:
    """A ``tf.train.Feature`` of ``kind`` (``int``, ``float``, ``bytes``) holding every value, zeros included."""
    if kind == "int":
        return tf.train.Feature(int64_list=tf.train.Int64List(value=[int(v) for v in values]))
    if kind == "float":
        return tf.train.Feature(float_list=tf.train.FloatList(value=[float(v) for v in values]))
    return tf.train.Feature(
        bytes_list=tf.train.BytesList(value=[v if isinstance(v, bytes) else str(v).encode("utf-8") for v in values])
    )


def cell_feature(cell: str, column: Column, list_delimiter: str) -> tf.train.Feature:
    """A CSV cell as the column's feature (see the module docstring for empty cells and lists)."""
    if column.multivalued:
        values = [v.strip() for v in cell.split(list_delimiter)] if cell else []
        values = [v for v in values if v]
    elif cell:
        values = [cell.strip() if column.kind != "bytes" else cell]
    else:
        values = [""] if column.kind == "bytes" and column.required else []
    return feature(values, column.kind)


def _python_kind(value: Any) -> str:
    if isinstance(value, bool) or isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float"
    return "bytes"


def record_to_example(record: Mapping[str, Any], columns: Mapping[str, Column]) -> tf.train.Example:
    """A Parquet row (a dict) as a tf.Example: None is a missing value, lists stay lists, 0 stays 0."""
    features = {}
    for name, value in record.items():
        if hasattr(value, "tolist"):
            value = value.tolist()
        values = [v for v in value if v is not None] if isinstance(value, (list, tuple)) else [value]
        values = [v for v in values if v is not None]
        column = columns.get(name)
        if column is not None:
            features[name] = feature(values, column.kind)
        elif values:
            features[name] = feature(values, _python_kind(values[0]))
        else:
            features[name] = tf.train.Feature()
    return tf.train.Example(features=tf.train.Features(feature=features))


class _CsvFileToExamples(beam.DoFn):
    """Reads one CSV file (its own header) and yields its rows as tf.Examples."""

    def __init__(self, columns: Sequence[Column], list_delimiter: str) -> None:
        super().__init__()
        self.columns = {c.name: c for c in columns}
        self.list_delimiter = list_delimiter

    def process(self, path: str) -> Iterator[tf.train.Example]:
        records = csv_records(path)  # as the checks read it: gzip if named .gz, a BOM dropped, any line ends
        names = [name.strip() for name in next(records, (0, []))[1]]
        columns = [self.columns[name] for name in names]
        for _, cells in records:
            if not cells:
                continue
            yield tf.train.Example(
                features=tf.train.Features(
                    feature={
                        column.name: cell_feature(cell, column, self.list_delimiter)
                        for column, cell in zip(columns, cells, strict=True)
                    }
                )
            )


@beam.typehints.with_input_types(str)
@beam.typehints.with_output_types(list[bytes])
class _CsvFileCells(beam.DoFn):
    """One CSV file's rows, its header skipped, as TFX's ``ParseCSVLine`` gives them: a row's cells as bytes."""

    def process(self, path: str) -> Iterator[list[bytes]]:
        records = csv_records(path)
        next(records, None)
        for _, cells in records:
            yield [cell.encode("utf-8") for cell in cells]


@beam.ptransform_fn
@beam.typehints.with_input_types(beam.Pipeline)
@beam.typehints.with_output_types(tf.train.Example)
def _InferredCsvToExample(  # noqa: N802 - Beam's naming
    pipeline: beam.Pipeline, files: Sequence[str]
) -> beam.pvalue.PCollection:
    """TFX's ``_CsvToExample`` (types inferred from the values), the files read by :func:`csv_records`.

    TFX 1.16 reads a ``.csv.gz`` file neither way: the header with ``load_csv_column_names``, which
    does not decompress, and the rows by iterating Beam's ``CompressedFile``, which is not iterable.
    The rows are parsed by Python's csv module in both, as TFX's ``ParseCSVLine`` does.
    """
    names = csv_header(files[0])
    for path in files[1:]:
        if (header := csv_header(path)) != names:
            raise FileInputError(
                f"{path}: its header ({', '.join(header)}) differs from {files[0]}'s ({', '.join(names)}); "
                "without a schema every file of a split must have the same columns in the same order"
            )
    parsed = pipeline | "CreateFilenames" >> beam.Create(files) | "ReadCsvRows" >> beam.ParDo(_CsvFileCells())
    column_infos = beam.pvalue.AsSingleton(
        parsed
        | "InferColumnTypes" >> beam.CombineGlobally(csv_decoder.ColumnTypeInferrer(names, skip_blank_lines=True))
    )
    return parsed | "ToTFExample" >> beam.ParDo(csv_executor._ParsedCsvToTfExample(), column_infos)  # noqa: SLF001


@beam.ptransform_fn
@beam.typehints.with_input_types(beam.Pipeline)
@beam.typehints.with_output_types(tf.train.Example)
def _CsvToExample(  # noqa: N802 - Beam's naming
    pipeline: beam.Pipeline, exec_properties: dict[str, Any], split_pattern: str
) -> beam.pvalue.PCollection:
    options = read_options(exec_properties)
    files = fileio.glob(os.path.join(exec_properties[standard_component_specs.INPUT_BASE_KEY], split_pattern))
    if not files:
        raise FileInputError(
            f"no file under {exec_properties[standard_component_specs.INPUT_BASE_KEY]} matches {split_pattern}"
        )
    if options["columns"] is None:  # no schema yet: TFX's reading (types inferred from the values), gzip too
        return pipeline | "TfxCsvToExample" >> _InferredCsvToExample(sorted(files))
    return (
        pipeline
        | "CsvFiles" >> beam.Create(sorted(files))
        | "ReadCsvWithSchemaTypes" >> beam.ParDo(_CsvFileToExamples(options["columns"], options["list_delimiter"]))
    )


@beam.ptransform_fn
@beam.typehints.with_input_types(beam.Pipeline)
@beam.typehints.with_output_types(tf.train.Example)
def _ParquetToExample(  # noqa: N802 - Beam's naming
    pipeline: beam.Pipeline, exec_properties: dict[str, Any], split_pattern: str
) -> beam.pvalue.PCollection:
    columns = {c.name: c for c in read_options(exec_properties)["columns"] or ()}
    pattern = os.path.join(exec_properties[standard_component_specs.INPUT_BASE_KEY], split_pattern)
    return (
        pipeline
        | "ReadFromParquet" >> beam.io.ReadFromParquet(pattern)
        | "ToTFExample" >> beam.Map(record_to_example, columns)
    )


class _CheckedFiles(base_example_gen_executor.BaseExampleGenExecutor):
    """Checks the input files, then writes the examples; records the span and what was read."""

    def check_split(self, exec_properties: Mapping[str, Any], files: Sequence[str]) -> int:
        """Check one split's files in the options' format; returns their rows (a format's executor may override)."""
        options = read_options(exec_properties)
        return check_files(options["format"], files, options["columns"], options["list_delimiter"])

    def Do(  # noqa: N802 - TFX's API
        self,
        input_dict: dict[str, list[Any]],
        output_dict: dict[str, list[Any]],
        exec_properties: dict[str, Any],
    ) -> None:
        """Check every split's files, set the artifact's span and version, and run TFX's executor."""
        options = read_options(exec_properties)
        input_base = exec_properties[standard_component_specs.INPUT_BASE_KEY]
        input_config = example_gen_pb2.Input()
        proto_utils.json_to_proto(exec_properties[standard_component_specs.INPUT_CONFIG_KEY], input_config)
        read: dict[str, dict[str, Any]] = {}
        span_files: list[str] = []
        for split in input_config.splits:
            files = sorted(fileio.glob(os.path.join(input_base, split.pattern)))
            if not files:
                raise FileInputError(f"no file under {input_base} matches {split.pattern}")
            rows = self.check_split(exec_properties, files)
            read[split.name] = {"files": [os.path.relpath(f, input_base) for f in files], "rows": rows}
            span_files.extend(files)
        check_required_columns(options["format"], span_files, options["columns"])  # a file lacking its siblings' column
        artifact = artifact_utils.get_single_instance(output_dict[standard_component_specs.EXAMPLES_KEY])
        artifact.span = int(exec_properties.get("span") or 0)
        if exec_properties.get("version") is not None:
            artifact.version = int(exec_properties["version"])
        if exec_properties.get(CONTENT_DIGEST):
            artifact.set_string_custom_property(CONTENT_DIGEST, str(exec_properties[CONTENT_DIGEST]))
        if exec_properties.get(SPAN_NOTES) and exec_properties[SPAN_NOTES] != "[]":  # late spans, for the summary
            artifact.set_string_custom_property(SPAN_NOTES, str(exec_properties[SPAN_NOTES]))
        artifact.set_string_custom_property(
            INPUT_PROPERTY, json.dumps({"input_base": input_base, "format": options["format"], "splits": read})
        )
        super().Do(input_dict, output_dict, exec_properties)


class CsvExecutor(_CheckedFiles, csv_executor.Executor):
    """TFX's CsvExampleGen executor, with the checks and the schema's column types."""

    def GetInputSourceToExamplePTransform(self) -> beam.PTransform:  # noqa: N802 - TFX's API
        """CSV files -> tf.Examples, each value of its schema kind."""
        return _CsvToExample


class ImportExecutor(_CheckedFiles, import_executor.Executor):
    """TFX's ImportExampleGen executor (TFRecord files of tf.Example), with the checks."""


class ParquetExecutor(_CheckedFiles, parquet_executor.Executor):
    """TFX's Parquet executor for FileBasedExampleGen, with the checks and every value kept."""

    def GetInputSourceToExamplePTransform(self) -> beam.PTransform:  # noqa: N802 - TFX's API
        """Parquet files -> tf.Examples; 0, 0.0 and "" are values, None is missing."""
        return _ParquetToExample


EXECUTORS = {"csv": CsvExecutor, "tfrecord": ImportExecutor, "parquet": ParquetExecutor}
