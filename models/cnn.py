"""The baseline CNN of seed 000 (Functional API), as specified in DESIGN.md."""

from __future__ import annotations

import tf_keras as keras


def build_baseline_cnn(
    input_shape: tuple[int, int, int] = (28, 28, 1),
    num_classes: int = 10,
    input_name: str = "image",
    output_name: str = "label",
    dropout: float = 0.5,
    name: str = "baseline_cnn",
) -> keras.Model:
    """Build the baseline CNN: Conv(32) -> MaxPool -> Conv(64) -> MaxPool -> Flatten -> Dropout -> Dense.

    The output is a softmax over ``num_classes`` (so the matching loss is
    ``CategoricalCrossentropy(from_logits=False)``). Input and output layers
    are named after the feature and label keys so that loss dicts, TFMA and
    serving signatures line up by name. With the defaults: 34,826 parameters.

    Args:
        input_shape: image shape (height, width, channels).
        num_classes: number of classes.
        input_name: name of the input (the image feature key).
        output_name: name of the output (the label key).
        dropout: dropout rate before the classifier.
        name: the model's name (diagrams, summaries).

    Returns:
        An uncompiled Keras 2 Functional model.
    """
    inputs = keras.Input(shape=input_shape, name=input_name)
    x = keras.layers.Conv2D(32, (3, 3), activation="relu", name="conv1")(inputs)
    x = keras.layers.MaxPooling2D((2, 2), name="pool1")(x)
    x = keras.layers.Conv2D(64, (3, 3), activation="relu", name="conv2")(x)
    x = keras.layers.MaxPooling2D((2, 2), name="pool2")(x)
    x = keras.layers.Flatten(name="flatten")(x)
    x = keras.layers.Dropout(dropout, name="dropout")(x)
    outputs = keras.layers.Dense(num_classes, activation="softmax", name=output_name)(x)
    return keras.Model(inputs=inputs, outputs=outputs, name=name)
