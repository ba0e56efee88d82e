"""The file-based ExampleGens in real pipeline runs: three formats, spans, caching that follows the files, bad input.

Each run is the task's ExampleGen alone under TFX's local runner (its driver, executor, ML Metadata
and cache), on penguin rows written by the test; the whole penguin pipeline runs in the e2e suite.
"""

from __future__ import annotations

import csv
import glob
import gzip
import io
import json
import os
from pathlib import Path

import pytest
import tensorflow as tf
from helpers.data import penguin_rows, write_penguin_span
from tensorflow_metadata.proto.v0 import schema_pb2
from tfx import v1 as tfx
from tfx.utils import io_utils

from pipelines import tasks
from pipelines.config import apply_overrides
from pipelines.local_runner import DagRun, Progress, beam_args, run_dag, run_pipeline
from pipelines.pipeline import example_gen
from pipelines.run_summary import summarize

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("file_pipelines")]  # one worker: they share runs
ROWS = penguin_rows()[:60]
MEASUREMENTS = ("culmen_length_mm", "culmen_depth_mm", "flipper_length_mm", "body_mass_g")


def _run_example_gen(input_base: Path, root: Path, *overrides: str) -> tuple[DagRun, object]:
    spec = tasks.get("penguin")
    config = apply_overrides(spec.default_config(), [f"data.input_base={input_base}", *overrides])
    component = example_gen(spec, config)
    pipeline = tfx.dsl.Pipeline(
        pipeline_name="penguin-files",
        pipeline_root=str(root / "root"),
        components=[component],
        metadata_connection_config=tfx.orchestration.metadata.sqlite_metadata_connection_config(str(root / "m.db")),
        beam_pipeline_args=beam_args(1),
        enable_cache=True,
    )
    runner = run_dag(pipeline, Progress(lambda _line: None))
    return runner, summarize(pipeline.metadata_connection_config, "penguin-files", runner.run_id, [component.id])


def _examples(root: Path, component: str) -> list[dict]:
    """Every example the latest execution wrote, as {feature: values}, sorted (splits are hash buckets)."""
    latest = max(glob.glob(str(root / "root" / component / "examples" / "*")), key=lambda p: int(Path(p).name))
    rows = []
    for path in glob.glob(os.path.join(latest, "Split-*", "*.gz")):
        for record in tf.data.TFRecordDataset(path, compression_type="GZIP"):
            features = tf.train.Example.FromString(record.numpy()).features.feature
            rows.append(
                {
                    k: tuple(getattr(v, v.WhichOneof("kind")).value) if v.WhichOneof("kind") else ()
                    for k, v in sorted(features.items())
                }
            )
    return sorted(rows, key=lambda r: json.dumps(r, default=str))


@pytest.fixture(scope="module")
def formats(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple]:
    """The same rows as CSV, TFRecord and Parquet, span 1 and (the latest) span 2, each read by its ExampleGen."""
    results = {}
    for fmt, component in (
        ("csv", "CsvExampleGen"),
        ("tfrecord", "ImportExampleGen"),
        ("parquet", "ParquetExampleGen"),
    ):
        base = tmp_path_factory.mktemp(fmt)
        write_penguin_span(base / "in", 1, fmt, ROWS[:20])
        write_penguin_span(base / "in", 2, fmt, ROWS)
        runner, summary = _run_example_gen(base / "in", base, f"data.format={fmt}")
        results[fmt] = (runner, summary, _examples(base, component), base)
    return results


def test_each_format_gives_the_same_examples_of_the_latest_span_with_zeros_kept(formats: dict) -> None:
    csv_examples = formats["csv"][2]
    assert len(csv_examples) == len(ROWS)  # span 2, the latest; every row once across the splits
    assert sum(1 for e in csv_examples if e["species"] == (0,)) == sum(1 for r in ROWS if r["species"] == 0) > 0
    first = min(csv_examples, key=lambda e: abs(e["culmen_length_mm"][0] - ROWS[0]["culmen_length_mm"]))
    assert first["culmen_length_mm"] == pytest.approx((ROWS[0]["culmen_length_mm"],))
    for fmt in ("tfrecord", "parquet"):
        runner, summary, examples, _ = formats[fmt]
        assert runner.failure is None and summary.span == 2
        assert examples == csv_examples, fmt


def test_the_run_records_the_span_the_files_and_the_rows(formats: dict) -> None:
    summary = formats["csv"][1]
    assert summary.span == 2 and summary.input["format"] == "csv"
    assert sum(split["rows"] for split in summary.input["splits"].values()) == len(ROWS)
    assert summary.input["splits"]["single_split"]["files"] == ["span-2/penguins.csv"]
    assert "input: 60 rows from 1 csv file(s) under" in summary.describe()


