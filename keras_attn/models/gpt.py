"""GPT: a decoder-only Transformer language model, its config and presets.

```
token_ids (B, T)
  -> embedding: tokens (+ learned or sinusoidal positions)  (B, T, hidden_dim)
  -> embedding_dropout
  -> decoder_block_0 ... decoder_block_{L-1}    causal self-attention + MLP
                                                (rotary positions, if chosen, here)
  -> final_layer_norm                           (pre-norm models)
  -> head: the transposed token embedding (tied) or lm_head (untied)
  -> logits (float32)                           (B, T, vocabulary_size)
```

`GPT` is a functional `keras.Model` built from a `GPTConfig`: training runs
its graph, and `call_with_cache` runs the same graph one step at a time (see
`keras_attn.models.causal_lm`).

>>> import numpy as np
>>> model = build_gpt(GPTConfig.preset("baby", vocabulary_size=100))
>>> logits = model(np.zeros((2, 10), "int32"))
>>> tuple(logits.shape)
(2, 10, 100)
"""

import dataclasses

import keras

from keras_attn.checks import check_one_of
from keras_attn.layers.token_and_position_embedding import TokenAndPositionEmbedding
from keras_attn.layers.token_and_sinusoidal_encoding import TokenAndSinusoidalEncoding
from keras_attn.layers.token_embedding import TokenEmbedding
from keras_attn.layers.transformer_decoder_block import TransformerDecoderBlock
from keras_attn.models.causal_lm import CausalLM
from keras_attn.models.config_fields import check_model_fields
from keras_attn.models.config_fields import ConfigModel
from keras_attn.models.config_fields import config_from_preset

POSITION_ENCODINGS = ("learned", "sinusoidal", "rotary")

# Today's open models (Llama, Mistral, Qwen): rotary positions, RMS norms,
# SwiGLU, grouped-query attention, no biases, untied head.
_MODERN = dict(
    position_encoding="rotary",
    normalization="rms_norm",
    activation="swiglu",
    use_bias=False,
    tie_embeddings=False,
    layer_norm_epsilon=1e-6,
)

def _shape(context, layers, heads, width, dropout, **rest):
    """A preset: a character or byte vocabulary (the tokenizer overrides it)."""
    return dict(vocabulary_size=256, max_sequence_length=context, num_layers=layers,
                num_heads=heads, hidden_dim=width, dropout=dropout, **rest)


# Presets leave intermediate_dim at None (4 * hidden_dim), so that it follows
# an overridden hidden_dim. Each "_modern" preset has its GPT-2-style twin's
# width, depth, heads and context, and within 1% of its weights (with 75
# characters): SwiGLU's third matrix and the untied head are paid for by a
# narrower feed-forward layer and fewer key/value heads.
GPT_PRESETS = {
    # Character- or byte-level Shakespeare on a laptop CPU (about 0.8M weights).
    "baby": _shape(64, 4, 4, 128, 0.0),
    "baby_modern": _shape(64, 4, 4, 128, 0.0, num_key_value_heads=2, intermediate_dim=384,
                          **_MODERN),
    # The demo's Shakespeare model (about 4.8M weights): mini's context at
    # 2/3 of its width. On a 2-core CPU without bfloat16 it trains 1.85x as
    # many tokens per second as mini, and reached a lower validation loss
    # in the same time (saved_models/shakespeare_gpt_base/MODEL_CARD.md).
    "shakespeare": _shape(256, 6, 4, 256, 0.0),
    "shakespeare_modern": _shape(256, 6, 4, 256, 0.0, num_key_value_heads=2,
                                 intermediate_dim=784, **_MODERN),
    # nanoGPT's shakespeare-char model (about 10.8M weights).
    "mini": _shape(256, 6, 6, 384, 0.2),
    "mini_modern": _shape(256, 6, 6, 384, 0.2, num_key_value_heads=2, intermediate_dim=1216,
                          **_MODERN),
    # Between mini and GPT-2 (about 25.6M weights with 256 tokens).
    "small": _shape(512, 8, 8, 512, 0.1),
    # The shape of GPT-2 124M (124,439,808 weights).
    "gpt2": dict(_shape(1024, 12, 12, 768, 0.1, activation="gelu_approximate"),
                 vocabulary_size=50257),
}


