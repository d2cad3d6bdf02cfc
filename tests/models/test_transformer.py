import dataclasses

import keras
import numpy as np
import pytest

from keras_attn.layers import TokenAndPositionEmbedding
from keras_attn.layers import TokenAndSinusoidalEncoding
from keras_attn.layers.masking import keras_mask
from keras_attn.models import TRANSFORMER_PRESETS
from keras_attn.models import TransformerConfig
from keras_attn.models import build_transformer
from tests.helpers import assert_fit_trains

SOURCE_VOCAB, TARGET_VOCAB = 30, 20
# A small translator that compiles and trains in seconds.
TINY = TransformerConfig(vocabulary_size=SOURCE_VOCAB, decoder_vocabulary_size=TARGET_VOCAB,
                         max_sequence_length=16, num_layers=2, num_heads=2, hidden_dim=32,
                         dropout=0.0)
# Sources of lengths 3 and 5, targets of lengths 3 and 4; 0 is padding.
ENCODER_IDS = np.array([[3, 4, 5, 0, 0], [6, 7, 8, 9, 2]], "int32")
DECODER_IDS = np.array([[1, 12, 13, 0], [1, 15, 16, 17]], "int32")
INPUTS = {"encoder_token_ids": ENCODER_IDS, "decoder_token_ids": DECODER_IDS}
VARIANTS = [
    pytest.param({"position_encoding": p, "tie_embeddings": t}, id=f"{p}-{'tied' if t else 'untied'}")
    for p in ("sinusoidal", "learned")
    for t in (True, False)
]


def logits(model, encoder_ids, decoder_ids):
    out = model({"encoder_token_ids": encoder_ids, "decoder_token_ids": decoder_ids})
    return keras.ops.convert_to_numpy(out)


@pytest.mark.parametrize("variant", VARIANTS)
def test_output_shape_dtype_and_mask(variant):
    model = build_transformer(dataclasses.replace(TINY, **variant))
    assert {k: (v.dtype, v.shape) for k, v in model.input.items()} == {
        "encoder_token_ids": ("int32", (None, None)),
        "decoder_token_ids": ("int32", (None, None)),
    }
    out = model(INPUTS)
    assert tuple(out.shape) == (2, 4, TARGET_VOCAB)
    assert keras.backend.standardize_dtype(out.dtype) == "float32"
    # The logits carry the decoder padding mask, for the loss to use.
    np.testing.assert_array_equal(keras_mask(out), DECODER_IDS != 0)


@pytest.mark.parametrize("variant", VARIANTS)
def test_layer_names(variant):
    config = dataclasses.replace(TINY, **variant)
    model = build_transformer(config)
    names = [layer.name for layer in model.layers]
    head = [] if config.tie_embeddings else ["lm_head"]
    assert sorted(names) == sorted([
        "encoder_token_ids", "encoder_embedding", "encoder_embedding_dropout",
        "encoder_block_0", "encoder_block_1", "encoder_final_layer_norm",
        "decoder_token_ids", "decoder_embedding", "decoder_embedding_dropout",
        "decoder_block_0", "decoder_block_1", "decoder_final_layer_norm", *head, "logits",
    ])
    assert names.index("encoder_block_1") < names.index("decoder_block_0")
    assert model.get_layer("decoder_block_0").has_cross_attention
    if config.position_encoding == "sinusoidal":
        classes = (TokenAndSinusoidalEncoding, TokenAndSinusoidalEncoding)
    else:
        classes = (TokenAndPositionEmbedding, TokenAndPositionEmbedding)
    assert (type(model.get_layer("encoder_embedding")),
            type(model.get_layer("decoder_embedding"))) == classes


def test_post_norm_has_no_final_layer_norms():
    model = build_transformer(dataclasses.replace(TINY, normalize_first=False))
    assert not [layer.name for layer in model.layers if "final_layer_norm" in layer.name]


def test_base_preset_parameter_count():
    model = build_transformer(TransformerConfig.preset("base"))
    d, ff, vocab = 512, 2048, 37000
    attention, feed_forward, norm = 4 * (d * d + d), d * ff + ff + ff * d + d, 2 * d
    encoder_block = attention + feed_forward + 2 * norm
    decoder_block = 2 * attention + feed_forward + 3 * norm
    # Post-norm: no final norms. Tied: no lm_head. Sinusoidal: no position weights.
    assert model.count_params() == 2 * vocab * d + 6 * (encoder_block + decoder_block)
    assert model.count_params() == 82_026_496


def test_tied_vs_untied_weights():
    tied = build_transformer(TINY)
    untied = build_transformer(dataclasses.replace(TINY, tie_embeddings=False))
    assert untied.count_params() - tied.count_params() == TARGET_VOCAB * TINY.hidden_dim


@pytest.mark.parametrize("variant", VARIANTS)
def test_padding_is_masked(variant):
    model = build_transformer(dataclasses.replace(TINY, **variant))
    full = logits(model, ENCODER_IDS, DECODER_IDS)
    # The first pair without its padding gives the same logits at real positions...
    unpadded = logits(model, ENCODER_IDS[:1, :3], DECODER_IDS[:1, :3])
    np.testing.assert_allclose(full[0, :3], unpadded[0], atol=1e-5)
    # ... and so does more padding on both sides.
    pad = lambda ids: np.pad(ids, ((0, 0), (0, 3)))  # noqa: E731
    padded = logits(model, pad(ENCODER_IDS), pad(DECODER_IDS))
    np.testing.assert_allclose(full[0, :3], padded[0, :3], atol=1e-5)
    np.testing.assert_allclose(full[1], padded[1, :4], atol=1e-5)
    # While a real source token does change them.
    changed = ENCODER_IDS.copy()
    changed[0, 1] = 11
    assert not np.allclose(full[0, :3], logits(model, changed, DECODER_IDS)[0, :3], atol=1e-3)