@pytest.mark.reliability
def test_a_changed_file_reruns_the_example_gen_and_an_unchanged_one_is_cached(formats: dict) -> None:
    """The stale-cache case: a bad file stopped a run, the user fixed it, the next run must read it again."""
    base = formats["csv"][3]
    _, unchanged = _run_example_gen(base / "in", base)
    assert unchanged.components == {"CsvExampleGen": "CACHED"}
    path = base / "in" / "span-2" / "penguins.csv"
    text = path.read_text()
    value = str(ROWS[0]["body_mass_g"])
    path.write_text(text.replace(value, "x" + value[1:], 1))  # one value broken, the size unchanged
    stat = os.stat(path)
    runner, broken = _run_example_gen(base / "in", base)
    assert broken.components == {"CsvExampleGen": "FAILED"}
    assert f"penguins.csv, line 2, column body_mass_g: 'x{value[1:]}' is not a number" in runner.failure.reason
    path.write_text(text)
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # fixed: same size, same modification time
    runner, fixed = _run_example_gen(base / "in", base)
    assert fixed.components == {"CsvExampleGen": "COMPLETE"} and runner.failure is None
    write_penguin_span(base / "in", 3, "csv", ROWS[:30])  # a new day: read, the older spans are not
    _, new_day = _run_example_gen(base / "in", base)
    assert new_day.components == {"CsvExampleGen": "COMPLETE"} and new_day.span == 3
    _, asked = _run_example_gen(base / "in", base, "data.span=1")
    assert asked.span == 1 and sum(s["rows"] for s in asked.input["splits"].values()) == 20


@pytest.mark.reliability
def test_a_span_delivered_twice_is_refused_naming_both_spans(formats: dict) -> None:
    """A quiet failure: yesterday's export again, under today's span: zero drift, every check passes."""
    base = formats["parquet"][3]
    (base / "in" / "span-5").mkdir()
    (base / "in" / "span-2" / "penguins.parquet").rename(base / "in" / "span-5" / "export.parquet")
    runner, repeated = _run_example_gen(base / "in", base, "data.format=parquet")
    assert runner.failure.component == "ParquetExampleGen" and repeated.components["ParquetExampleGen"] != "COMPLETE"
    assert "span 5 under" in runner.failure.reason and "holds exactly the data of span 2" in runner.failure.reason
    assert "data.allow_duplicate_spans=true" in runner.failure.reason
    runner, allowed = _run_example_gen(base / "in", base, "data.format=parquet", "data.allow_duplicate_spans=true")
    assert runner.failure is None and allowed.span == 5


@pytest.fixture(scope="module")
def gzip_csv(tmp_path_factory: pytest.TempPathFactory) -> tuple:
    """The rows of the ``formats`` fixture's CSV spans, each file gzip-compressed (``penguins.csv.gz``)."""
    base = tmp_path_factory.mktemp("csv_gz")
    for span, rows in ((1, ROWS[:20]), (2, ROWS)):
        path = write_penguin_span(base / "in", span, "csv", rows)
        path.with_name(path.name + ".gz").write_bytes(gzip.compress(path.read_bytes()))
        path.unlink()
    runner, summary = _run_example_gen(base / "in", base)
    return runner, summary, _examples(base, "CsvExampleGen"), base


def test_gzip_csv_files_give_the_same_examples_as_the_plain_files(formats: dict, gzip_csv: tuple) -> None:
    """A span of ``*.csv.gz`` files was refused by the checks as 'not UTF-8 text (byte 1)'."""
    runner, summary, examples, _ = gzip_csv
    assert runner.failure is None and summary.components == {"CsvExampleGen": "COMPLETE"} and summary.span == 2
    assert summary.input["splits"]["single_split"] == {"files": ["span-2/penguins.csv.gz"], "rows": len(ROWS)}
    assert examples == formats["csv"][2]


@pytest.mark.reliability
def test_a_span_re_sent_with_its_columns_and_rows_reordered_is_a_duplicate(gzip_csv: tuple) -> None:
    """The duplicate check digested the bytes: yesterday's export with its columns in another order passed."""
    base = gzip_csv[3]
    header, *rows = list(
        csv.reader(io.StringIO(gzip.decompress((base / "in/span-2/penguins.csv.gz").read_bytes()).decode()))
    )
    (base / "in" / "span-3").mkdir()
    with open(base / "in" / "span-3" / "export.csv", "w", newline="", encoding="utf-8") as f:  # plain, CRLF
        csv.writer(f, lineterminator="\r\n").writerows([row[::-1] for row in [header, *reversed(rows)]])
    runner, repeated = _run_example_gen(base / "in", base)
    assert repeated.components["CsvExampleGen"] != "COMPLETE"
    assert "span 3 under" in runner.failure.reason and "holds exactly the data of span 2" in runner.failure.reason


