"""A multi-input, multi-output model (Functional API): named inputs -> Concatenate -> shared features -> heads.

The shape of the Keras guide's ticket model: several multi-hot inputs (e.g. words of a title, words of
a body, tags) are concatenated into one vector, a shared Dense layer learns features from it, and
each output head (a regression or a classification) reads those features. More heads can be grown
from the shared features later (:func:`add_head`).

The same network written by subclassing is :class:`MultiInputModel`, its shared layer the hand-written
:class:`FeatureDense`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import tf_keras as keras

FEATURES_LAYER = "features"


def build_multi_input_model(
    inputs: Mapping[str, int],
    heads: Mapping[str, tuple[int, str]],
    hidden_units: int = 64,
    features_l1: float = 0.0,
    name: str = "multi_input_model",
) -> keras.Model:
    """Named inputs -> Concatenate -> Dense(``hidden_units``, relu) ``features`` -> one Dense head per output.

    Args:
        inputs: input name -> width (in this order; e.g. a vocabulary size for a multi-hot text).
        heads: output name -> (units, activation), e.g. ``{"priority": (1, "sigmoid")}``.
        hidden_units: width of the shared features layer.
        features_l1: L1 penalty on the features layer's kernel (0: none). With many sparse inputs of
            which a few carry the labels, it pushes the weights of the others to zero.
        name: the model's name.

    Returns:
        An uncompiled Keras 2 Functional model, its inputs and outputs named as given.
    """
    tensors = [keras.Input(shape=(width,), name=input_name) for input_name, width in inputs.items()]
    features = keras.layers.Concatenate(name="concatenate")(tensors)
    regularizer = keras.regularizers.L1(features_l1) if features_l1 > 0 else None
    features = keras.layers.Dense(hidden_units, activation="relu", kernel_regularizer=regularizer, name=FEATURES_LAYER)(
        features
    )
    outputs = [
        keras.layers.Dense(units, activation=activation, name=head)(features)
        for head, (units, activation) in heads.items()
    ]
    return keras.Model(inputs=tensors, outputs=outputs, name=name)


def add_head(model: keras.Model, name: str, units: int, activation: str = "softmax") -> keras.Model:
    """Grow a head from the shared ``features`` of a model built by :func:`build_multi_input_model`.

    The new model shares every layer (and weight) of ``model`` and adds one Dense layer: reuse the
    intermediate features instead of building a new model.
    """
    features = model.get_layer(FEATURES_LAYER).output
    head = keras.layers.Dense(units, activation=activation, name=name)(features)
    return keras.Model(
        inputs=model.inputs, outputs=[*model.outputs, head], name=f"{model.name}_{len(model.outputs) + 1}_heads"
    )


class FeatureDense(keras.layers.Layer):
    """A dense layer written by hand: ``build`` creates the weights, ``call`` computes.

    ``activation(inputs @ kernel + bias)``, with an optional L1 penalty on the kernel. It does what
    ``Dense(units, activation, kernel_regularizer=L1(l1))`` does, with the same initializers, so the
    subclassed ticket model below has the Functional model's parameters and quality.
    """

    def __init__(self, units: int, activation: str = "relu", l1: float = 0.0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.units = units
        self.activation = keras.activations.get(activation)
        self.l1 = l1

    def build(self, input_shape: Any) -> None:
        """Create ``kernel`` [input width, units] (Glorot uniform) and ``bias`` [units] (zeros)."""
        regularizer = keras.regularizers.L1(self.l1) if self.l1 > 0 else None
        self.kernel = self.add_weight(
            name="kernel",
            shape=(int(input_shape[-1]), self.units),
            initializer="glorot_uniform",
            regularizer=regularizer,
        )
        self.bias = self.add_weight(name="bias", shape=(self.units,), initializer="zeros")
        super().build(input_shape)

    def call(self, inputs: Any) -> Any:
        """``activation(inputs @ kernel + bias)``."""
        import tensorflow as tf

        return self.activation(tf.matmul(inputs, self.kernel) + self.bias)

    def get_config(self) -> dict[str, Any]:
        """What rebuilds the layer (saving without traces needs it)."""
        return {
            **super().get_config(),
            "units": self.units,
            "activation": keras.activations.serialize(self.activation),
            "l1": self.l1,
        }


class MultiInputModel(keras.Model):
    """Seed 003's ``CustomerTicketModel``, written by subclassing: the same network as :func:`build_multi_input_model`.

    ``__init__`` creates the layers; ``call`` takes a dict of named inputs and returns a dict of named
    outputs. The shared features layer is a :class:`FeatureDense`. Nothing about the network is
    known until it is called, so ``summary()`` shows no shapes and the diagram is one box.
    """

    def __init__(
        self,
        inputs: Mapping[str, int],
        heads: Mapping[str, tuple[int, str]],
        hidden_units: int = 64,
        features_l1: float = 0.0,
        name: str = "multi_input_model",
        **kwargs: Any,
    ) -> None:
        super().__init__(name=name, **kwargs)
        self.input_widths = dict(inputs)
        self.head_specs = {head: tuple(spec) for head, spec in heads.items()}
        self.hidden_units = hidden_units
        self.features_l1 = features_l1
        self.concatenate = keras.layers.Concatenate(name="concatenate")
        self.features = FeatureDense(hidden_units, "relu", features_l1, name=FEATURES_LAYER)
        self.heads = {
            head: keras.layers.Dense(units, activation=activation, name=head)
            for head, (units, activation) in self.head_specs.items()
        }

    def call(self, inputs: Mapping[str, Any]) -> dict[str, Any]:
        """Named inputs -> concatenated -> shared features -> one output per head, by name."""
        features = self.features(self.concatenate([inputs[name] for name in self.input_widths]))
        return {head: layer(features) for head, layer in self.heads.items()}

    def build_from_widths(self) -> MultiInputModel:
        """Create every weight now, from the declared input widths (e.g. to count parameters before fitting)."""
        import tensorflow as tf

        self({name: tf.zeros((1, width)) for name, width in self.input_widths.items()})
        return self

    def get_config(self) -> dict[str, Any]:
        """What rebuilds the model (saving without traces needs it)."""
        return {
            "inputs": self.input_widths,
            "heads": self.head_specs,
            "hidden_units": self.hidden_units,
            "features_l1": self.features_l1,
            "name": self.name,
        }
