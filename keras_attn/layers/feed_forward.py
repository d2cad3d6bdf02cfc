"""The position-wise feed-forward network of a Transformer block."""

import math

import keras
from keras import ops

from keras_attn.checks import check_bool
from keras_attn.checks import check_number
from keras_attn.checks import check_one_of
from keras_attn.checks import check_positive_int

# "gelu" is the exact GELU; "gelu_approximate" its tanh approximation (GPT-2's).
ACTIVATIONS = ("relu", "gelu", "gelu_approximate", "silu", "swiglu")


@ops.custom_gradient
def gelu(x):
    """The exact GELU, `x Φ(x)`, with a hand-written gradient.

    Same values as `keras.activations.gelu(x, approximate=False)`. The
    gradient `Φ(x) + x φ(x)` reuses `Φ(x)` from the forward pass: about 7
    elementwise passes, where differentiating the erf formula takes about
    twice as many. On a (2048, 1536) activation, a 6/384 GPT's, the feed-
    forward step runs about 15% faster in graph mode.
    """
    cdf = 0.5 * (1.0 + ops.erf(x * (1.0 / math.sqrt(2.0))))  # Φ(x)

    def grad(*args, upstream=None):
        if upstream is None:
            (upstream,) = args
        pdf = ops.exp(-0.5 * ops.square(x)) * (1.0 / math.sqrt(2.0 * math.pi))  # φ(x)
        return upstream * (cdf + x * pdf)

    return x * cdf, grad


@keras.saving.register_keras_serializable(package="keras_attn")
class FeedForward(keras.layers.Layer):
    """Dense, activation, dropout, dense: applied to each position alone.

    ```
    FFN(x)    = activation(x W1 + b1) W2 + b2
    SwiGLU(x) = (silu(x W_gate) * (x W1 + b1)) W2 + b2
    ```

    After attention has mixed information across positions, this network
    transforms each position's vector on its own, usually through a wider
    `intermediate_dim` (4x the model width in GPT, 2048 for 512 in the paper).
    `"swiglu"` is the gated variant of PaLM and Llama: a third projection,
    `gate_dense`, gates the intermediate features.

    Args:
        intermediate_dim: int, width of the hidden layer.
        activation: one of `"relu"`, `"gelu"` (exact), `"gelu_approximate"`
            (the tanh approximation of GPT-2), `"silu"` or `"swiglu"`.
        dropout: float in `[0, 1)`, dropout after the activation.
        output_dim: int, width of the output. Defaults to the input's width.
        use_bias: whether the dense layers have biases.
        kernel_initializer: initializer of the kernels.
        bias_initializer: initializer of the biases.
        **kwargs: base layer arguments, such as `name` and `dtype`.

    Call arguments:
        inputs: `(..., d)` tensor.
        training: whether dropout is active.

    Example:

    >>> import numpy as np
    >>> ffn = FeedForward(intermediate_dim=32, activation="swiglu", name="ffn")
    >>> x = np.random.rand(2, 5, 8).astype("float32")
    >>> tuple(ffn(x).shape)
    (2, 5, 8)
    >>> [w.path for w in ffn.weights]  # doctest: +NORMALIZE_WHITESPACE
    ['ffn/intermediate_dense/kernel', 'ffn/intermediate_dense/bias',
     'ffn/gate_dense/kernel', 'ffn/output_dense/kernel', 'ffn/output_dense/bias']

    References:
        Vaswani et al., "Attention Is All You Need", 2017, section 3.3.
        Shazeer, "GLU Variants Improve Transformer", 2020.
    """

    def __init__(
        self,
        intermediate_dim,
        activation="relu",
        dropout=0.0,
        output_dim=None,
        use_bias=True,
        kernel_initializer="glorot_uniform",
        bias_initializer="zeros",
        **kwargs,
    ):
        check_positive_int("intermediate_dim", intermediate_dim)
        check_one_of("activation", activation, ACTIVATIONS)
        check_number("dropout", dropout, minimum=0, below=1)
        check_positive_int("output_dim", output_dim, allow_none=True)
        check_bool("use_bias", use_bias)
        super().__init__(**kwargs)
        self.supports_masking = True
        self.intermediate_dim = intermediate_dim
        self.activation = activation
        self.dropout = dropout
        self.output_dim = output_dim
        self.use_bias = use_bias
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.bias_initializer = keras.initializers.get(bias_initializer)

    def _dense(self, units, name, activation=None, use_bias=None):
        return keras.layers.Dense(
            units,
            activation=activation,
            use_bias=self.use_bias if use_bias is None else use_bias,
            kernel_initializer=keras.initializers.get(
                keras.initializers.serialize(self.kernel_initializer)
            ),
            bias_initializer=keras.initializers.get(
                keras.initializers.serialize(self.bias_initializer)
            ),
            dtype=self.dtype_policy,
            name=name,
        )

    def build(self, inputs_shape):
        gated = self.activation == "swiglu"
        self.intermediate_dense = self._dense(
            self.intermediate_dim,
            "intermediate_dense",
            activation=self.activation if self.activation in ("relu", "silu") else None,
        )
        self.intermediate_dense.build(inputs_shape)
        if gated:
            self.gate_dense = self._dense(
                self.intermediate_dim, "gate_dense", activation="silu", use_bias=False
            )
            self.gate_dense.build(inputs_shape)
        self.dropout_layer = keras.layers.Dropout(
            self.dropout, dtype=self.dtype_policy, name="dropout"
        )
        hidden_shape = tuple(inputs_shape[:-1]) + (self.intermediate_dim,)
        self.output_dense = self._dense(self.output_dim or inputs_shape[-1], "output_dense")
        self.output_dense.build(hidden_shape)

    def call(self, inputs, training=None):
        # (..., d) -> (N, d): on 2D inputs Dense is one MatMul, where on 3D
        # it is a Tensordot (reshapes and transposes around a MatMul).
        leading = ops.shape(inputs)[:-1]
        inputs = ops.reshape(inputs, (-1, inputs.shape[-1]))
        hidden = self.intermediate_dense(inputs)  # (N, intermediate_dim)
        if self.activation == "gelu":
            hidden = gelu(hidden)
        elif self.activation == "gelu_approximate":
            hidden = keras.activations.gelu(hidden, approximate=True)
        elif self.activation == "swiglu":
            hidden = ops.multiply(self.gate_dense(inputs), hidden)
        hidden = self.dropout_layer(hidden, training=training)
        outputs = self.output_dense(hidden)  # (N, output_dim)
        return ops.reshape(outputs, (*leading, outputs.shape[-1]))  # (..., output_dim)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "intermediate_dim": self.intermediate_dim,
                "activation": self.activation,
                "dropout": self.dropout,
                "output_dim": self.output_dim,
                "use_bias": self.use_bias,
                "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
                "bias_initializer": keras.initializers.serialize(self.bias_initializer),
            }
        )
        return config

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.output_dim or input_shape[-1],)
