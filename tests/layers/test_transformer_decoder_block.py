import re

import keras
import keras_hub
import numpy as np
import pytest

from keras_attn.layers import TokenAndPositionEmbedding
from keras_attn.layers import TransformerDecoderBlock
from tests.helpers import copy_weights_by_path
from tests.helpers import random_normal
from tests.helpers import padding_mask
from tests.helpers import KERAS_HUB_BLOCK_RENAMES
from tests.helpers import run_layer_test

B, T, S, DIM = 2, 6, 5, 16


def test_layer_decoder_only(tmp_path):
    run_layer_test(
        TransformerDecoderBlock,
        {"num_heads": 2, "intermediate_dim": 32, "dropout": 0.1, "normalize_first": True,
         "activation": "swiglu", "num_key_value_heads": 1, "use_rotary_embedding": True},
        random_normal(B, T, DIM),
        expected_output_shape=(B, T, DIM),
        expected_num_trainable_weights=17,
        tmp_path=tmp_path,
    )


def test_layer_with_cross_attention(tmp_path):
    run_layer_test(
        TransformerDecoderBlock,
        {"num_heads": 2, "intermediate_dim": 32},
        {None: random_normal(B, T, DIM), "encoder_sequence": random_normal(B, S, 8, seed=1),
         "encoder_padding_mask": padding_mask([S, 2], S)},
        expected_output_shape=(
            (B, T, DIM), {"self_attention": (B, 2, T, T), "cross_attention": (B, 2, T, S)}
        ),
        expected_num_trainable_weights=26,
        call_kwargs={"return_attention_scores": True},
        tmp_path=tmp_path,
    )


@pytest.mark.parametrize("cross_attention", [False, True])
@pytest.mark.parametrize("normalize_first", [False, True])
def test_matches_keras_hub_with_copied_weights(normalize_first, cross_attention):
    args = dict(num_heads=4, intermediate_dim=32, normalize_first=normalize_first)
    ours, theirs = TransformerDecoderBlock(**args), keras_hub.layers.TransformerDecoder(**args)
    x = random_normal(B, T, DIM)
    encoder = random_normal(B, S, DIM, seed=1) if cross_attention else None
    ours(x, encoder), theirs(x, encoder)
    copy_weights_by_path(theirs, ours, KERAS_HUB_BLOCK_RENAMES)
    np.testing.assert_allclose(ours(x, encoder), theirs(x, encoder), atol=1e-5)
    if cross_attention:
        encoder_mask = padding_mask([S, 2], S)
        np.testing.assert_allclose(
            ours(x, encoder, encoder_padding_mask=encoder_mask),
            theirs(x, encoder, encoder_padding_mask=encoder_mask),
            atol=1e-5,
        )


def test_is_causal():
    block = TransformerDecoderBlock(num_heads=2, intermediate_dim=32)
    x = random_normal(1, T, DIM)
    changed = x.copy()
    changed[:, 4:] += 1.0  # change the future of token 3
    np.testing.assert_allclose(block(x)[:, :4], block(changed)[:, :4], atol=1e-6)
    assert not np.allclose(block(x)[:, 4:], block(changed)[:, 4:])


@pytest.mark.parametrize("normalize_first", [False, True])
@pytest.mark.parametrize("cross_attention", [False, True])
@pytest.mark.parametrize("extra", [{}, {"num_key_value_heads": 1, "use_rotary_embedding": True}])
def test_cached_decoding_matches_full_pass(normalize_first, cross_attention, extra):
    block = TransformerDecoderBlock(
        num_heads=2, intermediate_dim=32, normalize_first=normalize_first, **extra
    )
    x = random_normal(B, T, DIM)
    encoder = random_normal(B, S, DIM, seed=1) if cross_attention else None
    encoder_mask = padding_mask([S, 3], S) if cross_attention else None
    full = block(x, encoder, encoder_padding_mask=encoder_mask)
    cache = block.self_attention.get_empty_cache(B, max_length=T)
    cross_cache = block.cross_attention.compute_cache(encoder) if cross_attention else None
    steps = []
    for t in range(T):
        y, cache = block(
            x[:, t : t + 1],
            encoder_padding_mask=encoder_mask,
            self_attention_cache=cache,
            self_attention_cache_update_index=t,
            cross_attention_cache=cross_cache,
        )
        steps.append(y)
    np.testing.assert_allclose(np.concatenate(steps, axis=1), full, atol=1e-5)


