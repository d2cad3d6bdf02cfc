"""What the encoder and decoder blocks share: arguments, sublayers, residuals."""

import keras

from keras_attn.checks import check_bool
from keras_attn.checks import check_num_key_value_heads
from keras_attn.checks import check_number
from keras_attn.checks import check_one_of
from keras_attn.checks import check_positive_int
from keras_attn.layers.feed_forward import ACTIVATIONS
from keras_attn.layers.feed_forward import FeedForward
from keras_attn.layers.multi_head_attention import MultiHeadAttention

# "layer_norm": mean and variance, scale and shift (the paper, GPT-2).
# "rms_norm": root mean square, scale only (Llama, Mistral, Gemma).
NORMALIZATIONS = ("layer_norm", "rms_norm")


class TransformerBlock(keras.layers.Layer):
    """Base class of `TransformerEncoderBlock` and `TransformerDecoderBlock`.

    It validates the shared arguments, makes the sublayers, and adds each
    sublayer's output to its input (the residual), with the norm before the
    sublayer (pre-norm) or after the sum (post-norm).
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
        rotary_max_wavelength=10000,
        normalization="layer_norm",
        use_bias=True,
        kernel_initializer="glorot_uniform",
        bias_initializer="zeros",
        **kwargs,
    ):
        check_positive_int("num_heads", num_heads)
        check_positive_int("intermediate_dim", intermediate_dim)
        check_num_key_value_heads(num_key_value_heads, num_heads)
        check_one_of("activation", activation, ACTIVATIONS)
        check_number("dropout", dropout, minimum=0, below=1)
        check_number("layer_norm_epsilon", layer_norm_epsilon, above=0)
        check_one_of("normalization", normalization, NORMALIZATIONS)
        for name, value in [
            ("normalize_first", normalize_first),
            ("use_rotary_embedding", use_rotary_embedding),
            ("use_bias", use_bias),
        ]:
            check_bool(name, value)
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
        self.rotary_max_wavelength = rotary_max_wavelength
        self.normalization = normalization
        self.use_bias = use_bias
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

    def _norm(self, name, shape):
        if self.normalization == "rms_norm":
            norm = keras.layers.RMSNormalization(
                epsilon=self.layer_norm_epsilon, dtype=self.dtype_policy, name=name
            )
        else:
            norm = keras.layers.LayerNormalization(
                epsilon=self.layer_norm_epsilon,
                center=self.use_bias,
                dtype=self.dtype_policy,
                name=name,
            )
        norm.build(shape)
        return norm

    def _build_attention(self, prefix, query_shape, value_shape):
        """Makes `{prefix}`, `{prefix}_layer_norm` and `{prefix}_dropout`."""
        attention = MultiHeadAttention(
            num_heads=self.num_heads,
            key_dim=self._head_size(query_shape[-1]),
            dropout=self.dropout,
            use_bias=self.use_bias,
            num_key_value_heads=self.num_key_value_heads,
            use_rotary_embedding=self.use_rotary_embedding and prefix == "self_attention",
            rotary_max_wavelength=self.rotary_max_wavelength,
            dtype=self.dtype_policy,
            name=prefix,
            **self._initializers(),
        )
        attention.build(query_shape, value_shape)
        norm = self._norm(f"{prefix}_layer_norm", query_shape)
        dropout = keras.layers.Dropout(
            self.dropout, dtype=self.dtype_policy, name=f"{prefix}_dropout"
        )
        return attention, norm, dropout

    def _build_feed_forward(self, inputs_shape):
        self.feed_forward = FeedForward(
            self.intermediate_dim,
            activation=self.activation,
            dropout=self.dropout,
            use_bias=self.use_bias,
            dtype=self.dtype_policy,
            name="feed_forward",
            **self._initializers(),
        )
        self.feed_forward.build(inputs_shape)
        self.feed_forward_layer_norm = self._norm("feed_forward_layer_norm", inputs_shape)
        self.feed_forward_dropout = keras.layers.Dropout(
            self.dropout, dtype=self.dtype_policy, name="feed_forward_dropout"
        )

    # A sublayer f with its residual, in two halves around f:
    #   pre-norm (GPT-2):    x + f(norm(x))
    #   post-norm (paper):   norm(x + f(x))

    def _sublayer_input(self, x, norm):
        return norm(x) if self.normalize_first else x

    def _add_residual(self, x, y, norm, dropout, training):
        y = x + dropout(y, training=training)
        return y if self.normalize_first else norm(y)

    def _feed_forward_residual(self, x, training):
        y = self.feed_forward(self._sublayer_input(x, self.feed_forward_layer_norm),
                              training=training)
        return self._add_residual(
            x, y, self.feed_forward_layer_norm, self.feed_forward_dropout, training
        )

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
                "rotary_max_wavelength": self.rotary_max_wavelength,
                "normalization": self.normalization,
                "use_bias": self.use_bias,
                "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
                "bias_initializer": keras.initializers.serialize(self.bias_initializer),
            }
        )
        return config
