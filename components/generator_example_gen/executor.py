"""Executor of GeneratorExampleGen: makes records inside the Beam pipeline, shard by shard.

Each output split is a contiguous range of record indices (its ``pattern`` is ``"start:end"``). The
range is cut into shards of ``shard_size`` indices; Beam distributes the shards over its workers,
and every record is a pure function of ``(seed, index, options)``, so the written data does not
depend on the number of workers. If the generator module has a ``Summary`` accumulator, each
split's summary is computed in the same pipeline and written to ``summary.json`` in the artifact.
"""

from __future__ import annotations

import importlib
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

SUMMARY_FILE = "summary.json"
_SUMMARY_DIR_KEY = "_summary_dir"


def unpack_options(exec_properties: dict[str, Any]) -> dict[str, Any]:
    """The generator options packed into the ``custom_config`` execution property."""
    options = example_gen_options.unpack_options(exec_properties, "GeneratorExampleGen")
    return {
        "generator": str(options["generator"]),
        "seed": int(options["seed"]),
        "shard_size": int(options["shard_size"]),
        "options": dict(options.get("options") or {}),
    }


def parse_range(pattern: str) -> tuple[int, int]:
    """``"start:end"`` -> (start, end)."""
    start, end = (int(x) for x in pattern.split(":"))
    return start, end


class _SummaryFn(beam.CombineFn):
    def __init__(self, generator: str) -> None:
        super().__init__()
        self.generator = generator

    def create_accumulator(self) -> Any:
        return importlib.import_module(self.generator).Summary()

    def add_input(self, accumulator: Any, record: dict) -> Any:
        return accumulator.add(record)

    def merge_accumulators(self, accumulators: Any) -> Any:
        accumulators = list(accumulators)
        return accumulators[0].merge(accumulators[1:])

    def extract_output(self, accumulator: Any) -> dict:
        return accumulator.report()


class _Generate(beam.DoFn):
    def __init__(self, generator: str, options: dict[str, Any]) -> None:
        super().__init__()
        self.generator = generator
        self.options = options

    def process(self, shard: tuple[int, int, int]) -> Iterator[dict]:
        make_record = importlib.import_module(self.generator).make_record
        seed, start, end = shard
        for index in range(start, end):
            yield make_record(seed, index, self.options)


def _write_summary(report: dict, path: str) -> None:
    with tf.io.gfile.GFile(path, "w") as f:
        json.dump(report, f, indent=2, sort_keys=True)


@beam.ptransform_fn
@beam.typehints.with_input_types(beam.Pipeline)
@beam.typehints.with_output_types(tf.train.Example)
def _GenerateExamples(
    pipeline: beam.Pipeline,
    exec_properties: dict[str, Any],  # noqa: N802 (Beam style)
    split_pattern: str,
) -> beam.pvalue.PCollection:
    options = unpack_options(exec_properties)
    module = importlib.import_module(options["generator"])
    start, end = parse_range(split_pattern)
    size = options["shard_size"]
    shards = [(options["seed"], s, min(s + size, end)) for s in range(start, end, size)]
    records = (
        pipeline
        | "Shards" >> beam.Create(shards)
        | "Distribute" >> beam.Reshuffle()
        | "Generate" >> beam.ParDo(_Generate(options["generator"], options["options"]))
    )
    summary_dir = exec_properties.get(_SUMMARY_DIR_KEY)
    if summary_dir and hasattr(module, "Summary"):
        path = os.path.join(summary_dir, f"summary-{start}-{end}.json")
        _ = (
            records
            | "Summary" >> beam.CombineGlobally(_SummaryFn(options["generator"]))
            | "WriteSummary" >> beam.Map(_write_summary, path)
        )
    return records | "ToTFExample" >> beam.Map(module.to_example)


class Executor(base_example_gen_executor.BaseExampleGenExecutor):
    """Generates each split's range of records, and the generator's per-split summary if it has one."""

    def GetInputSourceToExamplePTransform(self) -> beam.PTransform:  # noqa: N802 (TFX API)
        """The PTransform that generates one split's records."""
        return _GenerateExamples

    def Do(
        self,
        input_dict: dict[str, list[Any]],
        output_dict: dict[str, list[Any]],  # noqa: N802 (TFX API)
        exec_properties: dict[str, Any],
    ) -> None:
        """Write the splits and, if the generator has a ``Summary``, ``summary.json``."""
        artifact = artifact_utils.get_single_instance(output_dict[standard_component_specs.EXAMPLES_KEY])
        # The driver puts the span (RangeConfig's static range) in a custom property only; span-aware
        # resolvers (SpanRangeStrategy) read the artifact's own `span` property.
        artifact.span = int(exec_properties.get("span") or 0)
        options = unpack_options(exec_properties)
        has_summary = hasattr(importlib.import_module(options["generator"]), "Summary")
        summary_dir = os.path.join(artifact.uri, ".summary")
        if has_summary:
            tf.io.gfile.makedirs(summary_dir)
        super().Do(input_dict, output_dict, {**exec_properties, _SUMMARY_DIR_KEY: summary_dir if has_summary else ""})
        if not has_summary:
            return
        input_config = example_gen_pb2.Input()
        proto_utils.json_to_proto(exec_properties[standard_component_specs.INPUT_CONFIG_KEY], input_config)
        summary = {}
        for split in input_config.splits:
            start, end = parse_range(split.pattern)
            with tf.io.gfile.GFile(os.path.join(summary_dir, f"summary-{start}-{end}.json")) as f:
                summary[split.name] = json.load(f)
        tf.io.gfile.rmtree(summary_dir)
        with tf.io.gfile.GFile(os.path.join(artifact.uri, SUMMARY_FILE), "w") as f:
            json.dump(summary, f, indent=2, sort_keys=True)
        artifact.set_string_custom_property("summary", json.dumps(summary, sort_keys=True))


def read_summary(examples_uri: str) -> dict[str, dict]:
    """The per-split summary written next to the splits of a GeneratorExampleGen artifact."""
    with tf.io.gfile.GFile(os.path.join(examples_uri, SUMMARY_FILE)) as f:
        return json.load(f)
