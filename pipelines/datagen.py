"""``tfx-keras data generate``: one span of a generator task written as files, the way a daily export lands.

A task whose data comes from a generator (``GeneratorSource``) can also read files (``--input-base``).
This writes one day of its data, with every setting of the config's ``data`` section (number of
records, seed, drift ...), into the span's folder under ``DIR`` (``data.pattern``'s folder with the
span number, by default ``span-<N>/``), as CSV, TFRecord (gzip) or Parquet. The columns and their
kinds come from the tf.Examples the generator makes, in the curated schema's order; a list column is
one CSV cell with its values separated by ``data.list_delimiter``. Files are written under a
temporary name outside the span's folder and moved in, so a run that starts meanwhile never reads half a file.
"""

from __future__ import annotations

import csv
import importlib
import io
import os
from collections.abc import Sequence
from typing import Any

from pipelines.config import ConfigError, TaskConfig
from pipelines.spec import GeneratorSource, TaskSpec

SUFFIXES = {"csv": ".csv", "tfrecord": ".tfrecord.gz", "parquet": ".parquet"}


def span_folder(pattern: str, span: int) -> str:
    """The folder of span ``span``'s files for a pattern such as ``span-{SPAN}/*`` (relative)."""
    folder = os.path.dirname(pattern)
    if "{SPAN}" not in folder:
        raise ConfigError(
            f"data.pattern={pattern!r} has no {{SPAN}} in its folder; writing spans needs e.g. span-{{SPAN}}/*"
        )
    return folder.replace("{SPAN}", str(span))


def _values(feature: Any) -> tuple[str, list[Any]]:
    kind = feature.WhichOneof("kind")
    if kind == "int64_list":
        return "int", list(feature.int64_list.value)
    if kind == "float_list":
        return "float", list(feature.float_list.value)
    if kind == "bytes_list":
        return "bytes", [v.decode("utf-8") for v in feature.bytes_list.value]
    return "bytes", []


def _columns(examples: Sequence[Any], schema_order: Sequence[str]) -> list[str]:
    present = {name for example in examples for name in example.features.feature}
    ordered = [name for name in schema_order if name in present]
    return ordered + sorted(present - set(ordered))


def _csv_bytes(examples: Sequence[Any], columns: Sequence[str], multivalued: set[str], delimiter: str) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    for example in examples:
        row = []
        for name in columns:
            _, values = _values(example.features.feature[name]) if name in example.features.feature else ("", [])
            if name in multivalued:
                row.append(delimiter.join(str(v) for v in values))
            else:
                row.append(str(values[0]) if values else "")
        writer.writerow(row)
    return out.getvalue().encode("utf-8")


def _parquet_bytes(examples: Sequence[Any], columns: Sequence[str], multivalued: set[str]) -> bytes:
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = {}
    for name in columns:
        cells = []
        for example in examples:
            _, values = _values(example.features.feature[name]) if name in example.features.feature else ("", [])
            cells.append(values if name in multivalued else (values[0] if values else None))
        table[name] = cells
    sink = io.BytesIO()
    pq.write_table(pa.table(table), sink)
    return sink.getvalue()


def write_span(spec: TaskSpec, config: TaskConfig, out_dir: str, fmt: str, overwrite: bool = False) -> str:
    """Generate span ``config.data.span`` of ``spec``'s data into ``out_dir``; returns the file written.

    Raises:
        ConfigError: the task has no generator, the span is not given, the format is unknown, or the
            span's folder exists (and ``overwrite`` is off).
    """
    import tensorflow as tf

    if not isinstance(spec.source, GeneratorSource):
        raise ConfigError(f"task {spec.name} has no generator: its data comes from {type(spec.source).__name__}")
    if fmt not in SUFFIXES:
        raise ConfigError(f"--format {fmt!r} is not one of {', '.join(SUFFIXES)}")
    data = config.data
    if data.span is None:
        raise ConfigError("which day? give the span number with --span N")
    folder = os.path.join(out_dir, span_folder(data.pattern, data.span))
    try:
        return _write(spec, data, folder, out_dir, fmt, overwrite)
    except tf.errors.OpError as err:  # a bucket without credentials or network, a scheme TensorFlow cannot write
        first = (err.message or str(err)).strip().splitlines()[0]
        raise ConfigError(
            f"cannot write the span under {out_dir} ({first}): check the path, and for gs:// the credentials "
            "(gcloud auth application-default login) and the network"
        ) from None


def _write(spec: TaskSpec, data: Any, folder: str, out_dir: str, fmt: str, overwrite: bool) -> str:
    """Write the span's file into ``folder`` through a partial file beside it (removed if anything fails)."""
    import tensorflow as tf

    from pipelines.schema import schema_columns

    if tf.io.gfile.exists(folder) and tf.io.gfile.listdir(folder) and not overwrite:
        raise ConfigError(
            f"{folder} already holds files: a span that was read must not change under the runs that read it. "
            "Write another span, or pass --overwrite"
        )
    module = importlib.import_module(spec.source.module)
    options = data.generator_options()
    examples = [module.to_example(module.make_record(data.seed, i, options)) for i in range(data.num_examples)]
    schema = schema_columns(spec.schema_file) or []
    columns = _columns(examples, [c.name for c in schema])
    multivalued = {c.name for c in schema if c.multivalued}
    path = os.path.join(folder, f"{spec.name}-{data.span}{SUFFIXES[fmt]}")
    tf.io.gfile.makedirs(folder)
    partial = os.path.join(out_dir, f".{os.path.basename(path)}.partial")  # outside the span's folder
    try:
        if fmt == "tfrecord":
            with tf.io.TFRecordWriter(partial, options="GZIP") as writer:
                for example in examples:
                    writer.write(example.SerializeToString())
        else:
            content = (
                _csv_bytes(examples, columns, multivalued, data.list_delimiter)
                if fmt == "csv"
                else _parquet_bytes(examples, columns, multivalued)
            )
            with tf.io.gfile.GFile(partial, "wb") as f:
                f.write(content)
        tf.io.gfile.rename(partial, path, overwrite=True)
    except BaseException:  # Ctrl-C included: no partial file is left behind
        if tf.io.gfile.exists(partial):
            tf.io.gfile.remove(partial)
        raise
    return path
