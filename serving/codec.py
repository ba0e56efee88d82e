"""Natural inputs in, readable answers out, for any served model: no per-task tables.

:class:`ModelClient` asks the server for the model's ``serving_raw`` signature (GetModelMetadata)
and reads each input's name, dtype and shape from it:

* a single ``uint8`` input of shape ``[batch, H, W, C]`` takes images: arrays, PNG/JPEG files or
  ``.npy`` files, checked against H, W and C before anything is sent;
* otherwise each input is a field of a record (a dict, a JSON line, or ``field=value`` on the
  command line): a string ``[batch]`` input is a text, a string ``[batch, n]`` input a list of
  strings (padded with ``""``), a numeric ``[batch]`` input a number.

Answers are formatted by the output naming convention of ``common.contract``: a head's
``[<head>_]class_names`` and ``[<head>_]probabilities`` become "name (p=...)", other scalar outputs
"name value"; outputs that follow no convention are printed as they came. A new task needs no
client code unless its inputs are special.

Long because the inputs' kinds (images, texts, lists of texts, numbers) are each read, checked and
encoded here, with the answers' formatting: the one place a client's data meets a signature.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from common.contract import CLASS_IDS, CLASS_NAMES, MISSING_FLOAT, MISSING_INT, PROBABILITIES, RAW_SIGNATURE
from serving.tensors import NAMES


class InputError(ValueError):
    """The user's input does not fit the model's signature; the message says what it expects."""


@dataclasses.dataclass(frozen=True)
class InputSpec:
    """One signature input: name, dtype name (``uint8``, ``string`` ...) and shape (None: any size)."""

    name: str
    dtype: str
    shape: tuple[int | None, ...]

    @property
    def is_image(self) -> bool:
        """A uint8 batch of images ``[batch, H, W, C]``."""
        return self.dtype == "uint8" and len(self.shape) == 4 and all(d is not None for d in self.shape[1:])


def signature_inputs(signature_def: Any) -> dict[str, InputSpec]:
    """The inputs of a ``SignatureDef`` proto (as GetModelMetadata returns it)."""
    inputs = {}
    for name, info in signature_def.inputs.items():
        dims = info.tensor_shape.dim
        shape = tuple(None if d.size < 0 else int(d.size) for d in dims)
        inputs[name] = InputSpec(name, NAMES.get(info.dtype, f"dtype {info.dtype}"), shape)
    return inputs


@dataclasses.dataclass(frozen=True)
class Prediction:
    """One example's answer: the readable heads, every output value, and the model version that answered."""

    heads: dict[str, tuple[str, float]]  # head ("" for a single head) -> (class name, its probability)
    values: dict[str, Any]  # every output, as plain Python values
    version: int | None  # None over REST, which does not say

    def __str__(self) -> str:
        parts = []
        for head, (name, probability) in self.heads.items():
            parts.append(f"{head + ' ' if head else ''}{name} (p={probability:.3f})")
        grouped = {f"{h + '_' if h else ''}{k}" for h in self.heads for k in (CLASS_NAMES, CLASS_IDS, PROBABILITIES)}
        for key, value in self.values.items():
            if key not in grouped and isinstance(value, float):
                parts.append(f"{key} {value:.3f}")
        if not parts:  # outputs that follow no convention of the clients: every one, as it came (shortened)
            parts = [f"{key} {json.dumps(value)[:80]}" for key, value in sorted(self.values.items())]
        return ", ".join(parts) + (f" (model version {self.version})" if self.version is not None else "")


def decode_outputs(outputs: Mapping[str, np.ndarray], version: int | None, count: int) -> list[Prediction]:
    """Turn a Predict response's output arrays into one :class:`Prediction` per example."""
    heads = [key[: -len(CLASS_NAMES)].rstrip("_") for key in outputs if key.endswith(CLASS_NAMES)]
    results = []
    for i in range(count):
        values = {key: _plain(np.asarray(value)[i]) for key, value in outputs.items()}
        readable = {}
        for head in heads:
            prefix = f"{head}_" if head else ""
            name = values[f"{prefix}{CLASS_NAMES}"]
            probabilities = values.get(f"{prefix}{PROBABILITIES}")
            readable[head] = (name, max(probabilities) if probabilities else float("nan"))
        results.append(Prediction(readable, values, version))
    return results


def _plain(value: Any) -> Any:
    """A JSON-able value: text for bytes, numbers and lists for arrays."""
    if isinstance(value, bytes):
        return value.decode()
    value = np.asarray(value)
    if value.dtype.kind in "SO":
        return [_plain(v) for v in value.tolist()] if value.ndim else _plain(value.item())
    return value.item() if value.ndim == 0 else value.tolist()


