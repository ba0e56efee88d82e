"""The model builders: structure, names, shapes and parameter counts."""

from __future__ import annotations

import numpy as np
import tf_keras as keras

from models.cnn import build_baseline_cnn, build_improved_cnn


def test_mnist_cnn_matches_the_design() -> None:
    model = build_baseline_cnn()
    assert model.count_params() == 34_826
    assert model.input_names == ["image"] and model.output_names == ["label"]
    assert model.input_shape == (None, 28, 28, 1) and model.output_shape == (None, 10)
    kinds = [type(layer).__name__ for layer in model.layers]
    assert kinds == ["InputLayer", "Conv2D", "MaxPooling2D", "Conv2D", "MaxPooling2D", "Flatten", "Dropout", "Dense"]
    assert [layer.filters for layer in model.layers if isinstance(layer, keras.layers.Conv2D)] == [32, 64]
    assert model.get_layer("dropout").rate == 0.5


def test_mnist_cnn_outputs_probabilities() -> None:
    model = build_baseline_cnn()
    probabilities = model.predict(np.random.default_rng(0).random((4, 28, 28, 1), dtype=np.float32), verbose=0)
    assert probabilities.shape == (4, 10)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)
    assert (probabilities >= 0).all()


def test_mnist_cnn_names_follow_the_keys() -> None:
    model = build_baseline_cnn(input_name="pixels", output_name="digit", num_classes=3)
    assert model.input_names == ["pixels"] and model.output_names == ["digit"]
    assert model.output_shape == (None, 3)
    assert model.count_params() == 34_826 - 7 * 1601


def test_improved_cnn_follows_seed_001() -> None:
    model = build_improved_cnn()
    kinds = [type(layer).__name__ for layer in model.layers[1:]]
    block = ["Conv2D", "BatchNormalization", "Conv2D", "MaxPooling2D", "Dropout"]
    assert kinds == block * 2 + ["Flatten", "Dense", "BatchNormalization", "Dropout", "Dense"]
    assert [layer.filters for layer in model.layers if isinstance(layer, keras.layers.Conv2D)] == [32, 32, 64, 64]
    assert [layer.rate for layer in model.layers if isinstance(layer, keras.layers.Dropout)] == [0.25, 0.25, 0.5]
    assert model.get_layer("dense").units == 512
    # 3x3 valid convolutions: 28 -> 26 -> 24 -> pool 12 -> 10 -> 8 -> pool 4; 4 * 4 * 64 = 1024 into Dense(512).
    assert model.get_layer("flatten").output_shape == (None, 1024)
    assert model.count_params() == 597_354
    non_trainable = sum(int(np.prod(w.shape)) for w in model.non_trainable_weights)
    assert non_trainable == 2 * (32 + 64 + 512)  # BatchNorm moving mean and variance
    assert model.input_names == ["image"] and model.output_names == ["label"]


def test_improved_cnn_batch_norm_uses_batch_statistics_only_in_training() -> None:
    model = build_improved_cnn()
    images = np.random.default_rng(0).random((8, 28, 28, 1), dtype=np.float32)
    np.testing.assert_allclose(model(images, training=False), model(images, training=False))
    before = model.get_layer("block1_bn").moving_mean.numpy().copy()
    model(images, training=True)
    assert not np.allclose(model.get_layer("block1_bn").moving_mean.numpy(), before)


def test_toy_resnet_matches_the_design() -> None:
    from models.resnet import build_toy_resnet

    model = build_toy_resnet()
    assert model.count_params() == 223_242
    assert model.input_names == ["image"] and model.output_names == ["label"]
    assert model.input_shape == (None, 32, 32, 3) and model.output_shape == (None, 10)
    assert model.get_layer("stem_pool").pool_size == (3, 3)
    assert isinstance(model.get_layer("gap"), keras.layers.GlobalAveragePooling2D)
    assert model.get_layer("dense").units == 256 and model.get_layer("dropout").rate == 0.5


def test_toy_resnet_skip_connections_add_the_block_input() -> None:
    from models.resnet import build_toy_resnet

    model = build_toy_resnet()
    adds = [layer for layer in model.layers if isinstance(layer, keras.layers.Add)]
    assert [a.name for a in adds] == ["block1_add", "block2_add"]
    # Each Add sums the block's last conv with the tensor that entered the block (the skip).
    block1_in = model.get_layer("stem_pool").output
    assert adds[0].input[1] is block1_in and adds[0].input[0] is model.get_layer("block1_conv2").output
    assert adds[1].input[1] is adds[0].output and adds[1].input[0] is model.get_layer("block2_conv2").output
    # And the skip carries signal: zeroing the block convs leaves the block an identity.
    probe = keras.Model(model.input, adds[0].output)
    pre = keras.Model(model.input, block1_in)
    for name in ("block1_conv1", "block1_conv2"):
        layer = model.get_layer(name)
        layer.set_weights([np.zeros_like(w) for w in layer.get_weights()])
    x = np.random.default_rng(0).random((2, 32, 32, 3), dtype=np.float32)
    np.testing.assert_allclose(probe.predict(x, verbose=0), pre.predict(x, verbose=0), rtol=1e-6)


