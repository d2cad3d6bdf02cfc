"""`tf.data` pipelines that feed `model.fit` with batches of token ids.

The inputs are ids that a tokenizer has already made; the outputs are
`(features, labels)` batches of int32 ids with static shapes, so that they
compile once under XLA (`jit_compile=True`) and suit TPUs:

    random_windows         GPT training: random windows of one long id sequence,
                           endless or `num_batches` long
    contiguous_windows     GPT evaluation: consecutive windows, each token once
    translation_batches    encoder-decoder: padded (source, [start] + target)
                           inputs and target + [end] labels
    sequence_task_batches  the same for the copy/reverse task of `sequence_tasks`

Language-model batches are `(inputs, targets)`, both `(B, T)`, where the
targets are the inputs shifted by one token: `targets[b, t]` is the token
after `inputs[b, t]`. Translation batches are
`({"encoder_token_ids": (B, S), "decoder_token_ids": (B, T)}, labels (B, T))`,
the inputs of `keras_attn.models.build_transformer`.

Every pipeline ends with `prefetch(tf.data.AUTOTUNE)`, so the next batch is
prepared while the model trains on this one.

>>> ds = random_windows(np.arange(100), sequence_length=8, batch_size=4)
>>> ds.element_spec   # doctest: +NORMALIZE_WHITESPACE
(TensorSpec(shape=(4, 8), dtype=tf.int32, name=None),
 TensorSpec(shape=(4, 8), dtype=tf.int32, name=None))
"""


import numpy as np
import tensorflow as tf

from keras_attn.checks import check_int
from keras_attn.data.sequence_tasks import decoder_inputs_and_labels

_INT32_MAX = np.iinfo(np.int32).max


def _check_ids(ids, name):
    """Raises a ValueError unless the int array `ids` fits int32 and is >= 0."""
    if ids.size and (ids.min() < 0 or ids.max() > _INT32_MAX):
        raise ValueError(
            f"`{name}` must hold token ids from 0 to {_INT32_MAX}. Received: "
            f"{name} with ids from {ids.min()} to {ids.max()}"
        )


def _token_ids(token_ids, sequence_length):
    """The 1-D int32 array of `token_ids`, checked to hold one window."""
    ids = np.asarray(token_ids)
    if ids.ndim != 1 or (ids.size and ids.dtype.kind not in "iu"):
        raise ValueError(
            "`token_ids` must be a 1-D sequence of integer token ids (tokenize "
            f"the text first). Received: token_ids.shape={ids.shape}, "
            f"token_ids.dtype={ids.dtype}"
        )
    _check_ids(ids, "token_ids")
    if len(ids) < sequence_length + 1:
        raise ValueError(
            f"`token_ids` is too short for one window: it holds {len(ids)} ids, "
            f"and a window of sequence_length={sequence_length} needs "
            f"{sequence_length + 1} (the inputs plus the one-token shift of "
            f"the targets). Received: len(token_ids)={len(ids)}, "
            f"sequence_length={sequence_length}"
        )
    return ids.astype(np.int32)


