"""Typed options of the project's ExampleGens, packed into TFX's ``custom_config`` (an ``Any``).

A ``google.protobuf.Struct`` is packed, so no custom proto has to be compiled;
the executor unpacks it back into a dict.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from google.protobuf import json_format, struct_pb2
from tfx.proto import example_gen_pb2
from tfx.types import standard_component_specs
from tfx.utils import proto_utils


def pack_options(options: Mapping[str, Any]) -> example_gen_pb2.CustomConfig:
    """Pack JSON-like ``options`` into an ExampleGen ``custom_config``."""
    struct = struct_pb2.Struct()
    struct.update(dict(options))
    custom_config = example_gen_pb2.CustomConfig()
    custom_config.custom_config.Pack(struct)
    return custom_config


def unpack_options(exec_properties: Mapping[str, Any], component: str) -> dict[str, Any]:
    """The options packed by :func:`pack_options`, from an executor's execution properties.

    Raises:
        ValueError: ``custom_config`` does not hold packed options.
    """
    custom_config = example_gen_pb2.CustomConfig()
    proto_utils.json_to_proto(exec_properties[standard_component_specs.CUSTOM_CONFIG_KEY], custom_config)
    struct = struct_pb2.Struct()
    if not custom_config.custom_config.Unpack(struct):
        raise ValueError(f"{component}: custom_config does not hold its options")
    return json_format.MessageToDict(struct)
