import dataclasses

import keras
import numpy as np
import pytest

from keras_attn.layers import TokenAndPositionEmbedding
from keras_attn.layers.masking import keras_mask
from keras_attn.models import GPT_PRESETS
from keras_attn.models import GPTConfig
from keras_attn.models import build_gpt
from tests.helpers import assert_fit_trains

VOCAB, T = 16, 12
# A small GPT that compiles and trains in seconds.
TINY = GPTConfig(vocabulary_size=VOCAB, max_sequence_length=T, num_layers=2, num_heads=2,
                 hidden_dim=32)
IDS = np.random.default_rng(0).integers(0, VOCAB, size=(2, T)).astype("int32")


def logits(model, ids):
    return keras.ops.convert_to_numpy(model(ids))


@pytest.mark.parametrize("tie_embeddings", [True, False])
def test_output_shape_and_dtype(tie_embeddings):
    model = build_gpt(dataclasses.replace(TINY, tie_embeddings=tie_embeddings))
    assert model.input.dtype == "int32" and model.input.name == "token_ids"
    out = model(IDS[:, :5])  # any T <= max_sequence_length
    assert tuple(out.shape) == (2, 5, VOCAB)
    assert keras.backend.standardize_dtype(out.dtype) == "float32"
    assert keras_mask(out) is None  # no padding in GPT


@pytest.mark.parametrize("tie_embeddings", [True, False])
def test_layer_names(tie_embeddings):
    model = build_gpt(dataclasses.replace(TINY, tie_embeddings=tie_embeddings))
    head = [] if tie_embeddings else ["lm_head"]
    assert [layer.name for layer in model.layers] == [
        "token_ids", "embedding", "embedding_dropout", "decoder_block_0", "decoder_block_1",
        "final_layer_norm", *head, "logits",
    ]
    assert type(model.get_layer("embedding")) is TokenAndPositionEmbedding
    assert not model.get_layer("decoder_block_0").has_cross_attention
    assert model.get_layer("decoder_block_0").normalize_first


def test_post_norm_has_no_final_layer_norm():
    model = build_gpt(dataclasses.replace(TINY, normalize_first=False))
    assert "final_layer_norm" not in [layer.name for layer in model.layers]
    assert not model.get_layer("decoder_block_1").normalize_first


def test_block_arguments_come_from_the_config():
    config = dataclasses.replace(TINY, num_heads=4, intermediate_dim=48, dropout=0.1,
                                 activation="swiglu", num_key_value_heads=2,
                                 layer_norm_epsilon=1e-6)
    block = build_gpt(config).get_layer("decoder_block_1")
    assert (block.num_heads, block.intermediate_dim, block.dropout, block.activation,
            block.num_key_value_heads, block.layer_norm_epsilon) == (4, 48, 0.1, "swiglu", 2, 1e-6)


def test_gpt2_parameter_count():
    config = GPTConfig.preset("gpt2")
    model = build_gpt(config)
    # GPT-2 124M: token and position tables, 12 blocks, final norm; tied head.
    d, ff = 768, 3072
    block = (3 * (d * d + d) + d * d + d) + (d * ff + ff + ff * d + d) + 2 * 2 * d
    assert model.count_params() == 50257 * d + 1024 * d + 12 * block + 2 * d == 124_439_808


def test_tied_vs_untied_weights():
    tied = build_gpt(TINY)
    untied = build_gpt(dataclasses.replace(TINY, tie_embeddings=False))
    assert untied.count_params() - tied.count_params() == VOCAB * TINY.hidden_dim
    assert len(untied.weights) == len(tied.weights) + 1
    assert [w.path for w in untied.weights if "lm_head" in w.path] == ["lm_head/kernel"]
    # Tied: the head is the transposed token embedding.
    hidden = keras.Model(tied.input, tied.get_layer("final_layer_norm").output)(IDS)
    embeddings = np.asarray(tied.get_layer("embedding").token_embedding.embeddings)
    np.testing.assert_allclose(logits(tied, IDS), np.asarray(hidden) @ embeddings.T, atol=1e-5)


@pytest.mark.parametrize("tie_embeddings", [True, False])
def test_causal(tie_embeddings):
    model = build_gpt(dataclasses.replace(TINY, tie_embeddings=tie_embeddings))
    changed = IDS.copy()
    changed[:, 7:] = (changed[:, 7:] + 1) % VOCAB  # change the future of position 6
    before, after = logits(model, IDS), logits(model, changed)
    np.testing.assert_allclose(before[:, :7], after[:, :7], atol=1e-5)
    assert not np.allclose(before[:, 7:], after[:, 7:], atol=1e-3)


