"""The generic client codec: inputs read from a signature, natural values checked, answers made readable."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf
from tensorflow.core.protobuf import meta_graph_pb2

from common.contract import MISSING_INT
from serving.codec import (
    InputError,
    InputSpec,
    ModelClient,
    _column,
    as_image_batch,
    decode_outputs,
    load_image,
    parse_field,
    signature_inputs,
)


def _signature(**inputs: tuple[tf.DType, list[int]]) -> meta_graph_pb2.SignatureDef:
    signature = meta_graph_pb2.SignatureDef()
    for name, (dtype, shape) in inputs.items():
        info = signature.inputs[name]
        info.dtype = dtype.as_datatype_enum
        for size in shape:
            info.tensor_shape.dim.add(size=size)
    return signature


def test_inputs_are_read_from_the_signature_def() -> None:
    images = signature_inputs(_signature(image=(tf.uint8, [-1, 28, 28, 1])))
    assert images == {"image": InputSpec("image", "uint8", (None, 28, 28, 1))} and images["image"].is_image
    records = signature_inputs(_signature(title=(tf.string, [-1]), tags=(tf.string, [-1, -1])))
    assert records["tags"].shape == (None, None) and not records["title"].is_image


@pytest.mark.reliability
def test_images_are_checked_against_the_signature_shape() -> None:
    shape = (28, 28, 1)
    assert as_image_batch(np.zeros((28, 28), np.uint8), shape).shape == (1, 28, 28, 1)
    assert as_image_batch(np.zeros((3, 28, 28), np.uint8), shape).shape == (3, 28, 28, 1)
    assert as_image_batch(np.full((2, 28, 28, 1), 200.0), shape).dtype == np.uint8  # whole numbers as floats
    with pytest.raises(InputError, match=r"shape \[32, 32\]; this model takes images of shape \[28, 28, 1\]"):
        as_image_batch(np.zeros((32, 32), np.uint8), shape)
    with pytest.raises(InputError, match="normalised to \\[0, 1\\]: multiply by 255"):
        as_image_batch(np.full((28, 28), 0.5, np.float32), shape)  # would have been truncated to 0 before
    with pytest.raises(InputError, match=r"pixel values in \[-1, -1\]; send raw uint8 pixels 0..255"):
        as_image_batch(np.full((28, 28), -1), shape)
    with pytest.raises(InputError, match="empty batch"):
        as_image_batch(np.zeros((0, 28, 28, 1), np.uint8), shape)


@pytest.mark.reliability
def test_image_files_that_are_not_images_are_clear_errors(tmp_path) -> None:  # noqa: ANN001
    from PIL import Image

    text = tmp_path / "notes.png"
    text.write_text("not an image")
    with pytest.raises(InputError, match="is not an image PIL can read"):
        load_image(str(text), (28, 28, 1))
    good = tmp_path / "digit.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (28, 28), dtype=np.uint8)).save(good)
    truncated = tmp_path / "truncated.png"
    truncated.write_bytes(good.read_bytes()[:200])  # the header and part of the pixel data
    with pytest.raises(InputError, match="damaged or truncated"):
        load_image(str(truncated), (28, 28, 1))
    with pytest.raises(InputError, match="no such image file"):
        load_image(str(tmp_path / "missing.png"), (28, 28, 1))
    assert load_image(str(good), (28, 28, 1)).shape == (28, 28, 1)


@pytest.mark.reliability
def test_record_fields_follow_their_kind() -> None:
    text, tags = InputSpec("title", "string", (None,)), InputSpec("tags", "string", (None, None))
    assert _column(text, ["a", None]).tolist() == ["a", ""]
    assert _column(tags, [["x"], None, ["y", "z"]]).tolist() == [["x", ""], ["", ""], ["y", "z"]]
    with pytest.raises(InputError, match=r"record 1: tags must be a list of texts, e.g. \['billing'\]"):
        _column(tags, ["billing"])  # a string is not split into one-letter tags
    with pytest.raises(InputError, match="title must be a text"):
        _column(text, [["a"]])
    assert parse_field("tags=billing, urgent", tags) == ("tags", ["billing", "urgent"])
    assert parse_field("title=a=b", text) == ("title", "a=b")
    number = InputSpec("mass", "float32", (None,))
    assert _column(number, [0, 1.5]).tolist() == [0.0, 1.5]
    with pytest.raises(InputError, match="record 2: mass must be a number, got str 'heavy'"):
        _column(number, [1.0, "heavy"])


def test_a_record_missing_numbers_names_every_missing_field() -> None:
    class Fixed(ModelClient):
        inputs = {
            "mass": InputSpec("mass", "float32", (None,)),
            "age": InputSpec("age", "int64", (None,)),
            "name": InputSpec("name", "string", (None,)),
        }
        image_input = None

    codec = Fixed.__new__(Fixed)
    codec.model = "animals"
    tensors = codec.encode_records([{"mass": 1.0, "age": 3}, {"name": "x"}])  # record 2 lacks mass and age
    assert np.isnan(tensors["mass"][1]) and tensors["age"][1] == MISSING_INT  # the markers: the model judges
    assert tensors["name"].tolist() == ["", "x"]  # a missing text is the empty text


def test_answers_are_grouped_by_head() -> None:
    outputs = {
        "priority": np.array([0.25, 0.5], np.float32),
        "department_probabilities": np.array([[0.9, 0.1], [0.2, 0.8]], np.float32),
        "department_class_ids": np.array([0, 1]),
        "department_class_names": np.array([b"billing", b"shipping"], dtype=object),
    }
    first, second = decode_outputs(outputs, version=7, count=2)
    assert first.heads == {"department": ("billing", pytest.approx(0.9))}
    assert str(second) == "department shipping (p=0.800), priority 0.500 (model version 7)"
    single = decode_outputs({"class_names": np.array([b"7"], dtype=object), "probabilities": np.eye(10)[7:8]}, 3, 1)
    assert str(single[0]) == "7 (p=1.000) (model version 3)"


@pytest.mark.reliability
def test_outputs_that_follow_no_convention_are_printed_as_they_came_not_as_an_empty_answer() -> None:
    outputs = {"scores": np.array([[0.25, 0.75]], np.float32), "label": np.array([1])}
    (answer,) = decode_outputs(outputs, version=3, count=1)
    assert str(answer) == "label 1, scores [0.25, 0.75] (model version 3)"


@pytest.mark.reliability
def test_a_huge_image_is_refused_from_its_header_before_it_is_decoded(tmp_path) -> None:  # noqa: ANN001
    """A 20,000 x 20,000 PNG took 20 s and 400 MB to decode before it was refused; a bigger one was a traceback."""
    from helpers.data import png_claiming

    from serving.codec import load_image

    big = tmp_path / "big.png"
    big.write_bytes(png_claiming(5_000, 5_000))  # 25 M pixels: under PIL's own bomb limit, refused by the header check
    with pytest.raises(InputError, match=r"big.png is 5000 x 5000 pixels; this model takes images of shape \[28"):
        load_image(str(big), (28, 28, 1))
    bomb = tmp_path / "bomb.png"
    bomb.write_bytes(png_claiming(20_000, 20_000))  # over PIL's own limit: was a DecompressionBombError traceback
    with pytest.raises(InputError, match="claims more pixels than any model here takes"):
        load_image(str(bomb), (28, 28, 1))
