"""Executor of DataValidator: schema validation per split, drift against the baseline, pictures, the gate."""

from __future__ import annotations

import dataclasses
import json
import os
import time
from typing import Any

import tensorflow as tf
import tensorflow_data_validation as tfdv
from tensorflow_metadata.proto.v0 import anomalies_pb2, schema_pb2
from tfx.components.statistics_gen import stats_artifact_utils
from tfx.dsl.components.base import base_executor
from tfx.types import artifact_utils
from tfx.utils import io_utils

from components.baseline_resolver import ALLOWED_ANOMALIES_KEY, SOURCE_STATISTICS_ID
from components.data_validator import content
from components.examples_io import read_examples

SCHEMA_DIFF_FILE = "SchemaDiff.pb"  # where TFX's ExampleValidator writes each split's anomalies
# A float feature of the curated schema refuses NaN and infinities unless one of these annotation tags allows them.
NAN_ALLOWED_TAG = "nan_allowed"
INF_ALLOWED_TAG = "inf_allowed"
DRIFT_FILE = "drift.json"
REPORT_DIR = "report"
TRAINING_ENVIRONMENT = "TRAINING"


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


def list_drift(anomalies: anomalies_pb2.Anomalies) -> list[Drift]:
    """Every drift measurement TFDV recorded (one per compared feature, above its threshold or not)."""
    kinds = anomalies_pb2.DriftSkewInfo.Measurement.Type.Name
    return [
        Drift(".".join(info.path.step), kinds(m.type), float(m.value), float(m.threshold))
        for info in anomalies.drift_skew_info
        for m in info.drift_measurements
    ]


def format_anomalies(found: list[Anomaly], allowed: bool) -> str:
    """The gate's message: every anomaly on its own line, then the way out."""
    head = f"data validation found {len(found)} anomal{'y' if len(found) == 1 else 'ies'}" + (
        "; allowed by the configuration, the run goes on:" if allowed else "; nothing was trained or pushed:"
    )
    lines = [head, *(f"  {anomaly}" for anomaly in found)]
    if not allowed:
        lines.append(
            "  Fix the data; or, if it changed legitimately, update the curated schema and run again; "
            "or train anyway with validation.allow_anomalies=true."
        )
    return "\n".join(lines)


def read_schema(schema_artifacts: list[Any]) -> schema_pb2.Schema:
    """The schema an ImportSchemaGen or SchemaGen artifact holds."""
    return io_utils.SchemaReader().read(io_utils.get_only_uri_in_dir(artifact_utils.get_single_uri(schema_artifacts)))


def kept_dir(anomalies_uri: str, verdict: str) -> str:
    """``<component dir>/<verdict>/<execution>``: where a run's report is kept, ``rejected`` or ``validated``."""
    execution = os.path.basename(anomalies_uri.rstrip("/"))
    return os.path.join(os.path.dirname(os.path.dirname(anomalies_uri.rstrip("/"))), verdict, execution)


def _environment(schema: schema_pb2.Schema) -> str | None:
    return TRAINING_ENVIRONMENT if TRAINING_ENVIRONMENT in schema.default_environment else None


