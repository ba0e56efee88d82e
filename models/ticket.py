"""The ticket triage model (Functional API): three named inputs, two named outputs, an optional third head."""

from __future__ import annotations

import tf_keras as keras


def build_ticket_model(
    vocab_size: int = 10_000,
    num_tags: int = 100,
    num_departments: int = 4,
    hidden_units: int = 64,
    features_l1: float = 0.0,
) -> keras.Model:
    """``title``, ``body``, ``tags`` (multi-hot) -> Concatenate -> Dense(relu) -> ``priority`` and ``department``.

    ``priority`` is a sigmoid score in [0, 1] (regression, mean squared error);
    ``department`` a softmax over the departments (categorical cross-entropy).
    With the defaults: 1,286,789 parameters.

    Args:
        vocab_size: width of the title and body multi-hot vectors.
        num_tags: width of the tags multi-hot vector.
        num_departments: number of departments.
        hidden_units: width of the shared features layer.
        features_l1: L1 penalty on the features layer's kernel (0: none). With 20,100 sparse inputs
            of which a few dozen carry the labels, it pushes the weights of the others to zero.

    Returns:
        An uncompiled Keras 2 Functional model with outputs ``[priority, department]``.
    """
    title = keras.Input(shape=(vocab_size,), name="title")
    body = keras.Input(shape=(vocab_size,), name="body")
    tags = keras.Input(shape=(num_tags,), name="tags")
    features = keras.layers.Concatenate(name="concatenate")([title, body, tags])
    regularizer = keras.regularizers.L1(features_l1) if features_l1 > 0 else None
    features = keras.layers.Dense(hidden_units, activation="relu", kernel_regularizer=regularizer, name="features")(
        features
    )
    priority = keras.layers.Dense(1, activation="sigmoid", name="priority")(features)
    department = keras.layers.Dense(num_departments, activation="softmax", name="department")(features)
    return keras.Model(inputs=[title, body, tags], outputs=[priority, department], name="ticket_model")


def add_difficulty_head(model: keras.Model, num_difficulties: int = 3) -> keras.Model:
    """Grow a ``difficulty`` head (softmax) from the shared ``features`` of an existing ticket model.

    The new model shares every layer (and weight) of ``model`` and adds one
    Dense layer, as seed 003 shows: reuse intermediate features instead of
    building a new model.
    """
    features = model.get_layer("features").output
    difficulty = keras.layers.Dense(num_difficulties, activation="softmax", name="difficulty")(features)
    return keras.Model(inputs=model.inputs, outputs=[*model.outputs, difficulty], name="ticket_model_3_heads")