@pytest.mark.parametrize("variant", VARIANTS)
def test_causal(variant):
    model = build_transformer(dataclasses.replace(TINY, **variant))
    changed = DECODER_IDS.copy()
    changed[1, 2:] = [3, 4]  # the future of position 1
    before, after = logits(model, ENCODER_IDS, DECODER_IDS), logits(model, ENCODER_IDS, changed)
    np.testing.assert_allclose(before[:, :2], after[:, :2], atol=1e-5)
    np.testing.assert_allclose(before[0], after[0], atol=1e-5)
    assert not np.allclose(before[1, 2:], after[1, 2:], atol=1e-3)


@pytest.mark.parametrize("variant", VARIANTS)
def test_save_and_load(variant, tmp_path):
    model = build_transformer(dataclasses.replace(TINY, **variant, dropout=0.1))
    path = tmp_path / "transformer.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    np.testing.assert_array_equal(
        logits(model, ENCODER_IDS, DECODER_IDS), logits(loaded, ENCODER_IDS, DECODER_IDS)
    )
    assert [w.path for w in loaded.weights] == [w.path for w in model.weights]
    assert loaded.count_params() == model.count_params()


def copy_pairs(n, length, seed=0):
    """Translation pairs `x -> x` with 1 as the start token and 2 as the end token."""
    rng = np.random.default_rng(seed)
    lengths = rng.integers(2, length + 1, size=n)
    source = np.zeros((n, length), "int32")
    for i, k in enumerate(lengths):
        source[i, :k] = rng.integers(3, TARGET_VOCAB, size=k)
    decoder_in = np.pad(source, ((0, 0), (1, 0)), constant_values=1)  # [1] + x
    target = np.pad(source, ((0, 0), (0, 1)))
    target[np.arange(n), lengths] = 2  # x + [2]
    return {"encoder_token_ids": source, "decoder_token_ids": decoder_in}, target


def test_fit_jit_compile_is_finite_and_loss_falls():
    model = build_transformer(dataclasses.replace(TINY, num_layers=1))  # compiles faster
    model.compile(
        optimizer=keras.optimizers.Adam(1e-2),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        jit_compile=True,
    )
    x, y = copy_pairs(32, 6)
    assert_fit_trains(model, x, y)


@pytest.mark.parametrize("policy", ["mixed_float16", "mixed_bfloat16"])
def test_mixed_precision_logits_are_float32(policy):
    keras.config.set_dtype_policy(policy)
    model = build_transformer(TINY)
    out = model(INPUTS)
    assert keras.backend.standardize_dtype(out.dtype) == "float32"
    assert np.all(np.isfinite(np.asarray(out)))
    assert {w.dtype for w in model.weights} == {"float32"}


def test_presets():
    assert list(TRANSFORMER_PRESETS) == ["tiny", "small", "base"]
    base = TransformerConfig.preset("base")
    assert (base.num_layers, base.hidden_dim, base.intermediate_dim, base.num_heads,
            base.dropout, base.normalize_first, base.activation) == (
        6, 512, 2048, 8, 0.1, False, "relu")
    tiny = TransformerConfig.preset("tiny")
    assert tiny == TransformerConfig()
    assert tiny.num_layers * tiny.hidden_dim < base.num_layers * base.hidden_dim


def test_vocabulary_sizes_default_to_the_shared_one():
    config = TransformerConfig(vocabulary_size=300)
    assert (config.encoder_vocabulary_size, config.decoder_vocabulary_size) == (300, 300)
    config = TransformerConfig(vocabulary_size=300, encoder_vocabulary_size=100)
    assert (config.encoder_vocabulary_size, config.decoder_vocabulary_size) == (100, 300)
    assert TransformerConfig(**dataclasses.asdict(config)) == config


def test_unknown_preset():
    with pytest.raises(ValueError, match=r"`name` must be one of \('tiny', 'small', 'base'\)\. "
                                         r"Received: name='large'"):
        TransformerConfig.preset("large")


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"encoder_vocabulary_size": 0}, "Received: encoder_vocabulary_size=0"),
        ({"decoder_vocabulary_size": "8"}, "Received: decoder_vocabulary_size='8'"),
        ({"hidden_dim": 130, "num_heads": 4},
         "`hidden_dim` must be divisible by `num_heads`. Received: hidden_dim=130, num_heads=4"),
        ({"position_encoding": "rotary"},
         r"`position_encoding` must be one of \('sinusoidal', 'learned'\). "
         "Received: position_encoding='rotary'"),
        ({"dropout": -0.1}, "Received: dropout=-0.1"),
        ({"num_layers": 0}, "Received: num_layers=0"),
    ],
)
def test_bad_config_values(overrides, message):
    with pytest.raises(ValueError, match=message):
        TransformerConfig(**overrides)


def test_build_needs_a_config():
    with pytest.raises(TypeError, match="`config` must be a TransformerConfig"):
        build_transformer({"num_layers": 2})
