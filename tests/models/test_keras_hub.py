"""from_keras_hub: keras-hub's GPT-2 and Llama backbones as GPTs with the same logits."""

import keras
import keras_hub
import numpy as np
import pytest

from keras_attn.generation import GPTGenerator
from keras_attn.models import GPTConfig
from keras_attn.models import build_gpt
from keras_attn.models import from_keras_hub
from keras_attn.models import keras_hub as keras_hub_import
from tests.helpers import sharpen

VOCABULARY = 100


def randomize(backbone, seed=0):
    """Random values in every weight, norms and biases included (not their ones
    and zeros), so a weight copied to the wrong role changes the logits."""
    rng = np.random.default_rng(seed)
    backbone.set_weights([
        (rng.normal(size=w.shape) * 0.2 if w.ndim > 1 else 1 + 0.1 * rng.normal(size=w.shape))
        .astype("float32")
        for w in backbone.get_weights()
    ])
    return backbone


def gpt2(**overrides):
    config = dict(vocabulary_size=VOCABULARY, num_layers=2, num_heads=4, hidden_dim=32,
                  intermediate_dim=64, max_sequence_length=16, dropout=0.0)
    return keras_hub.models.GPT2Backbone(**{**config, **overrides})


def llama(**overrides):
    config = dict(vocabulary_size=VOCABULARY, num_layers=2, num_query_heads=4,
                  num_key_value_heads=2, hidden_dim=32, intermediate_dim=48,
                  rope_max_wavelength=500)
    return keras_hub.models.LlamaBackbone(**{**config, **overrides})


def keras_hub_logits(causal_lm_class, backbone, token_ids):
    causal_lm = causal_lm_class(backbone=backbone, preprocessor=None)
    return np.asarray(causal_lm({"token_ids": token_ids, "padding_mask": np.ones_like(token_ids)}))


def assert_relatively_close(ours, theirs, tolerance=1e-5):
    """`ours` equals `theirs` to `tolerance` relative to the largest logit."""
    error = np.max(np.abs(np.asarray(ours) - theirs)) / np.max(np.abs(theirs))
    assert error <= tolerance, error


TOKEN_IDS = np.random.default_rng(1).integers(0, VOCABULARY, size=(2, 12)).astype("int32")


def test_gpt2_logits_equal_keras_hubs():
    backbone = randomize(gpt2())
    model = from_keras_hub(backbone)
    assert model.config == GPTConfig(
        vocabulary_size=VOCABULARY, max_sequence_length=16, num_layers=2, num_heads=4,
        hidden_dim=32, intermediate_dim=64, activation="gelu_approximate",
    )
    assert model.count_params() == backbone.count_params()
    theirs = keras_hub_logits(keras_hub.models.GPT2CausalLM, backbone, TOKEN_IDS)
    assert_relatively_close(model(TOKEN_IDS), theirs)


@pytest.mark.parametrize("tied", [False, True], ids=["untied", "tied"])
def test_llama_logits_equal_keras_hubs(tied):
    backbone = randomize(llama(tie_word_embeddings=tied))
    model = from_keras_hub(backbone, max_sequence_length=32)
    config = model.config
    assert (config.position_encoding, config.normalization, config.activation) == (
        "rotary", "rms_norm", "swiglu")
    assert (config.num_key_value_heads, config.use_bias, config.tie_embeddings) == (2, False, tied)
    assert (config.rotary_max_wavelength, config.max_sequence_length) == (500.0, 32)
    assert (model.lm_head is None) == tied
    assert model.count_params() == backbone.count_params()
    theirs = keras_hub_logits(keras_hub.models.LlamaCausalLM, backbone, TOKEN_IDS)
    assert_relatively_close(model(TOKEN_IDS), theirs)


def test_llama_context_defaults_to_1024():
    assert from_keras_hub(llama(num_layers=1)).config.max_sequence_length == 1024


def test_gpt2_124m_shapes_have_equal_weight_counts():
    """Built, not run: the gpt2 preset is GPT-2 124M's shape."""
    backbone = keras_hub.models.GPT2Backbone(
        vocabulary_size=50257, num_layers=12, num_heads=12, hidden_dim=768,
        intermediate_dim=3072, max_sequence_length=1024,
    )
    ours = build_gpt(GPTConfig.preset("gpt2"))
    assert ours.count_params() == backbone.count_params() == 124_439_808


def test_a_backbone_weight_left_unmapped_is_refused_by_name(monkeypatch):
    """The check after the copy: a weight of the backbone that no role reads (here the
    position table, dropped from the mapping) fails instead of being ignored."""
    mapping = keras_hub_import._gpt2_weights
    monkeypatch.setattr(
        keras_hub_import, "_gpt2_weights",
        lambda model, backbone: (pair for pair in mapping(model, backbone)
                                 if "position" not in pair[1].path),
    )
    with pytest.raises(ValueError, match=r"`backbone` has weights from_keras_hub does not map "
                                         r".*\['position_embedding/embeddings'\]"):
        from_keras_hub(gpt2())


def test_a_weight_copied_to_a_role_of_another_shape_is_refused_by_name(monkeypatch):
    mapping = keras_hub_import._llama_weights
    monkeypatch.setattr(
        keras_hub_import, "_llama_weights",
        # lm_head's pair reads the reverse embedding into the final norm's place instead.
        lambda model, backbone: (
            (model.final_layer_norm.scale, theirs) if "lm_head" in ours.path else (ours, theirs)
            for ours, theirs in mapping(model, backbone)
        ),
    )
    with pytest.raises(ValueError, match=r"has shape \(32, 100\), but its role in the GPT, "
                                         r"final_layer_norm/scale, has shape \(32,\)"):
        from_keras_hub(llama())


