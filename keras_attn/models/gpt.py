"""GPT: a decoder-only Transformer language model, its config and presets.

```
token_ids (B, T)
  -> embedding: tokens + learned positions         (B, T, hidden_dim)
  -> embedding_dropout
  -> decoder_block_0 ... decoder_block_{L-1}       causal self-attention + MLP, pre-norm
  -> final_layer_norm
  -> head: the transposed token embedding (tied) or lm_head (untied)
  -> logits (float32)                              (B, T, vocabulary_size)
```

>>> import numpy as np
>>> model = build_gpt(GPTConfig.preset("baby", vocabulary_size=100))
>>> logits = model(np.zeros((2, 10), "int32"))
>>> tuple(logits.shape)
(2, 10, 100)
"""

import dataclasses

import keras

from keras_attn.layers.token_and_position_embedding import TokenAndPositionEmbedding
from keras_attn.layers.transformer_decoder_block import TransformerDecoderBlock
from keras_attn.models.config_checks import check_model_fields
from keras_attn.models.config_checks import config_from_preset

# Presets leave intermediate_dim at None (4 * hidden_dim), so that it follows
# an overridden hidden_dim.
GPT_PRESETS = {
    # Character- or byte-level Shakespeare on a laptop CPU (about 0.8M weights).
    "baby": dict(
        vocabulary_size=256,
        max_sequence_length=64,
        num_layers=4,
        num_heads=4,
        hidden_dim=128,
        dropout=0.0,
    ),
    # nanoGPT's shakespeare-char model (about 10.8M weights).
    "mini": dict(
        vocabulary_size=256,
        max_sequence_length=256,
        num_layers=6,
        num_heads=6,
        hidden_dim=384,
        dropout=0.2,
    ),
    # Between mini and GPT-2 (about 25.6M weights with 256 tokens).
    "small": dict(
        vocabulary_size=256,
        max_sequence_length=512,
        num_layers=8,
        num_heads=8,
        hidden_dim=512,
        dropout=0.1,
    ),
    # The shape of GPT-2 124M (124,439,808 weights).
    "gpt2": dict(
        vocabulary_size=50257,
        max_sequence_length=1024,
        num_layers=12,
        num_heads=12,
        hidden_dim=768,
        dropout=0.1,
    ),
}


@dataclasses.dataclass(frozen=True)
class GPTConfig:
    """The hyperparameters of `build_gpt`. The defaults are the "baby" preset.

    The config is frozen; change it with `dataclasses.replace(config, ...)`,
    which checks the fields again. `dataclasses.asdict(config)` gives a
    JSON-ready dict, and `GPTConfig(**that_dict)` the config back.

    Example:

    >>> config = GPTConfig.preset("gpt2", dropout=0.0)
    >>> config.num_layers, config.hidden_dim, config.intermediate_dim, config.dropout
    (12, 768, 3072, 0.0)
    >>> GPTConfig(hidden_dim=100, num_heads=3)
    Traceback (most recent call last):
    ...
    ValueError: `hidden_dim` must be divisible by `num_heads`. Received: hidden_dim=100, num_heads=3
    """

    vocabulary_size: int = 256  # token ids are 0 ... vocabulary_size - 1
    max_sequence_length: int = 64  # context length: rows of the position table
    num_layers: int = 4  # decoder blocks
    num_heads: int = 4  # attention heads per block; must divide hidden_dim
    hidden_dim: int = 128  # model width (embedding size)
    intermediate_dim: int | None = None  # feed-forward hidden width; None: 4 * hidden_dim
    dropout: float = 0.0  # on embeddings, attention weights, MLP hidden, residual branches
    activation: str = "gelu"  # feed-forward: "relu", "gelu", "silu" or "swiglu"
    layer_norm_epsilon: float = 1e-5
    normalize_first: bool = True  # pre-norm (GPT-2); False: post-norm (GPT-1)
    tie_embeddings: bool = True  # the output head is the transposed token embedding
    num_key_value_heads: int | None = None  # grouped-query attention; None: num_heads

    def __post_init__(self):
        if self.intermediate_dim is None and isinstance(self.hidden_dim, int):
            object.__setattr__(self, "intermediate_dim", 4 * self.hidden_dim)
        check_model_fields(self)

    @classmethod
    def preset(cls, name, **overrides):
        """The config of preset `name` (a key of `GPT_PRESETS`), with `overrides`.

        >>> GPTConfig.preset("baby", vocabulary_size=65).vocabulary_size
        65
        >>> GPTConfig.preset("huge")
        Traceback (most recent call last):
        ...
        ValueError: Unknown GPTConfig preset. Expected one of ('baby', 'mini', 'small', 'gpt2'). Received: name='huge'
        """
        return config_from_preset(cls, GPT_PRESETS, name, overrides)


