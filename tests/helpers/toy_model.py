"""A tiny SavedModel with every kind of signature the server handles, for the serving tests.

Its answers depend on its version (``scale``), so a test can tell which version served it.
Written through a staging folder and a rename, like ``AtomicPusher``.
"""

from __future__ import annotations

import os
import shutil

import tensorflow as tf

from common.contract import CLASSIFY_METHOD_NAME, CLASSIFY_SIGNATURE, REGRESS_METHOD_NAME, REGRESS_SIGNATURE
from pipelines.export import set_signature_method_names, write_example_features

TOY_CLASSES = ("low", "high")
_FEATURE_SPEC = {"x": tf.io.FixedLenFeature([2], tf.float32, default_value=[0.0, 0.0])}


class _Toy(tf.Module):
    def __init__(self, scale: float) -> None:
        super().__init__()
        self.scale = tf.Variable(scale, dtype=tf.float32)

    def _scores(self, x: tf.Tensor) -> tf.Tensor:
        total = tf.reduce_sum(x, axis=-1) * self.scale
        return tf.stack([1.0 / (1.0 + tf.exp(total)), 1.0 / (1.0 + tf.exp(-total))], axis=-1)

    @tf.function(input_signature=[tf.TensorSpec([None, 2], tf.float32, name="x")])
    def raw(self, x: tf.Tensor) -> dict[str, tf.Tensor]:
        return {"y": tf.reduce_sum(x, axis=-1) * self.scale, "scores": self._scores(x)}

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="examples")])
    def examples(self, serialized: tf.Tensor) -> dict[str, tf.Tensor]:
        x = tf.io.parse_example(serialized, _FEATURE_SPEC)["x"]
        return {"y": tf.reduce_sum(x, axis=-1) * self.scale}

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="inputs")])
    def classify(self, serialized: tf.Tensor) -> dict[str, tf.Tensor]:
        scores = self._scores(tf.io.parse_example(serialized, _FEATURE_SPEC)["x"])
        return {"classes": tf.tile(tf.constant([list(TOY_CLASSES)]), [tf.shape(scores)[0], 1]), "scores": scores}

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="inputs")])
    def regress(self, serialized: tf.Tensor) -> dict[str, tf.Tensor]:
        x = tf.io.parse_example(serialized, _FEATURE_SPEC)["x"]
        return {"outputs": tf.reduce_sum(x, axis=-1) * self.scale}


def write_toy_model(model_root: str, version: int, scale: float | None = None) -> str:
    """Write version ``version`` (``y = scale * sum(x)``, default scale = version) atomically."""
    module = _Toy(float(version if scale is None else scale))
    final = os.path.join(model_root, str(version))
    staging = os.path.join(model_root, f".staging-{version}")
    shutil.rmtree(staging, ignore_errors=True)
    tf.saved_model.save(
        module,
        staging,
        signatures={
            "serving_default": module.examples.get_concrete_function(),
            "serving_raw": module.raw.get_concrete_function(),
            CLASSIFY_SIGNATURE: module.classify.get_concrete_function(),
            REGRESS_SIGNATURE: module.regress.get_concrete_function(),
        },
    )
    methods = {CLASSIFY_SIGNATURE: CLASSIFY_METHOD_NAME, REGRESS_SIGNATURE: REGRESS_METHOD_NAME}
    set_signature_method_names(staging, methods)
    write_example_features(staging, _FEATURE_SPEC)
    os.rename(staging, final)
    return final


def toy_example(x0: float, x1: float) -> tf.train.Example:
    """A tf.Example with the toy model's feature ``x``."""
    return tf.train.Example(
        features=tf.train.Features(feature={"x": tf.train.Feature(float_list=tf.train.FloatList(value=[x0, x1]))})
    )
