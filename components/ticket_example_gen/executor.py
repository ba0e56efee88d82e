"""Executor of TicketExampleGen: generates tickets inside the Beam pipeline, shard by shard.

Each output split is a contiguous range of ticket indices (its ``pattern`` is
``"start:end"``). The range is cut into shards of ``shard_size`` indices;
Beam distributes the shards over its workers, and every ticket is a pure
function of ``(seed, index)``, so the written data does not depend on the
number of workers. Alongside the examples each split's *ceiling*, the
scores of the ideal predictor that knows the labelling rule, is computed in
the same pipeline and written to ``ceiling.json`` in the artifact.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from typing import Any

import apache_beam as beam
import tensorflow as tf
from tfx.components.example_gen import base_example_gen_executor
from tfx.proto import example_gen_pb2
from tfx.types import artifact_utils, standard_component_specs
from tfx.utils import proto_utils

from components import example_gen_options
from components.ticket_example_gen.generator import Ceiling, make_ticket

CEILING_FILE = "ceiling.json"
_CEILING_DIR_KEY = "_ceiling_dir"


def unpack_options(exec_properties: dict[str, Any]) -> dict[str, Any]:
    """The generator options packed into the ``custom_config`` execution property."""
    options = example_gen_options.unpack_options(exec_properties, "TicketExampleGen")
    return {"seed": int(options["seed"]), "shard_size": int(options["shard_size"])}


def parse_range(pattern: str) -> tuple[int, int]:
    """``"start:end"`` -> (start, end)."""
    start, end = (int(x) for x in pattern.split(":"))
    return start, end


def ticket_to_example(ticket: dict[str, Any]) -> tf.train.Example:
    """Encode a ticket with explicit types: text as bytes, tags as a (possibly empty) bytes list."""

    def text(*values: str) -> tf.train.Feature:
        return tf.train.Feature(bytes_list=tf.train.BytesList(value=[v.encode("utf-8") for v in values]))

    return tf.train.Example(
        features=tf.train.Features(
            feature={
                "ticket_id": text(ticket["ticket_id"]),
                "title": text(ticket["title"]),
                "body": text(ticket["body"]),
                "tags": text(*ticket["tags"]),
                "department": text(ticket["department"]),
                "difficulty": text(ticket["difficulty"]),
                "priority": tf.train.Feature(float_list=tf.train.FloatList(value=[ticket["priority"]])),
            }
        )
    )


class _CeilingFn(beam.CombineFn):
    def create_accumulator(self) -> Ceiling:
        return Ceiling()

    def add_input(self, accumulator: Ceiling, ticket: dict) -> Ceiling:
        return accumulator.add(ticket)

    def merge_accumulators(self, accumulators: Any) -> Ceiling:
        accumulators = list(accumulators)
        return accumulators[0].merge(accumulators[1:])

    def extract_output(self, accumulator: Ceiling) -> dict:
        return accumulator.report()


def _generate(shard: tuple[int, int, int]) -> Iterator[dict]:
    seed, start, end = shard
    for index in range(start, end):
        yield make_ticket(seed, index)


def _write_ceiling(report: dict, path: str) -> None:
    with tf.io.gfile.GFile(path, "w") as f:
        json.dump(report, f, indent=2, sort_keys=True)


@beam.ptransform_fn
@beam.typehints.with_input_types(beam.Pipeline)
@beam.typehints.with_output_types(tf.train.Example)
def _GenerateTickets(
    pipeline: beam.Pipeline,
    exec_properties: dict[str, Any],  # noqa: N802 (Beam style)
    split_pattern: str,
) -> beam.pvalue.PCollection:
    options = unpack_options(exec_properties)
    start, end = parse_range(split_pattern)
    shards = [
        (options["seed"], s, min(s + options["shard_size"], end)) for s in range(start, end, options["shard_size"])
    ]
    tickets = (
        pipeline
        | "Shards" >> beam.Create(shards)
        | "Distribute" >> beam.Reshuffle()
        | "Generate" >> beam.FlatMap(_generate)
    )
    ceiling_dir = exec_properties.get(_CEILING_DIR_KEY)
    if ceiling_dir:
        path = os.path.join(ceiling_dir, f"ceiling-{start}-{end}.json")
        _ = tickets | "Ceiling" >> beam.CombineGlobally(_CeilingFn()) | "WriteCeiling" >> beam.Map(_write_ceiling, path)
    return tickets | "ToTFExample" >> beam.Map(ticket_to_example)


class Executor(base_example_gen_executor.BaseExampleGenExecutor):
    """Generates each split's range of tickets and reports the ideal predictor's scores per split."""

    def GetInputSourceToExamplePTransform(self) -> beam.PTransform:  # noqa: N802 (TFX API)
        """The PTransform that generates one split's tickets."""
        return _GenerateTickets

    def Do(
        self,
        input_dict: dict[str, list[Any]],
        output_dict: dict[str, list[Any]],  # noqa: N802 (TFX API)
        exec_properties: dict[str, Any],
    ) -> None:
        """Write the splits and ``ceiling.json``."""
        artifact = artifact_utils.get_single_instance(output_dict[standard_component_specs.EXAMPLES_KEY])
        ceiling_dir = os.path.join(artifact.uri, ".ceiling")
        tf.io.gfile.makedirs(ceiling_dir)
        super().Do(input_dict, output_dict, {**exec_properties, _CEILING_DIR_KEY: ceiling_dir})
        input_config = example_gen_pb2.Input()
        proto_utils.json_to_proto(exec_properties[standard_component_specs.INPUT_CONFIG_KEY], input_config)
        ceiling = {}
        for split in input_config.splits:
            start, end = parse_range(split.pattern)
            with tf.io.gfile.GFile(os.path.join(ceiling_dir, f"ceiling-{start}-{end}.json")) as f:
                ceiling[split.name] = json.load(f)
        tf.io.gfile.rmtree(ceiling_dir)
        with tf.io.gfile.GFile(os.path.join(artifact.uri, CEILING_FILE), "w") as f:
            json.dump(ceiling, f, indent=2, sort_keys=True)
        artifact.set_string_custom_property("ceiling", json.dumps(ceiling, sort_keys=True))


def read_ceiling(examples_uri: str) -> dict[str, dict]:
    """The per-split ceiling written next to the splits of a ticket Examples artifact."""
    with tf.io.gfile.GFile(os.path.join(examples_uri, CEILING_FILE)) as f:
        return json.load(f)
