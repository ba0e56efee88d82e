"""What the DataValidator found: anomalies (TFDV's and this project's hard checks), drift, and the gate's message.

The hard checks are what no model can be trained on, so ``validation.allow_anomalies`` does not let
them through: a split with fewer rows than ``validation.min_rows``, and a label value outside the
classes the task declares (a model with three outputs cannot learn a fourth class).
"""

from __future__ import annotations

import dataclasses
from typing import Any

from tensorflow_metadata.proto.v0 import anomalies_pb2, schema_pb2

# A float feature of the curated schema refuses NaN and infinities unless one of these annotation tags allows them.
NAN_ALLOWED_TAG = "nan_allowed"
INF_ALLOWED_TAG = "inf_allowed"


class DataValidationError(RuntimeError):
    """The data has anomalies; the message names each one and the way out.

    Attributes:
        drift: the drift measurements (as dicts), above their thresholds or not.
        report: the kept data report page.
    """

    def __init__(self, message: str, drift: list[dict[str, Any]] | None = None, report: str = "") -> None:
        super().__init__(message)
        self.drift = drift or []
        self.report = report


@dataclasses.dataclass(frozen=True)
class Anomaly:
    """One anomaly: where (split, feature), what (TFDV's short description) and the detail."""

    split: str
    feature: str
    short: str
    detail: str

    def __str__(self) -> str:
        return f"split {self.split}, feature {self.feature}: {self.short}. {self.detail}"


@dataclasses.dataclass(frozen=True)
class Drift:
    """One drift measurement of a feature between the baseline and the new data."""

    feature: str
    measure: str  # L_INFTY or JENSEN_SHANNON_DIVERGENCE
    value: float
    threshold: float

    @property
    def exceeded(self) -> bool:
        """True if the drift is above its threshold."""
        return self.value > self.threshold


def guard_floats(schema: schema_pb2.Schema) -> schema_pb2.Schema:
    """The schema with every FLOAT feature refusing NaN and infinities (TFDV's ``disallow_nan``/``disallow_inf``).

    A NaN in the data is not a missing value: it trains a model to ``loss=nan``. A feature whose
    annotation carries the tag ``nan_allowed`` (or ``inf_allowed``) keeps them, e.g.
    ``annotation { tag: "nan_allowed" }`` in the curated schema.
    """
    guarded = schema_pb2.Schema()
    guarded.CopyFrom(schema)
    named = {d.name: d for d in guarded.float_domain}
    for feature in guarded.feature:
        if feature.type != schema_pb2.FLOAT:
            continue
        kind = feature.WhichOneof("domain_info")
        if kind == "domain" and feature.domain in named:
            domain = named[feature.domain]
        elif kind in (None, "float_domain"):
            domain = feature.float_domain
        else:
            continue
        tags = set(feature.annotation.tag)
        domain.disallow_nan = domain.disallow_nan or NAN_ALLOWED_TAG not in tags
        domain.disallow_inf = domain.disallow_inf or INF_ALLOWED_TAG not in tags
    return guarded


def nan_counts(statistics: Any) -> dict[str, tuple[int, int]]:
    """Feature -> (NaN values, values) of each numeric feature of a statistics proto (its first data set)."""
    counts = {}
    for feature in statistics.datasets[0].features if statistics.datasets else []:
        if feature.HasField("num_stats") and feature.num_stats.histograms:
            name = ".".join(feature.path.step) or feature.name
            total = int(feature.num_stats.common_stats.tot_num_values)
            counts[name] = (int(feature.num_stats.histograms[0].num_nan), total)
    return counts


def list_anomalies(anomalies: anomalies_pb2.Anomalies, split: str, statistics: Any = None) -> list[Anomaly]:
    """Every anomaly of a TFDV result, one per reason (a feature can have several).

    With the split's ``statistics``, a NaN anomaly says how many values are NaN.
    """
    nans = nan_counts(statistics) if statistics is not None else {}
    has_nan = anomalies_pb2.AnomalyInfo.FLOAT_TYPE_HAS_NAN
    found = []
    for feature, info in sorted(anomalies.anomaly_info.items()):
        reasons = info.reason or [None]
        for reason in reasons:
            short = reason.short_description if reason is not None else info.short_description
            detail = (reason.description if reason is not None else info.description).strip()
            if detail.endswith(" is:"):  # TFDV names the value that moved most; an empty string shows as nothing
                detail += ' "" (the empty string)'
            if reason is not None and reason.type == has_nan and feature in nans:
                count, total = nans[feature]
                share = f" ({count / total:.1%})" if total else ""
                detail = (
                    f"{detail.rstrip('.')}: {count} of {total} values{share}. A NaN is not a missing value (leave "
                    f'the cell empty), or allow it with annotation {{ tag: "{NAN_ALLOWED_TAG}" }} in the schema.'
                )
            found.append(Anomaly(split, feature, short, detail))
    if anomalies.HasField("dataset_anomaly_info"):
        info = anomalies.dataset_anomaly_info
        found.append(Anomaly(split, "(data set)", info.short_description, info.description))
    return found


