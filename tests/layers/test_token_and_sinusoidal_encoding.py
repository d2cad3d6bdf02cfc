import math

import keras
import numpy as np
import pytest

from keras_attn.layers import SinusoidalPositionEncoding
from keras_attn.layers.masking import keras_mask
from keras_attn.layers import TokenAndSinusoidalEncoding
from tests.helpers import random_normal
from tests.helpers import run_layer_test

IDS = np.array([[5, 6, 7, 0, 0], [1, 2, 3, 4, 9]], "int32")


def test_layer(tmp_path):
    run_layer_test(
        TokenAndSinusoidalEncoding,
        {"vocabulary_size": 10, "embedding_dim": 6, "mask_zero": True, "max_wavelength": 100},
        IDS,
        expected_output_shape=(2, 5, 6),
        expected_num_trainable_weights=1,
        tmp_path=tmp_path,
    )


def test_is_scaled_tokens_plus_the_paper_encoding():
    layer = TokenAndSinusoidalEncoding(10, 6)
    out = layer(IDS, start_index=3)
    tokens = np.asarray(layer.token_embedding.embeddings)[IDS] * math.sqrt(6)
    positions = SinusoidalPositionEncoding()(np.zeros((1, 8, 6), "float32"))[0, 3:]
    np.testing.assert_allclose(out, tokens + positions, atol=1e-6)


def test_mask_and_reverse():
    layer = TokenAndSinusoidalEncoding(10, 6, mask_zero=True)
    np.testing.assert_array_equal(layer.compute_mask(IDS), IDS != 0)
    assert TokenAndSinusoidalEncoding(10, 6).compute_mask(IDS) is None
    hidden = random_normal(2, 5, 6)
    logits = layer(hidden, reverse=True)
    np.testing.assert_allclose(
        logits, hidden @ np.asarray(layer.token_embedding.embeddings).T, atol=1e-6
    )
    assert layer.compute_output_shape((2, 5, 6), reverse=True) == (2, 5, 10)


def test_called_twice_in_a_model_stays_tied_after_loading(tmp_path):
    ids = keras.Input((None,), dtype="int32")
    embedding = TokenAndSinusoidalEncoding(10, 6, mask_zero=True, name="embedding")
    logits = embedding(embedding(ids), reverse=True)
    model = keras.Model(ids, logits)
    model.save(tmp_path / "tied.keras")
    loaded = keras.saving.load_model(tmp_path / "tied.keras")
    assert len(loaded.weights) == 1
    np.testing.assert_array_equal(model(IDS), loaded(IDS))
    np.testing.assert_array_equal(keras_mask(loaded(IDS)), IDS != 0)


@pytest.mark.parametrize("name", ["vocabulary_size", "embedding_dim"])
def test_bad_sizes(name):
    kwargs = {"vocabulary_size": 10, "embedding_dim": 4, name: 0}
    with pytest.raises(ValueError, match=f"Received: {name}=0"):
        TokenAndSinusoidalEncoding(**kwargs)
