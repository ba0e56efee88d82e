"""The file-based ExampleGens: file checks with their messages, spans, splits, typed values, fingerprints."""

from __future__ import annotations

import gzip
import json
import os
import random
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import tensorflow as tf
from tfx.utils import io_utils

from components.file_example_gen import (
    Column,
    FileExampleGenError,
    FileInputError,
    check_input,
    columns_from_schema,
    file_example_gen,
    find_spans,
)
from components.file_example_gen.checks import (
    check_csv,
    check_files,
    check_parquet,
    check_required_columns,
    check_tfrecord,
    format_of,
)
from components.file_example_gen.component import split_configs
from components.file_example_gen.driver import content_digest, content_hash, splits_fingerprint
from components.file_example_gen.executor import _CsvFileToExamples, cell_feature, record_to_example

ROOT = Path(__file__).resolve().parents[1]
COLUMNS = [
    Column("species", "int"),
    Column("mass", "float"),
    Column("island", "bytes", required=False),
    Column("note", "bytes"),
    Column("tags", "bytes", required=False, multivalued=True),
]

pytestmark = pytest.mark.reliability


def _write(path: Path, text: str) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return str(path)


def _tfrecord(path: Path, examples: list[tf.train.Example], gzip: bool = False) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    with tf.io.TFRecordWriter(str(path), options="GZIP" if gzip else None) as writer:
        for example in examples:
            writer.write(example.SerializeToString())
    return str(path)


def _example(**features: tf.train.Feature) -> tf.train.Example:
    return tf.train.Example(features=tf.train.Features(feature=features))


def test_the_curated_schema_says_which_columns_are_lists_and_required() -> None:
    columns = {
        c.name: c
        for c in columns_from_schema(io_utils.SchemaReader().read(str(ROOT / "pipelines/ticket/schema.pbtxt")))
    }
    assert columns["tags"] == Column("tags", "bytes", required=True, multivalued=True)
    assert columns["priority"] == Column("priority", "float", required=True, multivalued=False)
    assert columns["title"].kind == "bytes" and not columns["title"].multivalued


def test_a_good_csv_passes_and_counts_its_rows(tmp_path: Path) -> None:
    path = _write(tmp_path / "a.csv", 'species,mass,island,note,tags\n0,3.5,,"a, quoted note",x|y\n2,4,Biscoe,,\n')
    assert check_csv(path, COLUMNS) == 2


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("", "a.csv is empty: remove it, or export it again with a header line and rows"),
        ("species,mass\n", "a.csv has a header but no rows"),
        (
            "species,Mass\n0,1\n",
            "the header has columns 'Mass' that the schema does not know (did you mean 'Mass' -> 'mass'?)",
        ),
        ("0,3.5\n1,2\n", "the first line (the header) has names '0', '3.5' that the schema does not know"),
        ("species,mass\n0,3.5\n1,abc\n2,x\n", "a.csv, line 3, column mass: 'abc' is not a number (1 more such values"),
        ("species,mass\n1.5,3\n", "a.csv, line 2, column species: '1.5' is not an integer"),
        ("species,mass\n0,3.5,7\n", "a.csv, line 2: 3 values for 2 columns"),
        ("species,species\n0,1\n", "the header names species more than once"),
        ("species,mass\n0,1\n2,3\x004\n", "a.csv, line 3: a NUL byte; the file is binary or not UTF-8"),
        (
            'species,mass\n0,1\n2,"3\n' + "x" * 140_000 + "\n4,5\n",
            'a.csv, line 3: a cell of more than 131072 characters (the record runs to line 4), most often a quote (")',
        ),
    ],
)
def test_a_bad_csv_is_one_line_naming_the_file_and_the_fix(tmp_path: Path, content: str, message: str) -> None:
    path = _write(tmp_path / "a.csv", content)
    with pytest.raises(FileInputError) as err:
        check_csv(path, COLUMNS)
    assert message in str(err.value) and "\n" not in str(err.value)