def load_image(path: str, shape: Sequence[int]) -> np.ndarray:
    """A PNG/JPEG file (or ``.npy``) as uint8 ``shape``; grey for 1 channel, RGB for 3."""
    if not os.path.isfile(path):
        raise InputError(f"no such image file: {path}")
    if path.endswith(".npy"):
        try:
            array = np.load(path)
        except (ValueError, OSError) as err:
            raise InputError(f"{path} is not a readable .npy file ({err})") from None
    else:
        from PIL import Image, UnidentifiedImageError

        try:
            with Image.open(path) as image:  # reads the header only
                if (image.height, image.width) != tuple(shape[:2]):  # refused before decoding: no bomb decoded
                    raise InputError(
                        f"{path} is {image.width} x {image.height} pixels; this model takes images of shape "
                        f"{list(shape)}: resize it first"
                    )
                array = np.asarray(image.convert("L" if shape[-1] == 1 else "RGB"))
        except Image.DecompressionBombError:
            raise InputError(f"{path} claims more pixels than any model here takes: refused unread") from None
        except UnidentifiedImageError:
            raise InputError(f"{path} is not an image PIL can read (PNG, JPEG, ...)") from None
        except (OSError, SyntaxError) as err:
            raise InputError(f"{path} is a damaged or truncated image ({err})") from None
    return as_image_batch(array, shape, source=path)[0]


def as_image_batch(images: Any, shape: Sequence[int], source: str = "input") -> np.ndarray:
    """An image or a batch of images as uint8 ``[batch, *shape]``, or an InputError naming the fix.

    Float arrays are accepted only if they hold whole numbers 0..255 (e.g. a .npy saved as float);
    normalised images in [0, 1] are refused rather than silently truncated to 0 and 1.
    """
    array = np.asarray(images)
    shape = tuple(shape)
    if array.shape == shape[:2] and shape[-1] == 1:  # a single greyscale image without its channel axis
        array = array[..., None]
    if array.shape == shape:
        array = array[None]
    elif array.ndim == len(shape) and array.shape[1:] == shape[:2] and shape[-1] == 1:  # batch without channels
        array = array[..., None]
    if array.ndim != len(shape) + 1 or array.shape[1:] != shape:
        raise InputError(
            f"{source} has shape {list(array.shape)}; this model takes images of shape {list(shape)} "
            f"(or a batch [n, {', '.join(map(str, shape))}]): resize or convert it first"
        )
    if array.shape[0] == 0:
        raise InputError(f"{source} is an empty batch: send at least one image")
    if array.dtype == np.uint8:
        return array
    if array.dtype.kind not in "uif":
        raise InputError(f"{source} has dtype {array.dtype}; send uint8 pixels 0..255")
    low, high = float(array.min()), float(array.max())
    if low < 0 or high > 255:
        raise InputError(f"{source} has pixel values in [{low:g}, {high:g}]; send raw uint8 pixels 0..255")
    if array.dtype.kind == "f" and not np.all(np.mod(array, 1) == 0):
        hint = " (they look normalised to [0, 1]: multiply by 255)" if high <= 1.0 else ""
        raise InputError(f"{source} has fractional pixel values{hint}; send raw uint8 pixels 0..255")
    return array.astype(np.uint8)


MAX_REQUEST_ROWS = 1000  # TF Serving's default max_batch_size: the most rows one request may carry


