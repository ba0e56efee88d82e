"""Palmer penguins from a CSV folder (TFX's own penguin data): species from four body measurements.

A tabular task: the columns and the label are declared below; the Transform step, the model, the
report, TFMA and the serving signatures come from the tabular family (``pipelines/tabular.py``). The
data is TFX's ``penguins_processed.csv`` (Apache-2.0; the Palmer Penguins data is CC0), shipped in
``data/span-1/`` so that the task runs as installed; ``--input-base DIR`` reads another folder of
``span-<N>/*.csv`` files, the latest span by default.
"""

from __future__ import annotations

import os

from pipelines.config import ClassifierEval, FileData, TrainingConfig, ValidationConfig
from pipelines.tabular import Label, Numeric, TabularConfig, tabular_task

HERE = os.path.dirname(__file__)
MEASUREMENTS = ("culmen_length_mm", "culmen_depth_mm", "flipper_length_mm", "body_mass_g")


class PenguinConfig(TabularConfig):
    """Everything that defines a penguin pipeline run."""

    data: FileData = FileData(input_base=os.path.join(HERE, "data"), format="csv")
    # 334 rows: small batches, a higher learning rate, and patience for the few steps per epoch.
    training: TrainingConfig = TrainingConfig(
        epochs=60, batch_size=16, optimizer="adam", learning_rate=0.01, early_stopping_patience=10
    )
    eval: ClassifierEval = ClassifierEval(min_accuracy=0.9)
    # At least 10 rows per class in every split (a hard stop, docs/data-validation.md).
    validation: ValidationConfig = ValidationConfig(min_rows=30)


SPEC = tabular_task(
    name="penguin",
    description="Palmer penguins: species from 4 measurements (CSV files, TFX's penguin data)",
    config_class=PenguinConfig,
    columns=[Numeric(name) for name in MEASUREMENTS],
    label=Label("species", class_names=("Adelie", "Chinstrap", "Gentoo")),
    schema_file=os.path.join(HERE, "schema.pbtxt"),
)