def test_a_csv_that_is_not_text_is_named(tmp_path: Path) -> None:
    path = tmp_path / "a.csv"
    path.write_bytes(b"species\n\xff\xfe\x00")
    with pytest.raises(FileInputError, match="is not UTF-8 text"):
        check_csv(str(path), COLUMNS)


def test_tfrecord_checks(tmp_path: Path) -> None:
    good = _example(species=tf.train.Feature(int64_list=tf.train.Int64List(value=[0])))
    assert check_tfrecord(_tfrecord(tmp_path / "a.tfrecord.gz", [good, good], gzip=True), COLUMNS) == 2
    (tmp_path / "empty.tfrecord").write_bytes(b"")
    with pytest.raises(FileInputError, match="empty.tfrecord is empty"):
        check_tfrecord(str(tmp_path / "empty.tfrecord"), COLUMNS)
    csv = _write(tmp_path / "day.csv", "species,mass\n0,1\n")
    with pytest.raises(FileInputError, match=r"day.csv is not a TFRecord file .* set data.format=csv"):
        check_tfrecord(csv, COLUMNS)
    unknown = _example(Species=tf.train.Feature(int64_list=tf.train.Int64List(value=[0])))
    with pytest.raises(FileInputError, match=r"record 1 has features 'Species' .*did you mean 'Species' -> 'species'"):
        check_tfrecord(_tfrecord(tmp_path / "b.tfrecord", [unknown]), COLUMNS)
    wrong = _example(species=tf.train.Feature(float_list=tf.train.FloatList(value=[0.5])))
    with pytest.raises(FileInputError, match="record 1, feature species: float values where the schema says int"):
        check_tfrecord(_tfrecord(tmp_path / "c.tfrecord", [good, wrong][1:]), COLUMNS)


def test_parquet_checks(tmp_path: Path) -> None:
    path = str(tmp_path / "a.parquet")
    pq.write_table(pa.table({"species": [0, 1], "mass": [1, 2], "tags": [["x"], []]}), path)
    assert check_parquet(path, COLUMNS) == 2  # integers where the schema says float are fine
    pq.write_table(pa.table({"species": [0.5]}), path)
    with pytest.raises(FileInputError, match="column species: Parquet type double where the schema says int"):
        check_parquet(path, COLUMNS)
    pq.write_table(pa.table({"species": pa.array([], pa.int64())}), path)
    with pytest.raises(FileInputError, match="a.parquet has no rows"):
        check_parquet(path, COLUMNS)
    csv = _write(tmp_path / "b.csv", "species\n0\n")
    with pytest.raises(FileInputError, match=r"b.csv is not a Parquet file \(its name says csv: set data.format=csv\)"):
        check_parquet(csv, COLUMNS)


def test_values_keep_zeros_and_empty_cells_follow_the_schema() -> None:
    species, mass, island, note, tags = COLUMNS
    assert list(cell_feature("0", species, "|").int64_list.value) == [0]
    assert list(cell_feature("0.0", mass, "|").float_list.value) == [0.0]
    assert list(cell_feature("3", mass, "|").float_list.value) == [3.0]  # the schema's kind, not the value's look
    assert cell_feature("", mass, "|").float_list.value == []  # missing
    assert cell_feature("", island, "|").bytes_list.value == []  # an optional text: missing
    assert list(cell_feature("", note, "|").bytes_list.value) == [b""]  # a required text: the empty text
    assert list(cell_feature("a|b | c", tags, "|").bytes_list.value) == [b"a", b"b", b"c"]
    assert cell_feature("", tags, "|").bytes_list.value == []
    example = record_to_example(
        {"species": 0, "mass": 0.0, "note": "", "island": None, "tags": ["x", None]}, {c.name: c for c in COLUMNS}
    ).features.feature
    assert list(example["species"].int64_list.value) == [0]
    assert list(example["mass"].float_list.value) == [0.0]
    assert list(example["note"].bytes_list.value) == [b""]
    assert example["island"].bytes_list.value == [] and list(example["tags"].bytes_list.value) == [b"x"]