@pytest.mark.parametrize("tie_embeddings", [True, False])
def test_save_and_load(tie_embeddings, tmp_path):
    model = build_gpt(dataclasses.replace(TINY, tie_embeddings=tie_embeddings, dropout=0.1))
    path = tmp_path / "gpt.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    np.testing.assert_array_equal(logits(model, IDS), logits(loaded, IDS))
    assert [layer.name for layer in loaded.layers] == [layer.name for layer in model.layers]
    assert [w.path for w in loaded.weights] == [w.path for w in model.weights]
    assert loaded.count_params() == model.count_params()  # still tied when tied


def copy_task(vocab, n, half, seed=0):
    """GPT windows `a b c | a b c`: the second half is predictable from the first."""
    first = np.random.default_rng(seed).integers(1, vocab, size=(n, half))
    windows = np.concatenate([first, first, first[:, :1]], axis=1).astype("int32")
    return windows[:, :-1], windows[:, 1:]


def test_fit_jit_compile_is_finite_and_loss_falls():
    model = build_gpt(dataclasses.replace(TINY, num_layers=1))  # compiles faster
    model.compile(
        optimizer=keras.optimizers.Adam(1e-2),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        jit_compile=True,
    )
    x, y = copy_task(VOCAB, 32, T // 2)
    assert_fit_trains(model, x, y)


@pytest.mark.parametrize("policy", ["mixed_float16", "mixed_bfloat16"])
@pytest.mark.parametrize("tie_embeddings", [True, False])
def test_mixed_precision_logits_are_float32(policy, tie_embeddings):
    keras.config.set_dtype_policy(policy)
    model = build_gpt(dataclasses.replace(TINY, tie_embeddings=tie_embeddings))
    out = model(IDS)
    assert keras.backend.standardize_dtype(out.dtype) == "float32"
    assert np.all(np.isfinite(np.asarray(out)))
    assert {w.dtype for w in model.weights} == {"float32"}
    assert model.get_layer("decoder_block_0").compute_dtype == policy.split("_")[1]


def test_presets():
    assert list(GPT_PRESETS) == ["baby", "baby_modern", "shakespeare", "shakespeare_modern",
                                 "mini", "mini_modern", "small", "gpt2"]
    baby = GPTConfig.preset("baby")
    assert (baby.num_layers, baby.num_heads, baby.hidden_dim, baby.max_sequence_length,
            baby.intermediate_dim, baby.dropout) == (4, 4, 128, 64, 512, 0.0)
    assert GPTConfig() == baby
    gpt2 = GPTConfig.preset("gpt2")
    assert (gpt2.num_layers, gpt2.num_heads, gpt2.hidden_dim, gpt2.max_sequence_length,
            gpt2.vocabulary_size, gpt2.tie_embeddings) == (12, 12, 768, 1024, 50257, True)
    mini = GPTConfig.preset("mini", dropout=0.0)
    assert (mini.num_layers, mini.num_heads, mini.hidden_dim, mini.max_sequence_length,
            mini.dropout) == (6, 6, 384, 256, 0.0)
    for name in GPT_PRESETS:
        config = GPTConfig.preset(name)
        if config.activation != "swiglu":
            assert config.intermediate_dim == 4 * config.hidden_dim
    assert GPTConfig.preset("baby", hidden_dim=64).intermediate_dim == 256


def test_config_round_trips_through_a_dict():
    config = GPTConfig.preset("mini", vocabulary_size=65)
    assert GPTConfig(**dataclasses.asdict(config)) == config
    assert GPTConfig(hidden_dim=64, num_heads=2).intermediate_dim == 256


def test_config_is_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        TINY.num_layers = 3


def test_unknown_preset():
    with pytest.raises(ValueError, match=r"`name` must be one of \('baby', 'baby_modern', "
                                         r"'shakespeare', 'shakespeare_modern', 'mini', 'mini_modern', 'small', "
                                         r"'gpt2'\)\. Received: name='gpt3'"):
        GPTConfig.preset("gpt3")


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"vocabulary_size": 0}, "`vocabulary_size` must be a positive integer. Received: vocabulary_size=0"),
        ({"max_sequence_length": 1.5}, "Received: max_sequence_length=1.5"),
        ({"num_layers": -1}, "Received: num_layers=-1"),
        ({"num_heads": True}, "Received: num_heads=True"),
        ({"intermediate_dim": 0}, "Received: intermediate_dim=0"),
        ({"hidden_dim": 100, "num_heads": 3},
         "`hidden_dim` must be divisible by `num_heads`. Received: hidden_dim=100, num_heads=3"),
        ({"num_key_value_heads": 3}, "Received: num_key_value_heads=3, num_heads=4"),
        ({"dropout": 1.0}, r"`dropout` must be a number in \[0, 1\). Received: dropout=1.0"),
        ({"activation": "tanh"}, "Received: activation='tanh'"),
        ({"layer_norm_epsilon": 0}, "Received: layer_norm_epsilon=0"),
        ({"tie_embeddings": "yes"}, "Received: tie_embeddings='yes'"),
        ({"normalize_first": None}, "Received: normalize_first=None"),
    ],
)
def test_bad_config_values(overrides, message):
    with pytest.raises(ValueError, match=message):
        GPTConfig(**overrides)
    with pytest.raises(ValueError, match=message):
        GPTConfig.preset("baby", **overrides)


