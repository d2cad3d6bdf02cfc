"""`CausalLM`: the cached forward pass is the model's own graph, whatever the model."""

import json
import pathlib

import keras
import numpy as np
import pytest

from keras_attn import layers
from keras_attn.generation import GPTGenerator
from keras_attn.models import CausalLM
from keras_attn.models import as_causal_lm
from tests.helpers import sharpen

FIXTURES = pathlib.Path(__file__).parent / "fixtures"
VOCAB, T = 20, 16


def composed(*extra, post_norm_blocks=False, name="composed"):
    """A GPT composed by hand, as in the README, with `extra` layers after the embedding."""
    ids = keras.Input(shape=(None,), dtype="int32")
    x = layers.TokenAndPositionEmbedding(VOCAB, T, 16)(ids)
    for layer in extra:
        x = layer(x)
    for _ in range(2):
        x = layers.TransformerDecoderBlock(2, 32, normalize_first=not post_norm_blocks)(x)
    x = keras.layers.LayerNormalization()(x)
    return keras.Model(ids, keras.layers.Dense(VOCAB)(x), name=name)


PROMPTS = [[3, 4, 5], [9], [1, 2, 3, 4, 5, 6, 7]]


def test_an_added_layer_changes_generation_and_training_together():
    """A scale on the embeddings, added where the model is built: cached decoding
    still equals full recomputation, with no change to the generator."""
    scaled = sharpen(composed(keras.layers.Rescaling(4.0)))
    generator = GPTGenerator(scaled)
    cached = generator.generate(PROMPTS, max_new_tokens=8)
    assert cached == generator.generate_by_recomputation(PROMPTS, 8)
    plain = sharpen(composed())  # the same weights, without the scale
    assert cached != GPTGenerator(plain).generate(PROMPTS, max_new_tokens=8)


def test_a_model_saved_by_keras_attn_0_1_loads_and_generates_the_same_tokens():
    """`fixtures/gpt_0.1.keras` is a plain functional model made by `build_gpt` of
    keras_attn 0.1; its tokens were recorded with that version's generator."""
    expected = json.loads((FIXTURES / "gpt_0.1.json").read_text())
    model = keras.saving.load_model(FIXTURES / "gpt_0.1.keras")
    np.testing.assert_allclose(model(np.array([[3, 4, 5, 6]])), expected["logits_of_3456"],
                               atol=1e-4)
    tokens = GPTGenerator(model).generate(expected["prompts"], max_new_tokens=8)
    assert tokens == expected["greedy_new_tokens"]


def test_as_causal_lm_shares_the_weights():
    model = composed()
    lm = as_causal_lm(model)
    assert isinstance(lm, CausalLM) and as_causal_lm(lm) is lm
    assert [id(w) for w in lm.weights] == [id(w) for w in model.weights]
    assert (lm.context_length, lm.vocabulary_size) == (T, VOCAB)
    assert len(lm.get_empty_cache(3)) == 2  # a cache per decoder block
    assert lm.get_empty_cache(3, max_length=4)[0].shape[3] == 4  # (B, 2, heads, L, d)
    with pytest.raises(ValueError, match=f"from 1 to the context length \\({T}\\). "
                                         f"Received: max_length={T + 1}"):
        lm.get_empty_cache(3, max_length=T + 1)


def test_a_bare_causal_attention_layer_is_cached_too():
    ids = keras.Input(shape=(None,), dtype="int32")
    x = layers.TokenAndPositionEmbedding(VOCAB, T, 16)(ids)
    attention = layers.MultiHeadAttention(num_heads=2, key_dim=8)
    x = x + attention(x, x, use_causal_mask=True)
    lm = as_causal_lm(sharpen(keras.Model(ids, keras.layers.Dense(VOCAB)(x))))
    generator = GPTGenerator(lm)
    assert generator.generate(PROMPTS, 6) == generator.generate_by_recomputation(PROMPTS, 6)


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda x: keras.layers.MultiHeadAttention(2, 8)(x, x),
         r"Layer 'mixer' \(MultiHeadAttention\) mixes positions and has no cache"),
        (lambda x: keras.layers.Conv1D(16, 3, padding="causal")(x),
         r"\(Conv1D\) mixes positions and has no cache"),
    ],
    ids=["keras_attention", "convolution"],
)
def test_a_layer_that_mixes_positions_is_refused(make, message):
    ids = keras.Input(shape=(None,), dtype="int32")
    x = layers.TokenAndPositionEmbedding(VOCAB, T, 16)(ids)
    y = make(x)
    y._keras_history.operation.name = "mixer"
    lm = as_causal_lm(keras.Model(ids, keras.layers.Dense(VOCAB)(y)))
    with pytest.raises(ValueError, match=message):
        lm.call_with_cache(np.array([[1, 2]]), lm.get_empty_cache(1), 0)


def test_a_model_without_a_position_table_needs_its_context():
    ids = keras.Input(shape=(None,), dtype="int32")
    x = layers.TokenEmbedding(VOCAB, 16)(ids)
    x = layers.TransformerDecoderBlock(2, 32, use_rotary_embedding=True)(x)
    model = keras.Model(ids, keras.layers.Dense(VOCAB)(x))
    with pytest.raises(ValueError, match=r"has no position table .* as_causal_lm\(model, "
                                         r"context_length=\.\.\.\)"):
        GPTGenerator(model)
    assert GPTGenerator(model, context_length=32).context_length == 32
