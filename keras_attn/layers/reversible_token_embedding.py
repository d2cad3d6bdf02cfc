"""What the two token-embedding input layers share: a token table that is also the output head."""

import keras
from keras import ops


class ReversibleTokenEmbedding(keras.layers.Layer):
    """Base class of `TokenAndPositionEmbedding` and `TokenAndSinusoidalEncoding`.

    It validates the sizes, owns `token_embedding` (a
    `keras.layers.ReversibleEmbedding`), answers `reverse=True` calls with
    logits `hidden @ token_embedding.embeddings.T`, and computes masks and
    output shapes for both directions. Subclasses add the positions in
    `call` and `build`, and their own fields in `get_config`.
    """

    def __init__(
        self,
        vocabulary_size,
        embedding_dim,
        mask_zero=False,
        embeddings_initializer="uniform",
        other_sizes=(),
        **kwargs,
    ):
        # other_sizes: (name, value) pairs of the subclass's sizes, checked alike.
        for name, value in [
            ("vocabulary_size", vocabulary_size),
            *other_sizes,
            ("embedding_dim", embedding_dim),
        ]:
            if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
                raise ValueError(
                    f"`{name}` must be a positive integer. Received: {name}={value!r}"
                )
        super().__init__(**kwargs)
        self.vocabulary_size = vocabulary_size
        self.embedding_dim = embedding_dim
        self.mask_zero = mask_zero
        self.embeddings_initializer = keras.initializers.get(embeddings_initializer)
        self.token_embedding = keras.layers.ReversibleEmbedding(
            vocabulary_size,
            embedding_dim,
            embeddings_initializer=self.embeddings_initializer,
            mask_zero=mask_zero,
            dtype=self.dtype_policy,
            name="token_embedding",
        )
        self.supports_masking = True

    def reverse(self, hidden):
        """`(B, T, d)` hidden states -> `(B, T, vocabulary_size)` logits."""
        return self.token_embedding(hidden, reverse=True)

    def compute_mask(self, inputs, mask=None):
        if keras.backend.is_float_dtype(inputs.dtype):
            return mask  # reverse: the hidden states keep their padding mask
        if not self.mask_zero:
            return None
        return ops.not_equal(inputs, 0)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "vocabulary_size": self.vocabulary_size,
                "embedding_dim": self.embedding_dim,
                "mask_zero": self.mask_zero,
                "embeddings_initializer": keras.initializers.serialize(
                    self.embeddings_initializer
                ),
            }
        )
        return config

    def compute_output_shape(self, input_shape, reverse=False):
        if reverse:
            return tuple(input_shape[:-1]) + (self.vocabulary_size,)
        return tuple(input_shape) + (self.embedding_dim,)

    def compute_output_spec(self, inputs, start_index=0, reverse=False):
        shape = self.compute_output_shape(inputs.shape, reverse=reverse)
        return keras.KerasTensor(shape, dtype=self.compute_dtype)