def random_windows(token_ids, sequence_length, batch_size, *, seed=0, num_batches=None):
    """Random windows of one id sequence, for training a language model.

    Each example is a window of `sequence_length + 1` consecutive ids that
    starts at a uniformly random offset (windows may overlap); its inputs
    are the first `sequence_length` ids and its targets the last
    `sequence_length`, so the targets are the inputs shifted by one.

    Batch `i` depends only on `seed` and `i` (TensorFlow's stateless random
    ops, not its global seed), so the same arguments give the same batches
    in every run and on every device. An endless dataset (the default) is
    for `model.fit(..., steps_per_epoch=...)`: Keras then keeps one iterator
    across epochs, and every step gets new windows. A dataset of
    `num_batches` gives the same batches each time it is iterated, e.g. a
    fixed random validation set.

    Args:
        token_ids: 1-D array or list of int ids, e.g. a tokenized corpus,
            with at least `sequence_length + 1` ids.
        sequence_length: positive int, the window length `T`.
        batch_size: positive int, windows per batch `B`.
        seed: non-negative int. Defaults to `0`.
        num_batches: None for an endless dataset (the default), or a
            positive int: the dataset's number of batches.

    Returns:
        A `tf.data.Dataset` of `(inputs, targets)` int32 tensors of static
        shape `(batch_size, sequence_length)`.

    Raises:
        ValueError: if `token_ids` holds fewer than `sequence_length + 1`
            ids, is not 1-D, or an argument is not a positive integer.

    Example:

    >>> ids = np.arange(100, 200)   # a "corpus" where id i + 1 follows id i
    >>> ds = random_windows(ids, sequence_length=6, batch_size=3, num_batches=2)
    >>> len(ds)
    2
    >>> inputs, targets = next(iter(ds))
    >>> inputs.shape, targets.shape   # (B, T)
    (TensorShape([3, 6]), TensorShape([3, 6]))
    >>> bool(np.all(targets.numpy() == inputs.numpy() + 1))
    True

    For training with a new window at every step:

    >>> ds = random_windows(ids, sequence_length=6, batch_size=3)
    >>> ds.cardinality() == tf.data.INFINITE_CARDINALITY
    <tf.Tensor: shape=(), dtype=bool, numpy=True>

    and then `model.fit(ds, steps_per_epoch=100, epochs=...)`.
    """
    check_int("sequence_length", sequence_length, minimum=1)
    check_int("batch_size", batch_size, minimum=1)
    check_int("seed", seed, minimum=0)
    if num_batches is not None:
        check_int("num_batches", num_batches, minimum=1)
    ids = tf.constant(_token_ids(token_ids, sequence_length))
    num_offsets = int(ids.shape[0]) - sequence_length  # offsets 0 ... n - T - 1
    window = tf.range(sequence_length + 1, dtype=tf.int64)  # (T + 1,)

    def batch(step):
        offsets = tf.random.stateless_uniform(
            [batch_size],
            seed=tf.stack([tf.constant(seed, tf.int64), step]),
            minval=0,
            maxval=num_offsets,
            dtype=tf.int64,
            alg="philox",  # the same numbers on every device
        )  # (B,)
        windows = tf.gather(ids, offsets[:, None] + window)  # (B, T + 1)
        return windows[:, :-1], windows[:, 1:]  # (B, T) each

    steps = tf.data.Dataset.counter()  # 0, 1, 2, ... (int64)
    if num_batches is not None:
        steps = steps.take(num_batches)
    return steps.map(batch).prefetch(tf.data.AUTOTUNE)


def contiguous_windows(token_ids, sequence_length, batch_size, *, drop_remainder=True):
    """Consecutive, non-overlapping windows, for evaluating a language model.

    Window `i` holds ids `i * T ... (i + 1) * T` (`T + 1` ids): its inputs
    are the first `T` and its targets the last `T`. So every id is an input
    once, in order, and every id but the first a target once. The
    `(len(token_ids) - 1) % T` ids after the last whole window are left out,
    and with `drop_remainder=True` so are the windows of a last, smaller
    batch; `len(dataset)` is the number of batches.

    Args:
        token_ids: 1-D array or list of int ids, with at least
            `sequence_length + 1` ids.
        sequence_length: positive int, the window length `T`.
        batch_size: positive int, windows per batch `B`.
        drop_remainder: if True (the default), drop a last batch with fewer
            than `batch_size` windows, so that every batch has the static
            shape `(batch_size, sequence_length)`.

    Returns:
        A finite `tf.data.Dataset` of `(inputs, targets)` int32 tensors of
        shape `(batch_size, sequence_length)`, in corpus order.

    Raises:
        ValueError: if `token_ids` is shorter than `sequence_length + 1`, or
            holds fewer than `batch_size` windows with `drop_remainder=True`
            (the dataset would be empty).

    Example:

    >>> ds = contiguous_windows(np.arange(12), sequence_length=3, batch_size=2)
    >>> [(x.numpy().tolist(), y.numpy().tolist()) for x, y in ds]
    [([[0, 1, 2], [3, 4, 5]], [[1, 2, 3], [4, 5, 6]])]

    Keeping the last batch (with a dynamic batch dimension):

    >>> ds = contiguous_windows(np.arange(12), 3, 2, drop_remainder=False)
    >>> [x.numpy().tolist() for x, _ in ds]
    [[[0, 1, 2], [3, 4, 5]], [[6, 7, 8]]]
    >>> ds.element_spec[0].shape
    TensorShape([None, 3])
    """
    check_int("sequence_length", sequence_length, minimum=1)
    check_int("batch_size", batch_size, minimum=1)
    ids = _token_ids(token_ids, sequence_length)
    num_windows = (len(ids) - 1) // sequence_length
    if drop_remainder and num_windows < batch_size:
        raise ValueError(
            f"`token_ids` holds {len(ids)} ids, {num_windows} window(s) of "
            f"sequence_length={sequence_length}: fewer than batch_size={batch_size}, "
            "so with drop_remainder=True there would be no batch. Use a smaller "
            "batch_size or drop_remainder=False."
        )
    used = num_windows * sequence_length
    inputs = ids[:used].reshape(num_windows, sequence_length)  # (N, T)
    targets = ids[1 : used + 1].reshape(num_windows, sequence_length)  # (N, T)
    dataset = tf.data.Dataset.from_tensor_slices((inputs, targets))
    return dataset.batch(batch_size, drop_remainder=drop_remainder).prefetch(tf.data.AUTOTUNE)


