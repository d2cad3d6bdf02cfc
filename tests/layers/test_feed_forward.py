import math

import numpy as np
import pytest

import keras
import tensorflow as tf

from keras_attn.layers import FeedForward
from keras_attn.layers.feed_forward import gelu
from tests.helpers import random_normal
from tests.helpers import run_layer_test


erf = np.vectorize(math.erf)


def silu(x):
    return x / (1 + np.exp(-x))


ACTIVATIONS = {
    "relu": lambda x: np.maximum(x, 0),
    "gelu": lambda x: 0.5 * x * (1 + erf(x / np.sqrt(2))),
    "silu": silu,
}


@pytest.mark.parametrize("activation, weights", [("relu", 4), ("swiglu", 5)])
def test_layer(tmp_path, activation, weights):
    run_layer_test(
        FeedForward,
        {"intermediate_dim": 16, "activation": activation, "dropout": 0.1},
        random_normal(2, 5, 8),
        expected_output_shape=(2, 5, 8),
        expected_num_trainable_weights=weights,
        tmp_path=tmp_path,
    )


@pytest.mark.parametrize("activation", ["relu", "gelu", "silu"])
def test_matches_numpy(activation):
    layer = FeedForward(16, activation=activation, output_dim=3)
    x = random_normal(2, 5, 8)
    layer(x)
    w1, b1, w2, b2 = layer.get_weights()
    expected = ACTIVATIONS[activation](x @ w1 + b1) @ w2 + b2
    np.testing.assert_allclose(layer(x), expected, atol=1e-5)


def test_gelu_and_its_gradient_match_the_formula():
    x = tf.constant(np.linspace(-8, 8, 1001), "float32")
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(x)
        ours, reference = gelu(x), keras.activations.gelu(x, approximate=False)
    np.testing.assert_allclose(ours, ACTIVATIONS["gelu"](x.numpy()), atol=1e-6)
    np.testing.assert_allclose(ours, reference, atol=1e-6)
    # d/dx x Φ(x) = Φ(x) + x φ(x), against TensorFlow's derivative of the erf formula.
    np.testing.assert_allclose(tape.gradient(ours, x), tape.gradient(reference, x), atol=1e-6)


@pytest.mark.parametrize("shape", [(7, 8), (2, 3, 5, 8)])
def test_any_leading_axes(shape):
    layer = FeedForward(16, activation="gelu", output_dim=3)
    x = np.random.default_rng(0).normal(size=shape).astype("float32")
    w1, b1, w2, b2 = (layer(x), layer.get_weights())[1]
    expected = ACTIVATIONS["gelu"](x @ w1 + b1) @ w2 + b2
    np.testing.assert_allclose(layer(x), expected, atol=1e-5)


def test_swiglu_matches_numpy():
    layer = FeedForward(16, activation="swiglu")
    x = random_normal(2, 5, 8)
    layer(x)
    w1, b1, w_gate, w2, b2 = layer.get_weights()
    expected = (silu(x @ w_gate) * (x @ w1 + b1)) @ w2 + b2
    np.testing.assert_allclose(layer(x), expected, atol=1e-5)


def test_dropout_only_in_training():
    layer = FeedForward(64, dropout=0.5)
    x = random_normal(4, 5, 8)
    np.testing.assert_array_equal(layer(x), layer(x, training=False))
    assert not np.allclose(layer(x), layer(x, training=True))


def test_unknown_activation():
    with pytest.raises(
        ValueError,
        match=r"`activation` must be one of \('relu', 'gelu', 'gelu_approximate', 'silu', 'swiglu'\). "
        r"Received: activation='tanhh'",
    ):
        FeedForward(16, activation="tanhh")


def test_bad_intermediate_dim():
    with pytest.raises(ValueError, match="Received: intermediate_dim=0"):
        FeedForward(0)
