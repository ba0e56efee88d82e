"""Content statistics TFDV's statistics do not give: what the images look like, which words the texts use.

TFDV summarises an image as bytes (its size), and a free text as whole strings (nearly all unique),
so an inverted scanner or a new vocabulary passes its checks. This module profiles a sample of each
split's examples (the first :data:`SAMPLE` records) and measures what a model would notice:

* **images** (features with an ``image_domain`` in the curated schema): the pixel mean and standard
  deviation on a 0..1 scale, a 16-bin intensity histogram, and how many images are a single colour.
  Blank images are an anomaly on any day (more than ``max_blank_share``, default 1%); the histogram's
  drift against the last validated span is the Jensen-Shannon divergence (base 2, 0..1) bounded by the
  feature's ``drift_comparator { jensen_shannon_divergence { threshold } }`` (TFDV itself would compare
  the raw bytes, so the comparator is taken off the schema TFDV sees).
* **texts** (features with a ``natural_language_domain``) and **categorical values** (other string
  features): the share of tokens (texts) or values that are new words: not in the last validated span's
  sample, and used often (at least 5 times in the sample; rarer words are the long tail every vocabulary
  has: names, typos). Bounded by the annotation tag ``max_unknown_share: 0.03``.
* **text lengths** (``natural_language_domain`` features): the tokens per text on fixed log-spaced bins
  (0, 1, 2, 3-4, 5-8, ... tokens) and their mean. Truncated or emptied texts are whole strings TFDV cannot
  tell from others, and few new words; their length histogram moves. The drift against the last validated
  span is the Jensen-Shannon divergence of the two histograms, bounded by the annotation tag
  ``max_length_jsd: 0.1`` (default :data:`DEFAULT_MAX_LENGTH_JSD` for every text).

The profile of validated data is kept with its statistics, so the next span is compared with it.
Profiles written before a measure existed lack it: that measure is skipped for them, not failed.

Long because the profile of each content kind and its comparison with the baseline's belong together:
what :func:`profile` records, :func:`content_drift` reads.
"""

from __future__ import annotations

import json
import math
import re
from collections import Counter
from collections.abc import Iterable
from typing import Any

import numpy as np
import tensorflow as tf
from tensorflow_metadata.proto.v0 import schema_pb2

CONTENT_FILE = "content_profile.json"
SAMPLE = 2000  # examples profiled per split: enough for shares to about +-1%, well under a second
HISTOGRAM_BINS = 16
MAX_VOCABULARY = 20000  # tokens kept per feature in a profile (the most frequent)
NEW_WORD_MIN_COUNT = 5  # a new word counts when the sample uses it this often (rarer: the long tail)
MAX_UNKNOWN_TAG = "max_unknown_share"
MAX_BLANK_TAG = "max_blank_share"
DEFAULT_MAX_BLANK = 0.01
UNKNOWN_MEASURE = "UNKNOWN_SHARE"
PIXEL_MEASURE = "PIXEL_HISTOGRAM_JSD"
TEXT_LENGTH_MEASURE = "TEXT_LENGTH_JSD"
MAX_LENGTH_TAG = "max_length_jsd"
# Measured with the ticket generator (10 days of tickets against day 1's; tests/test_content_checks.py measures it
# too): sampling noise at most 0.0031 (body) and 0.0013 (title) for 1,000 texts, 0.0009 and 0.0006 for 2,000; the
# product-line launch and the renamed keywords 0.001. 30% of the bodies truncated to 5 characters: 0.17 (mean 34.0
# -> 24.2 tokens, texts of at most 2 tokens 0% -> 30%); 10% truncated: 0.048, 5%: 0.025; 30% emptied by the
# broken export: 0.17. Texts of more varied lengths fill more bins: synthetic texts of 0 to thousands of tokens
# (14 bins) differ by 0.0051 on average between samples of 1,000 and 0.012 at most in 2,000 draws (2,000 texts:
# 0.0026 and 0.0074). 0.03 is 10x the generator's noise, 2.5x the widest synthetic noise, a sixth of the fault.
DEFAULT_MAX_LENGTH_JSD = 0.03
LENGTH_BINS = 16  # 0, 1, 2, 3-4, 5-8, ..., 4097-8192, more tokens: bin 1 + ceil(log2(tokens)) from 1 token
SHORT_TEXT_TOKENS = 2  # a text of at most this many tokens is "very short" in the explanation
_SHORT_DESCRIPTIONS = {
    UNKNOWN_MEASURE: "Unknown vocabulary",
    PIXEL_MEASURE: "Pixel drift",
    TEXT_LENGTH_MEASURE: "Text length drift",
}
_TOKEN = re.compile(r"[^\W_]+", re.UNICODE)


