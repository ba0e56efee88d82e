"""Models of tabular data (Functional API): one named input per column, a DNN or a wide & deep model.

Each column arrives as a vector (a z-score and its missing flag, or a one-hot category) under the
column's name. The deep path concatenates them and runs a stack of Dense layers; the head reads its
last layer. A *wide & deep* model (the seeds' California-housing model: ``concatenate([input_A,
hidden2])``) also concatenates the wide columns, untouched, with the deep path's output right before
the head, so a linear effect of a column needs no hidden layer. An optional auxiliary head reads the
deep path alone (the seeds' ``aux_output``): a second target, or the same one as a regularizer.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import tf_keras as keras

DEEP_LAYER = "deep_{}"


def build_tabular_model(
    inputs: Mapping[str, int],
    head: tuple[str, int, str],
    hidden_units: Sequence[int] = (64, 32),
    wide: Sequence[str] = (),
    aux_head: tuple[str, int, str] | None = None,
    dropout: float = 0.0,
    name: str = "tabular_model",
) -> keras.Model:
    """Named column inputs -> Concatenate -> Dense stack -> [Concatenate with the wide inputs] -> head.

    Args:
        inputs: input name -> width, in this order.
        head: (output name, units, activation), e.g. ``("species", 3, "softmax")`` or ``("price", 1, None)``.
        hidden_units: widths of the deep path's Dense(relu) layers (at least one).
        wide: inputs also concatenated with the deep path's output before the head (empty: a DNN).
        aux_head: an auxiliary (output name, units, activation) read from the deep path's last layer.
        dropout: dropout rate after each hidden layer (0: none).
        name: the model's name.

    Returns:
        An uncompiled Keras 2 Functional model; inputs and outputs named as given.

    Raises:
        ValueError: no hidden layer, or a wide input that is not an input.
    """
    if not hidden_units:
        raise ValueError("hidden_units must name at least one layer")
    unknown = sorted(set(wide) - set(inputs))
    if unknown:
        raise ValueError(f"wide inputs {unknown} are not among the inputs {sorted(inputs)}")
    tensors = {column: keras.Input(shape=(width,), name=column) for column, width in inputs.items()}
    deep = (
        keras.layers.Concatenate(name="deep_inputs")(list(tensors.values()))
        if len(tensors) > 1
        else (next(iter(tensors.values())))
    )
    for i, units in enumerate(hidden_units):
        deep = keras.layers.Dense(units, activation="relu", name=DEEP_LAYER.format(i + 1))(deep)
        if dropout > 0:
            deep = keras.layers.Dropout(dropout, name=f"dropout_{i + 1}")(deep)
    features = deep
    if wide:
        features = keras.layers.Concatenate(name="wide_and_deep")([*(tensors[w] for w in wide), deep])
    head_name, units, activation = head
    outputs = [keras.layers.Dense(units, activation=activation, name=head_name)(features)]
    if aux_head is not None:
        aux_name, aux_units, aux_activation = aux_head
        outputs.append(keras.layers.Dense(aux_units, activation=aux_activation, name=aux_name)(deep))
    return keras.Model(inputs=list(tensors.values()), outputs=outputs, name=name)
