"""The model builders: structure, names, shapes and parameter counts."""

from __future__ import annotations

import numpy as np
import tf_keras as keras

from models.cnn import build_mnist_cnn


def test_mnist_cnn_matches_the_design() -> None:
    model = build_mnist_cnn()
    assert model.count_params() == 34_826
    assert model.input_names == ["image"] and model.output_names == ["label"]
    assert model.input_shape == (None, 28, 28, 1) and model.output_shape == (None, 10)
    kinds = [type(layer).__name__ for layer in model.layers]
    assert kinds == ["InputLayer", "Conv2D", "MaxPooling2D", "Conv2D", "MaxPooling2D", "Flatten", "Dropout", "Dense"]
    assert [layer.filters for layer in model.layers if isinstance(layer, keras.layers.Conv2D)] == [32, 64]
    assert model.get_layer("dropout").rate == 0.5


def test_mnist_cnn_outputs_probabilities() -> None:
    model = build_mnist_cnn()
    probabilities = model.predict(np.random.default_rng(0).random((4, 28, 28, 1), dtype=np.float32), verbose=0)
    assert probabilities.shape == (4, 10)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)
    assert (probabilities >= 0).all()


def test_mnist_cnn_names_follow_the_keys() -> None:
    model = build_mnist_cnn(input_name="pixels", output_name="digit", num_classes=3)
    assert model.input_names == ["pixels"] and model.output_names == ["digit"]
    assert model.output_shape == (None, 3)
    assert model.count_params() == 34_826 - 7 * 1601