def test_ticket_model_matches_the_design() -> None:
    from pipelines.ticket.config import TicketConfig
    from pipelines.ticket.model import build_model

    model = build_model(TicketConfig())
    assert model.count_params() == 1_286_789
    assert model.input_names == ["title", "body", "tags"]
    assert model.output_names == ["priority", "department"]
    assert [tuple(i.shape) for i in model.inputs] == [(None, 10_000), (None, 10_000), (None, 100)]
    assert [tuple(o.shape) for o in model.outputs] == [(None, 1), (None, 4)]
    assert model.get_layer("priority").activation.__name__ == "sigmoid"
    assert model.get_layer("department").activation.__name__ == "softmax"
    assert model.get_layer("features").units == 64
    assert model.get_layer("features").kernel_regularizer is not None  # the task's default L1 penalty


def test_multi_input_model_l1_penalty_adds_a_loss_and_no_parameters() -> None:
    from models.multi_input import build_multi_input_model

    inputs, heads = {"a": 30, "b": 5}, {"y": (1, "sigmoid"), "c": (4, "softmax")}
    plain = build_multi_input_model(inputs, heads, hidden_units=8)
    assert plain.get_layer("features").kernel_regularizer is None and not plain.losses
    model = build_multi_input_model(inputs, heads, hidden_units=8, features_l1=1e-4)
    assert model.count_params() == plain.count_params() == (35 * 8 + 8) + (8 + 1) + (8 * 4 + 4)
    kernel = model.get_layer("features").kernel.numpy()
    (penalty,) = model.losses
    np.testing.assert_allclose(float(penalty), 1e-4 * np.abs(kernel).sum(), rtol=1e-4)


def test_difficulty_head_grows_from_the_shared_features() -> None:
    from models.multi_input import add_head
    from pipelines.ticket.config import TicketConfig
    from pipelines.ticket.model import build_model

    base = build_model(TicketConfig())
    grown = add_head(base, "difficulty", 3)
    assert grown.output_names == ["priority", "department", "difficulty"]
    assert grown.count_params() == 1_286_789 + 64 * 3 + 3
    assert grown.get_layer("features") is base.get_layer("features")  # shared, not copied
    assert grown.get_layer("difficulty").input is base.get_layer("features").output
    x = {
        "title": np.zeros((2, 10_000), np.float32),
        "body": np.ones((2, 10_000), np.float32),
        "tags": np.zeros((2, 100), np.float32),
    }
    priority, department, difficulty = grown.predict(x, verbose=0)
    base_priority, base_department = base.predict(x, verbose=0)
    np.testing.assert_allclose(priority, base_priority, rtol=1e-6)  # the two original heads are unchanged
    np.testing.assert_allclose(difficulty.sum(axis=1), 1.0, rtol=1e-5)


def test_subclassed_ticket_model_is_the_functional_network() -> None:
    from models.multi_input import FeatureDense, MultiInputModel
    from pipelines.config import apply_overrides
    from pipelines.ticket.config import TicketConfig
    from pipelines.ticket.model import build_model

    functional = build_model(TicketConfig())
    subclassed = build_model(apply_overrides(TicketConfig(), ["model.api=subclassed"]))
    assert isinstance(subclassed, MultiInputModel) and isinstance(subclassed.features, FeatureDense)
    assert subclassed.count_params() == functional.count_params() == 1_286_789
    assert len(subclassed.losses) == 1  # the features layer's L1 penalty, as the Functional model has
    # With the Functional model's weights, the subclassed model answers exactly as it does.
    subclassed.features.set_weights(functional.get_layer("features").get_weights())
    for head in ("priority", "department"):
        subclassed.heads[head].set_weights(functional.get_layer(head).get_weights())
    rng = np.random.default_rng(0)
    batch = {
        name: (rng.random((3, width)) < 0.01).astype(np.float32) for name, width in subclassed.input_widths.items()
    }
    expected = dict(zip(functional.output_names, functional(batch), strict=True))
    answered = subclassed(batch)
    assert sorted(answered) == ["department", "priority"]
    for head, value in expected.items():
        np.testing.assert_allclose(answered[head], value, rtol=1e-6)


def test_feature_dense_builds_its_weights_from_the_input_width() -> None:
    from models.multi_input import FeatureDense

    layer = FeatureDense(5, "relu", l1=0.1)
    assert not layer.weights  # nothing exists before the first call
    out = layer(np.ones((2, 7), dtype=np.float32))
    assert [tuple(w.shape) for w in layer.weights] == [(7, 5), (5,)]
    assert out.shape == (2, 5) and (out.numpy() >= 0).all() and len(layer.losses) == 1
    assert FeatureDense.from_config(layer.get_config()).get_config() == layer.get_config()


def test_subclassed_ticket_model_grows_the_difficulty_head() -> None:
    from pipelines.config import apply_overrides
    from pipelines.ticket.config import TicketConfig
    from pipelines.ticket.model import build_model

    model = build_model(apply_overrides(TicketConfig(), ["model.api=subclassed", "model.difficulty_head=true"]))
    assert sorted(model.heads) == ["department", "difficulty", "priority"]
    assert model.count_params() == 1_286_789 + 64 * 3 + 3


def test_mnist_task_builds_the_cnn_its_config_names() -> None:
    from pipelines import tasks
    from pipelines.config import apply_overrides

    spec = tasks.get("mnist")
    assert spec.build_model(spec.default_config()).count_params() == 34_826  # the baseline stays the default
    improved = spec.build_model(apply_overrides(spec.default_config(), ["model.architecture=improved"]))
    assert improved.name == "mnist_improved_cnn" and improved.count_params() == 597_354
