"""What the encoder and decoder blocks share: arguments, sublayers, residuals."""

import keras

from keras_attn.layers.feed_forward import ACTIVATIONS
from keras_attn.layers.feed_forward import FeedForward
from keras_attn.layers.multi_head_attention import MultiHeadAttention


class TransformerBlock(keras.layers.Layer):
    """Base class of `TransformerEncoderBlock` and `TransformerDecoderBlock`.

    It validates the shared arguments, makes the sublayers, and applies a
    sublayer with its residual connection in either norm position.
    """

    def __init__(
        self,
        num_heads,
        intermediate_dim,
        dropout=0.0,
        activation="relu",
        layer_norm_epsilon=1e-5,
        normalize_first=False,
        num_key_value_heads=None,
        use_rotary_embedding=False,
        kernel_initializer="glorot_uniform",
        bias_initializer="zeros",
        **kwargs,
    ):
        for name, value in [("num_heads", num_heads), ("intermediate_dim", intermediate_dim)]:
            if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
                raise ValueError(
                    f"`{name}` must be a positive integer. Received: {name}={value!r}"
                )
        if num_key_value_heads is not None and (
            not isinstance(num_key_value_heads, int)
            or num_key_value_heads <= 0
            or num_heads % num_key_value_heads
        ):
            raise ValueError(
                "`num_key_value_heads` must be a positive integer that divides "
                f"`num_heads`. Received: num_key_value_heads={num_key_value_heads!r}, "
                f"num_heads={num_heads}"
            )
        if activation not in ACTIVATIONS:
            raise ValueError(
                f"Unknown `activation`. Expected one of {ACTIVATIONS}. "
                f"Received: activation={activation!r}"
            )
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"`dropout` must be in [0, 1). Received: dropout={dropout}")
        super().__init__(**kwargs)
        self.supports_masking = True  # the output keeps the input's padding mask
        self.num_heads = num_heads
        self.intermediate_dim = intermediate_dim
        self.dropout = dropout
        self.activation = activation
        self.layer_norm_epsilon = layer_norm_epsilon
        self.normalize_first = normalize_first
        self.num_key_value_heads = num_key_value_heads
        self.use_rotary_embedding = use_rotary_embedding
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.bias_initializer = keras.initializers.get(bias_initializer)

    def _head_size(self, hidden_dim):
        if hidden_dim % self.num_heads:
            raise ValueError(
                "The model width must be divisible by `num_heads`. Received: "
                f"hidden_dim={hidden_dim} (the input's last axis), "
                f"num_heads={self.num_heads}"
            )
        return hidden_dim // self.num_heads

    def _initializers(self):
        # Fresh initializer objects per sublayer, so they don't share a seed.
        return dict(
            kernel_initializer=keras.initializers.get(
                keras.initializers.serialize(self.kernel_initializer)
            ),
            bias_initializer=keras.initializers.get(
                keras.initializers.serialize(self.bias_initializer)
            ),
        )

    def _build_attention(self, prefix, query_shape, value_shape):
        """Makes `{prefix}`, `{prefix}_layer_norm` and `{prefix}_dropout`."""
        hidden_dim = query_shape[-1]
        attention = MultiHeadAttention(
            num_heads=self.num_heads,
            key_dim=self._head_size(hidden_dim),
            dropout=self.dropout,
            num_key_value_heads=self.num_key_value_heads,
            use_rotary_embedding=self.use_rotary_embedding and prefix == "self_attention",
            dtype=self.dtype_policy,
            name=prefix,
            **self._initializers(),
        )
        attention.build(query_shape, value_shape)
        norm = keras.layers.LayerNormalization(
            epsilon=self.layer_norm_epsilon,
            dtype=self.dtype_policy,
            name=f"{prefix}_layer_norm",
        )
        norm.build(query_shape)
        dropout = keras.layers.Dropout(
            self.dropout, dtype=self.dtype_policy, name=f"{prefix}_dropout"
        )
        return attention, norm, dropout

    def _build_feed_forward(self, inputs_shape):
        self.feed_forward = FeedForward(
            self.intermediate_dim,
            activation=self.activation,
            dropout=self.dropout,
            dtype=self.dtype_policy,
            name="feed_forward",
            **self._initializers(),
        )
        self.feed_forward.build(inputs_shape)
        self.feed_forward_layer_norm = keras.layers.LayerNormalization(
            epsilon=self.layer_norm_epsilon,
            dtype=self.dtype_policy,
            name="feed_forward_layer_norm",
        )
        self.feed_forward_layer_norm.build(inputs_shape)
        self.feed_forward_dropout = keras.layers.Dropout(
            self.dropout, dtype=self.dtype_policy, name="feed_forward_dropout"
        )

    def _residual(self, x, norm, dropout, sublayer, training):
        """Pre-norm: `x + f(norm(x))` (GPT-2). Post-norm: `norm(x + f(x))` (the paper).

        `sublayer` returns its output and a tuple of extras (scores, cache),
        which are passed through.
        """
        y, extras = sublayer(norm(x) if self.normalize_first else x)
        y = x + dropout(y, training=training)
        return (y if self.normalize_first else norm(y)), extras

    def _feed_forward_residual(self, x, training):
        y, _ = self._residual(
            x,
            self.feed_forward_layer_norm,
            self.feed_forward_dropout,
            lambda h: (self.feed_forward(h, training=training), ()),
            training,
        )
        return y

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "num_heads": self.num_heads,
                "intermediate_dim": self.intermediate_dim,
                "dropout": self.dropout,
                "activation": self.activation,
                "layer_norm_epsilon": self.layer_norm_epsilon,
                "normalize_first": self.normalize_first,
                "num_key_value_heads": self.num_key_value_heads,
                "use_rotary_embedding": self.use_rotary_embedding,
                "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
                "bias_initializer": keras.initializers.serialize(self.bias_initializer),
            }
        )
        return config
