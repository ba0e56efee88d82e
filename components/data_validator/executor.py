"""Executor of DataValidator: schema validation per split, drift against the baseline, pictures, the gate."""

from __future__ import annotations

import dataclasses
import json
import os
import time
from typing import Any

import tensorflow as tf
import tensorflow_data_validation as tfdv
from tensorflow_metadata.proto.v0 import schema_pb2
from tfx.components.statistics_gen import stats_artifact_utils
from tfx.dsl.components.base import base_executor
from tfx.types import artifact_utils
from tfx.utils import io_utils

from components import lineage
from components.data_validator import content
from components.data_validator.anomalies import (
    Anomaly,
    DataValidationError,
    Drift,
    format_anomalies,
    guard_floats,
    list_anomalies,
    list_drift,
    too_few_rows,
    unknown_classes,
)
from components.examples_io import read_examples

SCHEMA_DIFF_FILE = "SchemaDiff.pb"  # where TFX's ExampleValidator writes each split's anomalies
DRIFT_FILE = "drift.json"
REPORT_DIR = "report"
TRAINING_ENVIRONMENT = "TRAINING"


def read_schema(schema_artifacts: list[Any]) -> schema_pb2.Schema:
    """The schema an ImportSchemaGen or SchemaGen artifact holds."""
    return io_utils.SchemaReader().read(io_utils.get_only_uri_in_dir(artifact_utils.get_single_uri(schema_artifacts)))


def kept_dir(anomalies_uri: str, verdict: str) -> str:
    """``<component dir>/<verdict>/<execution>``: where a run's report is kept, ``rejected`` or ``validated``."""
    execution = os.path.basename(anomalies_uri.rstrip("/"))
    return os.path.join(os.path.dirname(os.path.dirname(anomalies_uri.rstrip("/"))), verdict, execution)


def _environment(schema: schema_pb2.Schema) -> str | None:
    return TRAINING_ENVIRONMENT if TRAINING_ENVIRONMENT in schema.default_environment else None


def baseline_name(baseline: Any, served_model: Any = None, pinned: int | None = None) -> str:
    """What the drift was measured against, for the summary, the report and the UI.

    e.g. ``span 5 (the data of the serving model, version 1795479126)``.
    """
    if baseline is None:
        return "nothing (no earlier validated span to compare with)"
    if pinned is not None:
        return f"span {baseline.span} (pinned by validation.baseline_span)"
    if served_model is not None:
        version = served_model.get_string_custom_property("pushed_version") or "?"
        return f"span {baseline.span} (the data of the serving model, version {version})"
    return f"span {baseline.span} (the newest earlier validated span: no served model's data to compare with)"


def keep_verdict(anomalies_uri: str, span: int, found: list[Anomaly]) -> str:
    """Keep the rejected span's verdict (``verdict.json``) for the next runs' summaries; returns its folder."""
    kept = lineage.rejected_dir(anomalies_uri)
    tf.io.gfile.makedirs(kept)
    with tf.io.gfile.GFile(os.path.join(kept, lineage.VERDICT_FILE), "w") as f:
        json.dump({"span": int(span), "anomalies": [str(a) for a in found], "time": time.time()}, f, indent=2)
    return kept


