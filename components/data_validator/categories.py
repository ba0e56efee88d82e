"""A categorical value that disappears: the check an L-infinity drift comparator misses.

TFDV's ``infinity_norm`` bounds the largest change of a value's share, so a department that held a
quarter of the tickets and is gone the next day measures 0.25 at most (the others grow by a twelfth each)
and passes a threshold of 0.25. A model still predicts that department, and the rows are missing
because an export dropped them, not because customers stopped writing. This module flags, whatever
the drift thresholds, each value of a categorical feature that had a meaningful share of the
baseline's values and is absent, or nearly so, in the new span.

Categorical features: string features with a domain (``domain`` or ``string_domain``) or a drift
comparator, and INT features with ``int_domain { is_categorical: true }`` (TFDV writes their values'
counts as strings, in ``string_stats``, only when the statistics are computed with the schema; image
features have bytes statistics, not values, and are skipped). The counts are read from the first data
set of each statistics proto: the ``rank_histogram`` (every value TFDV ranks) or else the ``top_values``.

A value vanished when, all three:

* its share of the baseline's values is at least :data:`DEFAULT_MIN_SHARE` (the annotation tag
  ``min_value_share: 0.1`` overrides it per feature): rarer values come and go;
* the new span should hold at least :data:`MIN_EXPECTED` of it (baseline share x the new span's
  values): a span of a few dozen rows can miss a value by chance;
* it holds at most :data:`MAX_OBSERVED_RATIO` of that expectation. A Poisson count with mean 10 is
  1 or less with a probability of 0.05%; with mean 40 (a 5% value in 800 tickets), 4 or less: 5e-13.
"""

from __future__ import annotations

from typing import Any

from tensorflow_metadata.proto.v0 import schema_pb2, statistics_pb2

from components.data_validator.content import tag_value

MIN_SHARE_TAG = "min_value_share"
DEFAULT_MIN_SHARE = 0.05
MIN_EXPECTED = 10.0
MAX_OBSERVED_RATIO = 0.1
SHORT_DESCRIPTION = "Value disappeared"


def categorical_features(schema: schema_pb2.Schema) -> list[schema_pb2.Feature]:
    """The schema's categorical features: strings with a domain or a drift comparator, categorical INTs."""
    found = []
    for feature in schema.feature:
        domain = feature.WhichOneof("domain_info")
        if feature.type == schema_pb2.BYTES and domain != "image_domain":
            if domain in ("domain", "string_domain") or feature.HasField("drift_comparator"):
                found.append(feature)
        elif feature.type == schema_pb2.INT and domain == "int_domain" and feature.int_domain.is_categorical:
            found.append(feature)
    return found


def _dataset(statistics: Any) -> statistics_pb2.DatasetFeatureStatistics:
    """One split's statistics: the first data set of a list, or the data set itself."""
    if isinstance(statistics, statistics_pb2.DatasetFeatureStatisticsList):
        return statistics.datasets[0] if statistics.datasets else statistics_pb2.DatasetFeatureStatistics()
    return statistics


def value_counts(statistics: Any) -> dict[str, tuple[dict[str, float], float, float]]:
    """Feature -> (value -> count, values in all, the most a value left out of the counts can have).

    The counts are the ``rank_histogram``'s (or the ``top_values``') of each feature with string statistics;
    the last number is 0 when every distinct value is counted, else the smallest count listed.
    """
    counts = {}
    for feature in _dataset(statistics).features:
        if not feature.HasField("string_stats"):
            continue
        stats = feature.string_stats
        if stats.rank_histogram.buckets:
            listed = {b.label: float(b.sample_count) for b in stats.rank_histogram.buckets}
        else:
            listed = {t.value: float(t.frequency) for t in stats.top_values}
        left_out = min(listed.values()) if listed and stats.unique > len(listed) else 0.0
        name = ".".join(feature.path.step) or feature.name
        counts[name] = (listed, float(stats.common_stats.tot_num_values), left_out)
    return counts


def vanished_values(
    new_stats: Any,
    old_stats: Any,
    schema: schema_pb2.Schema,
    min_share: float = DEFAULT_MIN_SHARE,
    min_expected: float = MIN_EXPECTED,
    max_observed_ratio: float = MAX_OBSERVED_RATIO,
) -> list[tuple[str, str, str]]:
    """(feature, short description, detail) for each categorical feature with a value that disappeared.

    Args:
        new_stats: the new span's statistics of one split (a ``DatasetFeatureStatisticsList`` or one data set).
        old_stats: the baseline's statistics of the same split.
        schema: the curated schema (which features are categorical, ``min_value_share`` tags).
        min_share: the least baseline share of a value that counts (a feature's tag overrides it).
        min_expected: the least count the new span should hold for its absence to mean something.
        max_observed_ratio: a value vanished when it holds at most this share of its expected count.
    """
    new_counts, old_counts = value_counts(new_stats), value_counts(old_stats)
    found = []
    for feature in categorical_features(schema):
        if feature.name not in new_counts or feature.name not in old_counts:
            continue
        old_listed, old_total, _ = old_counts[feature.name]
        new_listed, new_total, new_left_out = new_counts[feature.name]
        if not old_total or not new_total:
            continue
        least = tag_value(feature, MIN_SHARE_TAG)
        least = min_share if least is None else least
        gone = []
        for value, old_count in sorted(old_listed.items(), key=lambda item: -item[1]):
            share = old_count / old_total
            expected = share * new_total
            observed = new_listed.get(value, new_left_out)  # not listed: at most the smallest count listed
            if share >= least and expected >= min_expected and observed <= max_observed_ratio * expected:
                bound = "" if value in new_listed or not new_left_out else "at most "
                gone.append(
                    f"Value {value!r} held {share:.1%} of the baseline's values ({old_count:.0f} of {old_total:.0f}) "
                    f"and holds {bound}{observed / new_total:.1%} now ({bound}{observed:.0f} of {new_total:.0f}, "
                    f"{expected:.0f} expected)"
                )
        if gone:
            found.append(
                (
                    feature.name,
                    SHORT_DESCRIPTION,
                    f"{'; '.join(gone)}. Rows of a category do not vanish in a day by chance: an export or a filter "
                    "upstream probably dropped or renamed them, and a model trained on this span would learn nothing "
                    "of the rows it will still be asked about. Restore the value in the export and deliver the span "
                    "again; if it is gone for good, retrain with validation.allow_anomalies=true and remove it from "
                    "the feature's domain in the curated schema (a value that may come and go: raise annotation "
                    f'{{ tag: "{MIN_SHARE_TAG}: ..." }} above its share).',
                )
            )
    return found