def test_implicit_masks_equal_explicit_masks():
    dec_ids = np.array([[4, 5, 6, 0, 0, 0], [1, 2, 3, 4, 5, 6]])
    enc_ids = np.array([[7, 8, 0, 0, 0], [1, 2, 3, 4, 5]])
    dec_in = keras.Input((None,), dtype="int32")
    enc_in = keras.Input((None,), dtype="int32")
    dec = TokenAndPositionEmbedding(10, T, DIM, mask_zero=True)(dec_in)
    enc = TokenAndPositionEmbedding(10, T, DIM, mask_zero=True)(enc_in)
    block = TransformerDecoderBlock(num_heads=2, intermediate_dim=32)
    model = keras.Model([dec_in, enc_in], block(dec, enc))
    dec_embedding, enc_embedding = model.layers[2], model.layers[3]
    explicit = block(
        np.asarray(dec_embedding(dec_ids)),
        np.asarray(enc_embedding(enc_ids)),
        decoder_padding_mask=dec_ids != 0,
        encoder_padding_mask=enc_ids != 0,
    )
    np.testing.assert_allclose(model([dec_ids, enc_ids]), explicit, atol=1e-6)


@pytest.mark.parametrize("dtype", ["float32", "mixed_float16"])
def test_fully_masked_rows_are_finite(dtype):
    block = TransformerDecoderBlock(num_heads=2, intermediate_dim=32, dtype=dtype)
    out = block(
        random_normal(B, T, DIM) * 50,
        random_normal(B, S, DIM, seed=1),
        decoder_padding_mask=np.zeros((B, T), bool),
        encoder_padding_mask=np.zeros((B, S), bool),
    )
    assert np.all(np.isfinite(np.asarray(out, "float32")))


def test_cross_attention_needs_encoder_sequence():
    block = TransformerDecoderBlock(num_heads=2, intermediate_dim=32)
    block(random_normal(B, T, DIM), random_normal(B, S, DIM))
    message = ("This block has cross-attention and needs `encoder_sequence` (or "
               "`cross_attention_cache`). Received: encoder_sequence=None")
    with pytest.raises(ValueError, match=re.escape(message)):
        block(random_normal(B, T, DIM))
    decoder_only = TransformerDecoderBlock(num_heads=2, intermediate_dim=32)
    decoder_only(random_normal(B, T, DIM))
    message = ("This block was built without cross-attention, so it can't take "
               "`encoder_sequence` or `cross_attention_cache`. Call it with an "
               "`encoder_sequence` the first time to give it cross-attention.")
    with pytest.raises(ValueError, match=re.escape(message)):
        decoder_only(random_normal(B, T, DIM), random_normal(B, S, DIM))


def test_width_not_divisible_by_heads():
    message = ("The model width must be divisible by `num_heads`. Received: hidden_dim=10 "
               "(the input's last axis), num_heads=4")
    with pytest.raises(ValueError, match=re.escape(message)):
        TransformerDecoderBlock(num_heads=4, intermediate_dim=8)(random_normal(1, 3, 10))


@pytest.mark.parametrize(
    "masks, message",
    [
        (dict(decoder_attention_mask=np.ones((B, T, T - 1), bool)),
         "Axis 2 of `decoder_attention_mask` must equal the key length (6). "
         "Received: decoder_attention_mask.shape=(2, 6, 5)"),
        (dict(decoder_padding_mask=np.ones((B, T + 1), bool)),
         "Axis 1 of `decoder_padding_mask` must equal the decoder length (6). "
         "Received: decoder_padding_mask.shape=(2, 7)"),
        (dict(encoder_padding_mask=np.ones((B, T), bool)),
         "Axis 1 of `encoder_padding_mask` must equal the encoder length (5). "
         "Received: encoder_padding_mask.shape=(2, 6)"),
        (dict(encoder_attention_mask=np.ones((B, S), bool)),
         "`encoder_attention_mask` must have rank 3, with shape (batch, query_length, "
         "key_length). Received: encoder_attention_mask.shape=(2, 5)"),
    ],
    ids=["decoder_attention_mask", "decoder_padding_mask", "encoder_padding_mask",
         "encoder_attention_mask"],
)
def test_bad_mask_shapes_name_the_blocks_arguments(masks, message):
    # Not the names the attention layers give them (attention_mask, query_mask, key_mask).
    block = TransformerDecoderBlock(num_heads=2, intermediate_dim=8)
    with pytest.raises(ValueError, match=re.escape(message)):
        block(random_normal(B, T, DIM), random_normal(B, S, DIM), **masks)


def test_bad_cached_self_attention_mask_shape():
    block = TransformerDecoderBlock(num_heads=2, intermediate_dim=8)
    block(random_normal(B, T, DIM))
    cache = block.self_attention.get_empty_cache(batch_size=B, max_length=8)
    message = ("Axis 2 of `decoder_attention_mask` must equal the key length (8). "
               "Received: decoder_attention_mask.shape=(2, 1, 6)")
    with pytest.raises(ValueError, match=re.escape(message)):  # (B, 1, max_length) with a cache
        block(random_normal(B, 1, DIM), decoder_attention_mask=np.ones((B, 1, T), bool),
              self_attention_cache=cache, self_attention_cache_update_index=0)
