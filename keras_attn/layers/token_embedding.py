"""Token embedding that is also the output head: the input layer of a model with rotary positions."""

import keras
import numpy as np
from keras import ops

from keras_attn.checks import check_bool
from keras_attn.checks import check_positive_int


def known_values(x):
    """`x` as a NumPy array when its values exist now (eager), else None.

    Inside a traced graph (`model.fit`, `tf.function`, XLA) and while a
    functional model is built, values are not known: checks on them are
    left to the caller (the SavedModel export asserts in its graph).
    """
    if isinstance(x, (np.ndarray, list, tuple)):
        return np.asarray(x)
    if isinstance(x, keras.KerasTensor):
        return None
    try:
        return keras.ops.convert_to_numpy(x)
    except Exception:  # a symbolic tensor of the backend
        return None


@keras.saving.register_keras_serializable(package="keras_attn")
class TokenEmbedding(keras.layers.Layer):
    """Embeds token ids, and with `reverse=True` turns hidden states into logits.

    ```
    forward: output = table[ids]                    (B, T) -> (B, T, d)
    reverse: logits = hidden @ table.T              (B, T, d) -> (B, T, V)
    ```

    A model that calls this one layer at its bottom and, with
    `reverse=True`, at its top ties its input and output embeddings (Press
    and Wolf, 2017), and stays tied through a `.keras` save and load. The
    layer adds no positions: use it with rotary attention
    (`TransformerDecoderBlock(use_rotary_embedding=True)`), where positions
    enter through the queries and keys. `TokenAndPositionEmbedding` and
    `TokenAndSinusoidalEncoding` are this layer plus positions.

    Token ids are checked when their values are known (eager calls): an id
    below 0 or at least `vocabulary_size`, or a row of no tokens, raises a
    `ValueError` naming `token_ids`. Inside a traced graph there are no
    values to check; an id out of range then fails in the gather on a CPU
    and reads zeros on a GPU, as in `keras.layers.Embedding`.

    Masking: with `mask_zero=True`, id 0 is padding and the output carries
    the mask `ids != 0`; in reverse the hidden states' mask passes through.

    Args:
        vocabulary_size: int, number of token ids.
        embedding_dim: int, size of the embeddings.
        mask_zero: whether id 0 is padding.
        embeddings_initializer: initializer of the table.
        **kwargs: base layer arguments, such as `name` and `dtype`.

    Call arguments:
        inputs: `(B, T)` integer token ids, or `(B, T, embedding_dim)`
            hidden states with `reverse=True`.
        start_index: the position of the first token. Unused here (there
            are no positions); subclasses use it.
        reverse: project hidden states to logits `(B, T, vocabulary_size)`.

    Example:

    >>> import numpy as np
    >>> layer = TokenEmbedding(vocabulary_size=100, embedding_dim=16)
    >>> hidden = layer(np.array([[5, 6, 7]]))
    >>> tuple(hidden.shape), tuple(layer(hidden, reverse=True).shape)
    ((1, 3, 16), (1, 3, 100))
    >>> layer(np.array([[5, 100]]))
    Traceback (most recent call last):
    ...
    ValueError: ...`token_ids` must be in [0, 99] (the vocabulary). Received: token_ids with values from 5 to 100...

    References:
        Press and Wolf, "Using the Output Embedding to Improve Language
        Models", 2017.
    """

    def __init__(
        self,
        vocabulary_size,
        embedding_dim,
        mask_zero=False,
        embeddings_initializer="uniform",
        **kwargs,
    ):
        check_positive_int("vocabulary_size", vocabulary_size)
        check_positive_int("embedding_dim", embedding_dim)
        check_bool("mask_zero", mask_zero)
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

    def build(self, inputs_shape):
        self.token_embedding.build(inputs_shape)

    def embed_tokens(self, token_ids):
        """`(B, T)` ids -> `(B, T, embedding_dim)`, after checking the ids."""
        if len(token_ids.shape) >= 2 and token_ids.shape[-1] == 0:
            raise ValueError(
                "`token_ids` must hold at least one token per row. "
                f"Received: token_ids.shape={tuple(token_ids.shape)}"
            )
        values = known_values(token_ids)
        if values is not None and values.size:
            low, high = values.min(), values.max()
            if low < 0 or high >= self.vocabulary_size:
                raise ValueError(
                    f"`token_ids` must be in [0, {self.vocabulary_size - 1}] (the "
                    f"vocabulary). Received: token_ids with values from {low} to {high}"
                )
        return self.token_embedding(token_ids)

    def reverse(self, hidden):
        """`(B, T, d)` hidden states -> `(B, T, vocabulary_size)` logits."""
        return self.token_embedding(hidden, reverse=True)

    def call(self, inputs, start_index=0, reverse=False):
        if reverse:
            return self.reverse(inputs)
        return self.embed_tokens(inputs)

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
