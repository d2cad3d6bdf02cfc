"""keras-hub's GPT-2 and Llama backbones as keras_attn `GPT`s, weight for weight.

```
keras_hub.models.GPT2Backbone   -> GPT: learned positions, LayerNorm, tanh GELU,
                                   tied head, biases (the "gpt2" preset's shape)
keras_hub.models.LlamaBackbone  -> GPT: rotary positions, RMSNorm, SwiGLU,
                                   grouped-query attention, no biases, head
                                   untied (lm_head) or tied, as the backbone's
```

Each weight is copied by its role (block `i`'s query kernel to block `i`'s
query kernel), with its shape checked. Then both sides are checked: every
weight of the new model was written and every weight of the backbone was
read, so a variant with a weight this module does not know fails here
instead of serving wrong numbers. A backbone setting that would change the
numbers and is not implemented (Llama 3.1's rope scaling, a logit soft cap,
a sliding window, ...) is refused with a `ValueError` naming it.

The model is built in the current Keras dtype policy (float32 by default);
weights are cast to it.
"""

import keras
import keras_hub

from keras_attn.checks import check_positive_int
from keras_attn.models.gpt import GPT
from keras_attn.models.gpt import GPTConfig

# A Llama backbone has no position table, so the context is a choice: this
# is keras-hub's CausalLMPreprocessor default `sequence_length`.
DEFAULT_LLAMA_CONTEXT_LENGTH = 1024

# Backbone config fields read below (or without effect on the numbers). Any
# other field that is set (not None, False or 0) is refused: it may be a
# feature a later keras-hub added, such as a sliding window.
_COMMON_FIELDS = {"name", "trainable", "dtype", "vocabulary_size", "num_layers", "hidden_dim",
                  "intermediate_dim", "dropout"}
_GPT2_FIELDS = _COMMON_FIELDS | {"num_heads", "max_sequence_length"}
_LLAMA_FIELDS = _COMMON_FIELDS | {
    "num_query_heads", "num_key_value_heads", "rope_max_wavelength", "layer_norm_epsilon",
    "tie_word_embeddings",
}
# Llama fields that must keep their default: `(default, why)`.
_LLAMA_DEFAULTS_ONLY = {
    # keras-hub's LlamaRotaryEmbedding does not apply this factor, so its
    # logits and a model that did would disagree on what it means.
    "rope_position_scaling_factor": (1.0, "keras-hub's Llama does not apply it"),
    # Llama 3.1's frequency-dependent rope scaling ("rope_type": "llama3").
    **{
        field: (None, "Llama 3.1's rope scaling is not implemented")
        for field in ("rope_frequency_adjustment_factor", "rope_low_freq_factor",
                      "rope_high_freq_factor", "rope_pretraining_sequence_length")
    },
}


def from_keras_hub(backbone, max_sequence_length=None):
    """A `GPT` with the architecture and weights of a keras-hub backbone.

    Its logits equal keras-hub's `GPT2CausalLM` or `LlamaCausalLM` on the
    same backbone (to float round-off), and it trains, generates and
    exports like any `GPT`.

    Args:
        backbone: a `keras_hub.models.GPT2Backbone` or `LlamaBackbone`
            (`Llama3Backbone` included), e.g. from `from_preset`.
        max_sequence_length: the model's context. GPT-2's is its position
            table, so leave it None (or give the table's length). For Llama
            it defaults to `DEFAULT_LLAMA_CONTEXT_LENGTH` (1024).

    Returns:
        A `GPT`, with `model.config` describing it.

    Raises:
        ValueError: `backbone` is of another family, or sets a field that
            would change the numbers and is not implemented (the message
            names the field and its value).

    Example:

    >>> import keras_hub, numpy as np
    >>> backbone = keras_hub.models.GPT2Backbone(
    ...     vocabulary_size=50, num_layers=1, num_heads=2, hidden_dim=16,
    ...     intermediate_dim=32, max_sequence_length=8)
    >>> model = from_keras_hub(backbone)
    >>> model.config.activation, model.count_params() == backbone.count_params()
    ('gelu_approximate', True)
    >>> ids = np.array([[1, 2, 3]])
    >>> theirs = keras_hub.models.GPT2CausalLM(backbone, preprocessor=None)(
    ...     {"token_ids": ids, "padding_mask": np.ones_like(ids)})
    >>> bool(np.allclose(model(ids), theirs, atol=1e-6))
    True
    >>> from_keras_hub(keras_hub.models.LlamaBackbone(
    ...     vocabulary_size=50, num_layers=1, num_query_heads=2, num_key_value_heads=1,
    ...     hidden_dim=16, intermediate_dim=32, rope_position_scaling_factor=4.0))
    Traceback (most recent call last):
    ...
    ValueError: `backbone.rope_position_scaling_factor` must be 1.0 (keras-hub's Llama does not apply it). Received: rope_position_scaling_factor=4.0
    """
    if isinstance(backbone, keras_hub.models.GPT2Backbone):
        config = _gpt2_config(backbone, max_sequence_length)
        pairs = _gpt2_weights
    elif isinstance(backbone, keras_hub.models.LlamaBackbone):
        config = _llama_config(backbone, max_sequence_length)
        pairs = _llama_weights
    else:
        raise ValueError(
            "`backbone` must be a keras_hub.models.GPT2Backbone or LlamaBackbone. "
            f"Received: backbone={type(backbone).__name__}"
        )
    logit_soft_cap = getattr(backbone.token_embedding, "logit_soft_cap", None)
    if logit_soft_cap is not None:
        raise ValueError(
            "`backbone.token_embedding.logit_soft_cap` must be None (a soft cap of the "
            f"logits is not implemented). Received: logit_soft_cap={logit_soft_cap!r}"
        )
    model = GPT(config)
    _copy_weights(pairs(model, backbone), model, backbone)
    return model