def build_gpt(config, name="gpt"):
    """Builds a GPT language model as a functional `keras.Model`.

    The model maps token ids `(B, T)` (int32, input `"token_ids"`, any
    `T <= max_sequence_length`) to next-token logits
    `(B, T, vocabulary_size)`: the logits at position `t` predict token
    `t + 1` from tokens `0 ... t` only. The logits are float32 under any
    dtype policy, so the loss is computed in float32 with
    `mixed_float16` or `mixed_bfloat16`. There is no padding mask: every id,
    0 included, is a token.

    Layers, in order: `token_ids`, `embedding` (a
    `TokenAndPositionEmbedding`), `embedding_dropout`, `decoder_block_0` ...
    `decoder_block_{num_layers - 1}` (`TransformerDecoderBlock`s without
    cross-attention), `final_layer_norm` (pre-norm models only: in a
    post-norm model the last block ends with a norm), then `lm_head` (a
    `Dense` without bias) when the embeddings are not tied, and `logits`
    (a float32 cast). With `tie_embeddings=True`, the `embedding` layer is
    called a second time, with `reverse=True`, as the head.

    For cached decoding, call the layers one by one: `embedding(ids,
    start_index=i)`, each block with `self_attention_cache` and
    `self_attention_cache_update_index=i`, `final_layer_norm`, then the head.

    Args:
        config: a `GPTConfig`.
        name: the model's name.

    Returns:
        An uncompiled `keras.Model`.

    Example:

    >>> config = GPTConfig.preset("baby", num_layers=2, vocabulary_size=100)
    >>> model = build_gpt(config)
    >>> [layer.name for layer in model.layers]   # doctest: +NORMALIZE_WHITESPACE
    ['token_ids', 'embedding', 'embedding_dropout', 'decoder_block_0',
     'decoder_block_1', 'final_layer_norm', 'logits']
    >>> model.output.shape, model.output.dtype
    ((None, None, 100), 'float32')
    >>> untied = build_gpt(dataclasses.replace(config, tie_embeddings=False))
    >>> untied.count_params() - model.count_params()   # lm_head: 128 x 100
    12800

    References:
        Radford et al., "Improving Language Understanding by Generative
        Pre-Training" (GPT), 2018; "Language Models are Unsupervised
        Multitask Learners" (GPT-2), 2019.
    """
    if not isinstance(config, GPTConfig):
        raise TypeError(f"`config` must be a GPTConfig. Received: config={config!r}")
    token_ids = keras.Input(shape=(None,), dtype="int32", name="token_ids")
    embedding = TokenAndPositionEmbedding(
        vocabulary_size=config.vocabulary_size,
        sequence_length=config.max_sequence_length,
        embedding_dim=config.hidden_dim,
        name="embedding",
    )
    x = embedding(token_ids)  # (B, T, hidden_dim)
    x = keras.layers.Dropout(config.dropout, name="embedding_dropout")(x)
    for i in range(config.num_layers):
        x = TransformerDecoderBlock(
            num_heads=config.num_heads,
            intermediate_dim=config.intermediate_dim,
            dropout=config.dropout,
            activation=config.activation,
            layer_norm_epsilon=config.layer_norm_epsilon,
            normalize_first=config.normalize_first,
            num_key_value_heads=config.num_key_value_heads,
            name=f"decoder_block_{i}",
        )(x)  # (B, T, hidden_dim)
    if config.normalize_first:
        x = keras.layers.LayerNormalization(
            epsilon=config.layer_norm_epsilon, name="final_layer_norm"
        )(x)
    if config.tie_embeddings:
        x = embedding(x, reverse=True)  # (B, T, vocabulary_size)
    else:
        x = keras.layers.Dense(config.vocabulary_size, use_bias=False, name="lm_head")(x)
    logits = keras.layers.Activation("linear", dtype="float32", name="logits")(x)
    return keras.Model(token_ids, logits, name=name)