class SlidingWindowLlama(keras_hub.models.LlamaBackbone):
    """A Llama with a config field from_keras_hub does not know (Mistral's window)."""

    def get_config(self):
        return {**super().get_config(), "sliding_window": 8}


@pytest.mark.parametrize(
    "make_backbone, kwargs, message",
    [
        (lambda: llama(rope_position_scaling_factor=2.0), {},
         r"`backbone.rope_position_scaling_factor` must be 1.0 \(keras-hub's Llama does not "
         r"apply it\). Received: rope_position_scaling_factor=2.0"),
        (lambda: llama(rope_frequency_adjustment_factor=8.0, rope_low_freq_factor=1.0,
                       rope_high_freq_factor=4.0, rope_pretraining_sequence_length=64), {},
         r"`backbone.rope_frequency_adjustment_factor` must be None \(Llama 3.1's rope "
         r"scaling is not implemented\). Received: rope_frequency_adjustment_factor=8.0"),
        (lambda: SlidingWindowLlama(vocabulary_size=VOCABULARY, num_layers=1, num_query_heads=2,
                                    num_key_value_heads=1, hidden_dim=16, intermediate_dim=32),
         {}, r"`backbone.sliding_window` is not implemented by from_keras_hub and would change "
             r"the numbers. Received: sliding_window=8"),
        (gpt2, {"max_sequence_length": 32},
         r"`max_sequence_length` must be None for a GPT-2 backbone, whose context is its "
         r"position table \(16 rows\). Received: max_sequence_length=32"),
        (llama, {"max_sequence_length": 0},
         r"`max_sequence_length` must be a positive integer or None. "
         r"Received: max_sequence_length=0"),
        (lambda: keras_hub.models.GPTNeoXBackbone(
            vocabulary_size=VOCABULARY, num_layers=1, num_heads=2, hidden_dim=16,
            intermediate_dim=32),
         {}, r"`backbone` must be a keras_hub.models.GPT2Backbone or LlamaBackbone. "
             r"Received: backbone=GPTNeoXBackbone"),
    ],
    ids=["rope_position_scaling", "llama3_rope_scaling", "sliding_window",
         "gpt2_context", "llama_context", "other_family"],
)
def test_unsupported_variants_are_refused_by_name(make_backbone, kwargs, message):
    with pytest.raises(ValueError, match=message):
        from_keras_hub(make_backbone(), **kwargs)


def test_a_logit_soft_cap_is_refused():
    backbone = gpt2(num_layers=1)
    backbone.token_embedding.logit_soft_cap = 30.0
    with pytest.raises(ValueError, match=r"`backbone.token_embedding.logit_soft_cap` must be "
                                         r"None .* Received: logit_soft_cap=30.0"):
        from_keras_hub(backbone)


@pytest.mark.parametrize("family", ["gpt2", "llama"])
def test_cached_generation_of_an_imported_model_equals_recomputation(family):
    backbone = sharpen(gpt2() if family == "gpt2" else llama())
    model = from_keras_hub(backbone, **({} if family == "gpt2" else {"max_sequence_length": 16}))
    generator = GPTGenerator(model)
    prompts = [[5, 6, 7], [8], [9, 10, 11, 12, 13]]
    assert generator.generate(prompts, 8) == generator.generate_by_recomputation(prompts, 8)


def test_the_imported_model_is_float32_from_a_bfloat16_backbone():
    backbone = gpt2(num_layers=1, dtype="bfloat16")
    model = from_keras_hub(backbone)
    assert {w.dtype for w in model.weights} == {"float32"}
    np.testing.assert_array_equal(
        model.embedding.token_embedding.embeddings.numpy(),
        keras.ops.convert_to_numpy(keras.ops.cast(backbone.token_embedding.embeddings, "float32")),
    )


def test_an_imported_model_fine_tunes_with_fit_and_exports_again(tmp_path):
    import tensorflow as tf

    from keras_attn.export import export_generator
    from keras_attn.text import ByteTokenizer
    from keras_attn.training import AdamW
    from keras_attn.training import MaskedSparseCategoricalCrossentropy

    model = from_keras_hub(llama(vocabulary_size=256))
    ids = np.frombuffer(b"to be or not to be, that is the question. " * 8, np.uint8).astype("int32")
    windows = np.stack([ids[i : i + 17] for i in range(0, 160, 5)])  # (32, 17)
    model.compile(optimizer=AdamW(3e-3), loss=MaskedSparseCategoricalCrossentropy(pad_id=None))
    before = model.evaluate(windows[:, :-1], windows[:, 1:], verbose=0)
    model.fit(windows[:, :-1], windows[:, 1:], batch_size=8, epochs=3, verbose=0)
    after = model.evaluate(windows[:, :-1], windows[:, 1:], verbose=0)
    assert after < 0.8 * before, (before, after)
    served = tf.saved_model.load(str(export_generator(model, ByteTokenizer(), tmp_path / "ft")))
    np.testing.assert_allclose(
        served.signatures["logits"](token_ids=tf.constant(windows[:2, :-1]))["logits"],
        model(windows[:2, :-1]), atol=1e-4)