def test_spans_are_found_by_number_and_by_date(tmp_path: Path) -> None:
    for relative in ("span-1/a.csv", "span-2/a.csv", "span-2/b.csv", "span-x/a.csv", "other.csv"):
        _write(tmp_path / relative, "x\n1\n")
    spans = find_spans(str(tmp_path), "span-{SPAN}/*.csv")
    assert sorted(spans) == [1, 2] and len(spans[2]) == 2
    _write(tmp_path / "dated" / "2026-12-05" / "a.csv", "x\n1\n")
    dated = find_spans(str(tmp_path / "dated"), "{YYYY}-{MM}-{DD}/*")
    assert list(dated) == [20792]  # TFX's span of a date: days since 1970-01-01
    assert find_spans(str(tmp_path), "*.csv") == {0: [str(tmp_path / "other.csv")]}


def test_missing_folders_files_and_spans_are_named(tmp_path: Path) -> None:
    with pytest.raises(FileInputError, match="no input folder: give the folder of your data files with --input-base"):
        check_input(None, {"all": "span-{SPAN}/*"})
    with pytest.raises(FileInputError, match=f"input folder {tmp_path}/nope does not exist"):
        check_input(str(tmp_path / "nope"), {"all": "span-{SPAN}/*"})
    _write(tmp_path / "day1.csv", "x\n1\n")
    with pytest.raises(FileInputError) as err:
        check_input(str(tmp_path), {"all": "span-{SPAN}/*"})
    assert "no file under" in str(err.value) and "matches span-{SPAN}/*" in str(err.value)
    assert "a span's files go in a folder per span, e.g. span-1/" in str(err.value) and "holds day1.csv" in str(
        err.value
    )
    _write(tmp_path / "span-3" / "a.csv", "x\n1\n")
    assert check_input(str(tmp_path), {"all": "span-{SPAN}/*"}) == {3: [str(tmp_path / "span-3" / "a.csv")]}
    with pytest.raises(FileInputError, match=r"span 4 is not under .* \(spans found: 3\)"):
        check_input(str(tmp_path), {"all": "span-{SPAN}/*"}, span=4)


def test_splits_by_hash_buckets_or_by_pattern() -> None:
    input_config, output_config = split_configs("span-{SPAN}/*", {"train": 0.7, "eval": 0.15, "test": 0.15}, "id")
    assert [s.pattern for s in input_config.splits] == ["span-{SPAN}/*"]
    buckets = {s.name: s.hash_buckets for s in output_config.split_config.splits}
    assert buckets == {"train": 700, "eval": 150, "test": 150}
    assert output_config.split_config.partition_feature_name == "id"
    input_config, output_config = split_configs("", {"train": "span-{SPAN}/train/*", "eval": "span-{SPAN}/eval/*"})
    assert output_config is None and [s.name for s in input_config.splits] == ["train", "eval"]
    with pytest.raises(FileExampleGenError, match="mixes proportions and patterns"):
        split_configs("*", {"train": 0.5, "eval": "eval/*"})
    with pytest.raises(FileExampleGenError, match="format 'xlsx' is not one of csv, tfrecord, parquet"):
        file_example_gen("xlsx", "/data", "*", {"train": 1.0})
    with pytest.raises(FileExampleGenError, match="span=-1 must be an integer >= 0"):
        file_example_gen("csv", "/data", "span-{SPAN}/*", {"train": 1.0}, span=-1)
    component = file_example_gen("parquet", "/data", "span-{SPAN}/*", {"train": 2, "eval": 1}, span=3)
    assert type(component).__name__ == "ParquetExampleGen"
    assert json.loads(component.exec_properties["range_config"])["static_range"]["start_span_number"] == 3


def test_the_fingerprint_sees_a_fix_of_the_same_size_in_the_same_second(tmp_path: Path) -> None:
    """TFX's fingerprint counts whole seconds of mtime: a same-size fix within the second kept stale examples."""
    from tfx.proto import example_gen_pb2

    path = tmp_path / "span-1" / "a.csv"
    _write(path, "mass\nabc\n")
    stat = os.stat(path)
    splits = [example_gen_pb2.Input.Split(name="single_split", pattern="span-1/*")]
    before, digest = splits_fingerprint(str(tmp_path), splits)
    tfx_before = io_utils.generate_fingerprint("single_split", str(tmp_path / "span-1/*"))
    _write(path, "mass\n1.5\n")
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # same size, same modification time
    after, fixed_digest = splits_fingerprint(str(tmp_path), splits)
    assert after != before and fixed_digest != digest
    assert io_utils.generate_fingerprint("single_split", str(tmp_path / "span-1/*")) == tfx_before  # TFX's misses it