def _check_fields(backbone, known):
    for field, value in backbone.get_config().items():
        if field not in known and value not in (None, False, 0):
            raise ValueError(
                f"`backbone.{field}` is not implemented by from_keras_hub and would "
                f"change the numbers. Received: {field}={value!r}"
            )


def _gpt2_config(backbone, max_sequence_length):
    _check_fields(backbone, _GPT2_FIELDS)
    if max_sequence_length not in (None, backbone.max_sequence_length):
        raise ValueError(
            "`max_sequence_length` must be None for a GPT-2 backbone, whose context is "
            f"its position table ({backbone.max_sequence_length} rows). "
            f"Received: max_sequence_length={max_sequence_length!r}"
        )
    return GPTConfig(
        vocabulary_size=backbone.vocabulary_size,
        max_sequence_length=backbone.max_sequence_length,
        num_layers=backbone.num_layers,
        num_heads=backbone.num_heads,
        hidden_dim=backbone.hidden_dim,
        intermediate_dim=backbone.intermediate_dim,
        dropout=float(backbone.dropout),
        activation="gelu_approximate",
        layer_norm_epsilon=float(backbone.layer_norm.epsilon),
        normalize_first=True,
        tie_embeddings=True,
        position_encoding="learned",
        normalization="layer_norm",
        use_bias=True,
    )


def _llama_config(backbone, max_sequence_length):
    _check_fields(backbone, _LLAMA_FIELDS | set(_LLAMA_DEFAULTS_ONLY))
    for field, (default, why) in _LLAMA_DEFAULTS_ONLY.items():
        value = getattr(backbone, field)
        if value != default:
            raise ValueError(
                f"`backbone.{field}` must be {default} ({why}). Received: {field}={value!r}"
            )
    check_positive_int("max_sequence_length", max_sequence_length, allow_none=True)
    return GPTConfig(
        vocabulary_size=backbone.vocabulary_size,
        max_sequence_length=max_sequence_length or DEFAULT_LLAMA_CONTEXT_LENGTH,
        num_layers=backbone.num_layers,
        num_heads=backbone.num_query_heads,
        num_key_value_heads=backbone.num_key_value_heads,
        hidden_dim=backbone.hidden_dim,
        intermediate_dim=backbone.intermediate_dim,
        dropout=float(backbone.dropout),
        activation="swiglu",
        layer_norm_epsilon=float(backbone.layer_norm_epsilon),
        normalize_first=True,
        # The layer, not the config: keras-hub's get_config leaves the flag out.
        tie_embeddings=bool(backbone.token_embedding.tie_weights),
        position_encoding="rotary",
        normalization="rms_norm",
        use_bias=False,
        rotary_max_wavelength=float(backbone.rope_max_wavelength),
    )


# -- weights, by role: (ours, theirs) pairs ---------------------------------


