"""The encoder-decoder Transformer of "Attention Is All You Need", its config and presets.

```
encoder_token_ids (B, S)                    decoder_token_ids (B, T)
  -> encoder_embedding (B, S, d)              -> decoder_embedding (B, T, d)
  -> encoder_embedding_dropout                -> decoder_embedding_dropout
  -> encoder_block_0 ... _{L-1}  ---------->  -> decoder_block_0 ... _{L-1}
     self-attention + FFN          encoder       causal self-attention,
  -> encoder_final_layer_norm      output        cross-attention, FFN
     (pre-norm only)                          -> decoder_final_layer_norm (pre-norm only)
                                              -> head: transposed decoder embedding
                                                 (tied) or lm_head
                                              -> logits (float32) (B, T, V_decoder)
```

Id 0 is padding on both sides. The embeddings make Keras masks from it
(`mask_zero=True`), and the blocks read them: padded encoder tokens are
never attended, padded decoder tokens attend nothing, and the logits
carry the decoder's padding mask, so Keras losses and metrics skip padded
positions.

>>> import numpy as np
>>> model = build_transformer(TransformerConfig.preset("tiny", vocabulary_size=50))
>>> logits = model({"encoder_token_ids": np.ones((2, 7), "int32"),
...                 "decoder_token_ids": np.ones((2, 5), "int32")})
>>> tuple(logits.shape)
(2, 5, 50)
"""

import dataclasses

import keras

from keras_attn.layers.token_and_position_embedding import TokenAndPositionEmbedding
from keras_attn.layers.token_and_sinusoidal_encoding import TokenAndSinusoidalEncoding
from keras_attn.layers.transformer_decoder_block import TransformerDecoderBlock
from keras_attn.layers.transformer_encoder_block import TransformerEncoderBlock
from keras_attn.models.config_checks import check_model_fields
from keras_attn.models.config_checks import check_positive_int
from keras_attn.models.config_checks import config_from_preset

POSITION_ENCODINGS = ("sinusoidal", "learned")

# Presets leave intermediate_dim at None (4 * hidden_dim, as d_ff = 2048 for
# d_model = 512 in the paper), so that it follows an overridden hidden_dim.
TRANSFORMER_PRESETS = {
    # Toy translation (numbers, copy/reverse) on a laptop CPU. Pre-norm,
    # which trains without a warmup schedule.
    "tiny": dict(
        vocabulary_size=1000,
        max_sequence_length=64,
        num_layers=2,
        num_heads=4,
        hidden_dim=128,
        dropout=0.1,
        normalize_first=True,
    ),
    # Between tiny and base.
    "small": dict(
        vocabulary_size=8000,
        max_sequence_length=128,
        num_layers=3,
        num_heads=4,
        hidden_dim=256,
        dropout=0.1,
        normalize_first=True,
    ),
    # The paper's base model (Table 3), post-norm, with its 37000-token
    # shared vocabulary. The paper also shares the encoder's embedding with
    # the decoder's (65M weights); here they are separate (82M).
    "base": dict(
        vocabulary_size=37000,
        max_sequence_length=256,
        num_layers=6,
        num_heads=8,
        hidden_dim=512,
        dropout=0.1,
        normalize_first=False,
    ),
}


