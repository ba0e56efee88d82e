"""Configuration and keys of the ticket triage task (the one place they are defined)."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

from components.ticket_example_gen.generator import DEPARTMENTS, DIFFICULTIES
from pipelines.config import ConfigError, TrainingConfig

TASK = "ticket"
TITLE_KEY, BODY_KEY, TAGS_KEY = "title", "body", "tags"
PRIORITY_KEY, DEPARTMENT_KEY, DIFFICULTY_KEY = "priority", "department", "difficulty"
VOCAB_SIZE = 10_000  # the most frequent title/body tokens of the training split
NUM_TAGS = 100
TOKEN_VOCAB_NAME = "tokens"
TAG_VOCAB_NAME = "tags"


@dataclasses.dataclass(frozen=True)
class TicketDataConfig:
    """How many tickets to generate, from which seed, split how."""

    num_examples: int = 50_000
    seed: int = 42
    # `test` is held out: no component trains or selects on it; the acceptance benchmark measures on it.
    splits: Mapping[str, float] = dataclasses.field(default_factory=lambda: {"train": 0.7, "eval": 0.1, "test": 0.2})
    train_split: str = "train"
    eval_split: str = "eval"
    shard_size: int = 1000

    def __post_init__(self) -> None:
        for field in ("train_split", "eval_split"):
            if getattr(self, field) not in self.splits:
                raise ConfigError(
                    f"data.{field}={getattr(self, field)!r} is invalid: must be one of {sorted(self.splits)}."
                )


@dataclasses.dataclass(frozen=True)
class TicketModelConfig:
    """The ticket model's size, loss weights and the optional third head."""

    hidden_units: int = 64
    # L1 penalty on the shared features layer's kernel. Chosen on the eval split of 50,000 tickets:
    # priority RMSE / ideal was 1.149 with 0, 1.114 with 3e-6, 1.087 with 1e-5, 1.090 with 3e-5, 1.095 with 1e-4.
    features_l1: float = 3e-5
    priority_loss_weight: float = 1.0
    department_loss_weight: float = 0.2
    difficulty_head: bool = False
    difficulty_loss_weight: float = 0.2

    def __post_init__(self) -> None:
        if self.hidden_units < 1:
            raise ConfigError(f"model.hidden_units={self.hidden_units!r} is invalid: must be >= 1.")
        for field in ("features_l1", "priority_loss_weight", "department_loss_weight", "difficulty_loss_weight"):
            if getattr(self, field) < 0:
                raise ConfigError(f"model.{field}={getattr(self, field)!r} is invalid: must be >= 0.")

    @property
    def loss_weights(self) -> dict[str, float]:
        """Loss weight per output name."""
        weights = {PRIORITY_KEY: self.priority_loss_weight, DEPARTMENT_KEY: self.department_loss_weight}
        if self.difficulty_head:
            weights[DIFFICULTY_KEY] = self.difficulty_loss_weight
        return weights


@dataclasses.dataclass(frozen=True)
class TicketEvalConfig:
    """What the Evaluator requires of both heads before the Pusher may push."""

    min_department_accuracy: float = 0.8
    max_priority_rmse: float = 0.15
    max_department_accuracy_drop: float = 0.0  # vs. the last blessed model
    max_priority_rmse_increase: float = 0.0

    def __post_init__(self) -> None:
        if not 0 <= self.min_department_accuracy <= 1:
            raise ConfigError(
                f"eval.min_department_accuracy={self.min_department_accuracy!r} is invalid: must be in [0, 1]."
            )
        if self.max_priority_rmse <= 0:
            raise ConfigError(f"eval.max_priority_rmse={self.max_priority_rmse!r} is invalid: must be > 0.")


@dataclasses.dataclass(frozen=True)
class TicketConfig:
    """Everything that defines a ticket pipeline run."""

    data: TicketDataConfig = dataclasses.field(default_factory=TicketDataConfig)
    model: TicketModelConfig = dataclasses.field(default_factory=TicketModelConfig)
    # Batch 256: in experiments on 50,000 tickets it generalised better than 64 on both heads.
    # Up to 40 epochs: with the L1 penalty the model keeps improving after each learning-rate cut
    # (eval split, 50,000 tickets: priority RMSE / ideal 1.090 after 20 epochs, 1.072 after 40).
    training: TrainingConfig = dataclasses.field(default_factory=lambda: TrainingConfig(epochs=40, batch_size=256))
    eval: TicketEvalConfig = dataclasses.field(default_factory=TicketEvalConfig)


__all__ = ["DEPARTMENTS", "DIFFICULTIES", "TicketConfig"]
