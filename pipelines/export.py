"""Export a trained Keras model as a SavedModel whose signatures all run the Transform graph.

The signatures and their names are in ``common/contract.py``; what each one takes and returns is
the task's :class:`pipelines.spec.ServingContract`. ``serving_default`` and ``serving_raw`` go
through the *same* Transform layer, so training and serving preprocessing cannot drift apart.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from typing import Any

import tensorflow as tf
import tensorflow_transform as tft
import tf_keras as keras

from common.contract import (
    CLASSIFY_METHOD_NAME,
    CLASSIFY_SIGNATURE,
    EXAMPLE_FEATURES_FILE,
    EXAMPLE_SIGNATURE,
    EXAMPLES_INPUT,
    INFERENCE_INPUT,
    RAW_SIGNATURE,
    REGRESS_METHOD_NAME,
    REGRESS_SIGNATURE,
    SERVING_PROMISE_FILE,
    TRANSFORM_SIGNATURE,
)
from pipelines.spec import ServingContract


def dense(value: tf.Tensor | tf.SparseTensor) -> tf.Tensor:
    """A dense tensor (multi-hot features are stored sparse)."""
    return tf.sparse.to_dense(value) if isinstance(value, tf.SparseTensor) else value


def _example_features(contract: ServingContract, tf_transform_output: tft.TFTransformOutput) -> dict[str, Any]:
    """How ``serving_default`` parses examples: the contract's own specs, or the schema's for the named features."""
    if isinstance(contract.example_features, Mapping):
        return dict(contract.example_features)
    raw_spec = tf_transform_output.raw_feature_spec()
    missing = sorted(set(contract.example_features) - set(raw_spec))
    if missing:
        raise ValueError(f"raw features {missing} are not in the schema; it has {sorted(raw_spec)}")
    return {key: raw_spec[key] for key in contract.example_features}


def export_model(
    model: keras.Model,
    tf_transform_output: tft.TFTransformOutput,
    serving_dir: str,
    inputs: Mapping[str, str],
    contract: ServingContract,
    max_latency_ms: float | None = None,
) -> None:
    """Save ``model`` with the Transform graph and the contract's signatures into ``serving_dir``.

    Args:
        model: the trained Keras model.
        tf_transform_output: the Transform output whose graph becomes part of the model.
        serving_dir: where to write the SavedModel (the Trainer's ``serving_model_dir``).
        inputs: model input name -> transformed feature key (sparse features are densified).
        contract: the task's serving signatures.
        max_latency_ms: the task's latency budget, kept with its output contract (``SERVING_PROMISE_FILE``).
    """
    model.tft_layer = tf_transform_output.transform_features_layer()  # tracked, so saved with the model
    example_spec = _example_features(contract, tf_transform_output)

    def model_outputs(raw_features: Mapping[str, tf.Tensor]) -> dict[str, tf.Tensor]:
        transformed = model.tft_layer(dict(raw_features))
        outputs = model({name: dense(transformed[key]) for name, key in inputs.items()}, training=False)
        if isinstance(outputs, (list, tuple)):
            outputs = dict(zip(model.output_names, outputs, strict=True))
        elif not isinstance(outputs, dict):
            outputs = {model.output_names[0]: outputs}
        return outputs

    def parse(serialized: tf.Tensor) -> dict[str, tf.Tensor]:
        return tf.io.parse_example(serialized, example_spec)

    examples_spec = tf.TensorSpec(shape=[None], dtype=tf.string, name=EXAMPLES_INPUT)
    inference_spec = tf.TensorSpec(shape=[None], dtype=tf.string, name=INFERENCE_INPUT)

    @tf.function(input_signature=[examples_spec])
    def serve_examples(serialized: tf.Tensor) -> dict[str, tf.Tensor]:
        return (contract.example_outputs or contract.outputs)(model_outputs(parse(serialized)))

    names = sorted(contract.raw_inputs)

    def serve_raw(*tensors: tf.Tensor) -> dict[str, tf.Tensor]:
        return contract.outputs(model_outputs(contract.raw_to_features(dict(zip(names, tensors, strict=True)))))

    raw_fn = tf.function(
        serve_raw,
        input_signature=[
            tf.TensorSpec(shape=contract.raw_inputs[n].shape, dtype=contract.raw_inputs[n].dtype, name=n) for n in names
        ],
    )
    signatures = {
        EXAMPLE_SIGNATURE: serve_examples.get_concrete_function(),
        RAW_SIGNATURE: raw_fn.get_concrete_function(),
    }
    if contract.transformed_labels:
        full_spec = tf_transform_output.raw_feature_spec()
        label_keys = list(contract.transformed_labels)

        @tf.function(input_signature=[examples_spec])
        def transform_features(serialized: tf.Tensor) -> dict[str, tf.Tensor]:
            transformed = model.tft_layer(tf.io.parse_example(serialized, full_spec))
            return {key: dense(transformed[key]) for key in label_keys}

        signatures[TRANSFORM_SIGNATURE] = transform_features.get_concrete_function()
    method_names = {}
    if contract.classify:
        output_name, class_names = contract.classify

        @tf.function(input_signature=[inference_spec])
        def classification(serialized: tf.Tensor) -> dict[str, tf.Tensor]:
            scores = model_outputs(parse(serialized))[output_name]
            classes = tf.tile(tf.constant([list(class_names)]), [tf.shape(scores)[0], 1])
            return {"classes": classes, "scores": scores}

        signatures[CLASSIFY_SIGNATURE] = classification.get_concrete_function()
        method_names[CLASSIFY_SIGNATURE] = CLASSIFY_METHOD_NAME
    if contract.regress:
        regress_output = contract.regress

        @tf.function(input_signature=[inference_spec])
        def regression(serialized: tf.Tensor) -> dict[str, tf.Tensor]:
            return {"outputs": tf.reshape(model_outputs(parse(serialized))[regress_output], [-1])}

        signatures[REGRESS_SIGNATURE] = regression.get_concrete_function()
        method_names[REGRESS_SIGNATURE] = REGRESS_METHOD_NAME
    model.save(serving_dir, save_format="tf", signatures=signatures, save_traces=False)
    if method_names:
        set_signature_method_names(serving_dir, method_names)
    write_example_features(serving_dir, example_spec)
    promise = {"outputs": contract.output_contract(), "max_latency_ms": max_latency_ms}
    with tf.io.gfile.GFile(os.path.join(serving_dir, SERVING_PROMISE_FILE), "w") as f:
        json.dump(promise, f, indent=1, sort_keys=True)


def write_example_features(saved_model_dir: str, spec: Mapping[str, Any]) -> None:
    """Record how ``serving_default`` parses a tf.Example (``EXAMPLE_FEATURES_FILE``), for the serving contract."""
    described = {}
    for name, feature in sorted(spec.items()):
        entry: dict[str, Any] = {"dtype": feature.dtype.name}
        if isinstance(feature, tf.io.FixedLenFeature):
            default = feature.default_value
            if isinstance(default, bytes):
                default = default.decode("utf-8", "replace")
            elif hasattr(default, "tolist"):
                default = default.tolist()
            entry.update(kind="fixed", shape=list(feature.shape), default=default)
        else:
            entry["kind"] = "var"
        described[name] = entry
    path = os.path.join(saved_model_dir, EXAMPLE_FEATURES_FILE)
    tf.io.gfile.makedirs(os.path.dirname(path))
    with tf.io.gfile.GFile(path, "w") as f:
        json.dump(described, f, indent=1)


def write_tflite(function: Any, model: keras.Model, path: str) -> int:
    """Convert ``function`` (a ``tf.function`` with an input signature) to TensorFlow Lite at ``path``.

    Float32 weights, TFLite builtin ops only (no quantization: its answers must equal the
    SavedModel's). Returns the file's size in bytes.
    """
    converter = tf.lite.TFLiteConverter.from_concrete_functions([function.get_concrete_function()], model)
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    flatbuffer = converter.convert()
    with tf.io.gfile.GFile(path, "wb") as f:
        f.write(flatbuffer)
    return len(flatbuffer)


def set_signature_method_names(saved_model_dir: str, method_names: Mapping[str, str]) -> None:
    """Set ``method_name`` of signatures in ``saved_model.pb``.

    TF 2 saves every signature as a Predict signature; TF Serving's Classify and Regress refuse
    those. Loading in TF 2 ignores ``method_name``, so rewriting it changes nothing else.
    """
    from tensorflow.core.protobuf import saved_model_pb2

    path = os.path.join(saved_model_dir, "saved_model.pb")
    saved_model = saved_model_pb2.SavedModel()
    with tf.io.gfile.GFile(path, "rb") as f:
        saved_model.ParseFromString(f.read())
    for meta_graph in saved_model.meta_graphs:
        for name, method in method_names.items():
            meta_graph.signature_def[name].method_name = method
    with tf.io.gfile.GFile(path, "wb") as f:
        f.write(saved_model.SerializeToString(deterministic=True))


def classification_outputs(probabilities: tf.Tensor, class_names: Any = None, prefix: str = "") -> dict[str, tf.Tensor]:
    """Readable outputs of a softmax head: ``[prefix]probabilities``, ``class_ids`` and ``class_names``."""
    from common.contract import CLASS_IDS, CLASS_NAMES, PROBABILITIES

    class_ids = tf.argmax(probabilities, axis=-1, output_type=tf.int64)
    outputs = {f"{prefix}{PROBABILITIES}": probabilities, f"{prefix}{CLASS_IDS}": class_ids}
    if class_names is not None:
        outputs[f"{prefix}{CLASS_NAMES}"] = tf.gather(tf.constant(list(class_names)), class_ids)
    return outputs
