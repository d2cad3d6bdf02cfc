"""Copy and reverse: toy sequence-to-sequence tasks that test masks and decoding.

A source is a random sequence of token ids of random length; its target is
the same sequence ("copy") or the sequence backwards ("reverse"). Getting
every held-out sequence exactly right takes positions, a causal decoder and
working decoding, so 100% exact match is a quick check of an
encoder-decoder.

Token ids (the same for sources and targets):

    0                        PAD_ID, padding after the end of a sequence
    1                        START_ID, starts the decoder's input
    2                        END_ID, ends the decoder's labels
    3 .. vocabulary_size-1   the tokens the sequences are made of

Sources and targets never hold ids 1 and 2; `decoder_inputs_and_labels` adds
them for teacher forcing.
"""

from typing import NamedTuple

import numpy as np

from keras_attn.checks import check_int

PAD_ID = 0
START_ID = 1
END_ID = 2
FIRST_TOKEN_ID = 3  # the smallest id of a sequence token
TASKS = ("copy", "reverse")


class SequenceData(NamedTuple):
    """One split: `(N, max_length)` int32 arrays padded with 0, and lengths."""

    sources: np.ndarray  # (N, max_length) ids in [3, vocabulary_size), then 0s
    targets: np.ndarray  # (N, max_length) the copy or reversal of each source
    lengths: np.ndarray  # (N,) number of non-padding ids in each row


class SequenceSplits(NamedTuple):
    """The `SequenceData` splits returned by `load_sequence_task`."""

    train: SequenceData
    validation: SequenceData
    test: SequenceData


def _distinct_sources(rng, total, min_length, max_length, vocabulary_size):
    """Draws `total` distinct 0-padded sequences, `(total, max_length)` int32."""
    rows = np.zeros((0, max_length), np.int32)
    while len(rows) < total:
        # Draw more than needed so that a round or two covers the duplicates.
        size = 2 * (total - len(rows)) + 16
        lengths = rng.integers(min_length, max_length + 1, size=size)
        tokens = rng.integers(FIRST_TOKEN_ID, vocabulary_size, size=(size, max_length))
        tokens[np.arange(max_length) >= lengths[:, None]] = PAD_ID
        rows = np.concatenate([rows, tokens.astype(np.int32)])
        # Keep the first copy of each sequence, in draw order. Padding is 0
        # and tokens are >= 3, so equal rows are equal sequences.
        _, first = np.unique(rows, axis=0, return_index=True)
        rows = rows[np.sort(first)]
    # Shuffle so that the short sequences, which are all drawn early, are
    # not all in the training split.
    return rng.permutation(rows[:total])


def _reverse(sources, lengths):
    """Reverses each row's first `length` ids and keeps the padding after."""
    max_length = sources.shape[1]
    index = lengths[:, None] - 1 - np.arange(max_length)  # (N, T)
    flipped = np.take_along_axis(sources, np.maximum(index, 0), axis=1)
    return np.where(index >= 0, flipped, PAD_ID).astype(np.int32)