def tag_value(feature: schema_pb2.Feature, key: str) -> float | None:
    """The number of an annotation tag ``"<key>: <number>"`` (or ``<key>=<number>``) of a feature, if any."""
    for tag in feature.annotation.tag:
        name, sep, value = tag.replace("=", ":").partition(":")
        if sep and name.strip() == key:
            try:
                return float(value)
            except ValueError as error:
                raise ValueError(
                    f"feature {feature.name}: annotation tag {tag!r} needs a number after {key}"
                ) from error
    return None


def content_features(schema: schema_pb2.Schema) -> dict[str, str]:
    """Feature -> ``image``, ``text`` or ``categorical``: the features this module profiles."""
    kinds = {}
    for feature in schema.feature:
        domain = feature.WhichOneof("domain_info")
        if domain == "image_domain":
            kinds[feature.name] = "image"
        elif domain == "natural_language_domain":
            kinds[feature.name] = "text"
        elif feature.type == schema_pb2.BYTES and tag_value(feature, MAX_UNKNOWN_TAG) is not None:
            kinds[feature.name] = "categorical"
    return kinds


def schema_for_tfdv(schema: schema_pb2.Schema) -> schema_pb2.Schema:
    """The schema without the image features' drift comparators (measured here, on pixels, not on bytes)."""
    stripped = schema_pb2.Schema()
    stripped.CopyFrom(schema)
    for feature in stripped.feature:
        if feature.WhichOneof("domain_info") == "image_domain":
            feature.ClearField("drift_comparator")
    return stripped


def tokens(text: str) -> list[str]:
    """The lower-case words of a text (letters and digits; punctuation splits)."""
    return _TOKEN.findall(text.lower())


def short_description(measure: str) -> str:
    """The short label of an anomaly of a content measure (``Unknown vocabulary``, ``Pixel drift``, ...)."""
    return _SHORT_DESCRIPTIONS.get(measure, "Content drift")


def length_bin(count: int) -> int:
    """The bin of a text of ``count`` tokens: 0, 1, 2, 3-4, 5-8, ... (the last bin holds every longer text)."""
    return 0 if count <= 0 else min(1 + (count - 1).bit_length(), LENGTH_BINS - 1)


def length_bin_labels() -> list[str]:
    """The token counts of each bin of :func:`length_bin`, e.g. ``["0", "1", "2", "3-4", "5-8", ...]``."""
    labels = ["0", "1", "2"]
    for index in range(3, LENGTH_BINS - 1):
        labels.append(f"{2 ** (index - 2) + 1}-{2 ** (index - 1)}")
    return [*labels, f">{2 ** (LENGTH_BINS - 3)}"]


def _image_pixels(encoded: bytes) -> np.ndarray:
    return tf.io.decode_image(encoded, expand_animations=False).numpy()