@pytest.mark.reliability
def test_a_span_file_lacking_a_required_column_that_the_other_files_have_is_named(tmp_path: Path) -> None:
    """The DataValidator saw a column present in part of the split, and could not say which file lacked it."""
    write_penguin_span(tmp_path / "in", 1, "csv", ROWS[:30])
    second = write_penguin_span(
        tmp_path / "other", 1, "csv", [{k: v for k, v in r.items() if k != "body_mass_g"} for r in ROWS[30:]]
    )
    second.rename(tmp_path / "in" / "span-1" / "second.csv")
    runner, summary = _run_example_gen(tmp_path / "in", tmp_path)
    assert summary.components == {"CsvExampleGen": "FAILED"}
    reason = runner.failure.reason  # the middle of a long reason is elided
    assert reason.startswith(f"FileInputError: {tmp_path}/in/span-1/second.csv: the header lacks the required column")
    assert reason.endswith("make it optional in the curated schema (presence.min_fraction below 1)")


def test_csv_gz_without_a_schema_is_read_as_tfx_reads_the_plain_file(tmp_path: Path) -> None:
    """The no-schema path (``schema infer``): TFX 1.16 reads neither the header nor the rows of a ``.csv.gz`` file."""
    import apache_beam as beam
    from tfx.types import standard_component_specs
    from tfx.utils import proto_utils

    from components.example_gen_options import pack_options
    from components.file_example_gen.executor import _CsvToExample

    path = write_penguin_span(tmp_path / "in", 1, "csv", ROWS)
    path.with_name("penguins.csv.gz").write_bytes(gzip.compress(path.read_bytes()))
    custom_config = proto_utils.proto_to_json(pack_options({"format": "csv", "columns": None}))
    read = {}
    for pattern in ("span-1/*.csv", "span-1/*.csv.gz"):
        exec_properties = {
            standard_component_specs.INPUT_BASE_KEY: str(tmp_path / "in"),
            standard_component_specs.CUSTOM_CONFIG_KEY: custom_config,
        }
        out = tmp_path / "out" / ("zipped" if pattern.endswith(".gz") else "plain")
        with beam.Pipeline() as pipeline:
            _ = (
                pipeline
                | _CsvToExample(exec_properties, pattern)
                | beam.Map(lambda e: e.SerializeToString())
                | beam.io.WriteToTFRecord(str(out))
            )
        read[pattern] = sorted(
            str(tf.train.Example.FromString(r.numpy()))
            for f in glob.glob(f"{out}-*")
            for r in tf.data.TFRecordDataset(f)
        )
    assert len(read["span-1/*.csv"]) == len(ROWS) and read["span-1/*.csv.gz"] == read["span-1/*.csv"]
    assert "int64_list" in read["span-1/*.csv"][0]  # species: TFX's inferred INT


@pytest.mark.reliability
def test_bad_input_stops_the_run_with_the_file_named_and_pushes_nothing(tmp_path: Path) -> None:
    from components.file_example_gen import FileInputError

    spec = tasks.get("penguin")

    def run(input_base: Path) -> object:
        config = apply_overrides(spec.default_config(), [f"data.input_base={input_base}"])
        return run_pipeline(spec, config, str(tmp_path / "out"))

    with pytest.raises(FileInputError, match=f"input folder {tmp_path}/missing does not exist"):
        run(tmp_path / "missing")
    (tmp_path / "flat").mkdir()
    (tmp_path / "flat" / "penguins.csv").write_text("species\n0\n")
    with pytest.raises(FileInputError, match="no file under .* matches span-\\{SPAN\\}/\\*"):
        run(tmp_path / "flat")
    assert not (tmp_path / "out").exists()  # refused before anything was created
    folder = tmp_path / "in" / "span-1"
    folder.mkdir(parents=True)
    (folder / "penguins.csv").write_text("")
    summary = run(tmp_path / "in")
    assert summary.failure.component == "CsvExampleGen"
    assert "penguins.csv is empty: remove it, or export it again" in summary.failure.reason
    assert summary.components["Trainer"] == "NOT_RUN" and not summary.pushed
    assert "pushed: no (the run stopped at CsvExampleGen; the serving directory is unchanged)" in summary.describe()
    assert os.listdir(tmp_path / "out" / "serving") == []