def _ragged(sequences, name):
    """Flattens a list of id sequences: `(flat ids, lengths, row, column)`.

    `row[k]` and `column[k]` say where `flat[k]` is in `sequences`.
    """
    if isinstance(sequences, tf.RaggedTensor):
        sequences = sequences.to_list()
    arrays = []
    for i, sequence in enumerate(sequences):
        array = np.asarray(sequence)
        if array.ndim != 1 or (array.size and array.dtype.kind not in "iu"):
            raise ValueError(
                f"`{name}` must be a list of 1-D sequences of integer token ids "
                f"(tokenize the text first). Received: {name}[{i}] with "
                f"shape={array.shape}, dtype={array.dtype}"
            )
        arrays.append(array.astype(np.int64))
    lengths = np.array([len(a) for a in arrays], np.int64)  # (N,)
    flat = np.concatenate(arrays) if arrays else np.zeros(0, np.int64)
    _check_ids(flat, name)
    row = np.repeat(np.arange(len(arrays)), lengths)
    column = np.arange(len(flat)) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    return flat, lengths, row, column


def _check_no_padding(flat, row, column, pad_id, name):
    hits = np.flatnonzero(flat == pad_id)
    if hits.size:
        k = hits[0]
        raise ValueError(
            f"`{name}[{row[k]}]` holds pad_id={pad_id} at position {column[k]}; "
            "the model would take it for padding. Pass the sequences without "
            "padding (ragged), or use another id for padding."
        )


def _check_lengths(lengths, extra, max_length, name, max_name):
    """Raises a ValueError naming the first sequence that is too long."""
    too_long = np.flatnonzero(lengths + extra > max_length)
    if too_long.size:
        i = too_long[0]
        needs = (
            f"has {lengths[i]} ids"
            if not extra
            else f"has {lengths[i]} ids, {lengths[i] + 1} with the start id (decoder "
            "inputs) or the end id (labels)"
        )
        raise ValueError(
            f"`{name}[{i}]` {needs}: more than {max_name}={max_length}. "
            f"Too long: {too_long.size} of {len(lengths)} sequences, the longest "
            f"with {lengths.max()} ids. Raise {max_name} to at least "
            f"{lengths.max() + extra}, or pass truncate=True to cut them."
        )


def _batches(features, labels, batch_size, shuffle, seed, drop_remainder):
    """Shuffles, batches and prefetches in-memory `(features, labels)` arrays."""
    dataset = tf.data.Dataset.from_tensor_slices((features, labels))
    if shuffle:
        # The whole dataset fits the buffer: a uniform shuffle, new each epoch.
        dataset = dataset.shuffle(len(labels), seed=seed, reshuffle_each_iteration=True)
    return dataset.batch(batch_size, drop_remainder=drop_remainder).prefetch(tf.data.AUTOTUNE)


def _check_batch_args(num_examples, batch_size, shuffle, seed, drop_remainder):
    check_int("batch_size", batch_size, minimum=1)
    check_int("seed", seed, minimum=0)
    for name, value in (("shuffle", shuffle), ("drop_remainder", drop_remainder)):
        if not isinstance(value, bool):
            raise ValueError(f"`{name}` must be True or False. Received: {name}={value!r}")
    if drop_remainder and num_examples < batch_size:
        raise ValueError(
            f"There are {num_examples} examples, fewer than batch_size={batch_size}, "
            "so with drop_remainder=True there would be no batch. Use a smaller "
            "batch_size or drop_remainder=False."
        )