def _dense(ours, theirs):
    """A Dense or EinsumDense: kernel, and bias where either side has one."""
    yield ours.kernel, theirs.kernel
    if getattr(ours, "bias", None) is not None or getattr(theirs, "bias", None) is not None:
        yield getattr(ours, "bias", None), getattr(theirs, "bias", None)


def _attention(ours, theirs):
    """Our MultiHeadAttention, and keras's (GPT-2's) or LlamaAttention: same layouts."""
    yield from _dense(ours.query_dense, theirs._query_dense)  # (dim, heads, head_dim)
    yield from _dense(ours.key_dense, theirs._key_dense)  # (dim, kv_heads, head_dim)
    yield from _dense(ours.value_dense, theirs._value_dense)
    yield from _dense(ours.output_dense, theirs._output_dense)  # (heads, head_dim, dim)


def _layer_norm(ours, theirs):
    yield ours.gamma, theirs.gamma
    yield ours.beta, theirs.beta


def _gpt2_weights(model, backbone):
    embedding = model.embedding
    yield embedding.token_embedding.embeddings, backbone.token_embedding.embeddings
    yield embedding.position_embedding.embeddings, backbone.position_embedding.position_embeddings
    for ours, theirs in zip(model.transformer_blocks, backbone.transformer_layers, strict=True):
        yield from _attention(ours.self_attention, theirs._self_attention_layer)
        yield from _layer_norm(ours.self_attention_layer_norm, theirs._self_attention_layer_norm)
        feed_forward = ours.feed_forward
        yield from _dense(feed_forward.intermediate_dense, theirs._feedforward_intermediate_dense)
        yield from _dense(feed_forward.output_dense, theirs._feedforward_output_dense)
        yield from _layer_norm(ours.feed_forward_layer_norm, theirs._feedforward_layer_norm)
    yield from _layer_norm(model.final_layer_norm, backbone.layer_norm)
    # The head is the token embedding, reversed: nothing more to copy.


def _llama_weights(model, backbone):
    yield model.embedding.token_embedding.embeddings, backbone.token_embedding.embeddings
    for ours, theirs in zip(model.transformer_blocks, backbone.transformer_layers, strict=True):
        yield from _attention(ours.self_attention, theirs._self_attention_layer)
        yield ours.self_attention_layer_norm.scale, theirs._self_attention_layernorm.scale
        # silu(x W_gate) * (x W_intermediate), then W_output, on both sides.
        feed_forward = ours.feed_forward
        yield from _dense(feed_forward.intermediate_dense, theirs._feedforward_intermediate_dense)
        yield from _dense(feed_forward.gate_dense, theirs._feedforward_gate_dense)
        yield from _dense(feed_forward.output_dense, theirs._feedforward_output_dense)
        yield ours.feed_forward_layer_norm.scale, theirs._feedforward_layernorm.scale
    yield model.final_layer_norm.scale, backbone.layer_norm.scale
    if model.lm_head is not None:
        yield model.lm_head.kernel, backbone.token_embedding.reverse_embeddings  # (dim, vocab)


def _copy_weights(pairs, model, backbone):
    """Assigns each pair, then checks that no weight of either side was missed."""
    written, read = set(), set()
    for ours, theirs in pairs:
        if ours is None or theirs is None:
            present = theirs if ours is None else ours
            raise ValueError(
                f"`backbone` and the GPT differ in structure: {present.path} has no "
                f"counterpart on the {'GPT' if ours is None else 'backbone'}'s side."
            )
        if tuple(ours.shape) != tuple(theirs.shape):
            raise ValueError(
                f"`backbone` weight {theirs.path} has shape {tuple(theirs.shape)}, but its "
                f"role in the GPT, {ours.path}, has shape {tuple(ours.shape)}."
            )
        ours.assign(keras.ops.cast(theirs.value, ours.dtype))
        written.add(id(ours))
        read.add(id(theirs))
    unread = [w.path for w in backbone.weights if id(w) not in read]
    if unread:
        raise ValueError(
            f"`backbone` has weights from_keras_hub does not map (a variant it does not "
            f"implement). Received: backbone with {unread}"
        )
    unwritten = [w.path for w in model.weights if id(w) not in written]
    if unwritten:  # a mapping above forgot a weight of ours: a bug here
        raise RuntimeError(f"from_keras_hub left these GPT weights unset: {unwritten}")