def test_data_that_comes_split_is_read_split_by_split(tmp_path: Path) -> None:
    for split, rows in (("train", ROWS[:30]), ("eval", ROWS[30:45]), ("test", ROWS[45:])):
        written = write_penguin_span(tmp_path / split, 1, "csv", rows)  # <split>/span-1/penguins.csv
        (tmp_path / "in" / "span-1" / split).mkdir(parents=True)
        written.rename(tmp_path / "in" / "span-1" / split / "part.csv")  # -> in/span-1/<split>/part.csv
    splits = '{"train": "span-{SPAN}/train/*", "eval": "span-{SPAN}/eval/*", "test": "span-{SPAN}/test/*"}'
    runner, summary = _run_example_gen(tmp_path / "in", tmp_path, f"data.splits={splits}")
    assert runner.failure is None and summary.span == 1
    assert {split: info["rows"] for split, info in summary.input["splits"].items()} == {
        "train": 30,
        "eval": 15,
        "test": len(ROWS) - 45,
    }
    latest = tmp_path / "root" / "CsvExampleGen" / "examples"
    counts = {
        split: sum(
            1
            for f in glob.glob(str(next(latest.iterdir()) / f"Split-{split}" / "*"))
            for _ in tf.data.TFRecordDataset(f, compression_type="GZIP")
        )
        for split in ("train", "eval", "test")
    }
    assert counts == {"train": 30, "eval": 15, "test": len(ROWS) - 45}


def test_schema_infer_on_a_folder_of_files_is_a_first_schema(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    from pipelines.cli import main

    write_penguin_span(tmp_path / "in", 1, "csv", ROWS)
    out = tmp_path / "penguin.schema.pbtxt"
    assert main(["schema", "infer", "penguin", "--input-base", str(tmp_path / "in"), "--out", str(out)]) == 0
    schema = io_utils.SchemaReader().read(str(out))
    kinds = {f.name: schema_pb2.FeatureType.Name(f.type) for f in schema.feature}
    assert kinds == {"species": "INT", **{m: "FLOAT" for m in MEASUREMENTS}}
    assert f"wrote {out}" in capsys.readouterr().out
    (tmp_path / "in" / "span-2").mkdir()
    (tmp_path / "in" / "span-2" / "penguins.csv").write_text("")  # the latest span: an empty file
    assert main(["schema", "infer", "penguin", "--input-base", str(tmp_path / "in"), "--out", str(out)]) == 1
    err = capsys.readouterr().err
    assert "error: CsvExampleGen failed: FileInputError:" in err and "penguins.csv is empty" in err
    assert "Traceback" not in err
    assert main(["schema", "infer", "penguin", "--input-base", str(tmp_path / "nowhere")]) == 2
    assert "does not exist" in capsys.readouterr().err


@pytest.mark.reliability
def test_schema_infer_on_a_csv_the_csv_module_refuses_is_one_line(tmp_path: Path, capfd: pytest.CaptureFixture) -> None:
    """A NUL byte: the file is named, the component's traceback goes to the log, not the console."""
    from pipelines.cli import main

    path = write_penguin_span(tmp_path / "in", 1, "csv", ROWS[:10])
    path.write_bytes(path.read_bytes().replace(b"\n", b"\x00\n", 3))
    assert main(["schema", "infer", "penguin", "--input-base", str(tmp_path / "in"), "--out", str(tmp_path / "s")]) == 1
    err = capfd.readouterr().err
    assert f"error: CsvExampleGen failed: FileInputError: {path}, line " in err and "a NUL byte" in err, err
    assert "Traceback" not in err and "(library logs: " in err


def test_schema_infer_into_the_curated_schema_file_says_it_is_the_one_loaded(tmp_path: Path) -> None:
    """A new task's first schema is written where its pipeline reads it: not "used by no pipeline"."""
    import dataclasses

    from pipelines import tasks
    from pipelines.config import apply_overrides
    from pipelines.schema_inference import infer_schema

    write_penguin_span(tmp_path / "in", 1, "csv", ROWS)
    spec = dataclasses.replace(tasks.get("penguin"), schema_file=str(tmp_path / "task" / "schema.pbtxt"))
    (tmp_path / "task").mkdir()
    config = apply_overrides(spec.default_config(), [f"data.input_base={tmp_path / 'in'}"])
    infer_schema(spec, config, spec.schema_file)
    text = Path(spec.schema_file).read_text()
    assert text.startswith("# The curated schema of task penguin: first INFERRED by `tfx-keras schema infer penguin`")
    assert "Not used by any pipeline" not in text
    elsewhere = infer_schema(spec, config, str(tmp_path / "inferred.pbtxt"))
    assert "Not used by any pipeline: compare it with the curated schema" in Path(elsewhere).read_text()
