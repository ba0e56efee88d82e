"""The Keras callbacks every task trains with: a readable line per epoch, early stopping, checkpoints, TensorBoard."""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from typing import Any

import tf_keras as keras

from pipelines.config import TrainingConfig


class EpochLogger(keras.callbacks.Callback):
    """One readable progress line per epoch, with its duration (Trainer logs are files, not terminals)."""

    def __init__(self, epochs: int) -> None:
        super().__init__()
        self.epochs = epochs
        self.durations: list[float] = []
        self.between: list[float] = []  # seconds from the end of the previous epoch (or the start) to this one
        self._start = self._end = 0.0

    def on_train_begin(self, logs: Mapping[str, float] | None = None) -> None:
        """Start the clock of the time before the first epoch."""
        del logs
        self._end = time.time()

    def on_epoch_begin(self, epoch: int, logs: Mapping[str, float] | None = None) -> None:
        """Start the epoch's clock."""
        del epoch, logs  # Keras's callback signature
        self._start = time.time()
        self.between.append(self._start - self._end)

    def on_epoch_end(self, epoch: int, logs: Mapping[str, float] | None = None) -> None:
        """Print the epoch's metrics, learning rate and duration."""
        self._end = time.time()
        self.durations.append(self._end - self._start)
        logs = dict(logs or {})
        rate = logs.pop("lr", None)
        # The losses, and the validation metrics: what decides early stopping and what the Evaluator checks.
        keys = sorted(
            k for k in logs if k in ("loss", "val_loss") or (k.startswith("val_") and not k.endswith("_loss"))
        )
        shown = "  ".join(f"{k}={logs[k]:.4f}" for k in keys)
        if rate is not None:
            shown += f"  lr={rate:.2g}"
        print(f"[trainer] epoch {epoch + 1}/{self.epochs}  {self.durations[-1]:.1f}s  {shown}", flush=True)


def standard_callbacks(config: TrainingConfig, model_run_dir: str, monitor: str = "val_loss") -> list[Any]:
    """EarlyStopping (restoring the best weights), ReduceLROnPlateau, ModelCheckpoint and TensorBoard."""
    return [
        keras.callbacks.EarlyStopping(
            monitor=monitor, patience=config.early_stopping_patience, restore_best_weights=True, verbose=0
        ),
        keras.callbacks.ReduceLROnPlateau(
            monitor=monitor, factor=config.reduce_lr_factor, patience=config.reduce_lr_patience, min_lr=1e-6, verbose=0
        ),
        keras.callbacks.ModelCheckpoint(
            os.path.join(model_run_dir, "checkpoints", "best.weights.h5"),
            monitor=monitor,
            save_best_only=True,
            save_weights_only=True,
        ),
        keras.callbacks.TensorBoard(log_dir=os.path.join(model_run_dir, "logs"), update_freq="epoch"),
        EpochLogger(config.epochs),
    ]


def epoch_seconds(callbacks: list[Any]) -> list[float]:
    """The per-epoch durations measured by the EpochLogger among ``callbacks``."""
    return next((list(c.durations) for c in callbacks if isinstance(c, EpochLogger)), [])
