r"""The user's own images: a folder per class of PNG or JPEG files, one span per run, as TFDSExampleGen writes them.

A span of an image task is a folder of class folders (``span-3/<class>/*.png``); the folder that
holds an image names its class. :class:`ImageExecutor` (the executor of
:class:`~components.file_example_gen.component.ImageExampleGen`, TFX's ``FileBasedExampleGen`` with
this project's driver) checks every file first, then writes, per image, the features TFDSExampleGen
writes for TFDS's image classification data sets, so that Transform, the DataValidator's content
checks and the Trainer see no difference:

* ``image``: the pixels as PNG bytes (lossless). A PNG is decoded and encoded again, a JPEG is
  decoded once here (Pillow) and stored as PNG: every later step decodes exactly these pixels;
* ``label``: the class id, the index of the class in the task's class names;
* ``image/height``, ``image/width``, ``image/channels``: the size (the task's, checked here);
* ``id``: ``<class folder>/<file name>``, only where the curated schema has an ``id`` column.

**Class folders.** A class's folder is its name with each character a folder name cannot hold
(``/ \ : * ? " < > |``) replaced by ``_`` (:func:`class_folder`: ``T-shirt/top`` -> ``T-shirt_top``).
Folders are matched without regard to case, and any run of characters other than letters and digits
counts as one separator, so ``t-shirt top`` and ``Ankle_boot`` are read as ``T-shirt/top`` and
``Ankle boot`` (:func:`class_key`).

**What is refused**, each a :class:`~components.file_example_gen.checks.FileInputError` of one line
naming the file (or folder) and the fix, before Beam reads anything: a folder that is not a class, an
empty file, a file that is not a PNG or JPEG image (other files too: ``data.pattern`` can leave them
out), a file that does not decode, another size than the task's, or other channels. What is the same
picture is accepted: a palette is expanded to its colours, a fully opaque alpha channel is dropped,
a colour image whose pixels are all grey (R = G = B) is grayscale, and a 1-bit image is 8-bit grey.
"""

from __future__ import annotations

import difflib
import io
import os
import re
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import apache_beam as beam
import numpy as np
import tensorflow as tf
from tfx.dsl.io import fileio
from tfx.types import standard_component_specs

from components import example_gen_options
from components.file_example_gen.checks import FileInputError, columns_from_dicts
from components.file_example_gen.executor import _CheckedFiles, feature

IMAGE_FORMAT = "images"  # data.format of a folder of class folders
IMAGE_KEY = "image"  # the features of TFDS's image classification data sets, as TFDSExampleGen writes them
LABEL_KEY = "label"
ID_KEY = "id"  # written only where the schema has it
SIZE_KEYS = ("height", "width", "channels")
IMAGE_TYPES = ("PNG", "JPEG", "MPO")  # MPO: a JPEG with more pictures (cameras); its first is read
_UNSAFE = re.compile(r'[/\\:*?"<>|\x00-\x1f]')
_SEPARATORS = re.compile(r"[\W_]+")
_CHANNELS = {1: "1 channel (grayscale)", 2: "2 channels (grayscale, alpha)", 3: "3 channels (RGB)", 4: "4 channels"}
_CONVERT = {1: "L", 3: "RGB"}


def class_folder(name: str) -> str:
    """The folder of class ``name``: each character a folder name cannot hold replaced by ``_``."""
    return _UNSAFE.sub("_", name)


def class_key(folder: str) -> str:
    """What a folder name is matched by: lower case, each run of non-alphanumeric characters one ``_``."""
    return _SEPARATORS.sub("_", folder.casefold()).strip("_")


def class_keys(class_names: Sequence[str]) -> dict[str, int]:
    """Folder key -> class id for the task's class names.

    Raises:
        ValueError: two class names give the same folder, or one gives no folder at all.
    """
    keys: dict[str, int] = {}
    for index, name in enumerate(class_names):
        key = class_key(class_folder(name))
        if not key:
            raise ValueError(f"class {index} ({name!r}) has no letter or digit to name its folder by; rename the class")
        if key in keys:
            raise ValueError(
                f"classes {class_names[keys[key]]!r} and {name!r} would share the folder {class_folder(name)!r}; "
                "give the classes names that differ in their letters or digits"
            )
        keys[key] = index
    return keys


