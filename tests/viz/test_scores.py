import keras
import numpy as np
import pytest

from keras_attn.layers import MultiHeadAttention
from keras_attn.layers import TransformerEncoderBlock
from keras_attn.models import GPTConfig
from keras_attn.models import TransformerConfig
from keras_attn.models import build_gpt
from keras_attn.models import build_transformer
from keras_attn.viz import attention_layers
from keras_attn.viz import attention_scores
from tests.helpers import random_normal

ATOL = 1e-6


def gpt_and_ids():
    gpt = build_gpt(GPTConfig(vocabulary_size=20, max_sequence_length=8, num_layers=2,
                              num_heads=2, hidden_dim=16))
    ids = np.random.default_rng(0).integers(0, 20, size=(2, 6)).astype("int32")  # (B, T)
    return gpt, ids


def assert_softmax_rows(scores, query_mask=None):
    """Each query's weights sum to 1; a padded query's (False in query_mask) to 0."""
    sums = scores.sum(-1)  # (B, H, T)
    expected = np.ones_like(sums) if query_mask is None else np.broadcast_to(
        np.asarray(query_mask, "float32")[:, None, :], sums.shape
    )
    np.testing.assert_allclose(sums, expected, atol=1e-5)


def test_gpt_scores_equal_each_block_called_by_hand():
    gpt, ids = gpt_and_ids()
    scores = attention_scores(gpt, ids)
    assert list(scores) == ["decoder_block_0/self_attention", "decoder_block_1/self_attention"]

    # The input of decoder_block_0, then each block by hand with its scores.
    x = keras.Model(gpt.input, gpt.get_layer("embedding_dropout").output)(ids)
    for i in range(2):
        x, by_hand = gpt.get_layer(f"decoder_block_{i}")(x, return_attention_scores=True)
        found = scores[f"decoder_block_{i}/self_attention"]
        assert found.shape == (2, 2, 6, 6) and found.dtype == np.float32  # (B, H, T, T)
        np.testing.assert_allclose(found, by_hand["self_attention"], atol=ATOL)
        assert_softmax_rows(found)
        # Causal: a token never attends a later one.
        assert np.all(np.triu(np.ones((6, 6)), k=1)[None, None] * found == 0)
        assert np.all(found[..., np.tril(np.ones((6, 6), bool))] > 0)


def test_translator_scores_equal_the_blocks_called_by_hand_with_padding():
    model = build_transformer(TransformerConfig(vocabulary_size=20, max_sequence_length=8,
                                                num_layers=1, num_heads=2, hidden_dim=16))
    source = np.array([[5, 6, 7, 8, 0, 0], [9, 10, 11, 12, 13, 14]], "int32")  # (B, S)
    target = np.array([[1, 3, 4, 0, 0], [1, 5, 6, 7, 8]], "int32")  # (B, T)
    inputs = {"encoder_token_ids": source, "decoder_token_ids": target}
    scores = attention_scores(model, inputs)
    assert list(scores) == [
        "encoder_block_0/self_attention",
        "decoder_block_0/self_attention",
        "decoder_block_0/cross_attention",
    ]

    # The blocks' inputs: embeddings and the encoder output.
    encoder_input, encoder_output, decoder_input = keras.Model(model.input, [
        model.get_layer("encoder_embedding_dropout").output,
        model.get_layer("encoder_final_layer_norm").output,
        model.get_layer("decoder_embedding_dropout").output,
    ])(inputs)
    source_mask, target_mask = source != 0, target != 0
    _, encoder_scores = model.get_layer("encoder_block_0")(
        encoder_input, padding_mask=source_mask, return_attention_scores=True
    )
    _, decoder_scores = model.get_layer("decoder_block_0")(
        decoder_input, encoder_output, decoder_padding_mask=target_mask,
        encoder_padding_mask=source_mask, return_attention_scores=True,
    )
    encoder_self = scores["encoder_block_0/self_attention"]
    decoder_self = scores["decoder_block_0/self_attention"]
    cross = scores["decoder_block_0/cross_attention"]
    assert encoder_self.shape == (2, 2, 6, 6)
    assert decoder_self.shape == (2, 2, 5, 5)
    assert cross.shape == (2, 2, 5, 6)  # target tokens attend source tokens
    np.testing.assert_allclose(encoder_self, encoder_scores["self_attention"], atol=ATOL)
    np.testing.assert_allclose(decoder_self, decoder_scores["self_attention"], atol=ATOL)
    np.testing.assert_allclose(cross, decoder_scores["cross_attention"], atol=ATOL)

    # Padded queries attend nothing; padded keys are never attended.
    assert_softmax_rows(encoder_self, source_mask)
    assert_softmax_rows(decoder_self, target_mask)
    assert_softmax_rows(cross, target_mask)
    assert np.all(encoder_self[0, :, :, 4:] == 0) and np.all(cross[0, :, :, 4:] == 0)
    assert np.all(np.triu(decoder_self[1, 0], k=1) == 0)  # causal
    assert np.any(np.triu(cross[1, 0], k=1) > 0)  # cross-attention is not causal


