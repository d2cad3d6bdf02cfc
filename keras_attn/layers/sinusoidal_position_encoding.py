"""The fixed sine/cosine position encoding of "Attention Is All You Need"."""

import keras
from keras import ops

from keras_attn.checks import check_number


@keras.saving.register_keras_serializable(package="keras_attn")
class SinusoidalPositionEncoding(keras.layers.Layer):
    """Returns the sinusoidal encoding of each position, for adding to tokens.

    Attention itself ignores order, so the model adds to each token embedding
    a vector that depends only on the token's position `pos`:

    ```
    PE[pos, 2i]     = sin(pos / max_wavelength^(2i / d))
    PE[pos, 2i + 1] = cos(pos / max_wavelength^(2i / d))
    ```

    Sine on even features and cosine on odd ones, interleaved. Each pair of
    features is a clock turning at its own speed; the offset between two
    positions is a fixed rotation of those clocks, which the model can learn
    to read.

    The layer has no weights. It returns the encoding broadcast to the
    input's shape; the caller adds it: `x = x + encoding(x)`.

    Args:
        max_wavelength: the longest wavelength, 10000 in the paper.
        **kwargs: base layer arguments, such as `name` and `dtype`.

    Call arguments:
        inputs: `(B, T, d)` tensor, only its shape is used.
        start_index: int or scalar tensor, the position of the first token
            (the cache index in cached decoding).

    Example:

    >>> import numpy as np
    >>> embeddings = np.zeros((2, 4, 6), "float32")     # (B, T, d)
    >>> encoding = SinusoidalPositionEncoding()(embeddings)
    >>> tuple(encoding.shape)
    (2, 4, 6)
    >>> np.round(np.asarray(encoding[0, 1]), 3)       # position 1
    array([0.841, 0.54 , 0.046, 0.999, 0.002, 1.   ], dtype=float32)

    References:
        Vaswani et al., "Attention Is All You Need", 2017, section 3.5.
    """

    def __init__(self, max_wavelength=10000, **kwargs):
        check_number("max_wavelength", max_wavelength, above=1)
        super().__init__(**kwargs)
        self.max_wavelength = max_wavelength
        self.built = True
        self.supports_masking = True  # keeps the Keras mask of its input

    def call(self, inputs, start_index=0):
        shape = ops.shape(inputs)
        length, dim = shape[-2], shape[-1]
        positions = ops.arange(length, dtype="float32") + ops.cast(start_index, "float32")
        features = ops.arange(dim, dtype="int32")
        # 2i for both features of the pair (2i, 2i + 1)
        pair_start = ops.cast(features - features % 2, "float32")
        rates = ops.power(float(self.max_wavelength), -pair_start / ops.cast(dim, "float32"))
        angles = ops.expand_dims(positions, 1) * ops.expand_dims(rates, 0)  # (T, d)
        encoding = ops.where(features % 2 == 0, ops.sin(angles), ops.cos(angles))
        return ops.broadcast_to(ops.cast(encoding, self.compute_dtype), shape)

    def get_config(self):
        config = super().get_config()
        config.update({"max_wavelength": self.max_wavelength})
        return config

    def compute_output_shape(self, input_shape):
        return input_shape