def load_sequence_task(
    task,
    num_train=10_000,
    num_validation=1_000,
    num_test=1_000,
    min_length=1,
    max_length=10,
    vocabulary_size=16,
    seed=0,
):
    """Generates the copy or reverse task, with held-out sequences.

    Lengths are drawn uniformly from `min_length..max_length` and tokens
    uniformly from `3..vocabulary_size-1`; repeated sequences are dropped
    and the distinct ones shuffled into the splits, so no validation or test
    source appears in training (nor in the other held-out split). Short
    lengths have few sequences (13 of length 1 with the defaults), so they
    are rarer than the uniform draw suggests. With the defaults there are
    13 tokens and about 1.5e11 possible sequences, and generation takes
    about 40 ms.

    Args:
        task: `"copy"` or `"reverse"`.
        num_train: number of training sequences. Defaults to `10_000`.
        num_validation: number of validation sequences. Defaults to `1_000`.
        num_test: number of test sequences. Defaults to `1_000`.
        min_length: shortest sequence, at least 1. Defaults to `1`.
        max_length: longest sequence and the arrays' width. Defaults to `10`.
        vocabulary_size: number of ids including the 3 special ones
            (padding, start, end), at least 4. Defaults to `16`.
        seed: integer seed; the same arguments give the same arrays.

    Returns:
        A `SequenceSplits(train, validation, test)` named tuple of
        `SequenceData(sources, targets, lengths)`: int32 arrays of shapes
        `(N, max_length)`, `(N, max_length)` and `(N,)`, padded with 0.

    Example:

    >>> splits = load_sequence_task("reverse", num_train=3, num_validation=1,
    ...                             num_test=1, max_length=5, seed=0)
    >>> splits.train.sources
    array([[ 9, 11,  0,  0,  0],
           [ 4,  6,  9,  0,  0],
           [10,  3, 12, 12, 14]], dtype=int32)
    >>> splits.train.targets
    array([[11,  9,  0,  0,  0],
           [ 9,  6,  4,  0,  0],
           [14, 12, 12,  3, 10]], dtype=int32)
    >>> splits.train.lengths
    array([2, 3, 5], dtype=int32)
    """
    if task not in TASKS:
        raise ValueError(f"`task` must be one of {TASKS}. Received: task={task!r}")
    for name, value, minimum in [
        ("num_train", num_train, 0),
        ("num_validation", num_validation, 0),
        ("num_test", num_test, 0),
        ("min_length", min_length, 1),
        ("max_length", max_length, 1),
        ("vocabulary_size", vocabulary_size, FIRST_TOKEN_ID + 1),
        ("seed", seed, 0),
    ]:
        check_int(name, value, minimum=minimum)
    if max_length < min_length:
        raise ValueError(
            "`max_length` must be >= `min_length`. "
            f"Received: min_length={min_length}, max_length={max_length}"
        )
    num_tokens = vocabulary_size - FIRST_TOKEN_ID
    capacity = sum(num_tokens**length for length in range(min_length, max_length + 1))
    total = num_train + num_validation + num_test
    if total > capacity:
        raise ValueError(
            f"Asked for {total:,} distinct sequences but only {capacity:,} exist "
            f"with {num_tokens} token(s) and lengths {min_length} to {max_length}; "
            "raise `vocabulary_size` or `max_length`, or ask for fewer. Received: "
            f"num_train={num_train}, num_validation={num_validation}, "
            f"num_test={num_test}"
        )

    rng = np.random.default_rng(seed)
    sources = _distinct_sources(rng, total, min_length, max_length, vocabulary_size)
    lengths = np.count_nonzero(sources, axis=1).astype(np.int32)
    targets = sources.copy() if task == "copy" else _reverse(sources, lengths)
    ends = np.cumsum([num_train, num_validation, num_test])
    starts = ends - [num_train, num_validation, num_test]
    return SequenceSplits(
        *(
            SequenceData(sources[a:b], targets[a:b], lengths[a:b])
            for a, b in zip(starts, ends)
        )
    )


def decoder_inputs_and_labels(targets, lengths):
    """Adds the start and end ids for teacher forcing: `(N, T)` -> `(N, T + 1)`.

    The decoder reads `[START, t_1, ..., t_n]` and learns to predict
    `[t_1, ..., t_n, END]`; both are padded with 0 after that.

    Args:
        targets: `(N, T)` int array of target ids, padded with 0.
        lengths: `(N,)` int array, the length of each target (at most `T`).

    Returns:
        A tuple `(decoder_inputs, labels)` of `(N, T + 1)` int32 arrays.

    Example:

    >>> inputs, labels = decoder_inputs_and_labels(
    ...     np.array([[7, 5, 0], [4, 4, 9]]), np.array([2, 3]))
    >>> inputs
    array([[1, 7, 5, 0],
           [1, 4, 4, 9]], dtype=int32)
    >>> labels
    array([[7, 5, 2, 0],
           [4, 4, 9, 2]], dtype=int32)

    For an encoder-decoder whose inputs are named as in `build_transformer`:

    >>> data = load_sequence_task("copy", num_train=8, num_validation=0,
    ...                           num_test=0).train
    >>> inputs, labels = decoder_inputs_and_labels(data.targets, data.lengths)
    >>> x = {"encoder_token_ids": data.sources, "decoder_token_ids": inputs}
    >>> x["encoder_token_ids"].shape, x["decoder_token_ids"].shape, labels.shape
    ((8, 10), (8, 11), (8, 11))
    """
    targets = np.asarray(targets)
    lengths = np.asarray(lengths)
    if targets.ndim != 2 or lengths.shape != targets.shape[:1]:
        raise ValueError(
            "`targets` must have shape (N, T) and `lengths` shape (N,). "
            f"Received: targets.shape={targets.shape}, lengths.shape={lengths.shape}"
        )
    if lengths.size and (lengths.min() < 0 or lengths.max() > targets.shape[1]):
        raise ValueError(
            f"`lengths` must be between 0 and T={targets.shape[1]}. "
            f"Received: lengths with min {lengths.min()} and max {lengths.max()}"
        )
    n = len(targets)
    decoder_inputs = np.concatenate(
        [np.full((n, 1), START_ID), targets], axis=1
    ).astype(np.int32)
    labels = np.concatenate([targets, np.zeros((n, 1))], axis=1).astype(np.int32)
    labels[np.arange(n), lengths] = END_ID
    return decoder_inputs, labels
