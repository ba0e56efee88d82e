"""Score a pushed ticket model on tickets: department accuracy and priority RMSE (shared by the ticket benchmarks)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any


def score_saved_model(model_dir: str, tickets: Sequence[Mapping[str, Any]]) -> dict[str, float]:
    """Ask the SavedModel's ``serving_raw`` (plain text and tags) about ``tickets``; compare with their labels."""
    import numpy as np
    import tensorflow as tf

    predict = tf.saved_model.load(model_dir).signatures["serving_raw"]
    names, priorities = [], []
    for i in range(0, len(tickets), 1000):
        batch = tickets[i : i + 1000]
        width = max(1, max(len(t["tags"]) for t in batch))
        out = predict(
            title=tf.constant([t["title"] for t in batch]),
            body=tf.constant([t["body"] for t in batch]),
            tags=tf.constant([list(t["tags"]) + [""] * (width - len(t["tags"])) for t in batch]),
        )
        names += [n.decode() for n in out["department_class_names"].numpy()]
        priorities += out["priority"].numpy().tolist()
    accuracy = float(np.mean([n == t["department"] for n, t in zip(names, tickets, strict=True)]))
    rmse = float(np.sqrt(np.mean((np.array(priorities) - np.array([t["priority"] for t in tickets])) ** 2)))
    return {"department_accuracy": accuracy, "priority_rmse": rmse, "test_tickets": len(tickets)}