@dataclasses.dataclass(frozen=True)
class GPTConfig:
    """The hyperparameters of a `GPT`. The defaults are the "baby" preset.

    The config is frozen; change it with `dataclasses.replace(config, ...)`,
    which checks the fields again. `dataclasses.asdict(config)` gives a
    JSON-ready dict, and `GPTConfig(**that_dict)` the config back.

    Example:

    >>> config = GPTConfig.preset("gpt2", dropout=0.0)
    >>> config.num_layers, config.hidden_dim, config.intermediate_dim, config.dropout
    (12, 768, 3072, 0.0)
    >>> modern = GPTConfig.preset("baby_modern")
    >>> modern.position_encoding, modern.normalization, modern.activation, modern.use_bias
    ('rotary', 'rms_norm', 'swiglu', False)
    >>> GPTConfig(hidden_dim=100, num_heads=3)
    Traceback (most recent call last):
    ...
    ValueError: `hidden_dim` must be divisible by `num_heads`. Received: hidden_dim=100, num_heads=3
    """

    vocabulary_size: int = 256  # token ids are 0 ... vocabulary_size - 1
    max_sequence_length: int = 64  # context length (rows of a learned position table)
    num_layers: int = 4  # decoder blocks
    num_heads: int = 4  # attention heads per block; must divide hidden_dim
    hidden_dim: int = 128  # model width (embedding size)
    intermediate_dim: int | None = None  # feed-forward hidden width; None: 4 * hidden_dim
    dropout: float = 0.0  # on embeddings, attention weights, MLP hidden, residual branches
    activation: str = "gelu"  # feed-forward, see keras_attn.layers.feed_forward.ACTIVATIONS
    layer_norm_epsilon: float = 1e-5
    normalize_first: bool = True  # pre-norm (GPT-2); False: post-norm (GPT-1)
    tie_embeddings: bool = True  # the output head is the transposed token embedding
    num_key_value_heads: int | None = None  # grouped-query attention; None: num_heads
    position_encoding: str = "learned"  # "learned" (GPT-2), "sinusoidal", "rotary" (RoPE)
    normalization: str = "layer_norm"  # or "rms_norm"
    use_bias: bool = True  # biases in projections, feed-forward layers and norms
    rotary_max_wavelength: float = 10000.0  # RoPE's base, with position_encoding="rotary"

    def __post_init__(self):
        if self.intermediate_dim is None and isinstance(self.hidden_dim, int):
            object.__setattr__(self, "intermediate_dim", 4 * self.hidden_dim)
        check_model_fields(self)
        check_one_of("position_encoding", self.position_encoding, POSITION_ENCODINGS)

    @classmethod
    def preset(cls, name, **overrides):
        """The config of preset `name` (a key of `GPT_PRESETS`), with `overrides`.

        >>> GPTConfig.preset("baby", vocabulary_size=65).vocabulary_size
        65
        >>> GPTConfig.preset("huge")
        Traceback (most recent call last):
        ...
        ValueError: `name` must be one of ('baby', 'baby_modern', 'shakespeare', 'shakespeare_modern', 'mini', 'mini_modern', 'small', 'gpt2'). Received: name='huge'
        """
        return config_from_preset(cls, GPT_PRESETS, name, overrides)


