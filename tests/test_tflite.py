"""TensorFlow Lite export (``export.tflite``): the interpreter answers as the Keras model does."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from data_import import idx, tfds_builder
from pipelines import tasks
from pipelines.config import ConfigError, apply_overrides
from pipelines.export import write_tflite
from pipelines.pipeline import create_pipeline


def run_tflite(path: Path, images: np.ndarray) -> dict[str, np.ndarray]:
    """Run the ``model.tflite`` at ``path`` on uint8 images, as a device would."""
    interpreter = tf.lite.Interpreter(model_path=str(path))
    runner = interpreter.get_signature_runner()
    return runner(image=images)


@pytest.fixture(scope="module")
def fixture_images(tmp_path_factory: pytest.TempPathFactory) -> tuple[np.ndarray, np.ndarray]:
    """The MNIST-format fixture's test images (uint8 [n, 28, 28, 1]) and labels."""
    features = tfds_builder.dataset_features("mnist")
    folder = idx.write_idx_fixture(tmp_path_factory.mktemp("idx"), features, size=200, seed=3)
    images = idx.read_idx(folder / "t10k-images-idx3-ubyte.gz", 3)[..., None]
    labels = idx.read_idx(folder / "t10k-labels-idx1-ubyte.gz", 1)
    train = idx.read_idx(folder / "train-images-idx3-ubyte.gz", 3)[..., None]
    train_labels = idx.read_idx(folder / "train-labels-idx1-ubyte.gz", 1)
    return (images, labels), (train, train_labels)


@pytest.mark.slow  # trains
def test_tflite_model_gives_the_keras_models_answers(fixture_images, tmp_path: Path) -> None:
    (images, labels), (train, train_labels) = fixture_images
    spec = tasks.get("mnist")
    config = apply_overrides(spec.default_config(), ["export.tflite=true"])
    tf.keras.utils.set_random_seed(0)
    model = spec.build_model(config)
    model.compile(**spec.compile_args(config), optimizer="adam")
    model.fit(train / 255.0, tf.one_hot(train_labels, 10), epochs=3, batch_size=32, verbose=0)
    path = tmp_path / "model.tflite"

    size = write_tflite(spec.tflite(model, config), model, str(path))

    assert size == path.stat().st_size and 100_000 < size < 1_000_000  # 34,826 float32 weights + graph
    answers = run_tflite(path, images)
    expected = model.predict(images / 255.0, verbose=0)
    np.testing.assert_allclose(answers["probabilities"], expected, atol=1e-5)
    np.testing.assert_array_equal(answers["class_ids"], expected.argmax(-1))
    assert (answers["class_ids"] == labels).mean() > 0.9  # it learnt the fixture: the comparison means something


def test_tflite_takes_any_batch_size(fixture_images, tmp_path: Path) -> None:
    (images, _), _ = fixture_images
    spec = tasks.get("mnist")
    config = spec.default_config()
    model = spec.build_model(config)
    path = tmp_path / "model.tflite"
    write_tflite(spec.tflite(model, config), model, str(path))
    for batch in (1, 7):
        assert run_tflite(path, images[:batch])["probabilities"].shape == (batch, 10)


@pytest.mark.reliability
def test_tasks_without_a_tflite_function_refuse_the_option(tmp_path: Path) -> None:
    spec = tasks.get("ticket")
    config = apply_overrides(spec.default_config(), ["export.tflite=true"])
    with pytest.raises(ConfigError, match="export.tflite=True is invalid for ticket"):
        create_pipeline(spec, config, str(tmp_path / "root"), str(tmp_path / "serving"))
