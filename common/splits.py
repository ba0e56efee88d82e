"""How a generated data set of ``n`` records is cut into named splits (shared by the config and the ExampleGen)."""

from __future__ import annotations

import re
from collections.abc import Mapping

# Split names: identifiers, as TFX uses them in paths (Split-<name>).
SPLIT_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")


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