def image_options(exec_properties: Mapping[str, Any]) -> dict[str, Any]:
    """The options the component packed: class names, image shape (H, W, C), the schema's columns."""
    options = example_gen_options.unpack_options(exec_properties, "ImageExampleGen")
    columns = options.get("columns")
    return {
        "class_names": [str(name) for name in options["class_names"]],
        "image_shape": tuple(int(d) for d in options["image_shape"]),
        "columns": columns_from_dicts(columns) if columns is not None else None,
    }


def read_pixels(data: bytes, path: str, image_shape: Sequence[int]) -> np.ndarray:
    """The pixels of a PNG or JPEG file as uint8 ``image_shape`` (H, W, C), or a FileInputError naming the fix."""
    from PIL import Image, UnidentifiedImageError

    height, width, channels = (int(d) for d in image_shape)
    wanted = _CHANNELS.get(channels, f"{channels} channels")
    if not data:
        raise FileInputError(f"{path} is empty: copy the image again, or remove it")
    other_files = "data.pattern (e.g. span-{SPAN}/*/*.png) can leave other files out"
    try:
        image = Image.open(io.BytesIO(data))
    except Image.DecompressionBombError:
        raise FileInputError(
            f"{path} claims far more pixels than this task's {width}x{height} images: resize it, or remove it"
        ) from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
        raise FileInputError(
            f"{path} is not a PNG or JPEG image: remove it, or save it as PNG; {other_files}"
        ) from None
    if image.format not in IMAGE_TYPES:
        raise FileInputError(
            f"{path} is a {image.format} image, not PNG or JPEG: save it as PNG (lossless), or remove it; {other_files}"
        )
    if image.size != (width, height):
        raise FileInputError(
            f"{path} is {image.size[0]}x{image.size[1]} pixels; this task's images are {width}x{height} "
            f"(width x height): resize it to {width}x{height}, or remove it"
        )
    try:
        image.load()
    except (OSError, SyntaxError, ValueError) as err:
        raise FileInputError(
            f"{path} is a {image.format} file that does not decode ({str(err).splitlines()[0]}): it is truncated "
            "or corrupt; copy it again, or remove it"
        ) from None
    if image.mode == "1":
        image = image.convert("L")
    elif image.mode in ("P", "PA"):
        image = image.convert("RGBA" if image.mode == "PA" or "transparency" in image.info else "RGB")
    if image.mode not in ("L", "LA", "RGB", "RGBA"):
        raise FileInputError(
            f"{path} has pixel mode {image.mode} (not 8-bit grayscale or RGB); this task's images have {wanted}: "
            "save it as an 8-bit PNG of those, or remove it"
        )
    pixels = np.asarray(image, dtype=np.uint8)
    if pixels.ndim == 2:
        pixels = pixels[..., np.newaxis]
    if pixels.shape[-1] in (2, 4) and pixels.shape[-1] != channels and bool((pixels[..., -1] == 255).all()):
        pixels = pixels[..., :-1]  # an alpha channel that hides nothing
    if channels == 1 and pixels.shape[-1] == 3 and bool((pixels == pixels[..., :1]).all()):
        pixels = pixels[..., :1]  # grey pixels stored as RGB
    if pixels.shape[-1] != channels:
        fix = f"image.convert({_CONVERT[channels]!r})" if channels in _CONVERT else f"{channels} channels"
        raise FileInputError(
            f"{path} has {_CHANNELS.get(pixels.shape[-1])}; this task's images have "
            f"{wanted}: convert it (e.g. Pillow's {fix}), or remove it"
        )
    return np.ascontiguousarray(pixels)


def encode_png(pixels: np.ndarray) -> bytes:
    """uint8 pixels [H, W, C] as PNG bytes (lossless)."""
    from PIL import Image

    image = Image.fromarray(pixels[..., 0] if pixels.shape[-1] == 1 else pixels)
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def image_example(pixels: np.ndarray, label: int, example_id: str | None = None) -> tf.train.Example:
    """One image as TFDSExampleGen writes it: PNG bytes, the label, the size (and the id, if given)."""
    features = {
        IMAGE_KEY: feature([encode_png(pixels)], "bytes"),
        LABEL_KEY: feature([label], "int"),
        **{f"{IMAGE_KEY}/{name}": feature([size], "int") for name, size in zip(SIZE_KEYS, pixels.shape, strict=True)},
    }
    if example_id is not None:
        features[ID_KEY] = feature([example_id], "bytes")
    return tf.train.Example(features=tf.train.Features(feature=features))