class Executor(base_executor.BaseExecutor):
    """Validates each split, measures drift of one split against the baseline, writes pictures, gates."""

    def Do(
        self,
        input_dict: dict[str, list[Any]],
        output_dict: dict[str, list[Any]],  # noqa: N802 (TFX API)
        exec_properties: dict[str, Any],
    ) -> None:
        """Validate; record anomalies, drift and pictures; raise DataValidationError unless allowed."""
        from components.data_validator import report

        statistics = artifact_utils.get_single_instance(input_dict["statistics"])
        baseline = (input_dict.get("baseline_statistics") or [None])[0]
        curated = read_schema(input_dict["schema"])
        schema = content.schema_for_tfdv(guard_floats(curated))
        examples = (input_dict.get("examples") or [None])[0]
        kinds = content.content_features(curated) if examples is not None else {}
        content_seconds = 0.0
        old_profiles = content.read_profile(os.path.join(baseline.uri, content.CONTENT_FILE)) if baseline else {}
        anomalies_artifact = artifact_utils.get_single_instance(output_dict["anomalies"])
        validated = artifact_utils.get_single_instance(output_dict["validated_statistics"])
        allowed = bool(exec_properties.get("allow_anomalies", 0))
        drift_split = exec_properties.get("drift_split") or "train"

        splits = artifact_utils.decode_split_names(statistics.split_names)
        anomalies_artifact.split_names = artifact_utils.encode_split_names(splits)
        anomalies_artifact.span = statistics.span
        baseline_splits = artifact_utils.decode_split_names(baseline.split_names) if baseline else []
        found: list[Anomaly] = []
        drift: list[Drift] = []
        blessed: dict[str, int] = {}
        split_stats: dict[str, Any] = {}
        profiles: dict[str, Any] = {}
        previous = None
        for split in splits:
            stats = stats_artifact_utils.load_statistics(statistics, split).proto()
            split_stats[split] = stats
            compare_with = None
            if baseline is not None and split == drift_split and split in baseline_splits:
                compare_with = previous = stats_artifact_utils.load_statistics(baseline, split).proto()
            result = tfdv.validate_statistics(
                statistics=stats, schema=schema, environment=_environment(schema), previous_statistics=compare_with
            )
            uri = artifact_utils.get_split_uri([anomalies_artifact], split)
            tf.io.gfile.makedirs(uri)
            with tf.io.gfile.GFile(os.path.join(uri, SCHEMA_DIFF_FILE), "wb") as f:
                f.write(result.SerializeToString())
            split_anomalies = list_anomalies(result, split, stats)
            if kinds:
                started = time.perf_counter()
                profiles[split] = content.profile(read_examples(examples.uri, split, content.SAMPLE), kinds)
                content_seconds += time.perf_counter() - started
                split_anomalies += [Anomaly(split, *f) for f in content.blank_findings(profiles[split], curated)]
            if compare_with is not None:
                drift = list_drift(result)
            if split == drift_split and old_profiles.get(split) and profiles.get(split):
                for name, measure, value, threshold, why in content.content_drift(
                    profiles[split], old_profiles[split], curated
                ):
                    drift.append(Drift(name, measure, value, threshold))
                    if value > threshold:
                        short = "Unknown vocabulary" if measure == content.UNKNOWN_MEASURE else "Pixel drift"
                        split_anomalies.append(Anomaly(split, name, short, why))
            found += split_anomalies
            blessed[split] = 0 if split_anomalies else 1

        if profiles:
            content.write_profile(os.path.join(anomalies_artifact.uri, content.CONTENT_FILE), profiles)
        anomalies_artifact.set_float_custom_property("content_seconds", content_seconds)
        with tf.io.gfile.GFile(os.path.join(anomalies_artifact.uri, DRIFT_FILE), "w") as f:
            json.dump(
                {
                    "split": drift_split,
                    "baseline_span": baseline.span if baseline is not None else None,
                    "span": statistics.span,
                    "measurements": [dataclasses.asdict(d) for d in drift],
                },
                f,
                indent=2,
            )
        anomalies_artifact.set_json_value_custom_property("blessed", blessed)
        anomalies_artifact.set_json_value_custom_property("anomalies", [str(a) for a in found])
        anomalies_artifact.set_json_value_custom_property("drift", [dataclasses.asdict(d) for d in drift])
        page = report.write_data_report(
            os.path.join(anomalies_artifact.uri, REPORT_DIR),
            split_stats,
            drift_split,
            previous,
            drift,
            found,
            title=f"span {statistics.span}",
            profiles=profiles,
            old_profiles=old_profiles,
        )
        if found:
            if not allowed:
                # A failed execution's outputs are deleted by TFX: keep the evidence beside them.
                kept = kept_dir(anomalies_artifact.uri, "rejected")
                io_utils.copy_dir(anomalies_artifact.uri, kept)
                page = os.path.join(kept, REPORT_DIR, os.path.basename(page))
                raise DataValidationError(
                    f"{format_anomalies(found, allowed)}\n  data report: {page}",
                    drift=[dataclasses.asdict(d) for d in drift],
                    report=page,
                )
            print(f"{format_anomalies(found, allowed)}", flush=True)
        # Every run's evidence in one place: DataValidator/validated/<execution>/ beside rejected/.
        kept = kept_dir(anomalies_artifact.uri, "validated")
        io_utils.copy_dir(os.path.join(anomalies_artifact.uri, REPORT_DIR), os.path.join(kept, REPORT_DIR))
        page = os.path.join(kept, REPORT_DIR, os.path.basename(page))
        anomalies_artifact.set_string_custom_property("report", page)
        print(f"  data report: {page}", flush=True)
        # Only validated data becomes the baseline of the next span's drift check.
        io_utils.copy_dir(statistics.uri, validated.uri)
        if profiles:  # the next span's vocabulary and pixels are compared with these
            content.write_profile(os.path.join(validated.uri, content.CONTENT_FILE), profiles)
        validated.split_names = statistics.split_names
        validated.span = statistics.span
        validated.set_int_custom_property(SOURCE_STATISTICS_ID, statistics.id)  # a re-run leaves it out
        if found:  # allowed once, for this run: the next span is still compared with the last clean one
            validated.set_int_custom_property(ALLOWED_ANOMALIES_KEY, len(found))
