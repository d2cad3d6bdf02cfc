"""The encoder-decoder Transformer of "Attention Is All You Need": `Translator`, its config and presets.

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
from keras import ops

from keras_attn.checks import check_one_of
from keras_attn.checks import check_positive_int
from keras_attn.layers.token_and_position_embedding import TokenAndPositionEmbedding
from keras_attn.layers.token_and_sinusoidal_encoding import TokenAndSinusoidalEncoding
from keras_attn.layers.transformer_decoder_block import TransformerDecoderBlock
from keras_attn.layers.transformer_encoder_block import TransformerEncoderBlock
from keras_attn.models.config_fields import check_model_fields
from keras_attn.models.config_fields import ConfigModel
from keras_attn.models.config_fields import config_from_preset

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
        check_one_of("position_encoding", self.position_encoding, POSITION_ENCODINGS)

    @classmethod
    def preset(cls, name, **overrides):
        """The config of preset `name` (a key of `TRANSFORMER_PRESETS`), with `overrides`.

        >>> TransformerConfig.preset("tiny", dropout=0.0).dropout
        0.0
        >>> TransformerConfig.preset("big")
        Traceback (most recent call last):
        ...
        ValueError: `name` must be one of ('tiny', 'small', 'base'). Received: name='big'
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


@keras.saving.register_keras_serializable(package="keras_attn")
class Translator(ConfigModel, keras.Model):
    """An encoder-decoder Transformer: a functional `keras.Model` built from a `TransformerConfig`.

    Inputs are a dict `{"encoder_token_ids": (B, S), "decoder_token_ids":
    (B, T)}` of int32 ids, with 0 as padding; the output is logits
    `(B, T, decoder_vocabulary_size)`, float32 under any dtype policy. The
    logits at decoder position `t` see the whole (unpadded) source and the
    target tokens `0 ... t`, so train on `decoder_token_ids = [start] + y`
    against targets `y + [end]`. The logits carry the decoder padding mask
    (`decoder_token_ids != 0`), so Keras losses and metrics ignore padded
    positions.

    The forward pass is written once, as two methods that the model's graph
    is built from and that generation calls directly:

    * `encode(encoder_token_ids)` -> the encoder output `(B, S, d)` and its
      padding mask `(B, S)`;
    * `decode(decoder_token_ids, encoder_output, encoder_padding_mask,
      ...)` -> logits, with each block's caches when given.

    `keras_attn.generation.TranslatorGenerator` encodes a source once, makes
    each block's cross-attention cache with `decoder_state`, then calls
    `call_decoder_with_cache` once per target token.

    Layers (and attributes): `encoder_embedding`,
    `encoder_embedding_dropout`, `encoder_blocks` (`encoder_block_0` ...,
    `TransformerEncoderBlock`s), `encoder_final_layer_norm` (pre-norm only);
    `decoder_embedding`, `decoder_embedding_dropout`, `decoder_blocks`
    (`decoder_block_0` ..., `TransformerDecoderBlock`s with cross-attention),
    `decoder_final_layer_norm` (pre-norm only), `lm_head` (untied only) and
    `logits`. The embeddings are `TokenAndSinusoidalEncoding` or, with
    `position_encoding="learned"`, `TokenAndPositionEmbedding`. With
    `tie_embeddings=True`, `decoder_embedding` is called again with
    `reverse=True` as the head.

    Args:
        config: a `TransformerConfig`.
        name: the model's name.
        **kwargs: other `keras.Model` arguments, such as `trainable`.

    Example:

    >>> config = TransformerConfig.preset("tiny", num_layers=1, vocabulary_size=50)
    >>> model = Translator(config)
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

    config_class = TransformerConfig

    def __init__(self, config, name="transformer", **kwargs):
        self._check_config(config)
        block_args = dict(
            num_heads=config.num_heads,
            intermediate_dim=config.intermediate_dim,
            dropout=config.dropout,
            activation=config.activation,
            layer_norm_epsilon=config.layer_norm_epsilon,
            normalize_first=config.normalize_first,
            num_key_value_heads=config.num_key_value_heads,
        )

        # === Layers ===
        self.encoder_embedding = _embedding(
            config, config.encoder_vocabulary_size, "encoder_embedding"
        )
        self.encoder_embedding_dropout = keras.layers.Dropout(
            config.dropout, name="encoder_embedding_dropout"
        )
        self.encoder_blocks = [
            TransformerEncoderBlock(**block_args, name=f"encoder_block_{i}")
            for i in range(config.num_layers)
        ]
        self.decoder_embedding = _embedding(
            config, config.decoder_vocabulary_size, "decoder_embedding"
        )
        self.decoder_embedding_dropout = keras.layers.Dropout(
            config.dropout, name="decoder_embedding_dropout"
        )
        self.decoder_blocks = [
            TransformerDecoderBlock(**block_args, name=f"decoder_block_{i}")
            for i in range(config.num_layers)
        ]
        # A pre-norm stack ends un-normalized: each side ends with a norm.
        self.encoder_final_layer_norm = self.decoder_final_layer_norm = None
        if config.normalize_first:
            self.encoder_final_layer_norm = keras.layers.LayerNormalization(
                epsilon=config.layer_norm_epsilon, name="encoder_final_layer_norm"
            )
            self.decoder_final_layer_norm = keras.layers.LayerNormalization(
                epsilon=config.layer_norm_epsilon, name="decoder_final_layer_norm"
            )
        self.lm_head = None
        if not config.tie_embeddings:
            self.lm_head = keras.layers.Dense(
                config.decoder_vocabulary_size, use_bias=False, name="lm_head"
            )
        self.logits_cast = keras.layers.Activation("linear", dtype="float32", name="logits")

        # === The forward pass: the same two methods generation calls ===
        encoder_token_ids = keras.Input(shape=(None,), dtype="int32", name="encoder_token_ids")
        decoder_token_ids = keras.Input(shape=(None,), dtype="int32", name="decoder_token_ids")
        encoder_output, encoder_padding_mask = self.encode(encoder_token_ids)
        logits = self.decode(decoder_token_ids, encoder_output, encoder_padding_mask)
        super().__init__(
            {"encoder_token_ids": encoder_token_ids, "decoder_token_ids": decoder_token_ids},
            logits,
            name=name,
            **kwargs,
        )
        self.config = config

    def encode(self, encoder_token_ids, training=None):
        """`(B, S)` source ids (0 = padding) -> encoder output `(B, S, d)` and
        its padding mask `(B, S)` (True for real tokens)."""
        x = self.encoder_embedding(encoder_token_ids)  # carries the mask ids != 0
        x = self.encoder_embedding_dropout(x, training=training)
        for block in self.encoder_blocks:
            x = block(x, training=training)  # (B, S, d)
        if self.encoder_final_layer_norm is not None:
            x = self.encoder_final_layer_norm(x)
        return x, ops.not_equal(encoder_token_ids, 0)

    def decode(self, decoder_token_ids, encoder_output, encoder_padding_mask,
               self_attention_caches=None, cross_attention_caches=None, index=0,
               training=None):
        """Logits `(B, T, V)` of target ids `(B, T)` at positions `index ...`.

        Without caches this is the model's decoder. With them (the tuples of
        `decoder_state`), each block reads and writes its self-attention cache
        at `index` and reads its cross-attention cache instead of projecting
        `encoder_output` again; the result is then `(logits, self_attention_caches)`.
        """
        cached = self_attention_caches is not None
        y = self.decoder_embedding(decoder_token_ids, start_index=index)  # (B, T, d)
        y = self.decoder_embedding_dropout(y, training=training)
        new_caches = []
        for i, block in enumerate(self.decoder_blocks):
            if cached:
                y, cache = block(
                    y,
                    encoder_padding_mask=encoder_padding_mask,
                    self_attention_cache=self_attention_caches[i],
                    self_attention_cache_update_index=index,
                    cross_attention_cache=cross_attention_caches[i],
                    training=training,
                )
                new_caches.append(cache)
            else:
                y = block(y, encoder_output, encoder_padding_mask=encoder_padding_mask,
                          training=training)
        if self.decoder_final_layer_norm is not None:
            y = self.decoder_final_layer_norm(y)
        if self.lm_head is None:
            y = self.decoder_embedding(y, reverse=True)  # (B, T, V)
        else:
            y = self.lm_head(y)
        logits = self.logits_cast(y)
        return (logits, tuple(new_caches)) if cached else logits

    @property
    def decoder_context_length(self):
        """The most target positions: the learned table's rows, or the config's
        `max_sequence_length` with sinusoidal positions."""
        return self.config.max_sequence_length

    def decoder_state(self, encoder_output, encoder_padding_mask, length):
        """What a decoding step needs besides the token: `(self_attention_caches,
        cross_attention_caches, encoder_padding_mask)`.

        The cross-attention caches project the encoder output once per source
        (not once per step); the self-attention caches are empty, `length`
        positions long.
        """
        batch_size = ops.shape(encoder_output)[0]
        cross = tuple(block.cross_attention.compute_cache(encoder_output)
                      for block in self.decoder_blocks)
        caches = tuple(block.self_attention.get_empty_cache(batch_size, length)
                       for block in self.decoder_blocks)
        return caches, cross, encoder_padding_mask

    def call_decoder_with_cache(self, decoder_token_ids, state, index):
        """One step: `(logits (B, T, V) float32, state)` for target ids `(B, T)` at `index`."""
        caches, cross, padding_mask = state
        logits, caches = self.decode(decoder_token_ids, None, padding_mask, caches, cross, index)
        return logits, (caches, cross, padding_mask)



def build_transformer(config, name="transformer"):
    """Builds `Translator(config)`: an uncompiled functional `keras.Model`.

    Args:
        config: a `TransformerConfig`.
        name: the model's name.

    Returns:
        A `Translator`; see it for the inputs, outputs and layers.

    Example:

    >>> model = build_transformer(TransformerConfig.preset("tiny", vocabulary_size=50))
    >>> sorted(model.input)
    ['decoder_token_ids', 'encoder_token_ids']
    """
    return Translator(config, name=name)