@dataclasses.dataclass(frozen=True)
class TransformerConfig:
    """The hyperparameters of `build_transformer`. The defaults are the "tiny" preset.

    The config is frozen; change it with `dataclasses.replace(config, ...)`,
    which checks the fields again. `dataclasses.asdict(config)` gives a
    JSON-ready dict, and `TransformerConfig(**that_dict)` the config back.

    Positions default to the paper's sinusoidal encoding: the paper found
    learned positions no better (Table 3, row E), it is what the "base"
    preset reproduces, and it has nothing to learn, so positions that few
    training sentences reach are encoded as well as the first ones. `"learned"` gives each
    side a `TokenAndPositionEmbedding` instead, whose table of
    `max_sequence_length` rows limits the sequence lengths; sinusoidal
    positions have no limit.

    Example:

    >>> config = TransformerConfig.preset("base")
    >>> config.num_layers, config.hidden_dim, config.intermediate_dim, config.num_heads
    (6, 512, 2048, 8)
    >>> config.normalize_first, config.dropout, config.position_encoding
    (False, 0.1, 'sinusoidal')
    >>> config = TransformerConfig(vocabulary_size=300, decoder_vocabulary_size=200)
    >>> config.encoder_vocabulary_size, config.decoder_vocabulary_size
    (300, 200)
    """

    vocabulary_size: int = 1000  # token ids of both sides, unless set per side below
    encoder_vocabulary_size: int | None = None  # source ids; None: vocabulary_size
    decoder_vocabulary_size: int | None = None  # target ids and logits; None: vocabulary_size
    max_sequence_length: int = 64  # longest source or target; rows of learned position tables
    num_layers: int = 2  # encoder blocks, and as many decoder blocks
    num_heads: int = 4  # attention heads per block; must divide hidden_dim
    hidden_dim: int = 128  # model width, d_model in the paper
    intermediate_dim: int | None = None  # feed-forward hidden width (d_ff); None: 4 * hidden_dim
    dropout: float = 0.1  # on embeddings, attention weights, FFN hidden, residual branches
    activation: str = "relu"  # feed-forward: "relu", "gelu", "silu" or "swiglu"
    layer_norm_epsilon: float = 1e-5
    normalize_first: bool = True  # pre-norm; False: post-norm, as in the paper
    position_encoding: str = "sinusoidal"  # or "learned"
    tie_embeddings: bool = True  # the output head is the transposed decoder token embedding
    num_key_value_heads: int | None = None  # grouped-query attention; None: num_heads

    def __post_init__(self):
        for side in ("encoder_vocabulary_size", "decoder_vocabulary_size"):
            if getattr(self, side) is None:
                object.__setattr__(self, side, self.vocabulary_size)
        if self.intermediate_dim is None and isinstance(self.hidden_dim, int):
            object.__setattr__(self, "intermediate_dim", 4 * self.hidden_dim)
        check_model_fields(self)
        check_positive_int("encoder_vocabulary_size", self.encoder_vocabulary_size)
        check_positive_int("decoder_vocabulary_size", self.decoder_vocabulary_size)
        if self.position_encoding not in POSITION_ENCODINGS:
            raise ValueError(
                f"`position_encoding` must be one of {POSITION_ENCODINGS}. "
                f"Received: position_encoding={self.position_encoding!r}"
            )

    @classmethod
    def preset(cls, name, **overrides):
        """The config of preset `name` (a key of `TRANSFORMER_PRESETS`), with `overrides`.

        >>> TransformerConfig.preset("tiny", dropout=0.0).dropout
        0.0
        >>> TransformerConfig.preset("big")
        Traceback (most recent call last):
        ...
        ValueError: Unknown TransformerConfig preset. Expected one of ('tiny', 'small', 'base'). Received: name='big'
        """
        return config_from_preset(cls, TRANSFORMER_PRESETS, name, overrides)


def _embedding(config, vocabulary_size, name):
    """Token ids `(B, T)` -> `(B, T, hidden_dim)`, with the padding mask `ids != 0`."""
    if config.position_encoding == "sinusoidal":
        return TokenAndSinusoidalEncoding(
            vocabulary_size, config.hidden_dim, mask_zero=True, name=name
        )
    return TokenAndPositionEmbedding(
        vocabulary_size, config.max_sequence_length, config.hidden_dim, mask_zero=True, name=name
    )