def test_build_needs_a_config():
    with pytest.raises(TypeError, match="`config` must be a GPTConfig"):
        build_gpt("baby")


@pytest.mark.parametrize(
    "overrides",
    [{}, {"tie_embeddings": False}, {"normalize_first": False}, {"position_encoding": "sinusoidal"},
     {"position_encoding": "rotary", "normalization": "rms_norm", "activation": "swiglu",
      "use_bias": False, "num_key_value_heads": 1}],
    ids=["gpt2", "untied", "post_norm", "sinusoidal", "modern"],
)
def test_call_with_cache_gives_the_model_logits(overrides):
    """A prompt in one call, then one token per call, equals the whole sequence at once."""
    model = build_gpt(dataclasses.replace(TINY, **overrides))
    cache = model.get_empty_cache(2)
    first, cache = model.call_with_cache(IDS[:, :5], cache, 0)
    steps = [first]
    for t in range(5, T):
        step, cache = model.call_with_cache(IDS[:, t : t + 1], cache, t)
        steps.append(step)
    np.testing.assert_allclose(np.concatenate(steps, axis=1), logits(model, IDS), atol=1e-5)


def test_modern_preset_has_the_weights_of_its_twin():
    """RoPE, RMSNorm, SwiGLU, grouped-query attention, no biases: within 1% of the weights."""
    for name in ("baby", "shakespeare", "mini"):
        classic = build_gpt(GPTConfig.preset(name, vocabulary_size=75))
        modern = build_gpt(GPTConfig.preset(f"{name}_modern", vocabulary_size=75))
        assert abs(modern.count_params() / classic.count_params() - 1) < 0.01
    block = modern.transformer_blocks[0]
    assert type(modern.embedding).__name__ == "TokenEmbedding"  # positions are in attention
    assert block.self_attention.use_rotary_embedding and not block.use_bias
    assert type(block.self_attention_layer_norm).__name__ == "RMSNormalization"
    assert block.self_attention.key_dense.kernel.shape == (384, 2, 64)  # 2 key/value heads
    assert not [w for w in modern.weights if w.name == "bias"]


def test_a_gpt_saves_and_loads_as_itself(tmp_path):
    model = build_gpt(dataclasses.replace(TINY, position_encoding="rotary"))
    model.save(tmp_path / "gpt.keras")
    loaded = keras.saving.load_model(tmp_path / "gpt.keras")
    assert type(loaded) is type(model) and loaded.config == model.config
    np.testing.assert_allclose(logits(loaded, IDS), logits(model, IDS), atol=1e-6)


@pytest.mark.parametrize(
    "ids, message",
    [
        (np.zeros((2, 0), "int32"), r"`token_ids` must hold at least one token per row. "
                                    r"Received: token_ids.shape=\(2, 0\)"),
        (np.array([[1, -1]]), r"`token_ids` must be in \[0, 15\] \(the vocabulary\). "
                              "Received: token_ids with values from -1 to 1"),
        (np.array([[1, 16]]), r"`token_ids` must be in \[0, 15\] \(the vocabulary\). "
                              "Received: token_ids with values from 1 to 16"),
        (np.zeros((1, T + 1), "int32"), r"`token_ids` is longer than the position table: 13 > "
                                        r"sequence_length=12. Received: token_ids.shape=\(1, 13\)"),
    ],
    ids=["empty", "negative", "beyond_vocabulary", "too_long"],
)
def test_bad_token_ids_are_refused_by_name(ids, message):
    with pytest.raises(ValueError, match=message):
        build_gpt(TINY)(ids)