def list_drift(anomalies: anomalies_pb2.Anomalies, skew: bool = False) -> list[Drift]:
    """Every drift (or, with ``skew``, training-serving skew) measurement TFDV recorded, above its threshold or not."""
    kinds = anomalies_pb2.DriftSkewInfo.Measurement.Type.Name
    return [
        Drift(".".join(info.path.step), kinds(m.type), float(m.value), float(m.threshold))
        for info in anomalies.drift_skew_info
        for m in (info.skew_measurements if skew else info.drift_measurements)
    ]


def format_anomalies(found: list[Anomaly], allowed: bool, hard: bool = False) -> str:
    """The gate's message: every anomaly on its own line, then the way out.

    ``hard``: anomalies that ``validation.allow_anomalies`` does not let through (too few rows, a new
    label class); the way out is to fix the data (or the declaration), not the opt-in.
    """
    head = f"data validation found {len(found)} anomal{'y' if len(found) == 1 else 'ies'}" + (
        "; allowed by the configuration, the run goes on:" if allowed else "; nothing was trained or pushed:"
    )
    lines = [head, *(f"  {anomaly}" for anomaly in found)]
    if hard:
        lines.append("  validation.allow_anomalies does not let these through: no model can be trained on them.")
    elif not allowed:
        lines.append(
            "  Fix the data; or, if it changed legitimately, update the curated schema and run again; "
            "or train anyway with validation.allow_anomalies=true."
        )
    return "\n".join(lines)


SERVING_ENVIRONMENT = "SERVING"
# Values outside a categorical feature's domain (a new class of a label).
_OUTSIDE_DOMAIN = frozenset(
    {
        anomalies_pb2.AnomalyInfo.ENUM_TYPE_UNEXPECTED_STRING_VALUES,
        anomalies_pb2.AnomalyInfo.INT_TYPE_BIG_INT,
        anomalies_pb2.AnomalyInfo.INT_TYPE_SMALL_INT,
    }
)


def too_few_rows(split: str, statistics: Any, min_rows: int) -> Anomaly | None:
    """A hard anomaly if the split's statistics count fewer than ``min_rows`` examples (0: no minimum)."""
    rows = int(statistics.datasets[0].num_examples) if statistics.datasets else 0
    if not min_rows or rows >= min_rows:
        return None
    return Anomaly(
        split,
        "(data set)",
        "Too few rows",
        f"{rows} rows, the minimum is {min_rows} (validation.min_rows): a split this small measures no drift and "
        "trains or evaluates nothing. Deliver the whole span (a cut-off export?), or lower validation.min_rows",
    )


def label_features(schema: schema_pb2.Schema) -> list[str]:
    """The features that are labels with declared classes: absent when serving, with a categorical domain."""
    labels = []
    for feature in schema.feature:
        if SERVING_ENVIRONMENT not in feature.not_in_environment:
            continue
        domain = feature.WhichOneof("domain_info")
        if domain in ("domain", "string_domain") or (domain == "int_domain" and feature.int_domain.is_categorical):
            labels.append(feature.name)
    return labels


def unknown_classes(
    found: list[Anomaly], result: anomalies_pb2.Anomalies, schema: schema_pb2.Schema, schema_source: str
) -> tuple[list[Anomaly], list[Anomaly]]:
    """``found`` with each label's out-of-domain anomaly explained, and those anomalies (the hard ones).

    A label value outside its declared classes (TFDV's unexpected string values, or an integer out of
    the domain) is a class the model has no output for.
    """
    labels = {
        name: info.reason
        for name in label_features(schema)
        if (info := result.anomaly_info.get(name)) is not None and any(r.type in _OUTSIDE_DOMAIN for r in info.reason)
    }
    if not labels:
        return found, []
    outside = {
        (name, r.short_description) for name, reasons in labels.items() for r in reasons if r.type in _OUTSIDE_DOMAIN
    }
    where = schema_source or "the curated schema"
    explained, hard = [], []
    for anomaly in found:
        if (anomaly.feature, anomaly.short) in outside:
            anomaly = dataclasses.replace(
                anomaly,
                detail=f"{anomaly.detail.rstrip('.')}. A new class of the label {anomaly.feature}: the model can only "
                f"learn the classes declared for it (its domain in {where}, and the class names in the task's "
                "declaration), so validation.allow_anomalies cannot train on it. Drop those rows, or declare the "
                "new class in both places and retrain.",
            )
            hard.append(anomaly)
        explained.append(anomaly)
    return explained, hard