def test_the_content_digest_sees_the_same_data_under_other_names_and_times(tmp_path: Path) -> None:
    from tfx.proto import example_gen_pb2

    _write(tmp_path / "span-1" / "a.csv", "mass\n1.5\n")
    _write(tmp_path / "span-2" / "export-copy.csv", "mass\n1.5\n")  # the same export, delivered again
    _write(tmp_path / "span-3" / "a.csv", "mass\n2.5\n")

    def digest(span: int) -> str:
        split = example_gen_pb2.Input.Split(name="single_split", pattern=f"span-{span}/*")
        return splits_fingerprint(str(tmp_path), [split])[1]

    assert digest(1) == digest(2) != digest(3)


PENGUIN_TEXT = 'species,mass,island,note,tags\n0,3.5,,"a, quoted note",x|y\n2,4,Biscoe,,\n1,0,Dream,"two\nlines",z\n'


def _csv_examples(path: str) -> list[str]:
    return sorted(str(e) for e in _CsvFileToExamples(COLUMNS, "|").process(path))


def test_a_gzip_csv_is_read_as_the_same_csv(tmp_path: Path) -> None:
    """A ``*.csv.gz`` file was refused as 'not UTF-8 text (byte 1)'; it is read as gzip-compressed CSV."""
    plain = _write(tmp_path / "a.csv", PENGUIN_TEXT)
    zipped = tmp_path / "a.csv.gz"
    zipped.write_bytes(gzip.compress(PENGUIN_TEXT.encode()))
    assert format_of(str(zipped)) == "csv"
    assert check_csv(str(zipped), COLUMNS) == check_csv(plain, COLUMNS) == 3
    assert _csv_examples(str(zipped)) == _csv_examples(plain) and len(_csv_examples(plain)) == 3
    bom = tmp_path / "b.csv.gz"  # a BOM and CRLF line ends inside the gzip
    bom.write_bytes(gzip.compress(b"\xef\xbb\xbf" + PENGUIN_TEXT.replace("\n", "\r\n").encode()))
    examples = _csv_examples(str(bom))  # the quoted cell keeps its CRLF, as the csv module reads it
    assert [e.replace("two\\r\\nlines", "two\\nlines") for e in examples] == _csv_examples(plain)


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("cut.csv.gz", gzip.compress(random.Random(0).randbytes(4000), mtime=0)[:2000], "Compressed file ended"),
        ("plain.csv.gz", b"species\n0\n", "is not a readable gzip file (Not a gzipped file"),
        ("zipped.csv", gzip.compress(b"species\n0\n", mtime=0), "is gzip-compressed but its name does not end in .gz"),
    ],
    ids=["cut", "not-gzip", "gzip-without-gz"],  # the same on every xdist worker (gzip stamps the time)
)
def test_a_bad_gzip_csv_is_one_line_naming_the_file(tmp_path: Path, name: str, content: bytes, message: str) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(FileInputError) as err:
        check_csv(str(path), COLUMNS)
    assert str(err.value).startswith(str(path)) and message in str(err.value) and "\n" not in str(err.value)
    if name.endswith(".gz"):
        assert "export and compress it again, or drop .gz from its name" in str(err.value)