@keras.saving.register_keras_serializable(package="keras_attn")
class GPT(ConfigModel, CausalLM):
    """A GPT language model: a functional `keras.Model` built from a `GPTConfig`.

    The model maps token ids `(B, T)` (int32, input `"token_ids"`, any
    `T <= max_sequence_length`) to next-token logits
    `(B, T, vocabulary_size)`: the logits at position `t` predict token
    `t + 1` from tokens `0 ... t` only. The logits are float32 under any
    dtype policy, so the loss is computed in float32 with
    `mixed_float16` or `mixed_bfloat16`. There is no padding mask: every id,
    0 included, is a token.

    Layers, in order (and as attributes): `embedding`, `embedding_dropout`,
    `transformer_blocks` (`decoder_block_0` ... `decoder_block_{L-1}`,
    `TransformerDecoderBlock`s without cross-attention), `final_layer_norm`
    (pre-norm models only: in a post-norm model each block ends with a
    norm), `lm_head` (a `Dense` without bias) when the embeddings are not
    tied, and `logits` (a float32 cast). With `tie_embeddings=True`, the
    `embedding` layer is called a second time, with `reverse=True`, as the
    head. The embedding is a `TokenAndPositionEmbedding` (learned
    positions), a `TokenAndSinusoidalEncoding` or, with rotary positions, a
    `TokenEmbedding` (the blocks rotate queries and keys).

    Generation: `call_with_cache(token_ids, cache, index)` runs this same
    graph on new tokens with each block's key/value cache; the samplers of
    `keras_attn.generation` drive it.

    Args:
        config: a `GPTConfig`.
        name: the model's name.
        **kwargs: other `keras.Model` arguments, such as `trainable`.

    Example:

    >>> config = GPTConfig.preset("baby", num_layers=2, vocabulary_size=100)
    >>> model = GPT(config)
    >>> [layer.name for layer in model.layers]   # doctest: +NORMALIZE_WHITESPACE
    ['token_ids', 'embedding', 'embedding_dropout', 'decoder_block_0',
     'decoder_block_1', 'final_layer_norm', 'logits']
    >>> model.output.shape, model.output.dtype
    ((None, None, 100), 'float32')
    >>> untied = GPT(dataclasses.replace(config, tie_embeddings=False))
    >>> untied.count_params() - model.count_params()   # lm_head: 128 x 100
    12800

    References:
        Radford et al., "Improving Language Understanding by Generative
        Pre-Training" (GPT), 2018; "Language Models are Unsupervised
        Multitask Learners" (GPT-2), 2019.
    """

    config_class = GPTConfig

    def __init__(self, config, name="gpt", **kwargs):
        self._check_config(config)

        # === Layers ===
        self.embedding = _embedding(config)
        self.embedding_dropout = keras.layers.Dropout(config.dropout, name="embedding_dropout")
        self.transformer_blocks = [
            TransformerDecoderBlock(
                num_heads=config.num_heads,
                intermediate_dim=config.intermediate_dim,
                dropout=config.dropout,
                activation=config.activation,
                layer_norm_epsilon=config.layer_norm_epsilon,
                normalize_first=config.normalize_first,
                num_key_value_heads=config.num_key_value_heads,
                use_rotary_embedding=config.position_encoding == "rotary",
                rotary_max_wavelength=config.rotary_max_wavelength,
                normalization=config.normalization,
                use_bias=config.use_bias,
                name=f"decoder_block_{i}",
            )
            for i in range(config.num_layers)
        ]
        self.final_layer_norm = None  # a post-norm stack ends normalized
        if config.normalize_first:
            self.final_layer_norm = _norm(config, "final_layer_norm")
        self.lm_head = None
        if not config.tie_embeddings:
            self.lm_head = keras.layers.Dense(
                config.vocabulary_size, use_bias=False, name="lm_head"
            )
        self.logits_cast = keras.layers.Activation("linear", dtype="float32", name="logits")

        # === The forward pass, written once ===
        token_ids = keras.Input(shape=(None,), dtype="int32", name="token_ids")
        x = self.embedding(token_ids)  # (B, T, hidden_dim)
        x = self.embedding_dropout(x)
        for block in self.transformer_blocks:
            x = block(x)  # (B, T, hidden_dim)
        if self.final_layer_norm is not None:
            x = self.final_layer_norm(x)
        if self.lm_head is None:
            x = self.embedding(x, reverse=True)  # (B, T, vocabulary_size)
        else:
            x = self.lm_head(x)
        logits = self.logits_cast(x)
        super().__init__(token_ids, logits, name=name, **kwargs)

        self.config = config
        self._context_length = config.max_sequence_length



def _embedding(config):
    """Token ids `(B, T)` -> `(B, T, hidden_dim)`, with the config's positions."""
    sizes = dict(vocabulary_size=config.vocabulary_size, embedding_dim=config.hidden_dim,
                 name="embedding")
    if config.position_encoding == "learned":
        return TokenAndPositionEmbedding(sequence_length=config.max_sequence_length, **sizes)
    if config.position_encoding == "sinusoidal":
        return TokenAndSinusoidalEncoding(**sizes)
    return TokenEmbedding(**sizes)  # rotary: positions enter in each block's attention


def _norm(config, name):
    if config.normalization == "rms_norm":
        return keras.layers.RMSNormalization(epsilon=config.layer_norm_epsilon, name=name)
    return keras.layers.LayerNormalization(
        epsilon=config.layer_norm_epsilon, center=config.use_bias, name=name
    )


def build_gpt(config, name="gpt"):
    """Builds `GPT(config)`: an uncompiled functional `keras.Model`.

    Args:
        config: a `GPTConfig`.
        name: the model's name.

    Returns:
        A `GPT`.

    Example:

    >>> model = build_gpt(GPTConfig.preset("baby_modern", vocabulary_size=75))
    >>> model.count_params(), build_gpt(GPTConfig.preset("baby", vocabulary_size=75)).count_params()
    (806784, 811136)
    """
    return GPT(config, name=name)
