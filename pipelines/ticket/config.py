"""Configuration and keys of the ticket triage task (the one place they are defined)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from pipelines.config import GeneratorData, Section, TaskConfig, TrainingConfig, ValidationConfig
from pipelines.ticket.generator import DEPARTMENTS, DIFFICULTIES

TITLE_KEY, BODY_KEY, TAGS_KEY = "title", "body", "tags"
PRIORITY_KEY, DEPARTMENT_KEY, DIFFICULTY_KEY = "priority", "department", "difficulty"
VOCAB_SIZE = 10_000  # the most frequent title/body tokens of the training split
NUM_TAGS = 100
TOKEN_VOCAB_NAME = "tokens"
TAG_VOCAB_NAME = "tags"


class TicketData(GeneratorData):
    """The ticket generator's data: how many, which seed and day (span), and which change to simulate."""

    # "new_product_line": benign drift (more technical tickets, ten new words); "broken_export": empty
    # bodies, an unknown department, priorities on a 0-100 scale, no tags column. See generator.py.
    # "renamed_keywords": a quiet vocabulary shift (half of the tickets use new words for the department keywords).
    drift: Literal["none", "new_product_line", "broken_export", "renamed_keywords"] = "none"

    def generator_options(self) -> dict[str, Any]:
        """The span and the drift, for the generator."""
        return {**super().generator_options(), "drift": self.drift}


class TicketModelConfig(Section):
    """The ticket model's size, loss weights and the optional third head."""

    # How the network is written: "functional" (Functional API; diagram and summary with shapes) or
    # "subclassed" (a keras.Model subclass with a hand-written dense layer). Same network.
    api: Literal["functional", "subclassed"] = "functional"
    hidden_units: int = Field(64, ge=1)
    # L1 penalty on the shared features layer's kernel. Chosen on the eval split of 50,000 tickets:
    # priority RMSE / ideal was 1.149 with 0, 1.114 with 3e-6, 1.087 with 1e-5, 1.090 with 3e-5, 1.095 with 1e-4.
    features_l1: float = Field(3e-5, ge=0)
    priority_loss_weight: float = Field(1.0, ge=0)
    department_loss_weight: float = Field(0.2, ge=0)
    difficulty_head: bool = False
    difficulty_loss_weight: float = Field(0.2, ge=0)

    @property
    def loss_weights(self) -> dict[str, float]:
        """Loss weight per output name."""
        weights = {PRIORITY_KEY: self.priority_loss_weight, DEPARTMENT_KEY: self.department_loss_weight}
        if self.difficulty_head:
            weights[DIFFICULTY_KEY] = self.difficulty_loss_weight
        return weights


class TicketEvalConfig(Section):
    """What the Evaluator requires of both heads before the Pusher may push."""

    min_department_accuracy: float = Field(0.8, ge=0, le=1)
    max_priority_rmse: float = Field(0.15, gt=0, le=1)
    max_department_accuracy_drop: float = Field(0.0, ge=0, le=1)  # vs. the last blessed model
    max_priority_rmse_increase: float = Field(0.0, ge=0, le=1)


class TicketConfig(TaskConfig):
    """Everything that defines a ticket pipeline run."""

    data: TicketData = TicketData()
    model: TicketModelConfig = TicketModelConfig()
    # Batch 256: in experiments on 50,000 tickets it generalised better than 64 on both heads.
    # Up to 40 epochs: with the L1 penalty the model keeps improving after each learning-rate cut
    # (eval split, 50,000 tickets: priority RMSE / ideal 1.090 after 20 epochs, 1.072 after 40).
    training: TrainingConfig = TrainingConfig(epochs=40, batch_size=256)
    eval: TicketEvalConfig = TicketEvalConfig()
    # At least 10 rows per department in every split (a hard stop, docs/data-validation.md).
    validation: ValidationConfig = ValidationConfig(min_rows=40)


__all__ = ["DEPARTMENTS", "DIFFICULTIES", "TicketConfig"]
