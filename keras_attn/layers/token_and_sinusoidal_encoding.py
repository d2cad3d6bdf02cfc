"""Scaled token embedding plus the paper's sinusoidal position encoding."""

import math

import keras

from keras_attn.layers.sinusoidal_position_encoding import SinusoidalPositionEncoding
from keras_attn.layers.token_embedding import TokenEmbedding


@keras.saving.register_keras_serializable(package="keras_attn")
class TokenAndSinusoidalEncoding(TokenEmbedding):
    """The input layer of "Attention Is All You Need", usable as a tied output head.

    ```
    forward: output = token_embedding(ids) * sqrt(d) + PE(positions)
    reverse: logits = hidden @ token_embedding.embeddings.T
    ```

    The token embedding is a `keras.layers.ReversibleEmbedding`, scaled by
    `sqrt(embedding_dim)` as in the paper (section 3.4), and the positions
    are the fixed `SinusoidalPositionEncoding`, so the only weights are the
    token embeddings and any sequence length works. Called with
    `reverse=True` on hidden states, the layer returns logits computed with
    the (unscaled) transposed token embedding: a model that calls the layer
    at its bottom and its top ties its input and output embeddings.

    Masking: with `mask_zero=True`, id 0 is padding and the output carries
    the mask `ids != 0`; in reverse the hidden states' mask passes through.

    Args:
        vocabulary_size: int, number of token ids.
        embedding_dim: int, size of the embeddings.
        mask_zero: whether id 0 is padding.
        max_wavelength: the longest wavelength of the encoding, 10000 in
            the paper.
        embeddings_initializer: initializer of the token embedding.
        **kwargs: base layer arguments, such as `name` and `dtype`.

    Call arguments:
        inputs: `(B, T)` integer token ids, or `(B, T, d)` hidden states
            with `reverse=True`.
        start_index: int or scalar tensor, the position of the first token
            (the cache index in cached decoding; ignored in reverse).
        reverse: project hidden states to logits with the token embedding.

    Example:

    >>> import numpy as np
    >>> layer = TokenAndSinusoidalEncoding(vocabulary_size=100, embedding_dim=16,
    ...                                    mask_zero=True)
    >>> ids = np.array([[5, 6, 7, 0]])
    >>> hidden = layer(ids)
    >>> tuple(hidden.shape)
    (1, 4, 16)
    >>> np.asarray(layer.compute_mask(ids))
    array([[ True,  True,  True, False]])
    >>> tuple(layer(hidden, reverse=True).shape)
    (1, 4, 100)

    References:
        Vaswani et al., "Attention Is All You Need", 2017, sections 3.4
        and 3.5.
    """

    def __init__(
        self,
        vocabulary_size,
        embedding_dim,
        mask_zero=False,
        max_wavelength=10000,
        embeddings_initializer="uniform",
        **kwargs,
    ):
        super().__init__(
            vocabulary_size,
            embedding_dim,
            mask_zero=mask_zero,
            embeddings_initializer=embeddings_initializer,
            **kwargs,
        )
        self.max_wavelength = max_wavelength
        self.position_encoding = SinusoidalPositionEncoding(
            max_wavelength, dtype=self.dtype_policy, name="position_encoding"
        )

    def call(self, inputs, start_index=0, reverse=False):
        if reverse:
            return self.reverse(inputs)  # (B, T, V)
        tokens = self.embed_tokens(inputs) * math.sqrt(self.embedding_dim)  # (B, T, d)
        return tokens + self.position_encoding(tokens, start_index=start_index)

    def get_config(self):
        config = super().get_config()
        config.update({"max_wavelength": self.max_wavelength})
        return config
