"""GeneratorExampleGen: a TFX ExampleGen whose examples come from a generator module, made in Beam.

Like TFDSExampleGen, a ``QueryBasedExampleGen`` whose executor overrides
``GetInputSourceToExamplePTransform``; each split's source (its ``pattern``) is a contiguous range
of record indices. The generator is a module named by dotted path (as TFX names a ``run_fn``), so
the component knows no data set. The module defines:

* ``make_record(seed: int, index: int, options: dict) -> dict``: record ``index`` of the data set
  ``seed``, a pure function of its arguments (so the data does not depend on Beam's workers);
* ``to_example(record: dict) -> tf.train.Example``;
* optionally ``Summary``: a combinable accumulator (``add(record)``, ``merge(others)``,
  ``report() -> dict``) whose report per split is written to ``summary.json`` beside the splits
  (e.g. the scores of the ideal predictor that knows the generator's rule).

Arguments are checked here, when the pipeline is built.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import Any

from tfx.components.example_gen.component import QueryBasedExampleGen
from tfx.dsl.components.base import executor_spec
from tfx.proto import example_gen_pb2, range_config_pb2

from common.splits import SPLIT_NAME, split_ranges
from components.example_gen_options import pack_options
from components.generator_example_gen import executor


class GeneratorExampleGenError(ValueError):
    """A GeneratorExampleGen argument is wrong; the message says which and how to fix it."""


class GeneratorExampleGen(QueryBasedExampleGen):
    """Generates ``num_examples`` records of ``generator`` for ``seed``, split by proportion.

    Example::

        GeneratorExampleGen(generator="pipelines.ticket.generator", num_examples=50_000,
                            splits={"train": 0.7, "eval": 0.1, "test": 0.2}, seed=42)
    """

    EXECUTOR_SPEC = executor_spec.BeamExecutorSpec(executor.Executor)

    def __init__(
        self,
        generator: str,
        num_examples: int,
        splits: Mapping[str, float],
        seed: int = 42,
        shard_size: int = 1000,
        options: Mapping[str, Any] | None = None,
        span: int | None = None,
    ) -> None:
        """Checks the arguments and builds the component.

        Args:
            generator: dotted path of the generator module (see the module docstring).
            num_examples: records in all splits together.
            splits: split name -> proportion (positive; normalised to sum 1).
            seed: the data set; the same seed gives the same records.
            shard_size: records per Beam work item.
            options: JSON-like generator options (passed to ``make_record``), part of the cache key.
            span: the output's span number (TFX's span: e.g. one per day of data); None: span 0.

        Raises:
            GeneratorExampleGenError: a bad generator, count, proportion, split name or shard size.
        """
        try:
            module = importlib.import_module(generator)
        except ImportError as err:
            raise GeneratorExampleGenError(f"generator module {generator!r} cannot be imported: {err}") from err
        for name in ("make_record", "to_example"):
            if not callable(getattr(module, name, None)):
                raise GeneratorExampleGenError(f"generator module {generator!r} has no function {name}()")
        if isinstance(num_examples, bool) or not isinstance(num_examples, int) or num_examples < 1:
            raise GeneratorExampleGenError(f"num_examples={num_examples!r} must be a positive integer")
        if not splits:
            raise GeneratorExampleGenError("splits is empty; give e.g. {'train': 0.8, 'eval': 0.2}")
        for name, share in splits.items():
            if not SPLIT_NAME.match(name):
                raise GeneratorExampleGenError(f"split name {name!r} must be an identifier like 'train'")
            if isinstance(share, bool) or not isinstance(share, (int, float)) or not share > 0:
                raise GeneratorExampleGenError(f"split {name!r}: proportion {share!r} must be a positive number")
        if isinstance(shard_size, bool) or not isinstance(shard_size, int) or shard_size < 1:
            raise GeneratorExampleGenError(f"shard_size={shard_size!r} must be an integer >= 1")
        if span is not None and (not isinstance(span, int) or span < 0):
            raise GeneratorExampleGenError(f"span={span!r} must be an integer >= 0")
        ranges = split_ranges(num_examples, splits)
        empty = [name for name, (start, end) in ranges.items() if end <= start]
        if empty:
            raise GeneratorExampleGenError(f"splits {empty} get no records out of {num_examples}; generate more")
        custom_config = pack_options(
            {
                "generator": generator,
                "seed": seed,
                "shard_size": shard_size,
                "num_examples": num_examples,
                "options": dict(options or {}),
            }
        )
        input_config = example_gen_pb2.Input(
            splits=[
                example_gen_pb2.Input.Split(name=name, pattern=f"{start}:{end}")
                for name, (start, end) in ranges.items()
            ]
        )
        range_config = None
        if span is not None:
            range_config = range_config_pb2.RangeConfig(
                static_range=range_config_pb2.StaticRange(start_span_number=span, end_span_number=span)
            )
        super().__init__(input_config=input_config, custom_config=custom_config, range_config=range_config)