def translation_batches(
    source_ids,
    target_ids,
    batch_size,
    *,
    max_source_length,
    max_target_length,
    start_id,
    end_id,
    pad_id=0,
    truncate=False,
    shuffle=True,
    seed=0,
    drop_remainder=True,
):
    """Padded, shuffled batches of sentence pairs, for an encoder-decoder.

    For each pair `(source, target)` of id sequences (without start or end
    ids), with `S = max_source_length` and `T = max_target_length`:

        encoder_token_ids   source             then pad_id, to length S
        decoder_token_ids   [start_id] + target then pad_id, to length T
        labels              target + [end_id]   then pad_id, to length T

    so the decoder reads the target one step behind the labels (teacher
    forcing). A target may hold at most `T - 1` ids. The labels are
    `pad_id` exactly where the decoder inputs are: `build_transformer`'s
    logits carry the decoder padding mask (`decoder_token_ids != 0`), so
    Keras losses and metrics already skip those positions. Don't add sample
    weights for the padding; `pad_id` must stay 0 for that mask.

    A sequence longer than its maximum raises a ValueError, unless
    `truncate=True`: then sources keep their first `S` ids, and the decoder
    inputs and labels their first `T`, so a cut target's labels have no end
    id (its sentence goes on).

    The order is shuffled anew each time the dataset is iterated (each
    epoch), from `seed`. As with every seeded TensorFlow op, it also depends
    on TensorFlow's global seed when one is set (`keras.utils.set_random_seed`),
    so the same order takes the same seed and the same global seed.

    Args:
        source_ids: list of N 1-D int id sequences (lists, arrays, or a
            `tf.RaggedTensor`), not padded.
        target_ids: list of N 1-D int id sequences, without start or end ids.
        batch_size: positive int, pairs per batch `B`.
        max_source_length: positive int, the encoder width `S`.
        max_target_length: int >= 1, the decoder and labels width `T`.
        start_id: the id that starts the decoder inputs.
        end_id: the id that ends the labels.
        pad_id: the padding id. Defaults to `0`, the id the model masks.
        truncate: if True, cut sequences that are too long instead of
            raising. Defaults to `False`.
        shuffle: if True (the default), shuffle the pairs.
        seed: non-negative int, the shuffle seed. Defaults to `0`.
        drop_remainder: if True (the default), drop a last batch with fewer
            than `batch_size` pairs, so that every batch has static shapes.

    Returns:
        A `tf.data.Dataset` of `({"encoder_token_ids": (B, S),
        "decoder_token_ids": (B, T)}, labels (B, T))`, all int32.

    Raises:
        ValueError: if a sequence is too long (the message names the first
            one, its length and the maximum), a sequence holds `pad_id` or
            is not a 1-D int sequence, `start_id` or `end_id` equals
            `pad_id`, the two lists differ in length, or there are fewer
            than `batch_size` pairs with `drop_remainder=True`.

    Example:

    >>> ds = translation_batches(
    ...     [[5, 6, 7], [8]], [[9], [10, 11]], batch_size=2,
    ...     max_source_length=4, max_target_length=4, start_id=1, end_id=2,
    ...     shuffle=False)
    >>> features, labels = next(iter(ds))
    >>> features["encoder_token_ids"].numpy()    # (B, S)
    array([[5, 6, 7, 0],
           [8, 0, 0, 0]], dtype=int32)
    >>> features["decoder_token_ids"].numpy()    # (B, T)
    array([[ 1,  9,  0,  0],
           [ 1, 10, 11,  0]], dtype=int32)
    >>> labels.numpy()                           # (B, T)
    array([[ 9,  2,  0,  0],
           [10, 11,  2,  0]], dtype=int32)

    A target of 4 ids needs 5 positions with its start or end id:

    >>> translation_batches([[5]], [[3, 4, 5, 6]], 1, max_source_length=4,
    ...                     max_target_length=4, start_id=1, end_id=2)
    Traceback (most recent call last):
    ...
    ValueError: `target_ids[0]` has 4 ids, 5 with the start id ...: more than max_target_length=4. ...
    """
    check_int("max_source_length", max_source_length, minimum=1)
    check_int("max_target_length", max_target_length, minimum=1)
    for name, value in (("start_id", start_id), ("end_id", end_id), ("pad_id", pad_id)):
        check_int(name, value, minimum=0)
    if pad_id in (start_id, end_id):
        raise ValueError(
            "`start_id` and `end_id` must differ from `pad_id`, or the model "
            f"would mask them as padding. Received: start_id={start_id}, "
            f"end_id={end_id}, pad_id={pad_id}"
        )
    if not isinstance(truncate, bool):
        raise ValueError(f"`truncate` must be True or False. Received: truncate={truncate!r}")
    source, source_lengths, source_row, source_column = _ragged(source_ids, "source_ids")
    target, target_lengths, target_row, target_column = _ragged(target_ids, "target_ids")
    n = len(source_lengths)
    if len(target_lengths) != n:
        raise ValueError(
            "`source_ids` and `target_ids` must hold as many sequences. Received: "
            f"len(source_ids)={n}, len(target_ids)={len(target_lengths)}"
        )
    _check_batch_args(n, batch_size, shuffle, seed, drop_remainder)
    _check_no_padding(source, source_row, source_column, pad_id, "source_ids")
    _check_no_padding(target, target_row, target_column, pad_id, "target_ids")
    if not truncate:
        _check_lengths(source_lengths, 0, max_source_length, "source_ids", "max_source_length")
        _check_lengths(target_lengths, 1, max_target_length, "target_ids", "max_target_length")

    def pad(ids, row, column, width):  # (N, width) int32, pad_id after the ids
        out = np.full((n, width), pad_id, np.int32)
        keep = column < width
        out[row[keep], column[keep]] = ids[keep]
        return out

    encoder_ids = pad(source, source_row, source_column, max_source_length)  # (N, S)
    # [start] + target: the target moved one position to the right.
    decoder_ids = pad(target, target_row, target_column + 1, max_target_length)  # (N, T)
    decoder_ids[:, 0] = start_id
    labels = pad(target, target_row, target_column, max_target_length)  # (N, T)
    ends = np.flatnonzero(target_lengths < max_target_length)  # cut targets have no end
    labels[ends, target_lengths[ends]] = end_id
    features = {"encoder_token_ids": encoder_ids, "decoder_token_ids": decoder_ids}
    return _batches(features, labels, batch_size, shuffle, seed, drop_remainder)