def test_a_file_lacking_a_required_column_that_the_span_s_other_files_have_is_named(tmp_path: Path) -> None:
    full = _write(tmp_path / "span-1" / "a.csv", "species,mass,note\n0,3.5,x\n")
    short = _write(tmp_path / "span-1" / "b.csv", "mass,note\n4.5,y\n")  # species (required) left out
    optional = _write(tmp_path / "span-1" / "c.csv", "species,mass,note,island\n1,2.5,z,Dream\n")
    check_files("csv", [full, short, optional], COLUMNS)  # each file is fine on its own
    with pytest.raises(FileInputError) as err:
        check_required_columns("csv", [full, short, optional], COLUMNS)
    assert str(err.value).startswith(
        f"{short}: the header lacks the required column(s) species (the span's other files have it); "
    )
    assert "make it optional in the curated schema (presence.min_fraction below 1)" in str(err.value)
    check_required_columns("csv", [full, optional], COLUMNS)  # island is optional: a.csv may lack it
    # Every file lacks note: a column dropped upstream, left to the DataValidator's anomalies (see the docstring).
    check_required_columns(
        "csv", [_write(tmp_path / "d.csv", "species\n0\n"), _write(tmp_path / "e.csv", "species\n1\n")], COLUMNS
    )
    parquet_full, parquet_short = str(tmp_path / "a.parquet"), str(tmp_path / "b.parquet")
    pq.write_table(pa.table({"species": [0], "note": ["x"]}), parquet_full)
    pq.write_table(pa.table({"species": [1]}), parquet_short)
    with pytest.raises(FileInputError, match=r"b.parquet: the file lacks the required column\(s\) note \(the span's"):
        check_required_columns("parquet", [parquet_full, parquet_short], COLUMNS)
    species = tf.train.Feature(int64_list=tf.train.Int64List(value=[0]))
    note = tf.train.Feature(bytes_list=tf.train.BytesList(value=[b"x"]))
    records = [
        _tfrecord(tmp_path / "a.tfrecord", [_example(species=species, note=note)]),
        _tfrecord(tmp_path / "b.tfrecord.gz", [_example(species=species)] * 3, gzip=True),
        _tfrecord(tmp_path / "c.tfrecord", [_example(note=note), _example(species=species, note=note)]),
    ]
    with pytest.raises(FileInputError) as err:
        check_required_columns("tfrecord", records, COLUMNS)
    assert str(err.value).startswith(
        f"{records[1]}: its records (up to the first 1000) lack the required feature(s) note (the span's other files"
    )


def _digest(path: Path, content: bytes | str) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content.encode() if isinstance(content, str) else content)
    return content_digest(str(path))


def test_the_content_digest_is_of_the_records_whatever_their_order_and_encoding(tmp_path: Path) -> None:
    """An old span re-sent with its columns in another order was not seen as a duplicate."""
    text = 'species,mass,note\n0,3.5,a\n1,4.5,"b, c"\n1,4.5,"b, c"\n'
    same = [
        ("a.csv", text),
        ("reordered.csv", 'note,species,mass\n"b, c",1,4.5\na,0,3.5\n\n"b, c",1,4.5\n'),  # columns, rows, a blank line
        ("windows.csv", b"\xef\xbb\xbf" + text.replace("\n", "\r\n").encode()),  # a BOM, CRLF
        ("zipped.csv.gz", gzip.compress(text.encode())),
    ]
    digests = {name: _digest(tmp_path / name, content) for name, content in same}
    assert len(set(digests.values())) == 1 and digests["a.csv"].startswith("csv:"), digests
    different = [
        ("value.csv", text.replace("3.5", "3.6")),
        ("once.csv", 'species,mass,note\n0,3.5,a\n1,4.5,"b, c"\n'),  # a repeated row is a row
        ("renamed.csv", text.replace("note", "notes")),
        ("moved.csv", 'species,mass,note\n0,3.5,"b, c"\n1,4.5,a\n1,4.5,"b, c"\n'),  # a value in another row
    ]
    for name, content in different:
        assert _digest(tmp_path / name, content) != digests["a.csv"], name
    assert content_hash(str(tmp_path / "a.csv")) != content_hash(str(tmp_path / "reordered.csv"))  # the cache sees it
    assert _digest(tmp_path / "broken.csv.gz", b"not gzip").startswith("bytes:")  # left to the checks to name
    first, second = tmp_path / "a.parquet", tmp_path / "b.parquet"
    pq.write_table(pa.table({"species": [0, 1], "tags": [["x"], []]}), str(first))
    pq.write_table(pa.table({"tags": [[], ["x"]], "species": [1, 0]}), str(second))
    assert content_digest(str(first)) == content_digest(str(second)) != content_digest(str(first), "bytes")
    one = _example(species=tf.train.Feature(int64_list=tf.train.Int64List(value=[0])))
    two = _example(species=tf.train.Feature(int64_list=tf.train.Int64List(value=[1])))
    records = content_digest(_tfrecord(tmp_path / "a.tfrecord", [one, two]))
    assert records == content_digest(_tfrecord(tmp_path / "b.tfrecord.gz", [two, one], gzip=True)), "order, gzip"
    assert records != content_digest(_tfrecord(tmp_path / "c.tfrecord", [one, one]))


