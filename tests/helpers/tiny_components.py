"""Two real TFX components that run in milliseconds (Python function components), for runner tests.

No `from __future__ import annotations`: TFX reads the annotations as types.
"""

import os

from tfx.dsl.component.experimental.annotations import OutputArtifact, Parameter
from tfx.dsl.component.experimental.decorators import component
from tfx.types.standard_artifacts import Examples, Model
from tfx.v1.dsl.components import InputArtifact


@component
def WriteNumbers(count: Parameter[int], examples: OutputArtifact[Examples]) -> None:  # noqa: N802 - a component
    """Write ``count`` numbers, one per line."""
    with open(os.path.join(examples.uri, "numbers.txt"), "w") as f:
        f.write("\n".join(str(i) for i in range(count)))


@component
def SumNumbers(examples: InputArtifact[Examples], model: OutputArtifact[Model], fail: Parameter[int] = 0) -> None:  # noqa: N802
    """Write the sum of the numbers; ``fail=1`` raises instead, as a broken component would."""
    if fail:
        raise ValueError("the numbers do not add up\nsecond line of the reason")
    with open(os.path.join(examples.uri, "numbers.txt")) as f:
        total = sum(int(line) for line in f)
    with open(os.path.join(model.uri, "sum.txt"), "w") as f:
        f.write(str(total))
