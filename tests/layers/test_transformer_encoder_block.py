import keras
import keras_hub
import numpy as np
import pytest

from keras_attn.layers import TokenAndPositionEmbedding
from keras_attn.layers import TransformerEncoderBlock
from tests.helpers import copy_weights_by_path
from tests.helpers import random_normal
from tests.helpers import padding_mask
from tests.helpers import KERAS_HUB_BLOCK_RENAMES
from tests.helpers import run_layer_test

B, T, DIM = 2, 6, 16


@pytest.mark.parametrize("normalize_first", [False, True])
def test_layer(tmp_path, normalize_first):
    run_layer_test(
        TransformerEncoderBlock,
        {"num_heads": 2, "intermediate_dim": 32, "dropout": 0.1, "normalize_first": normalize_first},
        {None: random_normal(B, T, DIM), "padding_mask": padding_mask([T, 3], T)},
        expected_output_shape=((B, T, DIM), {"self_attention": (B, 2, T, T)}),
        expected_num_trainable_weights=16,
        call_kwargs={"return_attention_scores": True},
        tmp_path=tmp_path,
    )


@pytest.mark.parametrize("activation", ["relu", "gelu"])
@pytest.mark.parametrize("normalize_first", [False, True])
def test_matches_keras_hub_with_copied_weights(normalize_first, activation):
    args = dict(num_heads=4, intermediate_dim=32, normalize_first=normalize_first, activation=activation)
    ours, theirs = TransformerEncoderBlock(**args), keras_hub.layers.TransformerEncoder(**args)
    x, mask = random_normal(B, T, DIM), padding_mask([T, 4], T)
    ours(x), theirs(x)
    copy_weights_by_path(theirs, ours, KERAS_HUB_BLOCK_RENAMES)
    np.testing.assert_allclose(ours(x), theirs(x), atol=1e-5)
    # keras-hub's explicit padding mask hides padded keys only; ours also
    # stops padded queries from attending, so compare the real tokens.
    np.testing.assert_allclose(
        np.asarray(ours(x, padding_mask=mask))[mask],
        np.asarray(theirs(x, padding_mask=mask))[mask],
        atol=1e-5,
    )


def test_implicit_mask_equals_explicit_padding_mask():
    ids = np.array([[4, 5, 6, 0, 0, 0], [1, 2, 3, 4, 5, 6]])
    inputs = keras.Input((None,), dtype="int32")
    x = TokenAndPositionEmbedding(10, T, DIM, mask_zero=True)(inputs)
    outputs = TransformerEncoderBlock(num_heads=2, intermediate_dim=32)(x)
    model = keras.Model(inputs, outputs)
    embedding, block = model.layers[1], model.layers[2]
    explicit = block(np.asarray(embedding(ids)), padding_mask=ids != 0)
    np.testing.assert_allclose(model(ids), explicit, atol=1e-6)
    assert not np.allclose(model(ids), block(np.asarray(embedding(ids))), atol=1e-3)


def test_padding_does_not_change_real_tokens():
    block = TransformerEncoderBlock(num_heads=2, intermediate_dim=32)
    x = random_normal(1, 4, DIM)
    padded = np.concatenate([x, random_normal(1, 3, DIM, seed=9)], axis=1)
    np.testing.assert_allclose(
        block(padded, padding_mask=padding_mask([4], 7))[:, :4], block(x), atol=1e-5
    )


def test_attention_mask_and_scores():
    block = TransformerEncoderBlock(num_heads=2, intermediate_dim=32)
    mask = np.ones((B, T, T), bool)
    mask[:, :, -1] = False
    out, scores = block(random_normal(B, T, DIM), attention_mask=mask, return_attention_scores=True)
    assert np.all(np.isfinite(out))
    np.testing.assert_array_equal(scores["self_attention"][..., -1], 0.0)
    np.testing.assert_allclose(np.sum(scores["self_attention"], -1), 1.0, atol=1e-5)


@pytest.mark.parametrize("dtype", ["float32", "mixed_float16"])
def test_fully_padded_sequence_is_finite(dtype):
    block = TransformerEncoderBlock(num_heads=2, intermediate_dim=32, dtype=dtype)
    out = block(random_normal(B, T, DIM) * 50, padding_mask=np.zeros((B, T), bool))
    assert np.all(np.isfinite(np.asarray(out, "float32")))


def test_width_not_divisible_by_heads():
    with pytest.raises(
        ValueError,
        match=r"divisible by `num_heads`. Received: hidden_dim=30 \(the input's last axis\), num_heads=4",
    ):
        TransformerEncoderBlock(num_heads=4, intermediate_dim=8)(random_normal(1, 3, 30))


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"num_heads": 0}, "Received: num_heads=0"),
        ({"intermediate_dim": -1}, "Received: intermediate_dim=-1"),
        ({"activation": "swish!"}, "Received: activation='swish!'"),
        ({"num_key_value_heads": 3}, "Received: num_key_value_heads=3, num_heads=4"),
        ({"dropout": -0.1}, "Received: dropout=-0.1"),
    ],
)
def test_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        TransformerEncoderBlock(**{"num_heads": 4, "intermediate_dim": 8, **kwargs})
