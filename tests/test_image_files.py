"""Image tasks on the user's own images: span folders of a folder per class (PNG, JPEG) or TFRecord files.

The ExampleGen runs alone under TFX's local runner (its driver, executor, ML Metadata) on images the
test writes; its examples must be what TFDSExampleGen writes for the task (PNG bytes, label, size),
with the files' pixels and the labels their folders name. Bad input is one line naming the file.
"""

from __future__ import annotations

import glob
import io
import os
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
from helpers.components import pipeline_components
from helpers.data import write_image_span, write_image_tfrecord_span
from PIL import Image
from tfx import v1 as tfx

from components.file_example_gen import FileInputError
from components.file_example_gen.images import check_image_files, class_folder, class_keys, read_pixels
from pipelines import tasks
from pipelines.cli import main
from pipelines.config import ConfigError, apply_overrides
from pipelines.local_runner import DagRun, Progress, beam_args, run_dag
from pipelines.pipeline import create_pipeline, example_gen
from pipelines.run_summary import summarize

MNIST_FOLDERS = [str(digit) for digit in range(10)]


def _png(pixels: np.ndarray, mode: str | None = None) -> bytes:
    image = Image.fromarray(pixels[..., 0] if pixels.shape[-1] == 1 else pixels)
    if mode:
        image = image.convert(mode)
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def _run_example_gen(task: str, input_base: Path, root: Path, *overrides: str) -> tuple[DagRun, object]:
    spec = tasks.get(task)
    config = apply_overrides(spec.default_config(), [f"data.input_base={input_base}", *overrides])
    component = example_gen(spec, config)
    pipeline = tfx.dsl.Pipeline(
        pipeline_name=f"{task}-images",
        pipeline_root=str(root / "root"),
        components=[component],
        metadata_connection_config=tfx.orchestration.metadata.sqlite_metadata_connection_config(str(root / "m.db")),
        beam_pipeline_args=beam_args(1),
        enable_cache=True,
    )
    runner = run_dag(pipeline, Progress(lambda _line: None))
    return runner, summarize(pipeline.metadata_connection_config, f"{task}-images", runner.run_id, [component.id])


def _examples(root: Path, component: str) -> list[dict]:
    """Every example the latest execution wrote, as {feature: values}, across the splits."""
    latest = max(glob.glob(str(root / "root" / component / "examples" / "*")), key=lambda p: int(Path(p).name))
    rows = []
    for path in glob.glob(os.path.join(latest, "Split-*", "*.gz")):
        for record in tf.data.TFRecordDataset(path, compression_type="GZIP"):
            features = tf.train.Example.FromString(record.numpy()).features.feature
            rows.append({k: list(getattr(v, v.WhichOneof("kind")).value) for k, v in features.items()})
    return rows


def _decoded(examples: list[dict]) -> list[tuple[int, bytes]]:
    """(label, raw pixel bytes) of each example, its PNG decoded, sorted."""
    return sorted((e["label"][0], tf.io.decode_png(e["image"][0]).numpy().tobytes()) for e in examples)


# --- class folders, the config and the command line (no Beam) --------------------------------------------


def test_class_names_map_to_folder_names() -> None:
    names = tasks.get("fashion_mnist").source.label_names
    folders = [class_folder(n) for n in names]
    assert folders[0] == "T-shirt_top" and folders[9] == "Ankle boot" and folders[1:9] == list(names[1:9])
    keys = class_keys(names)
    assert keys["t_shirt_top"] == 0 and keys["ankle_boot"] == 9  # case and separators do not matter
    with pytest.raises(ValueError, match="would share the folder"):
        class_keys(["T-shirt/top", "t-shirt top"])


@pytest.mark.parametrize("task", ["mnist", "fashion_mnist", "cifar10"])
def test_image_tasks_read_files_when_input_base_is_set(task: str, tmp_path: Path) -> None:
    spec = tasks.get(task)
    assert spec.default_config().data.input_base is None  # TFDS, as before
    config = apply_overrides(spec.default_config(), [f"data.input_base={tmp_path}"])
    assert dict(config.data.splits) == {"train": 0.8, "eval": 0.1, "test": 0.1}  # TFDS expressions mean nothing here
    assert config.data.split_patterns == {"all": "span-{SPAN}/*/*"}
    config = apply_overrides(
        spec.default_config(),
        [f"data.input_base={tmp_path}", "data.format=tfrecord", 'data.splits={"train": 0.8, "eval": 0.2}'],
    )
    assert config.data.split_patterns == {"all": "span-{SPAN}/*"} and config.data.splits["eval"] == 0.2
    component = example_gen(spec, config)
    assert type(component).__name__ == "ImportExampleGen"