def test_a_users_functional_model_with_bare_attention_layers():
    x_in = keras.Input(shape=(None, 16))
    ours = MultiHeadAttention(num_heads=2, key_dim=8, name="causal_attention")
    theirs = keras.layers.MultiHeadAttention(num_heads=4, key_dim=4, name="keras_attention")
    block = TransformerEncoderBlock(num_heads=2, intermediate_dim=32, name="encoder")
    x = ours(x_in, x_in, use_causal_mask=True)
    y = theirs(x, x)
    y = block(y)
    model = keras.Model(x_in, y)
    inputs = random_normal(2, 5, 16)
    before = np.asarray(model(inputs))

    scores = attention_scores(model, inputs)
    assert list(scores) == ["causal_attention", "keras_attention", "encoder/self_attention"]
    x = ours(inputs, inputs, use_causal_mask=True)
    _, by_hand = ours(inputs, inputs, use_causal_mask=True, return_attention_scores=True)
    np.testing.assert_allclose(scores["causal_attention"], by_hand, atol=ATOL)
    y, by_hand = theirs(x, x, return_attention_scores=True)
    assert scores["keras_attention"].shape == (2, 4, 5, 5)
    np.testing.assert_allclose(scores["keras_attention"], by_hand, atol=ATOL)
    _, by_hand = block(y, return_attention_scores=True)
    np.testing.assert_allclose(scores["encoder/self_attention"], by_hand["self_attention"],
                               atol=ATOL)
    for name in scores:
        assert_softmax_rows(scores[name])

    # The model is left as it was: same outputs, the layers' own `call` back.
    np.testing.assert_array_equal(np.asarray(model(inputs)), before)
    assert all("call" not in vars(layer) for layer in attention_layers(model))


def test_a_layer_that_already_returns_its_scores_keeps_returning_them():
    x_in = keras.Input(shape=(4, 8))
    y, scores_out = MultiHeadAttention(2, 4, name="attention")(
        x_in, x_in, return_attention_scores=True
    )
    model = keras.Model(x_in, [y, scores_out])
    inputs = random_normal(1, 4, 8)
    scores = attention_scores(model, inputs)
    np.testing.assert_allclose(scores["attention"], model(inputs)[1], atol=ATOL)


def test_a_shared_layer_and_a_nested_model():
    gpt, ids = gpt_and_ids()
    shared = MultiHeadAttention(num_heads=2, key_dim=4, name="shared")
    ids_in = keras.Input(shape=(None,), dtype="int32")
    x = keras.layers.Embedding(20, 16)(ids_in)
    x = shared(x, x)
    x = shared(x, x)  # the same layer, called twice
    logits = gpt(ids_in)  # a whole model inside this one
    outer = keras.Model(ids_in, [x, logits])
    scores = attention_scores(outer, ids)
    assert sorted(scores) == [
        "decoder_block_0/self_attention",
        "decoder_block_1/self_attention",
        "shared",
        "shared_1",
    ]
    np.testing.assert_allclose(
        scores["decoder_block_0/self_attention"],
        attention_scores(gpt, ids)["decoder_block_0/self_attention"],
        atol=ATOL,
    )
    assert not np.allclose(scores["shared"], scores["shared_1"])  # two different inputs


def test_dropout_is_off():
    gpt = build_gpt(GPTConfig(vocabulary_size=20, max_sequence_length=8, num_layers=1,
                              num_heads=2, hidden_dim=16, dropout=0.5))
    ids = np.arange(1, 7)[None]
    first, second = attention_scores(gpt, ids), attention_scores(gpt, ids)
    np.testing.assert_array_equal(first["decoder_block_0/self_attention"],
                                  second["decoder_block_0/self_attention"])
    assert_softmax_rows(first["decoder_block_0/self_attention"])


def test_bad_models_raise_value_errors_that_name_them():
    with pytest.raises(ValueError, match="`model` must be a keras.Model. Received: model='gpt'"):
        attention_scores("gpt", np.ones((1, 3)))
    dense = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    with pytest.raises(ValueError, match="`model` has no attention layer .* Received: model=<Sequential"):
        attention_scores(dense, np.ones((1, 3)))
