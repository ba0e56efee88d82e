"""Prediction agreement: two models' answers on the same logged requests, compared output by output.

``tfx-keras monitor TASK --requests DIR --agreement VERSION`` runs the requests the served version
answered through another model (a canary, a candidate) and reports how often they agree: class ids
as the share of equal answers, numbers as the mean absolute difference. The logged requests are
yesterday's traffic without its labels: they cannot say which model is right, only where the other
one would answer differently from what production answered.
"""

from __future__ import annotations

import dataclasses
import os
from collections import defaultdict
from collections.abc import Sequence

import numpy as np

from common.contract import CLASS_IDS, EXAMPLE_SIGNATURE, PROBABILITIES
from common.settings import ConfigError


@dataclasses.dataclass
class Agreement:
    """How often two models give the same answer on the logged requests (no label needed)."""

    baseline: str
    candidate: str
    examples: int
    per_output: dict[str, float]  # class ids: share of equal answers; numbers: mean absolute difference
    min_agreement: float

    @property
    def agrees(self) -> bool:
        """Every class-id output agrees on at least ``min_agreement`` of the examples (numbers are reported only)."""
        shares = [v for k, v in self.per_output.items() if k.endswith(CLASS_IDS)]
        return all(share >= self.min_agreement for share in shares)


def agreement(examples: Sequence[bytes], baseline_dir: str, candidate_dir: str, min_agreement: float) -> Agreement:
    """Run both SavedModels' ``serving_default`` on the logged examples and compare their answers, output by output.

    The logged requests are yesterday's traffic without its labels: they cannot say which model is
    right, only where the candidate would answer differently from what production answered.

    Raises:
        ConfigError: a folder that is not a SavedModel with ``serving_default``, or no examples.
    """
    import tensorflow as tf

    if not examples:
        raise ConfigError("no logged examples to compare the models on")
    answers = []
    for folder in (baseline_dir, candidate_dir):
        if not os.path.isfile(os.path.join(folder, "saved_model.pb")):
            raise ConfigError(f"{folder} is not a SavedModel folder: give a version number or a model's folder")
        signature = tf.saved_model.load(folder).signatures.get(EXAMPLE_SIGNATURE)
        if signature is None:
            raise ConfigError(f"{folder} has no {EXAMPLE_SIGNATURE} signature to run the logged examples through")
        outputs: dict[str, list[np.ndarray]] = defaultdict(list)
        for start in range(0, len(examples), 500):
            batch = tf.constant(list(examples[start : start + 500]))
            for name, value in signature(examples=batch).items():
                outputs[name].append(value.numpy())
        answers.append({name: np.concatenate(parts) for name, parts in outputs.items()})
    per_output = {}
    for name in sorted(set(answers[0]) & set(answers[1])):
        old, new = answers[0][name], answers[1][name]
        if old.shape != new.shape or old.dtype.kind in "OSU" or name.endswith(PROBABILITIES):
            continue  # class names follow the ids; probabilities are summarized by the ids
        if name.endswith(CLASS_IDS) or old.dtype.kind in "iu":
            per_output[name] = float(np.mean(np.all((old == new).reshape(len(old), -1), axis=1)))
        else:
            per_output[name] = float(np.mean(np.abs(old.astype(np.float64) - new.astype(np.float64))))
    return Agreement(baseline_dir, candidate_dir, len(examples), per_output, min_agreement)