@pytest.mark.reliability
@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (['data.splits={"train": 0.8, "eval": 0.2}'], "are proportions, which split files: set data.input_base"),
        (["data.span=3"], "are for span folders: set data.input_base too"),
        (["data.input_base=/x", "data.format=csv"], "data.format='csv' is invalid: must be 'images' or 'tfrecord'"),
    ],
)
def test_file_settings_without_files_are_refused(overrides: list[str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        apply_overrides(tasks.get("mnist").default_config(), overrides)


def test_the_whole_pipeline_is_wired_on_image_files(tmp_path: Path) -> None:
    spec = tasks.get("mnist")
    config = apply_overrides(spec.default_config(), [f"data.input_base={tmp_path}", "data.window_spans=2"])
    pipeline = create_pipeline(spec, config, str(tmp_path / "root"), str(tmp_path / "serving"))
    by_id = {c.id: c for c in pipeline.components}
    assert set(by_id) == pipeline_components("ImageExampleGen") | {"span_window"}
    assert by_id["ImageExampleGen"].exec_properties["input_base"] == str(tmp_path)


def test_run_mnist_dry_run_accepts_input_base(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    write_image_span(tmp_path / "in", 1, MNIST_FOLDERS, 2, (28, 28, 1))
    argv = ["run", "mnist", "--input-base", str(tmp_path / "in"), "--output-dir", str(tmp_path / "out"), "--dry-run"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert f"data:       {tmp_path / 'in'}" in out
    components = next(line for line in out.splitlines() if line.strip().startswith("components:"))
    assert "ImageExampleGen" in components and "TFDSExampleGen" not in components
    assert not (tmp_path / "out").exists()


@pytest.mark.reliability
@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--data-dir", "x"], "--data-dir is for TFDS data, and --input-base reads your files instead"),
        ([], "no file under {base} matches span-{{SPAN}}/*/* (a span's files go in a folder per span"),
    ],
)
def test_input_base_mistakes_are_one_line_errors(
    argv: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    assert main(["run", "mnist", "--input-base", str(tmp_path), "--dry-run", *argv]) == 2
    err = capsys.readouterr().err
    assert f"error: {message.format(base=tmp_path)}" in err and "Traceback" not in err


# --- each file checked: what is refused names the file and the fix ---------------------------------------


def test_what_is_the_same_picture_is_accepted() -> None:
    grey = np.arange(28 * 28, dtype=np.uint8).reshape(28, 28, 1)
    for mode in (None, "P", "RGB", "RGBA"):  # grey, a grey palette, grey as RGB, and with an opaque alpha
        assert np.array_equal(read_pixels(_png(grey, mode), "x.png", (28, 28, 1)), grey), mode
    colour = np.random.default_rng(0).integers(0, 256, (32, 32, 3), dtype=np.uint8)
    assert np.array_equal(read_pixels(_png(colour, "RGBA"), "x.png", (32, 32, 3)), colour)


def _bad_span(base: Path, kind: str) -> str:
    """A span of mnist images with one fault of ``kind``; returns the path the error must name."""
    write_image_span(base, 1, MNIST_FOLDERS, 3, (28, 28, 1))
    if kind == "unknown class folder":
        (base / "span-1" / "seven").mkdir()
        Image.new("L", (28, 28), 3).save(base / "span-1" / "seven" / "a.png")
        return f"{base / 'span-1' / 'seven'}/ (1 file(s), e.g. a.png): folder 'seven' is not one of this task's classes"
    if kind == "not an image":
        (base / "span-1" / "3" / "notes.txt").write_text("not a picture")
        return f"{base / 'span-1' / '3' / 'notes.txt'} is not a PNG or JPEG image: remove it"
    if kind == "wrong size":
        Image.new("L", (32, 30), 3).save(base / "span-1" / "4" / "big.png")
        return f"{base / 'span-1' / '4' / 'big.png'} is 32x30 pixels; this task's images are 28x28 (width x height)"
    if kind == "wrong channels":
        Image.new("RGB", (28, 28), (200, 10, 10)).save(base / "span-1" / "5" / "red.png")
        return f"{base / 'span-1' / '5' / 'red.png'} has 3 channels (RGB); this task's images have 1 channel"
    if kind == "truncated":
        data = _png(np.random.default_rng(1).integers(0, 256, (28, 28, 1), dtype=np.uint8))
        (base / "span-1" / "6" / "cut.png").write_bytes(data[: len(data) // 2])
        return f"{base / 'span-1' / '6' / 'cut.png'} is a PNG file that does not decode"
    if kind == "empty":
        (base / "span-1" / "6" / "empty.png").write_bytes(b"")
        return f"{base / 'span-1' / '6' / 'empty.png'} is empty"
    raise AssertionError(kind)


BAD = ["unknown class folder", "not an image", "wrong size", "wrong channels", "truncated", "empty"]


@pytest.mark.reliability
@pytest.mark.parametrize("kind", BAD)
def test_each_bad_file_is_one_line_naming_it(kind: str, tmp_path: Path) -> None:
    expected = _bad_span(tmp_path, kind)
    files = sorted(glob.glob(str(tmp_path / "span-1" / "*" / "*")))
    with pytest.raises(FileInputError) as raised:
        check_image_files(files, tasks.get("mnist").source.label_names, (28, 28, 1))
    message = str(raised.value)
    assert expected in message and "\n" not in message
    assert any(fix in message for fix in ("remove it", "Rename the folder", "convert it", "resize it"))


# --- the ExampleGen in real runs ------------------------------------------------------------------------


@pytest.mark.slow
def test_png_span_gives_the_examples_tfds_would(tmp_path: Path) -> None:
    written = write_image_span(tmp_path / "in", 1, MNIST_FOLDERS, 6, (28, 28, 1))
    written_2 = write_image_span(tmp_path / "in", 2, MNIST_FOLDERS, 6, (28, 28, 1))  # the latest span is read
    runner, summary = _run_example_gen("mnist", tmp_path / "in", tmp_path)
    assert runner.failure is None and summary.components == {"ImageExampleGen": "COMPLETE"}
    examples = _examples(tmp_path, "ImageExampleGen")
    assert _decoded(examples) == sorted((label, pixels.tobytes()) for label, pixels in written_2.values())
    assert _decoded(examples) != sorted((label, pixels.tobytes()) for label, pixels in written.values())
    assert {k for e in examples for k in e} == {"image", "label", "image/height", "image/width", "image/channels"}
    assert {(e["image/height"][0], e["image/width"][0], e["image/channels"][0]) for e in examples} == {(28, 28, 1)}
    assert all(e["image"][0].startswith(b"\x89PNG") for e in examples)
    assert summary.span == 2 and summary.input["format"] == "images"
    assert summary.input["splits"]["single_split"]["rows"] == 60
    assert "span-2/0/000.png" in summary.input["splits"]["single_split"]["files"]
    splits = {Path(p).name for p in glob.glob(str(tmp_path / "root" / "ImageExampleGen" / "examples" / "*" / "*"))}
    assert splits == {"Split-train", "Split-eval", "Split-test"}
    _, again = _run_example_gen("mnist", tmp_path / "in", tmp_path)
    assert again.components == {"ImageExampleGen": "CACHED"}


@pytest.mark.slow
def test_jpeg_span_with_class_names_that_are_not_folder_names(tmp_path: Path) -> None:
    names = tasks.get("fashion_mnist").source.label_names
    folders = [class_folder(n) for n in names]
    folders[9] = "ankle_boot"  # matched without regard to case and separators
    written = write_image_span(tmp_path / "in", 4, folders, 3, (28, 28, 1), fmt="jpg")
    runner, summary = _run_example_gen(
        "fashion_mnist", tmp_path / "in", tmp_path, 'data.splits={"train": 1, "eval": 1}'
    )
    assert runner.failure is None and summary.span == 4
    examples = _examples(tmp_path, "ImageExampleGen")
    # JPEG is decoded once, at the ExampleGen, and kept as PNG: the examples hold the file's decoded pixels.
    decoded = {rel: np.asarray(Image.open(tmp_path / "in" / rel).convert("L"))[..., None].tobytes() for rel in written}
    assert _decoded(examples) == sorted((written[rel][0], decoded[rel]) for rel in written)
    assert sorted(e["label"][0] for e in examples) == sorted(label for label, _ in written.values())
    assert all(e["image"][0].startswith(b"\x89PNG") for e in examples)


@pytest.mark.slow
def test_rgb_span_writes_the_id_the_schema_asks_for(tmp_path: Path) -> None:
    names = tasks.get("cifar10").source.label_names
    written = write_image_span(tmp_path / "in", 1, list(names), 3, (32, 32, 3))
    runner, _ = _run_example_gen("cifar10", tmp_path / "in", tmp_path)
    assert runner.failure is None
    examples = _examples(tmp_path, "ImageExampleGen")
    assert _decoded(examples) == sorted((label, pixels.tobytes()) for label, pixels in written.values())
    assert sorted(e["id"][0].decode() for e in examples) == sorted(rel.split("/", 1)[1] for rel in written)


@pytest.mark.slow
def test_tfrecord_span_is_read_by_the_import_example_gen(tmp_path: Path) -> None:
    images = write_image_span(tmp_path / "png", 1, MNIST_FOLDERS, 3, (28, 28, 1))
    write_image_tfrecord_span(tmp_path / "in", 7, images)
    runner, summary = _run_example_gen("mnist", tmp_path / "in", tmp_path, "data.format=tfrecord")
    assert runner.failure is None and summary.span == 7 and summary.input["format"] == "tfrecord"
    examples = _examples(tmp_path, "ImportExampleGen")
    assert _decoded(examples) == sorted((label, pixels.tobytes()) for label, pixels in images.values())


@pytest.mark.slow
@pytest.mark.reliability
@pytest.mark.parametrize("kind", ["unknown class folder", "not an image", "wrong size"])
def test_a_bad_file_stops_the_example_gen_with_one_line(kind: str, tmp_path: Path) -> None:
    expected = _bad_span(tmp_path / "in", kind)
    runner, summary = _run_example_gen("mnist", tmp_path / "in", tmp_path)
    assert summary.components == {"ImageExampleGen": "FAILED"}
    assert runner.failure.reason.startswith("FileInputError: ") and expected in runner.failure.reason
    assert "\n" not in runner.failure.reason


@pytest.mark.slow
@pytest.mark.reliability
def test_an_inverted_scanner_day_on_image_files_is_stopped_by_the_data_validator(tmp_path: Path) -> None:
    """ExampleGen -> StatisticsGen -> DataValidator on two span folders of PNGs; span 2 is span 1 inverted."""
    from pipelines.pipeline import standard_components

    spec = tasks.get("mnist")
    folders = [class_folder(name) for name in spec.declaration.class_names]
    written = write_image_span(tmp_path / "in", 1, folders, per_class=30, shape=(28, 28, 1))
    for relative, (_, pixels) in written.items():
        target = tmp_path / "in" / relative.replace("span-1/", "span-2/", 1)
        target.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(255 - pixels[..., 0]).save(target)

    def day(span: int) -> object:
        config = apply_overrides(
            spec.default_config(), [f"data.input_base={tmp_path / 'in'}", f"data.span={span}", "validation.min_rows=10"]
        )
        nodes = standard_components(spec, config, str(tmp_path / "serving" / "mnist"))
        wanted = {
            "ImageExampleGen",
            "StatisticsGen",
            "ImportSchemaGen",
            "previous_validated_statistics",
            "DataValidator",
        }
        for node in nodes:  # the pipeline up to the gate: cut the edges to the components left out
            if node.id not in wanted:
                for upstream in list(node.upstream_nodes):
                    node.remove_upstream_node(upstream)
        pipeline = tfx.dsl.Pipeline(
            pipeline_name="mnist",
            pipeline_root=str(tmp_path / "root"),
            components=[n for n in nodes if n.id in wanted],
            metadata_connection_config=tfx.orchestration.metadata.sqlite_metadata_connection_config(
                str(tmp_path / "m.db")
            ),
            beam_pipeline_args=beam_args(1),
        )
        return run_dag(pipeline, Progress(lambda _line: None))

    assert day(1).failure is None  # a normal first day of the user's own digits passes
    inverted = day(2)
    assert inverted.failure is not None and inverted.failure.component == "DataValidator"
    found = "\n".join(inverted.failure.details)
    assert "feature image: Pixel drift. The pixel intensity histogram moved" in found, found