def _unknown_folder_message(folder: str, files: Sequence[str], class_names: Sequence[str]) -> str:
    folders = [class_folder(name) for name in class_names]
    name = os.path.basename(folder)
    close = difflib.get_close_matches(class_key(name), [class_key(f) for f in folders], n=1, cutoff=0.6)
    hint = f" (did you mean {folders[[class_key(f) for f in folders].index(close[0])]!r}?)" if close else ""
    return (
        f"{folder}/ ({len(files)} file(s), e.g. {os.path.basename(files[0])}): folder {name!r} is not one of this "
        f"task's classes{hint}; the class folders are {', '.join(folders)}. Rename the folder to its class, or move "
        "it out of the span"
    )


def check_image_files(files: Sequence[str], class_names: Sequence[str], image_shape: Sequence[int]) -> int:
    """Check one split's image files: known class folders, then each file decoded. Returns the number of images."""
    keys = class_keys(class_names)
    by_folder: dict[str, list[str]] = {}
    for path in files:
        by_folder.setdefault(os.path.dirname(path), []).append(path)
    for folder, found in sorted(by_folder.items()):
        if class_key(os.path.basename(folder)) not in keys:
            raise FileInputError(_unknown_folder_message(folder, found, class_names))
    for path in files:
        read_pixels(read_file(path), path, image_shape)
    return len(files)


def read_file(path: str) -> bytes:
    """The bytes of an image file; a folder where an image should be is a FileInputError."""
    try:
        with fileio.open(path, "rb") as f:
            return f.read()
    except tf.errors.FailedPreconditionError:
        if not fileio.isdir(path):
            raise
        raise FileInputError(
            f"{path} is a folder inside a class folder: put the class's images directly in its class folder"
        ) from None


class _ImageFileToExample(beam.DoFn):
    """One image file (checked before) -> its tf.Example."""

    def __init__(self, options: Mapping[str, Any]) -> None:
        super().__init__()
        self.keys, self.image_shape = class_keys(options["class_names"]), tuple(options["image_shape"])
        self.with_id = any(c.name == ID_KEY for c in options["columns"] or ())

    def process(self, path: str) -> Iterator[tf.train.Example]:
        folder = os.path.basename(os.path.dirname(path))
        pixels = read_pixels(read_file(path), path, self.image_shape)
        example_id = f"{folder}/{os.path.basename(path)}" if self.with_id else None
        yield image_example(pixels, self.keys[class_key(folder)], example_id)


@beam.ptransform_fn
@beam.typehints.with_input_types(beam.Pipeline)
@beam.typehints.with_output_types(tf.train.Example)
def _ImagesToExample(  # noqa: N802 - Beam's naming
    pipeline: beam.Pipeline, exec_properties: dict[str, Any], split_pattern: str
) -> beam.pvalue.PCollection:
    files = fileio.glob(os.path.join(exec_properties[standard_component_specs.INPUT_BASE_KEY], split_pattern))
    return (
        pipeline
        | "ImageFiles" >> beam.Create(sorted(files))
        | "ReadImages" >> beam.ParDo(_ImageFileToExample(image_options(exec_properties)))
    )


class ImageExecutor(_CheckedFiles):
    """Folders of PNG/JPEG files, one per class -> tf.Examples as TFDSExampleGen writes them; the checks first."""

    def GetInputSourceToExamplePTransform(self) -> beam.PTransform:  # noqa: N802 - TFX's API
        """A split's image files -> tf.Examples (PNG bytes, label, size)."""
        return _ImagesToExample

    def check_split(self, exec_properties: Mapping[str, Any], files: Sequence[str]) -> int:
        """Check one split's files (every image decoded); returns the number of images."""
        options = image_options(exec_properties)
        return check_image_files(files, options["class_names"], options["image_shape"])
