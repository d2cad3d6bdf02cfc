import keras_hub
import numpy as np
import pytest

from keras_attn.layers import RotaryEmbedding
from tests.helpers import random_normal
from tests.helpers import run_layer_test


def test_layer(tmp_path):
    run_layer_test(
        RotaryEmbedding,
        {"max_wavelength": 500},
        random_normal(2, 6, 3, 8),
        expected_output_shape=(2, 6, 3, 8),
        expected_num_trainable_weights=0,
        tmp_path=tmp_path,
    )


@pytest.mark.parametrize("start_index", [0, 7])
@pytest.mark.parametrize("shape", [(2, 6, 8), (2, 6, 3, 8)])
def test_matches_keras_hub(shape, start_index):
    x = random_normal(*shape)
    np.testing.assert_allclose(
        RotaryEmbedding()(x, start_index=start_index),
        keras_hub.layers.RotaryEmbedding()(x, start_index=start_index),
        atol=1e-5,
    )


def test_matches_rotation_formula():
    x = random_normal(1, 4, 6)
    d = 6
    theta = 10000.0 ** (-np.arange(0, d, 2) / d)  # (d/2,)
    expected = np.zeros_like(x)
    for pos in range(4):
        angle = pos * theta
        x1, x2 = x[0, pos, : d // 2], x[0, pos, d // 2 :]
        expected[0, pos, : d // 2] = x1 * np.cos(angle) - x2 * np.sin(angle)
        expected[0, pos, d // 2 :] = x2 * np.cos(angle) + x1 * np.sin(angle)
    np.testing.assert_allclose(RotaryEmbedding()(x), expected, atol=1e-5)


def test_dot_products_depend_only_on_relative_position():
    rope = RotaryEmbedding()
    q, k = random_normal(1, 1, 8), random_normal(1, 1, 8, seed=1)
    def score(m, n):
        return float(np.sum(rope(q, start_index=m) * rope(k, start_index=n)))
    assert score(3, 1) == pytest.approx(score(12, 10), abs=1e-4)
    assert score(3, 1) != pytest.approx(score(3, 2), abs=1e-3)


def test_other_axes():
    x = random_normal(2, 3, 6, 8)  # (B, heads, T, d)
    np.testing.assert_allclose(
        RotaryEmbedding(sequence_axis=2)(x),
        np.transpose(RotaryEmbedding()(np.transpose(x, (0, 2, 1, 3))), (0, 2, 1, 3)),
        atol=1e-6,
    )


def test_odd_feature_size():
    with pytest.raises(ValueError, match=r"even size. Received: inputs.shape=\(1, 2, 5\)"):
        RotaryEmbedding()(random_normal(1, 2, 5))


def test_bad_max_wavelength():
    with pytest.raises(ValueError, match="Received: max_wavelength=1"):
        RotaryEmbedding(max_wavelength=1)
