"""A tabular task the tests declare: prices from a Parquet table, exercising what `penguin` does not.

A regression label with the label itself as an auxiliary head, an optional numeric column (missing
in a fifth of the rows), a learned and a declared categorical column, a wide & deep model. The price
follows a known rule, so a model that learned it is measurably better than the mean.
"""

from __future__ import annotations

import os

import numpy as np

from pipelines.config import FileData, TrainingConfig
from pipelines.tabular import (
    Categorical,
    Label,
    Numeric,
    RegressorEval,
    TabularConfig,
    TabularModelConfig,
    tabular_task,
)

NAME = "fixture_prices"
HERE = os.path.dirname(__file__)


class PricesConfig(TabularConfig):
    """Small and quick: the e2e test sets data.input_base."""

    data: FileData = FileData(format="parquet")
    model: TabularModelConfig = TabularModelConfig(architecture="wide_deep", hidden_units=[16])
    training: TrainingConfig = TrainingConfig(epochs=30, batch_size=32, optimizer="adam", learning_rate=0.01)
    eval: RegressorEval = RegressorEval(max_rmse=1.5)


SPEC = tabular_task(
    name=NAME,
    description="prices from a Parquet table (a test fixture)",
    config_class=PricesConfig,
    columns=[
        Numeric("size"),
        Numeric("age", optional=True),
        Categorical("colour", max_tokens=3, oov_buckets=1),
        Categorical("plan", vocabulary=("basic", "pro"), optional=True, default="basic"),
    ],
    label=Label("price"),
    aux=Label("price"),
    schema_file=os.path.join(HERE, "tabular_fixture.schema.pbtxt"),
)


def rows(count: int, seed: int = 0) -> list[dict]:
    """Rows whose price is 2 size + 1.5 [red] + 0.1 age (30 if missing) + 1 [pro] + N(0, 0.1^2)."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(count):
        size = float(rng.uniform(0, 5))
        age = None if rng.random() < 0.2 else float(rng.uniform(0, 60))
        colour = str(rng.choice(["red", "green", "blue"]))
        plan = None if rng.random() < 0.1 else str(rng.choice(["basic", "pro"]))
        price = 2 * size + 1.5 * (colour == "red") + 0.1 * (30 if age is None else age) + (plan == "pro")
        out.append(
            {"size": size, "age": age, "colour": colour, "plan": plan, "price": price + float(rng.normal(0, 0.1))}
        )
    return out
