"""The user's files (CSV, TFRecord, Parquet) as examples, through TFX's file-based ExampleGens."""

from components.file_example_gen.checks import Column, FileInputError, columns_from_schema
from components.file_example_gen.component import (
    CsvExampleGen,
    FileExampleGenError,
    ImportExampleGen,
    ParquetExampleGen,
    file_example_gen,
)
from components.file_example_gen.spans import check_input, find_spans

__all__ = [
    "Column",
    "CsvExampleGen",
    "FileExampleGenError",
    "FileInputError",
    "ImportExampleGen",
    "ParquetExampleGen",
    "check_input",
    "columns_from_schema",
    "file_example_gen",
    "find_spans",
]
