"""The trivial baselines a candidate must beat: the majority class (or the mean), and the best one-column rule.

A model that learned nothing useful can still pass an absolute bound ("accuracy at least 0.8" on a
table where 82% of the rows are one class) and be no worse than a baseline model that learned nothing
either. So the Evaluator also scores, on the eval split, what needs no model at all:

* **the majority class** of the training split (classification), or **the mean** (regression);
* **the best one-column rule** found cheaply on the training split: for each column a request
  carries (the features ``serving_default`` parses), a lookup (a category's majority class or mean;
  for a number, the better side of the best of its quantile thresholds); the rule that scores best on
  the training split is then scored on the eval split.

A candidate is blessed only if it beats the best of them by a margin: ``trivial_margin``, or when
that is None, ``noise_z`` standard errors of the difference on the eval split (as the no-regression
check's), ``sqrt(2 b (1 - b) / n)`` for an accuracy ``b`` and ``b / sqrt(n)`` for an RMSE ``b``.
Labels come from the candidate's ``transform_features`` signature (a label derived in Transform
included), else from the raw feature the label key names.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
from collections import Counter, defaultdict
from collections.abc import Sequence
from typing import Any

import numpy as np

from common.contract import EXAMPLE_FEATURES_FILE, TRANSFORM_SIGNATURE

SAMPLE = 10_000  # examples read per split: enough for a share to about +-1%, a few seconds at most
MAX_CATEGORIES = 50  # a column with more distinct values is not looked up as categories
THRESHOLDS = 16  # quantile thresholds tried per numeric column


@dataclasses.dataclass
class Rule:
    """A one-column rule: ``feature`` (empty for the majority/mean), how it decides, and its eval score."""

    name: str
    score: float


def _labels(model_dir: str, serialized: Sequence[bytes], label_key: str) -> np.ndarray:
    """Class ids (classification: a one-hot or an id label) or floats, for the serialized examples."""
    import tensorflow as tf

    loaded = tf.saved_model.load(model_dir)
    if TRANSFORM_SIGNATURE in loaded.signatures:
        function = loaded.signatures[TRANSFORM_SIGNATURE]
        parts = [function(examples=tf.constant(list(serialized[i : i + 1000])))[label_key].numpy()
                 for i in range(0, len(serialized), 1000)]  # fmt: skip
        values = np.concatenate(parts)
    else:
        raw = label_key.removesuffix("_xf")
        values = np.array([_scalar(tf.train.Example.FromString(e), raw) for e in serialized])
    if values.ndim == 2 and values.shape[1] > 1:  # one-hot
        return values.argmax(axis=1)
    return values.reshape(-1)


def _scalar(example: Any, name: str) -> Any:
    feature = example.features.feature.get(name)
    if feature is None:
        return None
    kind = feature.WhichOneof("kind")
    values = getattr(feature, kind).value if kind else []
    return values[0] if len(values) == 1 else None


def _columns(serialized: Sequence[bytes], names: Sequence[str]) -> dict[str, list[Any]]:
    import tensorflow as tf

    parsed = [tf.train.Example.FromString(e) for e in serialized]
    return {name: [_scalar(p, name) for p in parsed] for name in names}


def _score(predicted: np.ndarray, truth: np.ndarray, classification: bool) -> float:
    if classification:
        return float(np.mean(predicted == truth))
    return float(np.sqrt(np.mean((predicted.astype(np.float64) - truth) ** 2)))


def _better(a: float, b: float, classification: bool) -> bool:
    return a > b if classification else a < b


def _fit_lookup(values: list[Any], labels: np.ndarray, classification: bool) -> tuple[dict[Any, Any], Any]:
    groups: dict[Any, list[Any]] = defaultdict(list)
    for value, label in zip(values, labels, strict=True):
        groups[value].append(label)
    summarize = (lambda ls: Counter(ls).most_common(1)[0][0]) if classification else (lambda ls: float(np.mean(ls)))
    fallback = summarize(list(labels))
    return {value: summarize(ls) for value, ls in groups.items()}, fallback


def _rules(train: dict[str, list[Any]], labels: np.ndarray, classification: bool) -> list[tuple[str, str, Any]]:
    """(column, description, predict(values) -> predictions) of each column's best rule on the training split."""
    found = []
    for name, values in train.items():
        present = [v for v in values if v is not None]
        if not present:
            continue
        distinct = set(present)
        if isinstance(present[0], bytes) and len(distinct) > MAX_CATEGORIES:
            continue  # a text or an image: no one-value lookup
        if isinstance(present[0], (bytes, int)) and len(distinct) <= MAX_CATEGORIES:
            table, fallback = _fit_lookup(values, labels, classification)
            found.append((name, f"{name} lookup", lambda vs, t=table, f=fallback: np.array([t.get(v, f) for v in vs])))
            continue
        numbers = np.array([math.nan if v is None else float(v) for v in values])
        best = None
        for threshold in np.unique(np.nanquantile(numbers, np.linspace(0.05, 0.95, THRESHOLDS))):
            sides = np.where(np.isnan(numbers), 2, (numbers > threshold).astype(int))
            table, fallback = _fit_lookup(list(sides), labels, classification)
            predicted = np.array([table.get(s, fallback) for s in sides])
            score = _score(predicted, labels, classification)
            if best is None or _better(score, best[0], classification):
                best = (score, threshold, table, fallback)
        if best is not None:
            _, threshold, table, fallback = best

            def predict(vs: list[Any], th: float = threshold, t: dict = table, f: Any = fallback) -> np.ndarray:
                sides = [2 if v is None else int(float(v) > th) for v in vs]
                return np.array([t.get(s, f) for s in sides])

            found.append((name, f"{name} > {threshold:.4g}", predict))
    return found


