"""Names shared by the training side (export, Trainer, Pusher) and the serving side (server, clients).

A SavedModel exported by this project has these signatures, all running the same Transform graph:

* ``serving_default``: serialized ``tf.train.Example`` under ``examples`` (what TFMA and batch jobs use);
* ``serving_raw``: natural tensors (uint8 images, strings), what a client that has pixels or text sends;
* ``classification`` / ``regression``: TF Serving's Classify and Regress APIs (input ``inputs``);
* ``transform_features`` (tasks whose labels need the Transform graph): examples -> transformed labels.

Readable outputs of a classification head are ``[<head>_]probabilities``, ``[<head>_]class_ids`` and
``[<head>_]class_names``; the clients format any output group that follows this convention.
"""

from __future__ import annotations

EXAMPLE_SIGNATURE = "serving_default"
RAW_SIGNATURE = "serving_raw"
TRANSFORM_SIGNATURE = "transform_features"
CLASSIFY_SIGNATURE = "classification"
REGRESS_SIGNATURE = "regression"

# SignatureDef method names (TF Serving refuses Classify/Regress on predict signatures).
PREDICT_METHOD_NAME = "tensorflow/serving/predict"
CLASSIFY_METHOD_NAME = "tensorflow/serving/classify"
REGRESS_METHOD_NAME = "tensorflow/serving/regress"

EXAMPLES_INPUT = "examples"  # serving_default's input: serialized tf.Examples
INFERENCE_INPUT = "inputs"  # classification/regression input, as TF Serving requires

# What stands for a missing value in a ``serving_raw`` input, per dtype: a client of TF Serving cannot
# leave a key out of a row or send JSON ``null`` for a number, so an optional column's missing value is
# sent as this marker (the development server's REST API also reads ``null`` as it). A required column
# refuses its marker (INVALID_ARGUMENT naming the column).
MISSING_INT = -(2**63)  # int64's minimum
MISSING_FLOAT = float("nan")
MISSING_TEXT = ""

PROBABILITIES = "probabilities"
CLASS_IDS = "class_ids"
CLASS_NAMES = "class_names"


def classification_output_dtypes(prefix: str = "", with_class_names: bool = True) -> dict[str, str]:
    """The readable outputs of a softmax head as clients read them: name -> dtype (the contract's entries)."""
    names = {f"{prefix}{PROBABILITIES}": "float32", f"{prefix}{CLASS_IDS}": "int64"}
    return {**names, f"{prefix}{CLASS_NAMES}": "string"} if with_class_names else names


# Keys of the Trainer's and Transform's custom_config: the task and its whole configuration (JSON).
TASK_KEY = "task"
CONFIG_KEY = "config"

# TF Serving's warmup file, inside a SavedModel: a TFRecord of PredictionLog protos replayed at load.
WARMUP_FILE = "assets.extra/tf_serving_warmup_requests"
MAX_WARMUP_RECORDS = 1000
# How ``serving_default`` (and Classify, Regress) parse each tf.Example, written at export as JSON:
# feature -> {"kind": "fixed" | "var", "dtype", "shape", "default"}. TF Serving ignores it; the serving
# contract in the docs is generated from it and the SignatureDefs.
EXAMPLE_FEATURES_FILE = "assets.extra/example_features.json"
# What the task promises of the model, written at export as JSON: {"outputs": {signature: {output: dtype}},
# "max_latency_ms": budget}. Infra validation run by hand on the folder judges what the pipeline's judges.
SERVING_PROMISE_FILE = "assets.extra/serving_promise.json"

# Optional TensorFlow Lite model beside the SavedModel (``export.tflite``): the ``serving_raw`` inputs
# that need no string ops (uint8 images) in, probabilities and class ids out. TF Serving ignores it.
TFLITE_FILE = "model.tflite"

# Where the Tuner writes its report (trials' curves and table), inside its tuner_results artifact.
TUNING_REPORT_DIR = "report"
