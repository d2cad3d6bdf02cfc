import re

import keras
import keras_hub
import numpy as np
import pytest

from keras_attn.layers import MultiHeadAttention
from keras_attn.layers import TokenAndPositionEmbedding
from keras_attn.layers.masking import keras_mask
from tests.helpers import run_layer_test

IDS = np.array([[5, 6, 7, 0, 0], [1, 2, 3, 4, 9]])


def test_layer(tmp_path):
    run_layer_test(
        TokenAndPositionEmbedding,
        {"vocabulary_size": 10, "sequence_length": 8, "embedding_dim": 4, "mask_zero": True},
        IDS.astype("int32"),
        expected_output_shape=(2, 5, 4),
        expected_num_trainable_weights=2,
        tmp_path=tmp_path,
    )


def test_is_token_plus_position_rows():
    layer = TokenAndPositionEmbedding(10, 8, 4)
    out = layer(IDS, start_index=2)
    tokens = np.asarray(layer.token_embedding.embeddings)
    positions = np.asarray(layer.position_embedding.embeddings)
    np.testing.assert_allclose(out, tokens[IDS] + positions[2:7], atol=1e-6)


def test_matches_keras_hub_with_copied_weights():
    ours = TokenAndPositionEmbedding(10, 8, 4)
    theirs = keras_hub.layers.TokenAndPositionEmbedding(10, 8, 4)
    ours(IDS), theirs(IDS)
    ours.set_weights(theirs.get_weights())
    np.testing.assert_array_equal(ours(IDS), theirs(IDS))


def test_propagates_padding_mask_to_attention():
    ids = keras.Input((None,), dtype="int32")
    x = TokenAndPositionEmbedding(10, 8, 16, mask_zero=True)(ids)
    assert keras_mask(x) is not None
    y = MultiHeadAttention(num_heads=2, key_dim=8)(x, x)
    model = keras.Model(ids, y)
    embedding, attention = model.layers[1], model.layers[2]
    np.testing.assert_array_equal(embedding.compute_mask(IDS), IDS != 0)
    x = np.asarray(embedding(IDS))
    keep = IDS != 0
    np.testing.assert_allclose(
        model(IDS), attention(x, x, attention_mask=keep[:, :, None] & keep[:, None, :]), atol=1e-6
    )


def test_no_mask_without_mask_zero():
    assert TokenAndPositionEmbedding(10, 8, 4).compute_mask(IDS) is None


def test_reverse_is_the_tied_output_head():
    layer = TokenAndPositionEmbedding(10, 8, 4)
    hidden = layer(IDS)
    logits = layer(hidden, reverse=True)
    assert tuple(logits.shape) == (2, 5, 10)
    np.testing.assert_allclose(
        logits, np.asarray(hidden) @ np.asarray(layer.token_embedding.embeddings).T, atol=1e-6
    )
    assert layer.compute_output_shape((2, 5, 4), reverse=True) == (2, 5, 10)


def test_called_twice_in_a_model_stays_tied_after_loading(tmp_path):
    ids = keras.Input((None,), dtype="int32")
    embedding = TokenAndPositionEmbedding(10, 8, 4, mask_zero=True, name="embedding")
    logits = embedding(embedding(ids), reverse=True)
    assert keras_mask(logits) is not None  # the padding mask passes through the head
    model = keras.Model(ids, logits)
    model.save(tmp_path / "tied.keras")
    loaded = keras.saving.load_model(tmp_path / "tied.keras")
    assert len(loaded.weights) == 2
    np.testing.assert_array_equal(model(IDS), loaded(IDS))
    np.testing.assert_array_equal(keras_mask(loaded(IDS)), IDS != 0)


@pytest.mark.parametrize("name", ["vocabulary_size", "sequence_length", "embedding_dim"])
def test_bad_sizes(name):
    kwargs = {"vocabulary_size": 10, "sequence_length": 8, "embedding_dim": 4, name: -1}
    message = f"`{name}` must be a positive integer. Received: {name}=-1"
    with pytest.raises(ValueError, match=re.escape(message)):
        TokenAndPositionEmbedding(**kwargs)


def test_sequence_longer_than_table():
    """The message names the ids the caller passed, `(B, T)`, on the first call (which
    builds the layer) and on later ones."""
    message = ("`token_ids` is longer than the position table: 6 > sequence_length=4. "
               "Received: token_ids.shape=(1, 6)")
    layer = TokenAndPositionEmbedding(10, 4, 8)
    with pytest.raises(ValueError, match=re.escape(message)):
        layer(np.ones((1, 6), "int32"))
    layer(np.ones((1, 4), "int32"))
    with pytest.raises(ValueError, match=re.escape(message)):
        layer(np.ones((1, 6), "int32"))