class Executor(base_executor.BaseExecutor):
    """Validates each split, measures drift of one split against the baseline, writes pictures, gates."""

    def Do(
        self,
        input_dict: dict[str, list[Any]],
        output_dict: dict[str, list[Any]],  # noqa: N802 (TFX API)
        exec_properties: dict[str, Any],
    ) -> None:
        """Validate; record anomalies, drift and pictures; raise DataValidationError unless allowed."""
        from components.data_validator import categories, report

        statistics = artifact_utils.get_single_instance(input_dict["statistics"])
        baseline = (input_dict.get("baseline_statistics") or [None])[0]
        named = baseline_name(
            baseline, (input_dict.get("baseline_model") or [None])[0], exec_properties.get("baseline_span")
        )
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
        schema_source = str(exec_properties.get("schema_source") or "")

        splits = artifact_utils.decode_split_names(statistics.split_names)
        anomalies_artifact.split_names = artifact_utils.encode_split_names(splits)
        anomalies_artifact.span = statistics.span
        baseline_splits = artifact_utils.decode_split_names(baseline.split_names) if baseline else []
        split_stats = {s: stats_artifact_utils.load_statistics(statistics, s).proto() for s in splits}
        # A split of a few rows measures nothing: one line per such split, whatever allow_anomalies says.
        small = [a for s in splits if (a := too_few_rows(s, split_stats[s], int(exec_properties.get("min_rows") or 0)))]
        if small:
            keep_verdict(anomalies_artifact.uri, statistics.span, small)
            raise DataValidationError(format_anomalies(small, allowed=False, hard=True))
        found: list[Anomaly] = []
        hard: list[Anomaly] = []
        drift: list[Drift] = []
        blessed: dict[str, int] = {}
        profiles: dict[str, Any] = {}
        previous = None
        for split in splits:
            stats = split_stats[split]
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
            split_anomalies, split_hard = unknown_classes(
                list_anomalies(result, split, stats), result, curated, schema_source
            )
            hard += split_hard
            if kinds:
                started = time.perf_counter()
                profiles[split] = content.profile(read_examples(examples.uri, split, content.SAMPLE), kinds)
                content_seconds += time.perf_counter() - started
                split_anomalies += [Anomaly(split, *f) for f in content.blank_findings(profiles[split], curated)]
            if compare_with is not None:
                drift = list_drift(result)
                split_anomalies += [
                    Anomaly(split, *f) for f in categories.vanished_values(stats, compare_with, curated)
                ]
            if split == drift_split and old_profiles.get(split) and profiles.get(split):
                for name, measure, value, threshold, why in content.content_drift(
                    profiles[split], old_profiles[split], curated
                ):
                    drift.append(Drift(name, measure, value, threshold))
                    if value > threshold:
                        split_anomalies.append(Anomaly(split, name, content.short_description(measure), why))
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
                    "baseline": named,
                    "span": statistics.span,
                    "measurements": [dataclasses.asdict(d) for d in drift],
                },
                f,
                indent=2,
            )
        anomalies_artifact.set_json_value_custom_property("blessed", blessed)
        anomalies_artifact.set_json_value_custom_property("anomalies", [str(a) for a in found])
        anomalies_artifact.set_json_value_custom_property("drift", [dataclasses.asdict(d) for d in drift])
        anomalies_artifact.set_string_custom_property("baseline", named)
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
            baseline=f"drift vs {named}",
            schema=curated,
        )
        if found:
            if not allowed or hard:
                # A failed execution's outputs are deleted by TFX: keep the evidence beside them.
                kept = lineage.rejected_dir(anomalies_artifact.uri)
                io_utils.copy_dir(anomalies_artifact.uri, kept)  # (replaces the folder: the verdict goes in after)
                keep_verdict(anomalies_artifact.uri, statistics.span, found)
                page = os.path.join(kept, REPORT_DIR, os.path.basename(page))
                shown = hard if allowed else found
                raise DataValidationError(
                    f"{format_anomalies(shown, allowed=False, hard=bool(hard) and allowed)}\n  data report: {page}",
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
        # Only validated data enters a training window or becomes a drift baseline.
        io_utils.copy_dir(statistics.uri, validated.uri)
        if profiles:  # the next span's vocabulary and pixels are compared with these
            content.write_profile(os.path.join(validated.uri, content.CONTENT_FILE), profiles)
        validated.split_names = statistics.split_names
        validated.span = statistics.span
        validated.set_int_custom_property(lineage.SOURCE_STATISTICS_ID, statistics.id)  # a re-run leaves it out
        if found:  # marked: trained on by the opt-in (the summary and the UI say so)
            validated.set_int_custom_property(lineage.ALLOWED_ANOMALIES_KEY, len(found))
