"""Export trained Keras models as SavedModels with two serving signatures.

* ``serving_default``: a batch of serialized ``tf.train.Example`` (raw
  features, as ExampleGen wrote them) -> Transform graph -> model. This is
  what TFMA, batch jobs and TF Serving's Classify/Regress-style clients use.
* ``serving_raw``: natural tensors (e.g. uint8 images) -> the same raw
  feature dict -> the same Transform graph -> model. This is what a gRPC
  client that has pixels or text sends.

Both go through the *same* Transform layer, so training and serving
preprocessing cannot drift apart.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import tensorflow as tf
import tensorflow_transform as tft
import tf_keras as keras

EXAMPLE_SIGNATURE = "serving_default"
RAW_SIGNATURE = "serving_raw"
TRANSFORM_SIGNATURE = "transform_features"
# TF Serving's Classify and Regress APIs need signatures with these names and method names.
CLASSIFY_SIGNATURE = "classification"
REGRESS_SIGNATURE = "regression"
CLASSIFY_METHOD_NAME = "tensorflow/serving/classify"
REGRESS_METHOD_NAME = "tensorflow/serving/regress"

RawToFeatures = Callable[[Mapping[str, tf.Tensor]], dict[str, tf.Tensor]]
PostProcess = Callable[[Mapping[str, tf.Tensor]], dict[str, tf.Tensor]]


def classification_outputs(probabilities: tf.Tensor, class_names: Sequence[str] | None = None) -> dict[str, tf.Tensor]:
    """Readable outputs of a softmax head: probabilities, predicted class id and, if known, name."""
    class_ids = tf.argmax(probabilities, axis=-1, output_type=tf.int64)
    outputs = {"probabilities": probabilities, "class_ids": class_ids}
    if class_names:
        outputs["class_names"] = tf.gather(tf.constant(list(class_names)), class_ids)
    return outputs


def raw_feature_subset(tf_transform_output: tft.TFTransformOutput, keys: Sequence[str]) -> dict[str, Any]:
    """The schema's parsing spec for ``keys`` only (labels and ids are not needed to serve)."""
    feature_spec = tf_transform_output.raw_feature_spec()
    missing = sorted(set(keys) - set(feature_spec))
    if missing:
        raise ValueError(f"raw features {missing} are not in the schema; it has {sorted(feature_spec)}")
    return {k: feature_spec[k] for k in keys}


def _dense(value: tf.Tensor | tf.SparseTensor) -> tf.Tensor:
    return tf.sparse.to_dense(value) if isinstance(value, tf.SparseTensor) else value


