"""The user's own files as examples: CSV, TFRecord (tf.Example), Parquet or image folders, one span per run.

TFX's file-based ExampleGens (``FileBasedExampleGen``: its component spec, span resolution, hash
splitting and output), one class per format, with this project's driver (clear input errors, a
content fingerprint) and executors (the files checked first, values typed by the curated schema):

* :class:`CsvExampleGen`: CSV files with a header line (TFX's ``CsvExampleGen``);
* :class:`ImportExampleGen`: TFRecord files of ``tf.train.Example``, gzip if named ``*.gz`` (TFX's
  ``ImportExampleGen``);
* :class:`ParquetExampleGen`: Parquet files (TFX's ``FileBasedExampleGen`` with its Parquet executor);
* :class:`ImageExampleGen`: PNG or JPEG files in one folder per class, written as TFDSExampleGen writes
  an image classification data set (TFX's ``FileBasedExampleGen`` with :mod:`.images`' executor).

:func:`file_example_gen` builds the right one from plain arguments: the folder, the pattern of one
span's files (TFX's ``{SPAN}``, ``{YYYY}{MM}{DD}`` and ``{VERSION}`` placeholders), and the splits,
either hash buckets of one pattern (proportions) or one pattern per split (sub-folders).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from tfx.components.example_gen.component import FileBasedExampleGen
from tfx.dsl.components.base import executor_spec
from tfx.proto import example_gen_pb2, range_config_pb2

from common.splits import SPLIT_NAME, split_ranges
from components.example_gen_options import pack_options
from components.file_example_gen import executor, images
from components.file_example_gen.checks import Column
from components.file_example_gen.driver import FileDriver

HASH_BUCKETS = 1000  # proportions become shares of this many hash buckets


class FileExampleGenError(ValueError):
    """An argument of a file-based ExampleGen is wrong; the message says which and how to fix it."""


class CsvExampleGen(FileBasedExampleGen):
    """CSV files -> tf.Example TFRecords (TFX's CsvExampleGen, with checks and schema types)."""

    DRIVER_CLASS = FileDriver
    EXECUTOR_SPEC = executor_spec.BeamExecutorSpec(executor.CsvExecutor)


class ImportExampleGen(FileBasedExampleGen):
    """TFRecord files of tf.Example -> tf.Example TFRecords (TFX's ImportExampleGen, with checks)."""

    DRIVER_CLASS = FileDriver
    EXECUTOR_SPEC = executor_spec.BeamExecutorSpec(executor.ImportExecutor)


class ParquetExampleGen(FileBasedExampleGen):
    """Parquet files -> tf.Example TFRecords (TFX's Parquet executor, with checks, keeping zeros)."""

    DRIVER_CLASS = FileDriver
    EXECUTOR_SPEC = executor_spec.BeamExecutorSpec(executor.ParquetExecutor)


class ImageExampleGen(FileBasedExampleGen):
    """PNG/JPEG files, a folder per class -> tf.Example TFRecords with the features TFDSExampleGen writes."""

    DRIVER_CLASS = FileDriver
    EXECUTOR_SPEC = executor_spec.BeamExecutorSpec(images.ImageExecutor)


COMPONENTS = {
    "csv": CsvExampleGen,
    "tfrecord": ImportExampleGen,
    "parquet": ParquetExampleGen,
    images.IMAGE_FORMAT: ImageExampleGen,
}


def split_configs(
    pattern: str, splits: Mapping[str, float | str], partition_feature: str | None = None
) -> tuple[example_gen_pb2.Input, example_gen_pb2.Output | None]:
    """TFX's input and output configs for ``splits``.

    Proportions (numbers) cut the files of ``pattern`` into hash buckets; patterns (strings) read
    each split from its own files (relative to the input folder, with the same placeholders).
    """
    if not splits:
        raise FileExampleGenError("splits is empty; give e.g. {'train': 0.8, 'eval': 0.2}")
    for name in splits:
        if not SPLIT_NAME.match(name):
            raise FileExampleGenError(f"split name {name!r} must be an identifier like 'train'")
    kinds = {isinstance(v, str) for v in splits.values()}
    if len(kinds) > 1:
        raise FileExampleGenError(
            f"splits {dict(splits)} mixes proportions and patterns: give every split a proportion (hash buckets "
            "of data.pattern) or every split its own pattern (sub-folders)"
        )
    if kinds == {True}:
        input_config = example_gen_pb2.Input(
            splits=[example_gen_pb2.Input.Split(name=name, pattern=str(p)) for name, p in splits.items()]
        )
        return input_config, None
    for name, share in splits.items():
        if isinstance(share, bool) or not isinstance(share, (int, float)) or not share > 0:
            raise FileExampleGenError(f"split {name!r}: proportion {share!r} must be a positive number")
    buckets = {name: end - start for name, (start, end) in split_ranges(HASH_BUCKETS, splits).items()}
    split_config = example_gen_pb2.SplitConfig(
        splits=[example_gen_pb2.SplitConfig.Split(name=n, hash_buckets=b) for n, b in buckets.items()]
    )
    if partition_feature:
        split_config.partition_feature_name = partition_feature
    output_config = example_gen_pb2.Output(split_config=split_config)
    return example_gen_pb2.Input(splits=[example_gen_pb2.Input.Split(name="single_split", pattern=pattern)]), (
        output_config
    )


def file_example_gen(
    fmt: str,
    input_base: str,
    pattern: str,
    splits: Mapping[str, float | str],
    span: int | None = None,
    columns: Sequence[Column] | None = None,
    list_delimiter: str = "|",
    partition_feature: str | None = None,
    allow_duplicate_spans: bool = False,
    window_spans: int = 1,
    class_names: Sequence[str] | None = None,
    image_shape: Sequence[int] | None = None,
) -> FileBasedExampleGen:
    """The ExampleGen for files of format ``fmt`` under ``input_base``.

    Args:
        fmt: ``csv``, ``tfrecord``, ``parquet`` or ``images`` (a folder per class).
        input_base: the folder (local or ``gs://``); patterns are relative to it.
        pattern: one span's files, e.g. ``span-{SPAN}/*.csv`` (used when ``splits`` are proportions).
        splits: split name -> proportion (hash buckets) or pattern (one per split).
        span: read this span (None: the latest; TFX's static range).
        columns: what the schema says the columns are (None: no schema yet; types as TFX infers them).
        list_delimiter: in CSV, what separates the values of a list column in one cell.
        partition_feature: hash on this feature instead of the whole example (e.g. an id, so that all
            rows of one customer land in one split).
        allow_duplicate_spans: read a span whose content equals an earlier span's (refused by default).
        window_spans: the training window (``data.window_spans``): a span that arrives late and belongs in it
            is read by the next run instead of the newest (see :func:`spans.late_spans`).
        class_names: ``images``: the class names in label order (a folder each, see :func:`images.class_folder`).
        image_shape: ``images``: (height, width, channels) every image must have.

    Raises:
        FileExampleGenError: an unknown format, bad splits or span, or images without classes or shape.
    """
    if fmt not in COMPONENTS:
        raise FileExampleGenError(f"format {fmt!r} is not one of {', '.join(COMPONENTS)}")
    if span is not None and (isinstance(span, bool) or not isinstance(span, int) or span < 0):
        raise FileExampleGenError(f"span={span!r} must be an integer >= 0, or None for the latest")
    if not list_delimiter or list_delimiter in ',\n"':
        raise FileExampleGenError(f'list_delimiter={list_delimiter!r} must be a character other than , " or newline')
    image_options = _image_options(class_names, image_shape) if fmt == images.IMAGE_FORMAT else {}
    input_config, output_config = split_configs(pattern, splits, partition_feature)
    range_config = None
    if span is not None:
        range_config = range_config_pb2.RangeConfig(
            static_range=range_config_pb2.StaticRange(start_span_number=span, end_span_number=span)
        )
    custom_config = pack_options(
        {
            "format": fmt,
            "columns": [c.to_dict() for c in columns] if columns is not None else None,
            "list_delimiter": list_delimiter,
            "allow_duplicate_spans": bool(allow_duplicate_spans),
            "window_spans": int(window_spans),
            **image_options,
        }
    )
    return COMPONENTS[fmt](
        input_base=input_base,
        input_config=input_config,
        output_config=output_config,
        custom_config=custom_config,
        range_config=range_config,
    )


def _image_options(class_names: Sequence[str] | None, image_shape: Sequence[int] | None) -> dict[str, list]:
    """The class names and image shape of format ``images``, checked."""
    if not class_names:
        raise FileExampleGenError("format 'images' needs the class names (a folder per class); give class_names")
    try:
        images.class_keys(class_names)
    except ValueError as err:
        raise FileExampleGenError(str(err)) from None
    shape = list(image_shape or ())
    if len(shape) != 3 or not all(isinstance(d, int) and not isinstance(d, bool) and d > 0 for d in shape):
        raise FileExampleGenError(f"image_shape={image_shape!r} must be (height, width, channels), positive integers")
    return {"class_names": [str(name) for name in class_names], "image_shape": shape}
