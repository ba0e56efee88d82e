"""Close the loop: what the served model was asked, compared with the data it was trained on (training-serving skew).

``tfx-keras monitor TASK --requests DIR`` reads the request log the server wrote (TF Serving's
``PredictionLog`` TFRecords, :mod:`serving.request_log`), turns every logged request into
tf.Examples in the task's serving schema, and compares them, per model version that answered, with
the validated statistics of the newest span that version was trained on (found in the pipeline's
ML Metadata: PushedModel -> blessing -> Model -> Trainer -> Transform -> Examples -> DataValidator):

* TFDV's skew comparators (``skew_comparator`` of the curated schema; a feature with none is compared
  with its ``drift_comparator``'s measure and threshold), on every feature the SERVING environment has;
* the schema in the SERVING environment (a value never seen, a missing required feature, a wrong type);
* the content checks of the DataValidator for images and texts (pixels, lengths, new words).

With ``--agreement VERSION`` (a canary, a candidate's folder) it also runs the logged requests
through that model and the one that answered them, and says how often they agree: yesterday's
traffic for a candidate-vs-baseline check where no label is known (:mod:`pipelines.agreement`).

It writes a data report like the DataValidator's and prints one line per skewed feature. A
logged request becomes examples whatever its API: ``serving_default``'s serialized tf.Examples and
Classify/Regress example lists as they are; raw tensors (``serving_raw``) one example per row, the
features named as the inputs, an image array encoded as PNG.
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

import numpy as np

from common.contract import EXAMPLE_FEATURES_FILE, EXAMPLES_INPUT
from common.layout import MONITOR_DIR, ROLLED_BACK_DIR
from common.metadata_names import VALIDATOR_ID
from common.settings import ConfigError
from pipelines.agreement import Agreement, agreement

SERVING_ENVIRONMENT = "SERVING"


@dataclasses.dataclass
class VersionSkew:
    """The skew found in the requests one model version answered."""

    model: str
    version: int
    requests: int
    examples: int
    baseline: str  # e.g. "span 3 (the training data of version 1796...)"
    skewed: list[Any]  # components.data_validator.anomalies.Drift above their thresholds
    measured: list[Any]  # every skew measurement
    anomalies: list[Any]  # schema and content anomalies of the requests
    report: str
    agreement: Agreement | None = None  # with --agreement: the other model's answers against this version's

    @property
    def found(self) -> bool:
        """Whether anything was found (the command exits 3): skew, or a candidate that disagrees too often."""
        return bool(self.skewed or self.anomalies) or (self.agreement is not None and not self.agreement.agrees)


def _model_dir(serving_root: str, model: str, version: int) -> str | None:
    for folder in (os.path.join(serving_root, model), os.path.join(serving_root, ROLLED_BACK_DIR, model)):
        path = os.path.join(folder, str(version))
        if os.path.isdir(path):
            return path
    return None


def _feature(values: np.ndarray, kind: str) -> Any:
    import tensorflow as tf

    flat = values.reshape(-1)
    if kind == "string" or flat.dtype.kind in "OSU":
        items = [v if isinstance(v, bytes) else str(v).encode() for v in flat.tolist()]
        return tf.train.Feature(bytes_list=tf.train.BytesList(value=items))
    if flat.dtype.kind in "iub":
        return tf.train.Feature(int64_list=tf.train.Int64List(value=flat.astype(np.int64).tolist()))
    return tf.train.Feature(float_list=tf.train.FloatList(value=flat.astype(np.float32).tolist()))


def raw_examples(inputs: dict[str, np.ndarray], features: dict[str, dict[str, Any]]) -> list[bytes]:
    """One serialized tf.Example per row of raw input tensors; an image (uint8, H x W (x C)) becomes PNG bytes."""
    import tensorflow as tf

    rows = max((len(a) for a in inputs.values() if a.ndim), default=1)
    examples = []
    for i in range(rows):
        example = tf.train.Example()
        for name, array in inputs.items():
            value = array[i] if array.ndim else array
            kind = features.get(name, {}).get("dtype", "")
            if array.dtype == np.uint8 and value.ndim in (2, 3) and kind == "string":
                image = value if value.ndim == 3 else value[..., None]
                value = np.array([tf.io.encode_png(image).numpy()], dtype=object)
            example.features.feature[name].CopyFrom(_feature(np.asarray(value), kind))
        examples.append(example.SerializeToString())
    return examples


def logged_examples(
    logs: Sequence[Any], model: str, serving_root: str
) -> tuple[dict[int, list[bytes]], dict[int, int]]:
    """(version -> serialized examples, version -> requests) of the logged requests of ``model``."""
    from serving.tensors import to_array

    examples: dict[int, list[bytes]] = defaultdict(list)
    requests: dict[int, int] = defaultdict(int)
    features_of: dict[int, dict[str, dict[str, Any]]] = {}
    for record in logs:
        spec = record.log_metadata.model_spec
        if spec.name != model:
            continue
        version = spec.version.value
        requests[version] += 1
        kind = record.WhichOneof("log_type")
        if kind in ("classify_log", "regress_log"):
            listed = getattr(record, kind).request.input.example_list.examples
            examples[version] += [e.SerializeToString() for e in listed]
            continue
        if kind != "predict_log":
            continue
        inputs = {name: to_array(proto) for name, proto in record.predict_log.request.inputs.items()}
        if set(inputs) == {EXAMPLES_INPUT}:
            examples[version] += [bytes(v) for v in inputs[EXAMPLES_INPUT].reshape(-1)]
            continue
        if version not in features_of:
            folder = _model_dir(serving_root, model, version)
            path = os.path.join(folder, EXAMPLE_FEATURES_FILE) if folder else ""
            features_of[version] = json.load(open(path, encoding="utf-8")) if os.path.isfile(path) else {}
        examples[version] += raw_examples(inputs, features_of[version])
    return dict(examples), dict(requests)


def training_statistics(store: Any, pipeline: str, version: int) -> tuple[Any, str]:
    """The validated statistics artifact of the newest span that ``version`` was trained on, and its name.

    Raises:
        ConfigError: ML Metadata holds no push of that version, or no validated statistics of its data.
    """
    from components import lineage
    from pipelines.rollback import pushed_models

    pushes = pushed_models(store, pipeline, {version})
    if version not in pushes:
        raise ConfigError(
            f"ML Metadata holds no push of {pipeline} version {version}: give the --output-dir (or --metadata) "
            "of the runs that pushed it"
        )
    trained = {a.id for a in lineage.trained_examples(store, pushes[version][0])}
    validated = lineage.node_examples(store, pipeline, VALIDATOR_ID, "ExampleStatistics")
    behind = lineage.examples_behind(store, validated)
    found = [a for a in validated if behind.get(a.id, set()) & trained]
    if not found:
        raise ConfigError(f"no validated statistics of the data {pipeline} version {version} was trained on")
    chosen = max(found, key=lambda a: (lineage.span_of(a) or 0, a.id))
    return chosen, f"span {lineage.span_of(chosen)} (the training data of version {version})"


def skew_schema(curated: Any) -> Any:
    """The curated schema with a skew comparator on every feature the SERVING environment has.

    A feature's own ``skew_comparator`` is kept; one without takes its ``drift_comparator``; a
    feature not in SERVING (the label) has none.
    """
    from tensorflow_metadata.proto.v0 import schema_pb2

    schema = schema_pb2.Schema()
    schema.CopyFrom(curated)
    for feature in schema.feature:
        if SERVING_ENVIRONMENT in feature.not_in_environment:
            feature.ClearField("skew_comparator")
        elif not feature.HasField("skew_comparator") and feature.HasField("drift_comparator"):
            feature.skew_comparator.CopyFrom(feature.drift_comparator)
    return schema


def request_statistics(examples: Sequence[bytes], schema: Any) -> Any:
    """TFDV statistics of serialized examples, computed in memory (no Beam job for a day's sample)."""
    import tensorflow_data_validation as tfdv
    from tensorflow_data_validation.statistics import stats_impl
    from tfx_bsl.coders import example_coder

    batch = example_coder.ExamplesToRecordBatchDecoder(schema.SerializeToString()).DecodeBatch(list(examples))
    options = tfdv.StatsOptions(schema=schema, infer_type_from_schema=True)
    return stats_impl.generate_statistics_in_memory(batch, options)


def monitor(
    pipeline: str,
    schema_file: str,
    requests_dir: str,
    serving_root: str,
    store: Any,
    out_dir: str,
    compare_with: str | None = None,
    min_agreement: float = 0.95,
) -> list[VersionSkew]:
    """Compare the logged requests of ``pipeline``'s model with its training data, per version; see the module.

    ``compare_with``: a version of the model (a number) or a SavedModel folder whose answers on the
    logged requests are compared with those of each version that answered them.

    Raises:
        ConfigError: no log files, no request for this model, or ML Metadata without the version's data.
    """
    import tensorflow_data_validation as tfdv

    from components.data_validator import content, report
    from components.data_validator.anomalies import Anomaly, guard_floats, list_anomalies, list_drift
    from serving.request_log import log_files, read_logs

    files = log_files(requests_dir)
    by_version, requests = logged_examples(read_logs(files), pipeline, serving_root)
    if not requests:
        raise ConfigError(f"the {len(files)} request log file(s) in {requests_dir} hold no request for {pipeline}")
    curated = tfdv.load_schema_text(schema_file)
    schema = content.schema_for_tfdv(guard_floats(skew_schema(curated)))
    kinds = content.content_features(curated)
    results = []
    for version in sorted(by_version):
        examples = by_version[version]
        artifact, named = training_statistics(store, pipeline, version)
        trained = tfdv.load_stats_binary(os.path.join(artifact.uri, "Split-train", "FeatureStats.pb"))
        served = request_statistics(examples, schema)
        result = tfdv.validate_statistics(trained, schema, serving_statistics=served)
        measured = list_drift(result, skew=True)
        skewed = [m for m in measured if m.exceeded]
        in_serving = tfdv.validate_statistics(served, schema, environment=SERVING_ENVIRONMENT)
        found = list_anomalies(in_serving, "requests", served)
        old_profiles = content.read_profile(os.path.join(artifact.uri, content.CONTENT_FILE)).get("train", {})
        profiles = content.profile(examples[: content.SAMPLE], kinds) if kinds else {}
        if profiles and old_profiles:
            for name, measure, value, threshold, why in content.content_drift(profiles, old_profiles, curated):
                if value > threshold:
                    found.append(Anomaly("requests", name, content.short_description(measure), why))
        folder = os.path.join(out_dir, MONITOR_DIR, pipeline, f"{version}-{time.strftime('%Y%m%dT%H%M%S')}")
        page = report.write_data_report(
            folder,
            {"requests": served},
            "requests",
            trained,
            measured,
            found,
            title=f"requests to {pipeline} version {version}",
            profiles={"requests": profiles} if profiles else None,
            old_profiles={"requests": old_profiles} if old_profiles else None,
            baseline=f"skew vs {named}",
            schema=curated,
        )
        with open(os.path.join(folder, "skew.json"), "w", encoding="utf-8") as f:
            json.dump({"model": pipeline, "version": version, "requests": requests[version],
                       "examples": len(examples), "baseline": named,
                       "measurements": [dataclasses.asdict(m) for m in measured],
                       "anomalies": [str(a) for a in found]}, f, indent=2)  # fmt: skip
        agreed = None
        if compare_with is not None:
            served_dir = _model_dir(serving_root, pipeline, version)
            other = _model_dir(serving_root, pipeline, int(compare_with)) if compare_with.isdigit() else compare_with
            if served_dir is None or other is None:
                raise ConfigError(
                    f"no folder of {pipeline} version {version if served_dir is None else compare_with} under "
                    f"{serving_root} (or its {ROLLED_BACK_DIR}/): give --model-base-path, or a model's folder"
                )
            agreed = agreement(examples, served_dir, other, min_agreement)
        results.append(VersionSkew(pipeline, version, requests[version], len(examples), named, skewed, measured,
                                   found, page, agreed))  # fmt: skip
    return results