def test_the_span_digest_sees_a_span_re_sent_with_its_columns_reordered(tmp_path: Path) -> None:
    from tfx.proto import example_gen_pb2

    _write(tmp_path / "span-1" / "a.csv", "species,mass\n0,1.5\n1,2.5\n")
    _write(tmp_path / "span-2" / "export.csv", "mass,species\n2.5,1\n1.5,0\n")
    splits = {span: [example_gen_pb2.Input.Split(name="single_split", pattern=f"span-{span}/*")] for span in (1, 2)}
    (first, digest), (second, again) = (splits_fingerprint(str(tmp_path), splits[s]) for s in (1, 2))
    assert digest == again and first != second
    assert splits_fingerprint(str(tmp_path), splits[2], "csv") == (second, again)  # the format the options give
    assert splits_fingerprint(str(tmp_path), splits[2], "tfrecord")[1] != again  # not records of that format: bytes


@pytest.mark.reliability
def test_a_path_that_is_not_a_readable_file_stops_the_data_before_anything_reads_it(tmp_path: Path) -> None:
    """A pipe would hang the digest forever, a folder named x.csv fail the read: both are named, exit 3."""
    from components.file_example_gen.spans import UnreadableFileError

    span = tmp_path / "span-1"
    span.mkdir()
    (span / "good.csv").write_text("a\n1\n")
    os.mkfifo(span / "pipe.csv")
    with pytest.raises(UnreadableFileError, match=r"pipe.csv matches the pattern but is a pipe, not a file"):
        check_input(str(tmp_path), {"all": "span-{SPAN}/*.csv"})
    (span / "pipe.csv").unlink()
    (span / "folder.csv").mkdir()
    with pytest.raises(UnreadableFileError, match=r"folder.csv matches the pattern but is a folder, not a file"):
        check_input(str(tmp_path), {"all": "span-{SPAN}/*.csv"})
    (span / "folder.csv").rmdir()
    if os.geteuid() != 0:  # root reads any file
        (span / "good.csv").chmod(0)
        with pytest.raises(UnreadableFileError, match="cannot be read by this user"):
            check_input(str(tmp_path), {"all": "span-{SPAN}/*.csv"})


@pytest.mark.reliability
def test_a_span_number_ml_metadata_cannot_keep_is_named(tmp_path: Path) -> None:
    (tmp_path / "span-99999999999999999999").mkdir()
    (tmp_path / "span-99999999999999999999" / "a.csv").write_text("a\n1\n")
    with pytest.raises(FileInputError, match=r"span 99999999999999999999 is over the largest span ML Metadata can"):
        check_input(str(tmp_path), {"all": "span-{SPAN}/*.csv"})


@pytest.mark.reliability
def test_a_cloud_storage_folder_that_cannot_be_reached_is_not_said_to_be_missing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import socket

    def no_dns(*args: object, **kwargs: object) -> None:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(tf.io.gfile, "isdir", lambda path: False)  # what TensorFlow answers without network
    monkeypatch.setattr(socket, "getaddrinfo", no_dns)
    with pytest.raises(FileInputError, match=r"cannot reach Cloud Storage for gs://bucket/in \(Name or service"):
        check_input("gs://bucket/in", {"all": "span-{SPAN}/*"})
