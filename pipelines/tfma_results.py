"""What a TFMA evaluation output says: the overall metrics, and the thresholds that failed, in words.

The Evaluator writes TFMA's results under its ``evaluation`` artifact; the run summary reads them
here (TFMA is imported only when one is read).
"""

from __future__ import annotations

from typing import Any


def read_overall_metrics(evaluation_uri: str) -> dict[str, float]:
    """The overall-slice metrics of a TFMA evaluation output."""
    import tensorflow_model_analysis as tfma

    result = tfma.load_eval_result(evaluation_uri)
    for slice_key, slice_metrics in result.slicing_metrics:
        if slice_key == ():
            out = {}
            for metrics in slice_metrics.values():  # keyed by output name, then sub key
                for by_sub_key in metrics.values():
                    for name, value in by_sub_key.items():
                        if "doubleValue" in value:
                            out[name] = float(value["doubleValue"])
            return out
    return {}


def slice_name(slice_key: Any) -> str:
    """``label=0`` for a single-feature slice (values of 0 included), ``overall`` for the whole split."""
    parts = []
    for key in slice_key.single_slice_keys:
        kind = key.WhichOneof("kind")
        value = getattr(key, kind) if kind else ""
        parts.append(f"{key.column}={value.decode() if isinstance(value, bytes) else value}")
    return ", ".join(parts) or "overall"


def read_validation_failures(evaluation_uri: str) -> list[str]:
    """Why the Evaluator did not bless: one line per failed threshold (empty when blessed)."""
    import tensorflow_model_analysis as tfma

    try:
        result = tfma.load_validation_result(evaluation_uri)
    except (FileNotFoundError, OSError):
        return []
    lines = []
    for per_slice in result.metric_validations_per_slice:
        where = slice_name(per_slice.slice_key)
        for failure in per_slice.failures:
            threshold = failure.metric_threshold
            if threshold.HasField("change_threshold"):
                rule = "change vs. the last blessed model " + str(threshold.change_threshold).replace("\n", " ").strip()
            else:
                rule = str(threshold.value_threshold).replace("\n", " ").strip()
            lines.append(
                f"{failure.metric_key.name} = {failure.metric_value.double_value.value:.4f} on {where} "
                f"({'is_diff: ' if failure.metric_key.is_diff else ''}{rule})"
            )
    return lines
