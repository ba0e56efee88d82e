"""A multi-input, multi-output model (Functional API): named inputs -> Concatenate -> shared features -> heads.

The shape of the Keras guide's ticket model: several multi-hot inputs (e.g. words of a title, words of
a body, tags) are concatenated into one vector, a shared Dense layer learns features from it, and
each output head (a regression or a classification) reads those features. More heads can be grown
from the shared features later (:func:`add_head`), as seed 003 shows.
"""

from __future__ import annotations

from collections.abc import Mapping

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
