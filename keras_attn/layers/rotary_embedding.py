"""Rotary position embedding (RoPE)."""

import keras
from keras import ops

from keras_attn.checks import check_number


@keras.saving.register_keras_serializable(package="keras_attn")
class RotaryEmbedding(keras.layers.Layer):
    """Rotates query or key features by an angle that grows with position.

    Feature pairs `(x[i], x[i + d/2])` are rotated by `position * θ_i`, with
    `θ_i = max_wavelength ** (-2i / d)`. After the rotation, the dot product
    of a query at position `m` and a key at position `n` depends only on
    `m - n`, so attention sees relative positions. This is the "rotate half"
    layout of GPT-NeoX and Llama, the same as `keras_hub.layers.RotaryEmbedding`.

    The layer has no weights and returns a tensor of the input's shape.

    Args:
        max_wavelength: int, the longest wavelength, 10000 in the paper.
        scaling_factor: float, positions are divided by it (linear position
            interpolation to stretch the context). 1.0 means no scaling.
        sequence_axis: int, the axis of the positions.
        feature_axis: int, the axis of the features, of even size.
        **kwargs: base layer arguments, such as `name` and `dtype`.

    Call arguments:
        inputs: a tensor such as `(B, T, num_heads, head_dim)`.
        start_index: int or scalar tensor, the position of the first element
            along `sequence_axis` (the cache index in cached decoding).

    Example:

    >>> import numpy as np
    >>> rope = RotaryEmbedding()
    >>> q = np.random.rand(2, 5, 4, 8).astype("float32")  # (B, T, heads, dim)
    >>> tuple(rope(q).shape)
    (2, 5, 4, 8)
    >>> # A rotation keeps the norm of each feature vector.
    >>> np.allclose(np.linalg.norm(rope(q), axis=-1), np.linalg.norm(q, axis=-1),
    ...             atol=1e-5)
    True

    References:
        Su et al., "RoFormer: Enhanced Transformer with Rotary Position
        Embedding", 2021.
    """

    def __init__(
        self,
        max_wavelength=10000,
        scaling_factor=1.0,
        sequence_axis=1,
        feature_axis=-1,
        **kwargs,
    ):
        check_number("max_wavelength", max_wavelength, above=1)
        check_number("scaling_factor", scaling_factor, above=0)
        super().__init__(**kwargs)
        self.max_wavelength = max_wavelength
        self.scaling_factor = scaling_factor
        self.sequence_axis = sequence_axis
        self.feature_axis = feature_axis
        self.built = True
        self.supports_masking = True  # keeps the Keras mask of its input

    def call(self, inputs, start_index=0):
        rank = len(inputs.shape)
        sequence_axis = self.sequence_axis % rank
        feature_axis = self.feature_axis % rank
        dim = inputs.shape[feature_axis]
        if dim is not None and dim % 2:
            raise ValueError(
                "The feature axis of the input to `RotaryEmbedding` must have "
                f"even size. Received: inputs.shape={tuple(inputs.shape)}"
            )
        # Work in (B, T, ..., d) layout.
        x = ops.moveaxis(inputs, (sequence_axis, feature_axis), (1, -1))
        cos, sin = self._cos_sin(ops.shape(x)[1], ops.shape(x)[-1], start_index)
        # (T, d) -> (1, T, 1, ..., 1, d) to broadcast over the other axes.
        cos = ops.reshape(cos, (1, ops.shape(cos)[0]) + (1,) * (rank - 3) + (-1,))
        sin = ops.reshape(sin, (1, ops.shape(sin)[0]) + (1,) * (rank - 3) + (-1,))
        x1, x2 = ops.split(x, 2, axis=-1)
        rotated_half = ops.concatenate([-x2, x1], axis=-1)
        x = x * ops.cast(cos, x.dtype) + rotated_half * ops.cast(sin, x.dtype)
        return ops.moveaxis(x, (1, -1), (sequence_axis, feature_axis))

    def _cos_sin(self, length, dim, start_index):
        positions = ops.arange(length, dtype="float32") + ops.cast(
            start_index, "float32"
        )
        positions = positions / self.scaling_factor
        # θ_i = max_wavelength^(-2i/d), i = 0 .. d/2 - 1
        exponents = ops.arange(0, dim, 2, dtype="float32") / ops.cast(dim, "float32")
        inverse_frequencies = 1.0 / ops.power(float(self.max_wavelength), exponents)
        angles = ops.einsum("t,i->ti", positions, inverse_frequencies)  # (T, d/2)
        angles = ops.concatenate([angles, angles], axis=-1)  # (T, d)
        return ops.cos(angles), ops.sin(angles)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "max_wavelength": self.max_wavelength,
                "scaling_factor": self.scaling_factor,
                "sequence_axis": self.sequence_axis,
                "feature_axis": self.feature_axis,
            }
        )
        return config

    def compute_output_shape(self, input_shape):
        return input_shape
