"""Token embedding plus learned position embedding."""

import keras

from keras_attn.checks import check_positive_int
from keras_attn.layers.position_embedding import PositionEmbedding
from keras_attn.layers.token_embedding import TokenEmbedding


@keras.saving.register_keras_serializable(package="keras_attn")
class TokenAndPositionEmbedding(TokenEmbedding):
    """Embeds token ids and adds a learned position embedding.

    ```
    forward: output = token_embedding(ids) + position_embedding(positions)
    reverse: logits = hidden @ token_embedding.embeddings.T
    ```

    The input layer of GPT. Called with `reverse=True` on hidden states it is
    also the output head, with the same (transposed) token embedding: a
    functional model that calls this one layer at its bottom and at its top
    ties its input and output embeddings, and stays tied through a `.keras`
    save and load (Keras saves a layer called twice once).

    With `mask_zero=True`, id 0 is padding and the output carries the padding
    mask `ids != 0` as its Keras mask; the attention layers downstream read
    it, so padded tokens are neither attended nor attending. In reverse, the
    hidden states' mask passes through to the logits, so Keras losses skip
    padded positions.

    Args:
        vocabulary_size: int, number of token ids.
        sequence_length: int, the longest sequence.
        embedding_dim: int, size of the embeddings.
        mask_zero: whether id 0 is padding.
        embeddings_initializer: initializer of the token embedding.
        position_initializer: initializer of the position embedding.
        **kwargs: base layer arguments, such as `name` and `dtype`.

    Call arguments:
        inputs: `(B, T)` integer token ids, or `(B, T, embedding_dim)` hidden
            states with `reverse=True`.
        start_index: int or scalar tensor, the position of the first token
            (the cache index in cached decoding); unused in reverse.
        reverse: project hidden states to logits `(B, T, vocabulary_size)`.

    Example:

    >>> import numpy as np
    >>> layer = TokenAndPositionEmbedding(vocabulary_size=100, sequence_length=8,
    ...                                   embedding_dim=16, mask_zero=True)
    >>> ids = np.array([[5, 6, 7, 0, 0]])
    >>> tuple(layer(ids).shape)
    (1, 5, 16)
    >>> np.asarray(layer.compute_mask(ids))
    array([[ True,  True,  True, False, False]])
    >>> tuple(layer(layer(ids), reverse=True).shape)   # tied output head
    (1, 5, 100)

    References:
        Press and Wolf, "Using the Output Embedding to Improve Language
        Models", 2017.
    """

    def __init__(
        self,
        vocabulary_size,
        sequence_length,
        embedding_dim,
        mask_zero=False,
        embeddings_initializer="uniform",
        position_initializer="glorot_uniform",
        **kwargs,
    ):
        check_positive_int("sequence_length", sequence_length)
        super().__init__(
            vocabulary_size,
            embedding_dim,
            mask_zero=mask_zero,
            embeddings_initializer=embeddings_initializer,
            **kwargs,
        )
        self.sequence_length = sequence_length
        self.position_initializer = keras.initializers.get(position_initializer)
        self.position_embedding = PositionEmbedding(
            sequence_length,
            initializer=self.position_initializer,
            dtype=self.dtype_policy,
            name="position_embedding",
        )

    def _check_length(self, ids_shape):
        length = ids_shape[-1]
        if length is not None and length > self.sequence_length:
            raise ValueError(
                f"`token_ids` is longer than the position table: {length} > "
                f"sequence_length={self.sequence_length}. "
                f"Received: token_ids.shape={tuple(ids_shape)}"
            )

    def build(self, inputs_shape):
        self._check_length(inputs_shape)  # the first call builds: the user's ids' shape
        self.token_embedding.build(inputs_shape)
        self.position_embedding.build(tuple(inputs_shape) + (self.embedding_dim,))

    def call(self, inputs, start_index=0, reverse=False):
        if reverse:
            return self.reverse(inputs)  # (B, T, V)
        self._check_length(inputs.shape)
        tokens = self.embed_tokens(inputs)  # (B, T, d)
        return tokens + self.position_embedding(tokens, start_index=start_index)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "sequence_length": self.sequence_length,
                "position_initializer": keras.initializers.serialize(
                    self.position_initializer
                ),
            }
        )
        return config