def sequence_task_batches(data, batch_size, *, shuffle=True, seed=0, drop_remainder=True):
    """`translation_batches` for a split of the copy or reverse task.

    Takes one `SequenceData` split of `load_sequence_task` and adds the
    start and end ids with `decoder_inputs_and_labels`, so with
    `max_length` the width of `data.sources` the batches are

        encoder_token_ids   (B, max_length)       the sources, padded with 0
        decoder_token_ids   (B, max_length + 1)   [START_ID] + target, then 0
        labels              (B, max_length + 1)   target + [END_ID], then 0

    Labels are 0 exactly where the decoder inputs are, and the model's
    padding mask skips them in the loss (see `translation_batches`).

    Args:
        data: a `SequenceData(sources, targets, lengths)`, e.g.
            `load_sequence_task("copy").train`.
        batch_size: positive int, sequences per batch `B`.
        shuffle: if True (the default), shuffle the sequences.
        seed: non-negative int, the shuffle seed. Defaults to `0`.
        drop_remainder: if True (the default), drop a last, smaller batch.

    Returns:
        A `tf.data.Dataset` of `({"encoder_token_ids": ...,
        "decoder_token_ids": ...}, labels)` int32 batches.

    Example:

    >>> from keras_attn.data.sequence_tasks import load_sequence_task
    >>> data = load_sequence_task("reverse", num_train=3, num_validation=1,
    ...                           num_test=1, max_length=5, seed=0).train
    >>> ds = sequence_task_batches(data, batch_size=3, shuffle=False)
    >>> features, labels = next(iter(ds))
    >>> features["encoder_token_ids"].numpy()[1]
    array([4, 6, 9, 0, 0], dtype=int32)
    >>> features["decoder_token_ids"].numpy()[1]
    array([1, 9, 6, 4, 0, 0], dtype=int32)
    >>> labels.numpy()[1]
    array([9, 6, 4, 2, 0, 0], dtype=int32)
    """
    sources = np.asarray(data.sources, np.int32)  # (N, max_length)
    _check_batch_args(len(sources), batch_size, shuffle, seed, drop_remainder)
    decoder_ids, labels = decoder_inputs_and_labels(data.targets, data.lengths)
    features = {"encoder_token_ids": sources, "decoder_token_ids": decoder_ids}
    return _batches(features, labels, batch_size, shuffle, seed, drop_remainder)