def profile(examples: Iterable[bytes], kinds: dict[str, str]) -> dict[str, dict[str, Any]]:
    """The content profile of serialized ``tf.train.Example`` records, per feature of ``kinds``."""
    histograms = {name: np.zeros(HISTOGRAM_BINS) for name, kind in kinds.items() if kind == "image"}
    moments = {name: [0.0, 0.0, 0] for name in histograms}  # sum, sum of squares, pixels
    blank: Counter = Counter()
    images: Counter = Counter()
    sampled = 0
    counts: dict[str, Counter] = {name: Counter() for name, kind in kinds.items() if kind != "image"}
    lengths = {name: np.zeros(LENGTH_BINS, dtype=np.int64) for name, kind in kinds.items() if kind == "text"}
    for record in examples:
        example = tf.train.Example.FromString(record)
        sampled += 1
        for name, kind in kinds.items():
            feature = example.features.feature.get(name)
            values = list(feature.bytes_list.value) if feature is not None else []
            if kind == "image":
                for encoded in values:
                    pixels = _image_pixels(encoded).astype(np.float64)
                    flat = pixels.ravel()
                    histograms[name] += np.bincount(
                        np.minimum(flat // (256 / HISTOGRAM_BINS), HISTOGRAM_BINS - 1).astype(int),
                        minlength=HISTOGRAM_BINS,
                    )
                    scaled = flat / 255.0
                    moments[name][0] += scaled.sum()
                    moments[name][1] += np.square(scaled).sum()
                    moments[name][2] += scaled.size
                    images[name] += 1
                    blank[name] += int(flat.size == 0 or flat.min() == flat.max())
            elif kind == "text":
                for value in values:
                    words = tokens(value.decode("utf-8", "replace"))
                    counts[name].update(words)
                    lengths[name][length_bin(len(words))] += 1
            else:
                counts[name].update(value.decode("utf-8", "replace") for value in values)
    result: dict[str, dict[str, Any]] = {}
    for name, histogram in histograms.items():
        total, squares, size = moments[name]
        mean = total / size if size else 0.0
        result[name] = {
            "kind": "image",
            "images": images[name],
            "blank": blank[name],
            "mean": mean,
            "std": math.sqrt(max(squares / size - mean * mean, 0.0)) if size else 0.0,
            "histogram": (histogram / max(histogram.sum(), 1)).tolist(),
        }
    for name, counter in counts.items():
        result[name] = {
            "kind": kinds[name],
            "examples": sampled,
            "total": sum(counter.values()),
            "vocabulary": dict(counter.most_common(MAX_VOCABULARY)),
        }
        if name in lengths:
            texts = int(lengths[name].sum())
            result[name].update(
                {
                    "texts": texts,
                    "length_mean": result[name]["total"] / texts if texts else 0.0,
                    "lengths": lengths[name].tolist(),  # texts per bin of length_bin
                }
            )
    return result


def jensen_shannon(p: list[float], q: list[float]) -> float:
    """The Jensen-Shannon divergence of two histograms, base 2 (0: the same, 1: disjoint)."""
    a, b = np.asarray(p, dtype=float), np.asarray(q, dtype=float)
    a, b = a / max(a.sum(), 1e-12), b / max(b.sum(), 1e-12)
    m = (a + b) / 2

    def kl(x: np.ndarray) -> float:
        mask = x > 0
        return float(np.sum(x[mask] * np.log2(x[mask] / m[mask])))

    return max(0.0, (kl(a) + kl(b)) / 2)


def new_words(new: dict[str, Any], old: dict[str, Any]) -> dict[str, int]:
    """Token -> count of the new profile's words that the old one lacks and that are used often enough to count."""
    known = old["vocabulary"]
    return {t: c for t, c in new["vocabulary"].items() if c >= NEW_WORD_MIN_COUNT and t not in known}


def unknown_share(new: dict[str, Any], old: dict[str, Any]) -> float:
    """The share of the new tokens (or values) that are new words (see :func:`new_words`)."""
    return sum(new_words(new, old).values()) / new["total"] if new["total"] else 0.0


def short_share(entry: dict[str, Any]) -> float:
    """The share of a text profile's texts that are very short (at most :data:`SHORT_TEXT_TOKENS` tokens)."""
    lengths = entry["lengths"]
    return sum(lengths[: length_bin(SHORT_TEXT_TOKENS) + 1]) / max(sum(lengths), 1)


def length_drift(
    name: str, feature: schema_pb2.Feature, new: dict[str, Any], old: dict[str, Any]
) -> tuple[str, str, float, float, str] | None:
    """(feature, measure, value, threshold, explanation) of a text's tokens per text; None for older profiles.

    A profile written before the length histogram existed (no ``lengths``, or other bins), or one without texts,
    measures nothing.
    """
    if not new.get("texts") or not old.get("texts") or len(new.get("lengths", [])) != len(old.get("lengths", [])):
        return None
    threshold = tag_value(feature, MAX_LENGTH_TAG)
    threshold = DEFAULT_MAX_LENGTH_JSD if threshold is None else threshold
    value = jensen_shannon(new["lengths"], old["lengths"])
    why = (
        f"The number of tokens per text moved (Jensen-Shannon {value:.3f} "
        f"{'>' if value > threshold else '<='} {threshold:g}): {old['length_mean']:.1f} -> "
        f"{new['length_mean']:.1f} tokens per text on average, texts of at most {SHORT_TEXT_TOKENS} tokens "
        f"{short_share(old):.1%} -> {short_share(new):.1%}. Texts cut off or emptied on the way (a column width, "
        "an export or form that truncates); fix the export and deliver the span again. If the texts changed for "
        f"good, train on them with validation.allow_anomalies=true and raise {MAX_LENGTH_TAG} in the curated schema."
    )
    return name, TEXT_LENGTH_MEASURE, value, threshold, why


def blank_findings(profiles: dict[str, dict[str, Any]], schema: schema_pb2.Schema) -> list[tuple[str, str, str]]:
    """(feature, short, detail) for each image feature with too many single-colour images."""
    features = {f.name: f for f in schema.feature}
    found = []
    for name, entry in profiles.items():
        if entry["kind"] != "image" or not entry["images"]:
            continue
        limit = tag_value(features[name], MAX_BLANK_TAG) if name in features else None
        limit = DEFAULT_MAX_BLANK if limit is None else limit
        share = entry["blank"] / entry["images"]
        if share > limit:
            found.append(
                (
                    name,
                    "Blank images",
                    f"{entry['blank']} of {entry['images']} sampled images ({share:.1%}) are a single colour "
                    f"(pixel mean {entry['mean']:.3f}); at most {limit:.1%} may be. A broken camera, scanner or "
                    f'export; if blank images are legitimate, raise annotation {{ tag: "{MAX_BLANK_TAG}: ..." }}.',
                )
            )
    return found


def content_drift(
    new: dict[str, dict[str, Any]], old: dict[str, dict[str, Any]], schema: schema_pb2.Schema
) -> list[tuple[str, str, float, float, str]]:
    """(feature, measure, value, threshold, explanation) for each content measure the schema bounds.

    Images: pixel histogram (if the feature has a Jensen-Shannon comparator); texts: new words (if tagged
    ``max_unknown_share``) and tokens per text (always, unless an older profile lacks the histogram);
    other categorical values: new values.
    """
    features = {f.name: f for f in schema.feature}
    measured = []
    for name, entry in new.items():
        if name not in old or name not in features:
            continue
        feature = features[name]
        if entry["kind"] == "image":
            threshold = feature.drift_comparator.jensen_shannon_divergence.threshold
            if not feature.drift_comparator.HasField("jensen_shannon_divergence"):
                continue
            value = jensen_shannon(entry["histogram"], old[name]["histogram"])
            why = (
                f"The pixel intensity histogram moved (Jensen-Shannon {value:.3f} > {threshold:g}): pixel mean "
                f"{old[name]['mean']:.3f} -> {entry['mean']:.3f}, std {old[name]['std']:.3f} -> {entry['std']:.3f}. "
                "Inverted images, a new camera or a changed export; if the images changed for good, retrain on them "
                "and raise the threshold in the schema."
            )
            measured.append((name, PIXEL_MEASURE, value, threshold, why))
        else:
            if entry["kind"] == "text" and (length := length_drift(name, feature, entry, old[name])) is not None:
                measured.append(length)
            threshold = tag_value(feature, MAX_UNKNOWN_TAG)
            if threshold is None:
                continue
            value = unknown_share(entry, old[name])
            fresh = new_words(entry, old[name])
            unseen = sorted(fresh, key=lambda t: -fresh[t])[:5]
            unit = "tokens" if entry["kind"] == "text" else "values"
            why = (
                f"{value:.1%} of the {unit} are new words, not in the last validated span (at most {threshold:.1%}); "
                f"most frequent new: {', '.join(unseen) or '-'}. The model has not seen these words; if the "
                f"vocabulary changed for good, train on it with validation.allow_anomalies=true, or raise "
                f"{MAX_UNKNOWN_TAG} in the curated schema."
            )
            measured.append((name, UNKNOWN_MEASURE, value, threshold, why))
    return measured


def write_profile(path: str, profiles: dict[str, dict[str, dict[str, Any]]]) -> None:
    """Write the profiles (split -> feature -> profile) as JSON."""
    with tf.io.gfile.GFile(path, "w") as f:
        json.dump(profiles, f)


def read_profile(path: str) -> dict[str, dict[str, dict[str, Any]]]:
    """The profiles written by :func:`write_profile` ({} if there is no such file: older statistics)."""
    if not tf.io.gfile.exists(path):
        return {}
    with tf.io.gfile.GFile(path) as f:
        return json.load(f)
