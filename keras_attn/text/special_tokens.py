"""The reserved tokens of the translator tokenizers, and the checks and steps they share.

`CharacterTokenizer` and `ReversibleWordPieceTokenizer` vocabularies start
with the same four tokens, so their ids are the same everywhere:

    0  "[PAD]"    padding; the models mask id 0
    1  "[START]"  starts the decoder's input
    2  "[END]"    ends the decoder's labels
    3  "[UNK]"    a character (or word) that is not in the vocabulary

Ids 0 to 2 are also those of the copy/reverse task
(`keras_attn.data.sequence_tasks`), so `keras_attn.data.decoder_inputs_and_labels`
works on these tokenizers' ids as well.

>>> RESERVED_TOKENS.index("[PAD]"), RESERVED_TOKENS.index("[END]")
(0, 2)
"""

import numbers

import tensorflow as tf

PAD_TOKEN = "[PAD]"
START_TOKEN = "[START]"
END_TOKEN = "[END]"
UNK_TOKEN = "[UNK]"
RESERVED_TOKENS = (PAD_TOKEN, START_TOKEN, END_TOKEN, UNK_TOKEN)
# Every id above END_ID is text (UNK included); detokenize drops the others.
END_ID = RESERVED_TOKENS.index(END_TOKEN)


def check_vocabulary(vocabulary):
    """Returns `vocabulary` as a list, or raises a ValueError.

    A vocabulary is a list of distinct strings that starts with
    `RESERVED_TOKENS`.

    >>> check_vocabulary(["[PAD]", "[START]", "[END]", "[UNK]", "a"])
    ['[PAD]', '[START]', '[END]', '[UNK]', 'a']
    >>> check_vocabulary(["a", "[PAD]", "[START]", "[END]", "[UNK]"])
    Traceback (most recent call last):
    ...
    ValueError: `vocabulary` must start with the reserved tokens ... Received: vocabulary=['a', ...]
    """
    if isinstance(vocabulary, (str, bytes)) or not hasattr(vocabulary, "__iter__"):
        raise ValueError(
            f"`vocabulary` must be a list of strings. Received: vocabulary={vocabulary!r}"
        )
    vocabulary = list(vocabulary)
    shown = vocabulary
    if len(vocabulary) > 12:
        shown = f"{vocabulary[:12]!r} (+{len(vocabulary) - 12} more)"
    if not all(isinstance(token, str) for token in vocabulary):
        raise ValueError(
            f"`vocabulary` must be a list of strings. Received: vocabulary={shown}"
        )
    if tuple(vocabulary[: len(RESERVED_TOKENS)]) != RESERVED_TOKENS:
        raise ValueError(
            f"`vocabulary` must start with the reserved tokens {RESERVED_TOKENS}. "
            f"Received: vocabulary={shown}"
        )
    if len(set(vocabulary)) != len(vocabulary):
        repeated = sorted({t for t in vocabulary if vocabulary.count(t) > 1})
        raise ValueError(
            f"`vocabulary` must not repeat tokens; {repeated} appear more than "
            f"once. Received: vocabulary={shown}"
        )
    return vocabulary


def check_sequence_length(sequence_length):
    """Returns `sequence_length` if it is None or a positive int, else raises."""
    if sequence_length is not None and (
        not isinstance(sequence_length, numbers.Integral)
        or isinstance(sequence_length, bool)
        or sequence_length < 1
    ):
        raise ValueError(
            "`sequence_length` must be None or a positive integer. "
            f"Received: sequence_length={sequence_length!r}"
        )
    return sequence_length


def check_texts(texts):
    """Returns `texts` (one string, or an iterable of strings) as a list of str."""
    if isinstance(texts, str):
        return [texts]
    if isinstance(texts, bytes) or not hasattr(texts, "__iter__"):
        raise ValueError(
            f"`texts` must be a string or a list of strings. Received: texts={texts!r}"
        )
    texts = list(texts)
    for i, text in enumerate(texts):
        if not isinstance(text, str):
            raise ValueError(
                "`texts` must be a string or a list of strings. "
                f"Received: texts[{i}]={text!r} ({type(text).__name__})"
            )
    return texts


def add_special_tokens(tokenizer):
    """Gives `tokenizer` keras-hub's special-token attributes.

    After this, `tokenizer.pad_token_id`, `start_token_id`, `end_token_id`
    and `unk_token_id` are 0, 1, 2 and 3 (and `pad_token` etc. the strings),
    the names keras-hub's own tokenizers use.
    """
    for token, name in [
        (PAD_TOKEN, "pad_token"),
        (START_TOKEN, "start_token"),
        (END_TOKEN, "end_token"),
        (UNK_TOKEN, "unk_token"),
    ]:
        tokenizer._add_special_token(token, name)


def pad_and_unbatch(ids, sequence_length, unbatched):
    """The end of `tokenize`: ragged `(N, None)` ids to `(N, sequence_length)`
    (0-padded, or cut) when a length is set, and `(T,)` for a single string."""
    if sequence_length:
        shape = ids.shape.as_list()
        shape[-1] = sequence_length
        ids = ids.to_tensor(shape=shape)
    if unbatched:
        ids = tf.squeeze(ids, 0)
    return ids
