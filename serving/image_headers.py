"""Image sizes read from their headers, so a decompression bomb is refused before a model decodes it.

A 519 KB PNG can claim 20,000 x 20,000 pixels: decoding it inside the model's graph costs 20 s and
400 MB before any shape check. The server reads the width and height from the first bytes of every
PNG, JPEG, GIF or BMP a request carries (raw, or in a tf.Example's bytes features) and refuses one
over ``--max-image-pixels``, naming the input and the size.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable

from serving.status import invalid

DEFAULT_MAX_IMAGE_PIXELS = 4096 * 4096
_JPEG_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}


def image_size(data: bytes) -> tuple[str, int, int] | None:
    """(format, width, height) from an encoded image's header, or None when ``data`` is not one."""
    if data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) >= 24:
        width, height = struct.unpack(">II", data[16:24])
        return "PNG", width, height
    if data[:6] in (b"GIF87a", b"GIF89a") and len(data) >= 10:
        width, height = struct.unpack("<HH", data[6:10])
        return "GIF", width, height
    if data[:2] == b"BM" and len(data) >= 26:
        width, height = struct.unpack("<ii", data[18:26])
        return "BMP", abs(width), abs(height)
    if data[:2] == b"\xff\xd8":
        return _jpeg_size(data)
    return None


def _jpeg_size(data: bytes) -> tuple[str, int, int] | None:
    at = 2
    while at + 9 <= len(data):
        if data[at] != 0xFF:
            return None
        marker = data[at + 1]
        if marker in _JPEG_SOF:
            height, width = struct.unpack(">HH", data[at + 5 : at + 9])
            return "JPEG", width, height
        if marker == 0xD9 or marker == 0xDA:  # end of image, start of scan: no frame header before it
            return None
        (length,) = struct.unpack(">H", data[at + 2 : at + 4])
        at += 2 + length
    return None


def check_images(values: Iterable[object], max_pixels: int, where: str) -> None:
    """INVALID_ARGUMENT if an encoded image among ``values`` claims more than ``max_pixels`` pixels."""
    for value in values:
        if isinstance(value, bytes):
            size = image_size(value)
            if size and size[1] * size[2] > max_pixels:
                kind, width, height = size
                raise invalid(
                    f"{where} is a {width} x {height} {kind}, more than this server decodes "
                    f"({max_pixels:,} pixels, --max-image-pixels): refused unread"
                )


def check_examples(serialized: Iterable[bytes], max_pixels: int) -> None:
    """:func:`check_images` on every bytes feature of serialized tf.Examples.

    A value that does not parse as an Example is left to the model, which answers it with TF Serving's error.
    """
    from tensorflow.core.example import example_pb2

    for index, data in enumerate(serialized):
        if not isinstance(data, bytes) or image_size(data) is not None:
            continue
        example = example_pb2.Example()
        try:
            example.ParseFromString(data)
        except Exception:  # noqa: BLE001 - protobuf's DecodeError: not an Example
            continue
        for name, feature in example.features.feature.items():
            if feature.WhichOneof("kind") == "bytes_list":
                check_images(feature.bytes_list.value, max_pixels, f"feature '{name}' of example {index}")