def build_transformer(config, name="transformer"):
    """Builds an encoder-decoder Transformer as a functional `keras.Model`.

    Inputs are a dict `{"encoder_token_ids": (B, S), "decoder_token_ids":
    (B, T)}` of int32 ids, with 0 as padding; the output is logits
    `(B, T, decoder_vocabulary_size)`, float32 under any dtype policy. The
    logits at decoder position `t` see the whole (unpadded) source and the
    target tokens `0 ... t`, so train on `decoder_token_ids = [start] + y`
    against targets `y + [end]`. The logits carry the decoder padding mask
    (`decoder_token_ids != 0`), so Keras losses and metrics ignore padded
    positions.

    Layers: `encoder_token_ids`, `encoder_embedding`,
    `encoder_embedding_dropout`, `encoder_block_0` ...
    (`TransformerEncoderBlock`s), `encoder_final_layer_norm` (pre-norm
    only); `decoder_token_ids`, `decoder_embedding`,
    `decoder_embedding_dropout`, `decoder_block_0` ...
    (`TransformerDecoderBlock`s with cross-attention to the encoder output),
    `decoder_final_layer_norm` (pre-norm only), `lm_head` (untied only) and
    `logits`. The embeddings are `TokenAndSinusoidalEncoding` or, with
    `position_encoding="learned"`, `TokenAndPositionEmbedding`. With
    `tie_embeddings=True`, `decoder_embedding` is called again with
    `reverse=True` as the head.

    Args:
        config: a `TransformerConfig`.
        name: the model's name.

    Returns:
        An uncompiled `keras.Model`.

    Example:

    >>> config = TransformerConfig.preset("tiny", num_layers=1, vocabulary_size=50)
    >>> model = build_transformer(config)
    >>> [layer.name for layer in model.layers]   # in graph order
    ['encoder_token_ids', 'encoder_embedding', 'decoder_token_ids',
     'encoder_embedding_dropout', 'decoder_embedding', 'encoder_block_0',
     'decoder_embedding_dropout', 'encoder_final_layer_norm',
     'decoder_block_0', 'decoder_final_layer_norm', 'logits']
    >>> model.output.shape, model.output.dtype
    ((None, None, 50), 'float32')

    References:
        Vaswani et al., "Attention Is All You Need", 2017.
    """
    if not isinstance(config, TransformerConfig):
        raise TypeError(f"`config` must be a TransformerConfig. Received: config={config!r}")
    block_args = dict(
        num_heads=config.num_heads,
        intermediate_dim=config.intermediate_dim,
        dropout=config.dropout,
        activation=config.activation,
        layer_norm_epsilon=config.layer_norm_epsilon,
        normalize_first=config.normalize_first,
        num_key_value_heads=config.num_key_value_heads,
    )

    def final_norm(x, name):  # a pre-norm stack ends un-normalized
        if not config.normalize_first:
            return x
        return keras.layers.LayerNormalization(epsilon=config.layer_norm_epsilon, name=name)(x)

    # Encoder: (B, S) -> (B, S, d), with the padding mask `ids != 0` attached.
    encoder_token_ids = keras.Input(shape=(None,), dtype="int32", name="encoder_token_ids")
    x = _embedding(config, config.encoder_vocabulary_size, "encoder_embedding")(
        encoder_token_ids
    )
    x = keras.layers.Dropout(config.dropout, name="encoder_embedding_dropout")(x)
    for i in range(config.num_layers):
        x = TransformerEncoderBlock(**block_args, name=f"encoder_block_{i}")(x)
    encoder_output = final_norm(x, "encoder_final_layer_norm")  # (B, S, d)

    # Decoder: (B, T) -> (B, T, d), attending its past and the encoder output.
    decoder_token_ids = keras.Input(shape=(None,), dtype="int32", name="decoder_token_ids")
    decoder_embedding = _embedding(config, config.decoder_vocabulary_size, "decoder_embedding")
    y = decoder_embedding(decoder_token_ids)
    y = keras.layers.Dropout(config.dropout, name="decoder_embedding_dropout")(y)
    for i in range(config.num_layers):
        y = TransformerDecoderBlock(**block_args, name=f"decoder_block_{i}")(y, encoder_output)
    y = final_norm(y, "decoder_final_layer_norm")  # (B, T, d)

    if config.tie_embeddings:
        y = decoder_embedding(y, reverse=True)  # (B, T, decoder_vocabulary_size)
    else:
        y = keras.layers.Dense(config.decoder_vocabulary_size, use_bias=False, name="lm_head")(y)
    logits = keras.layers.Activation("linear", dtype="float32", name="logits")(y)
    return keras.Model(
        {"encoder_token_ids": encoder_token_ids, "decoder_token_ids": decoder_token_ids},
        logits,
        name=name,
    )