def trivial_baselines(
    model_dir: str, train: Sequence[bytes], evaluation: Sequence[bytes], label_key: str, classification: bool
) -> tuple[Rule, Rule | None]:
    """(the majority class or the mean, the best one-column rule) scored on ``evaluation``.

    The rule is chosen on ``train`` among the columns ``serving_default`` parses (what a request
    carries: a training-only column the label is derived from is never a rule).
    """
    train_labels, eval_labels = _labels(model_dir, train, label_key), _labels(model_dir, evaluation, label_key)
    if classification:
        majority = Counter(train_labels.tolist()).most_common(1)[0][0]
        trivial = Rule(f"majority class ({majority})", _score(np.full(len(eval_labels), majority), eval_labels, True))
    else:
        mean = float(np.mean(train_labels))
        trivial = Rule(f"the mean ({mean:.4g})", _score(np.full(len(eval_labels), mean), eval_labels, False))
    features_path = os.path.join(model_dir, EXAMPLE_FEATURES_FILE)
    names = sorted(json.load(open(features_path, encoding="utf-8"))) if os.path.isfile(features_path) else []
    train_columns, eval_columns = _columns(train, names), _columns(evaluation, names)
    best = None
    for column, description, predict in _rules(train_columns, train_labels, classification):
        on_train = _score(predict(train_columns[column]), train_labels, classification)
        if best is None or _better(on_train, best[0], classification):
            best = (on_train, column, description, predict)
    if best is None:
        return trivial, None
    _, column, description, predict = best
    return trivial, Rule(description, _score(predict(eval_columns[column]), eval_labels, classification))


def margin(best: float, examples: int, z: float, classification: bool) -> float:
    """``z`` standard errors of the difference of two scores on ``examples`` (the no-regression check's)."""
    if examples <= 0:
        return 0.0
    if classification:
        bound = min(max(best, 0.0), 1.0)
        return z * math.sqrt(2 * bound * (1 - bound) / examples)
    return z * best / math.sqrt(examples)


def judged_metric(config: Any) -> tuple[str, str, bool] | None:
    """(output name, metric name, classification?) of the eval config's absolute bound, or None without one.

    The metric with a lower bound (an accuracy) or an upper bound (an RMSE) is the one the trivial
    baselines are scored in.
    """
    for spec in config.metrics_specs:
        for metric in spec.metrics:
            thresholds = [metric.threshold] if metric.HasField("threshold") else []
            thresholds += [t.threshold for t in metric.per_slice_thresholds]
            for threshold in thresholds:
                value = threshold.value_threshold
                if threshold.HasField("value_threshold") and (
                    value.HasField("lower_bound") or value.HasField("upper_bound")
                ):
                    output = spec.output_names[0] if spec.output_names else ""
                    return output, metric.class_name, value.HasField("lower_bound")
    return None
