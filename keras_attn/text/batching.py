"""Tokenize a list of strings into one padded id array, for training."""

import keras_hub
import numpy as np
import tensorflow as tf

from keras_attn.text.special_tokens import check_sequence_length
from keras_attn.text.special_tokens import check_texts


def tokenize_batch(tokenizer, texts, sequence_length=None, add_start_end=False):
    """Tokenizes N strings into an `(N, L)` int32 array padded with 0.

    Each row is `[START] ids [END]` (with `add_start_end=True`) or `ids`,
    then 0s. Nothing is cut silently: a row that does not fit raises a
    ValueError, so that no training pair loses its end.

    For ragged ids instead, call the tokenizer on the list: eagerly it
    returns a list of lists, and inside `tf.data` a `tf.RaggedTensor`.

    Args:
        tokenizer: a keras-hub tokenizer, e.g. `ByteTokenizer`,
            `CharacterTokenizer` or `ReversibleWordPieceTokenizer`.
        texts: a list of N strings.
        sequence_length: L, the width of the output; None (the default)
            for the longest row.
        add_start_end: whether to add the tokenizer's start and end ids
            around each row (`keras_hub.layers.StartEndPacker` does it).
            The tokenizer must have them (`start_token_id`, `end_token_id`),
            which `ByteTokenizer` does not.

    Returns:
        An `(N, L)` int32 NumPy array.

    Example:

    >>> from keras_attn.text import CharacterTokenizer
    >>> tokenizer = CharacterTokenizer.from_texts(["un", "deux"])
    >>> tokenize_batch(tokenizer, ["un", "deux"])
    array([[7, 6, 0, 0],
           [4, 5, 7, 8]], dtype=int32)

    Teacher forcing for a translator: the decoder reads `[START] ids` and
    predicts `ids [END]`. (A row shorter than the longest keeps its `[END]`
    in the decoder input, where its label is padding, which a masked loss
    ignores; `keras_attn.data.decoder_inputs_and_labels` puts 0 there.)

    >>> packed = tokenize_batch(tokenizer, ["un", "deux"], add_start_end=True)
    >>> packed
    array([[1, 7, 6, 2, 0, 0],
           [1, 4, 5, 7, 8, 2]], dtype=int32)
    >>> decoder_inputs, labels = packed[:, :-1], packed[:, 1:]

    A text that does not fit:

    >>> tokenize_batch(tokenizer, ["deux"], sequence_length=3)
    Traceback (most recent call last):
    ...
    ValueError: 1 of the 1 texts have more than sequence_length=3 tokens (the longest has 4). ...
    """
    if not isinstance(tokenizer, keras_hub.tokenizers.Tokenizer):
        raise ValueError(
            "`tokenizer` must be a keras-hub tokenizer (keras_hub.tokenizers.Tokenizer). "
            f"Received: tokenizer={tokenizer!r}"
        )
    texts = check_texts(texts)
    check_sequence_length(sequence_length)
    start_id = getattr(tokenizer, "start_token_id", None)
    end_id = getattr(tokenizer, "end_token_id", None)
    if add_start_end and (start_id is None or end_id is None):
        raise ValueError(
            "`add_start_end=True` needs a tokenizer with start and end tokens, such "
            "as CharacterTokenizer or ReversibleWordPieceTokenizer. Received: "
            f"tokenizer={type(tokenizer).__name__}"
        )
    # Traced, every keras-hub tokenizer returns a tf.RaggedTensor (N, None).
    ids = tf.function(tokenizer.tokenize, autograph=False)(tf.constant(texts, tf.string))
    if not isinstance(ids, tf.RaggedTensor):  # the tokenizer's own sequence_length
        ids = tf.RaggedTensor.from_tensor(ids, padding=0)
    extra = 2 if add_start_end else 0
    lengths = ids.row_lengths().numpy() + extra
    longest = int(lengths.max()) if len(texts) else extra
    if sequence_length is not None and longest > sequence_length:
        too_long = int((lengths > sequence_length).sum())
        raise ValueError(
            f"{too_long} of the {len(texts)} texts have more than "
            f"sequence_length={sequence_length} tokens (the longest has {longest}). "
            "Raise `sequence_length` or leave long texts out. "
            f"Received: sequence_length={sequence_length}"
        )
    width = sequence_length or longest
    if width == 0:
        return np.zeros((len(texts), 0), np.int32)
    packer = keras_hub.layers.StartEndPacker(
        sequence_length=width,
        start_value=start_id if add_start_end else None,
        end_value=end_id if add_start_end else None,
        pad_value=0,
        _allow_python_workflow=False,
    )
    return np.asarray(packer(ids), dtype=np.int32)