class ModelClient:
    """A client of one served model's ``serving_raw`` signature, built from its metadata.

    Args:
        client: the connection to the server: a ``ServingClient`` (gRPC) or a ``RestClient``.
        model: the model's name on the server.
        signature: the signature to call (default ``serving_raw``).
    """

    def __init__(self, client: Any, model: str, signature: str = RAW_SIGNATURE) -> None:
        self.client = client
        self.model = model
        self.signature = signature
        self._inputs: dict[str, InputSpec] | None = None

    @property
    def inputs(self) -> dict[str, InputSpec]:
        """The signature's inputs (asked from the server once)."""
        if self._inputs is None:
            signatures = self.client.signatures(self.model)
            if self.signature not in signatures:
                raise InputError(
                    f"model {self.model!r} has no signature {self.signature!r}; it has {sorted(signatures)}"
                )
            self._inputs = signature_inputs(signatures[self.signature])
        return self._inputs

    @property
    def image_input(self) -> InputSpec | None:
        """The image input, if the model takes exactly one image tensor."""
        specs = list(self.inputs.values())
        return specs[0] if len(specs) == 1 and specs[0].is_image else None

    def describe_inputs(self) -> str:
        """What this model takes, for help texts and errors."""
        if self.image_input:
            return f"images of shape {list(self.image_input.shape[1:])} (PNG/JPEG/.npy files or uint8 arrays)"
        return "records with " + ", ".join(f"{s.name} ({_field_kind(s)})" for s in self.inputs.values())

    # -- requests ------------------------------------------------------------------------------
    def encode_images(self, images: Any) -> dict[str, np.ndarray]:
        """One image or a batch, as the request's image tensor."""
        spec = self.image_input
        if spec is None:
            raise InputError(f"model {self.model!r} does not take images; it takes {self.describe_inputs()}")
        return {spec.name: as_image_batch(images, spec.shape[1:])}

    def encode_records(self, records: Sequence[Mapping[str, Any]]) -> dict[str, np.ndarray]:
        """Records (dicts by input name) as the request's tensors."""
        if self.image_input:
            raise InputError(f"model {self.model!r} takes {self.describe_inputs()}, not records")
        if not records:
            raise InputError("no records to send")
        specs = self.inputs
        for number, record in enumerate(records, 1):
            if not isinstance(record, Mapping):
                raise InputError(
                    f"record {number} is {type(record).__name__}, not an object with fields {sorted(specs)}"
                )
            unknown = sorted(set(record) - set(specs))
            if unknown:
                raise InputError(
                    f"record {number}: unknown fields {unknown}; this model takes {self.describe_inputs()}"
                )
        return {name: _column(spec, [r.get(name) for r in records]) for name, spec in specs.items()}

    # -- calls ---------------------------------------------------------------------------------
    def predict(
        self, inputs: Any, version: int | None = None, max_rows: int = MAX_REQUEST_ROWS, label: str | None = None
    ) -> list[Prediction]:
        """Predict for images (array-like) or records (a list of dicts), ``max_rows`` rows a request at most.

        ``version`` or ``label`` (e.g. ``stable``, ``canary``) picks the model version; neither: the latest.

        TF Serving refuses a request over its ``max_batch_size`` (``Task size N is larger than maximum
        input batch size``); a longer batch is sent as several requests, answered in order.
        """
        if len(inputs) > max_rows:
            return [p for start in range(0, len(inputs), max_rows) for p in self.predict(
                inputs[start : start + max_rows], version, max_rows, label)]  # fmt: skip
        is_records = isinstance(inputs, (list, tuple)) and inputs and isinstance(inputs[0], Mapping)
        tensors = self.encode_records(inputs) if is_records else self.encode_images(inputs)
        count = len(next(iter(tensors.values())))
        outputs, served = self.client.predict(
            self.model, tensors, signature=self.signature, version=version, label=label
        )
        return decode_outputs(outputs, served, count)

    def predict_files(
        self, paths: Sequence[str], version: int | None = None, label: str | None = None
    ) -> list[Prediction]:
        """Predict for image files (PNG, JPEG, or ``.npy`` arrays)."""
        spec = self.image_input
        if spec is None:
            raise InputError(f"model {self.model!r} does not take image files; it takes {self.describe_inputs()}")
        return self.predict(np.stack([load_image(p, spec.shape[1:]) for p in paths]), version, label=label)


def _field_kind(spec: InputSpec) -> str:
    if spec.dtype == "string":
        return "text" if len(spec.shape) == 1 else "list of texts"
    return "number" if len(spec.shape) == 1 else f"{spec.dtype} array {list(spec.shape[1:])}"


def _column(spec: InputSpec, values: list[Any]) -> np.ndarray:
    """One input's values across records, checked against its kind."""
    if spec.dtype == "string" and len(spec.shape) == 1:
        for number, value in enumerate(values, 1):
            if value is not None and not isinstance(value, str):
                raise InputError(f"record {number}: {spec.name} must be a text, got {type(value).__name__}")
        return np.array([v or "" for v in values], dtype=object)
    if spec.dtype == "string" and len(spec.shape) == 2:
        lists = []
        for number, value in enumerate(values, 1):
            if value is None:
                value = []
            if isinstance(value, str) or not isinstance(value, (list, tuple)):
                raise InputError(
                    f"record {number}: {spec.name} must be a list of texts, e.g. [{value!r}], "
                    f"got {type(value).__name__} {value!r}"
                )
            if not all(isinstance(v, str) for v in value):
                raise InputError(f"record {number}: {spec.name} must hold texts only, got {value!r}")
            lists.append([v for v in value if v])
        width = max(1, max(len(v) for v in lists))
        return np.array([v + [""] * (width - len(v)) for v in lists], dtype=object)
    if len(spec.shape) == 1:
        marker = MISSING_INT if spec.dtype == "int64" else MISSING_FLOAT if spec.dtype.startswith("float") else None
        for number, value in enumerate(values, 1):
            if value is None and marker is not None:
                continue  # sent as the missing marker: an optional column takes it, a required one says so
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise InputError(f"record {number}: {spec.name} must be a number, got {type(value).__name__} {value!r}")
        return np.array([marker if v is None else v for v in values], dtype=spec.dtype)
    raise InputError(f"input {spec.name} ({spec.dtype} {list(spec.shape)}) cannot be given as a record field")


def parse_field(text: str, spec: InputSpec) -> tuple[str, Any]:
    """``name=value`` from the command line: lists are comma-separated, numbers parsed."""
    name, _, value = text.partition("=")
    if spec.dtype == "string" and len(spec.shape) == 2:
        return name, [part.strip() for part in value.split(",") if part.strip()]
    if spec.dtype == "string":
        return name, value
    try:
        return name, float(value) if spec.dtype.startswith("float") else int(value)
    except ValueError:
        raise InputError(f"{name}={value!r}: {name} must be a number") from None
