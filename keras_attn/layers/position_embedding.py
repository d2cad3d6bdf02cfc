"""Learned position embedding."""

import keras
from keras import ops

from keras_attn.checks import check_positive_int


@keras.saving.register_keras_serializable(package="keras_attn")
class PositionEmbedding(keras.layers.Layer):
    """A learned vector for each position, as in GPT and BERT.

    The layer holds a table `embeddings` of shape `(sequence_length, d)` and
    returns rows `start_index ... start_index + T - 1`, broadcast to the
    input's shape, for the caller to add: `x = x + position_embedding(x)`.

    Args:
        sequence_length: int, the longest sequence (rows of the table).
        initializer: initializer of the table.
        **kwargs: base layer arguments, such as `name` and `dtype`.

    Call arguments:
        inputs: `(B, T, d)` tensor, only its shape is used. `T` may not
            exceed `sequence_length`.
        start_index: int or scalar tensor, the position of the first token
            (the cache index in cached decoding).

    Example:

    >>> import numpy as np
    >>> layer = PositionEmbedding(sequence_length=16)
    >>> x = np.zeros((2, 10, 8), "float32")
    >>> tuple(layer(x).shape)
    (2, 10, 8)
    >>> np.allclose(layer(x[:, :1], start_index=3)[0, 0], layer(x)[0, 3])
    True
    """

    def __init__(self, sequence_length, initializer="glorot_uniform", **kwargs):
        check_positive_int("sequence_length", sequence_length)
        super().__init__(**kwargs)
        self.sequence_length = sequence_length
        self.supports_masking = True  # keeps the Keras mask of its input
        self.initializer = keras.initializers.get(initializer)

    def _check_length(self, input_shape):
        length = input_shape[-2]
        if length is not None and length > self.sequence_length:
            raise ValueError(
                f"The input sequence is longer than the position table: "
                f"{length} > sequence_length={self.sequence_length}. "
                f"Received: inputs.shape={tuple(input_shape)}"
            )

    def build(self, inputs_shape):
        self._check_length(inputs_shape)
        self.embeddings = self.add_weight(
            name="embeddings",
            shape=(self.sequence_length, inputs_shape[-1]),
            initializer=self.initializer,
            trainable=True,
        )

    def call(self, inputs, start_index=0):
        self._check_length(inputs.shape)
        shape = ops.shape(inputs)
        # A gather, not a slice: XLA takes a slice's start as a compile-time
        # constant, so a compiled decoding step would recompile at every index.
        positions = ops.arange(shape[-2], dtype="int32") + ops.cast(start_index, "int32")
        rows = ops.take(ops.convert_to_tensor(self.embeddings), positions, axis=0)  # (T, d)
        return ops.broadcast_to(ops.cast(rows, self.compute_dtype), shape)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "sequence_length": self.sequence_length,
                "initializer": keras.initializers.serialize(self.initializer),
            }
        )
        return config

    def compute_output_shape(self, input_shape):
        return input_shape
