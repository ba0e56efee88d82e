"""TicketExampleGen: a TFX ExampleGen that generates synthetic help-desk tickets in Beam.

Like TFDSExampleGen, a ``QueryBasedExampleGen`` whose executor overrides
``GetInputSourceToExamplePTransform``; each split's source (its ``pattern``)
is a contiguous range of ticket indices. Arguments are checked here, when
the pipeline is built.
"""

from __future__ import annotations

from collections.abc import Mapping

from tfx.components.example_gen.component import QueryBasedExampleGen
from tfx.dsl.components.base import executor_spec
from tfx.proto import example_gen_pb2

from components.example_gen_options import SPLIT_NAME, pack_options
from components.ticket_example_gen import executor


class TicketExampleGenError(ValueError):
    """A TicketExampleGen argument is wrong; the message says which and how to fix it."""


def split_ranges(num_examples: int, splits: Mapping[str, float]) -> dict[str, tuple[int, int]]:
    """Cut ``range(num_examples)`` into contiguous ranges in the given proportions (rounding to the last split)."""
    total = sum(splits.values())
    ranges, start = {}, 0
    names = list(splits)
    for i, name in enumerate(names):
        end = num_examples if i == len(names) - 1 else start + round(num_examples * splits[name] / total)
        ranges[name] = (start, end)
        start = end
    return ranges


class TicketExampleGen(QueryBasedExampleGen):
    """Generates ``num_examples`` tickets for ``seed``, split by proportion, e.g. ``{'train': 0.8, 'eval': 0.2}``."""

    EXECUTOR_SPEC = executor_spec.BeamExecutorSpec(executor.Executor)

    def __init__(self, num_examples: int, splits: Mapping[str, float], seed: int = 42, shard_size: int = 1000) -> None:
        """Checks the arguments and builds the component.

        Args:
            num_examples: tickets in all splits together.
            splits: split name -> proportion (positive; normalised to sum 1).
            seed: the data set; the same seed gives the same tickets.
            shard_size: tickets per Beam work item.

        Raises:
            TicketExampleGenError: a bad count, proportion, split name or shard size.
        """
        if not isinstance(num_examples, int) or num_examples < 1:
            raise TicketExampleGenError(f"num_examples={num_examples!r} must be a positive integer")
        if not splits:
            raise TicketExampleGenError("splits is empty; give e.g. {'train': 0.8, 'eval': 0.2}")
        for name, share in splits.items():
            if not SPLIT_NAME.match(name):
                raise TicketExampleGenError(f"split name {name!r} must be an identifier like 'train'")
            if not isinstance(share, (int, float)) or share <= 0:
                raise TicketExampleGenError(f"split {name!r}: proportion {share!r} must be a positive number")
        if shard_size < 1:
            raise TicketExampleGenError(f"shard_size={shard_size!r} must be >= 1")
        ranges = split_ranges(num_examples, splits)
        empty = [name for name, (start, end) in ranges.items() if end <= start]
        if empty:
            raise TicketExampleGenError(f"splits {empty} get no tickets out of {num_examples}; generate more tickets")
        custom_config = pack_options({"seed": seed, "shard_size": shard_size, "num_examples": num_examples})
        input_config = example_gen_pb2.Input(
            splits=[
                example_gen_pb2.Input.Split(name=name, pattern=f"{start}:{end}")
                for name, (start, end) in ranges.items()
            ]
        )
        super().__init__(input_config=input_config, custom_config=custom_config)
