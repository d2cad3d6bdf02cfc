import keras_hub
import numpy as np
import pytest

from keras_attn.layers import SinusoidalPositionEncoding
from tests.helpers import run_layer_test


def paper_formula(length, dim, start=0, max_wavelength=10000):
    """PE[pos, 2i] = sin(pos / 10000^(2i/d)), PE[pos, 2i+1] = cos(pos / 10000^(2i/d))."""
    pe = np.zeros((length, dim))
    for pos in range(start, start + length):
        for i in range(0, dim, 2):
            angle = pos / max_wavelength ** (i / dim)
            pe[pos - start, i] = np.sin(angle)
            if i + 1 < dim:
                pe[pos - start, i + 1] = np.cos(angle)
    return pe


def test_layer(tmp_path):
    run_layer_test(
        SinusoidalPositionEncoding,
        {"max_wavelength": 1000},
        np.random.rand(2, 6, 8).astype("float32"),
        expected_output_shape=(2, 6, 8),
        expected_num_trainable_weights=0,
        tmp_path=tmp_path,
    )


@pytest.mark.parametrize("length, dim, start", [(50, 16, 0), (7, 32, 100), (5, 7, 3)])
def test_matches_the_paper_formula(length, dim, start):
    got = SinusoidalPositionEncoding()(np.zeros((3, length, dim), "float32"), start_index=start)
    for row in np.asarray(got):
        np.testing.assert_allclose(row, paper_formula(length, dim, start), atol=2e-5)


def test_matches_keras_hub():
    x = np.zeros((2, 20, 12), "float32")
    np.testing.assert_allclose(
        SinusoidalPositionEncoding()(x, start_index=4),
        keras_hub.layers.SinePositionEncoding()(x, start_index=4),
        atol=1e-5,
    )


def test_bad_max_wavelength():
    with pytest.raises(ValueError, match="Received: max_wavelength=0"):
        SinusoidalPositionEncoding(max_wavelength=0)