def export_model(
    model: keras.Model,
    tf_transform_output: tft.TFTransformOutput,
    serving_dir: str,
    inputs: Mapping[str, str],
    example_feature_spec: Mapping[str, Any],
    raw_signature: Mapping[str, tf.TensorSpec],
    raw_to_features: RawToFeatures,
    postprocess: PostProcess,
    example_postprocess: PostProcess | None = None,
    transformed_label_keys: Sequence[str] = (),
    classify: tuple[str, Sequence[str]] | None = None,
    regress: str | None = None,
) -> None:
    """Save ``model`` with the Transform graph and its serving signatures.

    Args:
        model: the trained Keras model.
        tf_transform_output: the Transform output whose graph becomes part of the model.
        serving_dir: where to write the SavedModel (the Trainer's ``serving_model_dir``).
        inputs: model input name -> transformed feature key (sparse features are densified).
        example_feature_spec: how ``serving_default`` parses a serialized example; give defaults
            here for features a client may leave out.
        raw_signature: name -> TensorSpec of the ``serving_raw`` signature's inputs.
        raw_to_features: maps those raw tensors to the raw feature dict the Transform graph takes.
        postprocess: maps the model's outputs (dict keyed by output name) to ``serving_raw``'s outputs.
        example_postprocess: the same for ``serving_default`` (default: ``postprocess``).
        transformed_label_keys: if given, also export ``transform_features``: serialized examples
            (with labels) -> these transformed features, which TFMA uses as labels.
        classify: ``(output name, class names)`` of a softmax head: also export ``classification``
            for TF Serving's Classify API (input ``inputs``: serialized examples; outputs ``classes``
            and ``scores``, ``[batch, num_classes]``).
        regress: name of a scalar output: also export ``regression`` for TF Serving's Regress API
            (input ``inputs``; output ``outputs``, ``[batch]``).
    """
    model.tft_layer = tf_transform_output.transform_features_layer()  # tracked, so saved with the model
    example_spec = dict(example_feature_spec)

    def model_outputs(raw_features: Mapping[str, tf.Tensor]) -> dict[str, tf.Tensor]:
        transformed = model.tft_layer(dict(raw_features))
        outputs = model({name: _dense(transformed[key]) for name, key in inputs.items()}, training=False)
        if isinstance(outputs, (list, tuple)):
            outputs = dict(zip(model.output_names, outputs, strict=True))
        elif not isinstance(outputs, dict):
            outputs = {model.output_names[0]: outputs}
        return outputs

    @tf.function(input_signature=[tf.TensorSpec(shape=[None], dtype=tf.string, name="examples")])
    def serve_examples(serialized: tf.Tensor) -> dict[str, tf.Tensor]:
        return (example_postprocess or postprocess)(model_outputs(tf.io.parse_example(serialized, example_spec)))

    names = sorted(raw_signature)

    def serve_raw(*tensors: tf.Tensor) -> dict[str, tf.Tensor]:
        return postprocess(model_outputs(raw_to_features(dict(zip(names, tensors, strict=True)))))

    raw_fn = tf.function(
        serve_raw,
        input_signature=[
            tf.TensorSpec(shape=raw_signature[n].shape, dtype=raw_signature[n].dtype, name=n) for n in names
        ],
    )
    signatures = {
        EXAMPLE_SIGNATURE: serve_examples.get_concrete_function(),
        RAW_SIGNATURE: raw_fn.get_concrete_function(),
    }
    if transformed_label_keys:
        full_spec = tf_transform_output.raw_feature_spec()

        @tf.function(input_signature=[tf.TensorSpec(shape=[None], dtype=tf.string, name="examples")])
        def transform_features(serialized: tf.Tensor) -> dict[str, tf.Tensor]:
            transformed = model.tft_layer(tf.io.parse_example(serialized, full_spec))
            return {key: _dense(transformed[key]) for key in transformed_label_keys}

        signatures[TRANSFORM_SIGNATURE] = transform_features.get_concrete_function()
    method_names = {}
    if classify:
        output_name, class_names = classify

        @tf.function(input_signature=[tf.TensorSpec(shape=[None], dtype=tf.string, name="inputs")])
        def classification(serialized: tf.Tensor) -> dict[str, tf.Tensor]:
            scores = model_outputs(tf.io.parse_example(serialized, example_spec))[output_name]
            classes = tf.tile(tf.constant([list(class_names)]), [tf.shape(scores)[0], 1])
            return {"classes": classes, "scores": scores}

        signatures[CLASSIFY_SIGNATURE] = classification.get_concrete_function()
        method_names[CLASSIFY_SIGNATURE] = CLASSIFY_METHOD_NAME
    if regress:

        @tf.function(input_signature=[tf.TensorSpec(shape=[None], dtype=tf.string, name="inputs")])
        def regression(serialized: tf.Tensor) -> dict[str, tf.Tensor]:
            value = model_outputs(tf.io.parse_example(serialized, example_spec))[regress]
            return {"outputs": tf.reshape(value, [-1])}

        signatures[REGRESS_SIGNATURE] = regression.get_concrete_function()
        method_names[REGRESS_SIGNATURE] = REGRESS_METHOD_NAME
    model.save(serving_dir, save_format="tf", signatures=signatures)
    if method_names:
        set_signature_method_names(serving_dir, method_names)


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
