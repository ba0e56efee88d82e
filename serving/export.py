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

from collections.abc import Callable, Mapping, Sequence

import tensorflow as tf
import tensorflow_transform as tft
import tf_keras as keras

EXAMPLE_SIGNATURE = "serving_default"
RAW_SIGNATURE = "serving_raw"

RawToFeatures = Callable[[Mapping[str, tf.Tensor]], dict[str, tf.Tensor]]
PostProcess = Callable[[Mapping[str, tf.Tensor]], dict[str, tf.Tensor]]


def classification_outputs(probabilities: tf.Tensor, class_names: Sequence[str] | None = None) -> dict[str, tf.Tensor]:
    """Readable outputs of a softmax head: probabilities, predicted class id and, if known, name."""
    class_ids = tf.argmax(probabilities, axis=-1, output_type=tf.int64)
    outputs = {"probabilities": probabilities, "class_ids": class_ids}
    if class_names:
        outputs["class_names"] = tf.gather(tf.constant(list(class_names)), class_ids)
    return outputs


def export_model(
    model: keras.Model,
    tf_transform_output: tft.TFTransformOutput,
    serving_dir: str,
    inputs: Mapping[str, str],
    label_keys: Sequence[str],
    raw_signature: Mapping[str, tf.TensorSpec],
    raw_to_features: RawToFeatures,
    postprocess: PostProcess,
) -> None:
    """Save ``model`` with the Transform graph and both signatures.

    Args:
        model: the trained Keras model.
        tf_transform_output: the Transform output whose graph becomes part of the model.
        serving_dir: where to write the SavedModel (the Trainer's ``serving_model_dir``).
        inputs: model input name -> transformed feature key.
        label_keys: raw label keys, not expected at serving time.
        raw_signature: name -> TensorSpec of the ``serving_raw`` signature's inputs.
        raw_to_features: maps those raw tensors to the raw feature dict the Transform graph takes.
        postprocess: maps the model's output dict (keyed by output name) to the signature's outputs.
    """
    model.tft_layer = tf_transform_output.transform_features_layer()  # tracked, so saved with the model
    raw_spec = {k: v for k, v in tf_transform_output.raw_feature_spec().items() if k not in set(label_keys)}

    def predict(raw_features: Mapping[str, tf.Tensor]) -> dict[str, tf.Tensor]:
        transformed = model.tft_layer(dict(raw_features))
        outputs = model({name: transformed[key] for name, key in inputs.items()}, training=False)
        if not isinstance(outputs, dict):
            outputs = {model.output_names[0]: outputs}
        return postprocess(outputs)

    @tf.function(input_signature=[tf.TensorSpec(shape=[None], dtype=tf.string, name="examples")])
    def serve_examples(serialized: tf.Tensor) -> dict[str, tf.Tensor]:
        return predict(tf.io.parse_example(serialized, raw_spec))

    names = sorted(raw_signature)

    def serve_raw(*tensors: tf.Tensor) -> dict[str, tf.Tensor]:
        return predict(raw_to_features(dict(zip(names, tensors, strict=True))))

    raw_fn = tf.function(
        serve_raw,
        input_signature=[
            tf.TensorSpec(shape=raw_signature[n].shape, dtype=raw_signature[n].dtype, name=n) for n in names
        ],
    )
    model.save(
        serving_dir,
        save_format="tf",
        signatures={
            EXAMPLE_SIGNATURE: serve_examples.get_concrete_function(),
            RAW_SIGNATURE: raw_fn.get_concrete_function(),
        },
    )
