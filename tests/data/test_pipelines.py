"""Tests for `keras_attn.data.pipelines`."""

import re

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_attn.data import pipelines
from keras_attn.data.sequence_tasks import END_ID
from keras_attn.data.sequence_tasks import START_ID
from keras_attn.data.sequence_tasks import load_sequence_task
from keras_attn.models import GPTConfig
from keras_attn.models import TransformerConfig
from keras_attn.models import build_gpt
from keras_attn.models import build_transformer

# Distinct ids, so that a window's first id says where it starts in the corpus.
CORPUS = np.random.default_rng(0).permutation(1000).astype(np.int32)
POSITION = np.argsort(CORPUS)  # POSITION[id] = its index in CORPUS

SOURCES = [[5, 6, 7], [8], [9, 10, 11, 12], [13, 14]]
TARGETS = [[20], [21, 22, 23], [], [24, 25]]
PAIRS = dict(max_source_length=5, max_target_length=4, start_id=1, end_id=2)


def batches(dataset):
    """The dataset's batches as nested NumPy arrays."""
    return list(dataset.as_numpy_iterator())


def static(spec):
    return all(None not in s.shape for s in tf.nest.flatten(spec))


# Language-model windows.


def test_random_windows_are_corpus_slices_shifted_by_one():
    ds = pipelines.random_windows(CORPUS, sequence_length=16, batch_size=8, num_batches=5)
    assert len(ds) == 5
    for inputs, targets in batches(ds):
        assert inputs.shape == targets.shape == (8, 16)
        for x, y in zip(inputs, targets):
            start = POSITION[x[0]]
            np.testing.assert_array_equal(x, CORPUS[start : start + 16])
            np.testing.assert_array_equal(y, CORPUS[start + 1 : start + 17])


def test_random_windows_reach_every_offset_and_no_further():
    # 10 ids and windows of 7 + 1: offsets 0, 1 and 2 only.
    ds = pipelines.random_windows(CORPUS[:10], sequence_length=7, batch_size=8, num_batches=20)
    offsets = {POSITION[x[0]] for inputs, _ in batches(ds) for x in inputs}
    assert offsets == {0, 1, 2}
    # The shortest corpus: one window.
    ds = pipelines.random_windows(CORPUS[:8], sequence_length=7, batch_size=2, num_batches=1)
    (inputs, targets), = batches(ds)
    np.testing.assert_array_equal(inputs, [CORPUS[:7]] * 2)
    np.testing.assert_array_equal(targets, [CORPUS[1:8]] * 2)


def test_random_windows_depend_on_the_seed_only():
    def first_batches(seed, global_seed):
        keras.utils.set_random_seed(global_seed)  # must not matter
        ds = pipelines.random_windows(CORPUS, 16, 4, seed=seed, num_batches=3)
        return np.stack([batches(ds), batches(ds)])  # two passes

    same = first_batches(seed=1, global_seed=0)
    np.testing.assert_array_equal(same, first_batches(seed=1, global_seed=123))
    np.testing.assert_array_equal(same[0], same[1])  # each pass, the same batches
    assert not np.array_equal(same, first_batches(seed=2, global_seed=0))
    assert not np.array_equal(same[0, 0], same[0, 1])  # batches differ


def test_random_windows_endless_starts_like_the_finite_one():
    endless = pipelines.random_windows(CORPUS, 16, 4, seed=3)
    assert endless.cardinality() == tf.data.INFINITE_CARDINALITY
    finite = pipelines.random_windows(CORPUS, 16, 4, seed=3, num_batches=4)
    np.testing.assert_array_equal(batches(endless.take(4)), batches(finite))


def test_window_pipelines_have_static_shapes():
    specs = [
        pipelines.random_windows(CORPUS, 16, 4).element_spec,
        pipelines.contiguous_windows(CORPUS, 16, 4).element_spec,
    ]
    for spec in specs:
        assert [s.shape for s in spec] == [(4, 16), (4, 16)]
        assert [s.dtype for s in spec] == [tf.int32, tf.int32]


def test_contiguous_windows_use_every_token_once_in_order():
    # 1000 ids: 999 // 10 = 99 windows, in 24 batches of 4 and one of 3.
    ds = pipelines.contiguous_windows(CORPUS, 10, 4, drop_remainder=False)
    assert len(ds) == 25
    inputs = np.concatenate([x for x, _ in batches(ds)])
    targets = np.concatenate([y for _, y in batches(ds)])
    assert inputs.shape == targets.shape == (99, 10)
    np.testing.assert_array_equal(inputs.ravel(), CORPUS[:990])
    np.testing.assert_array_equal(targets.ravel(), CORPUS[1:991])


def test_contiguous_windows_drop_the_last_smaller_batch():
    ds = pipelines.contiguous_windows(CORPUS, 10, 4)
    assert len(ds) == 24
    assert static(ds.element_spec)
    inputs = np.concatenate([x for x, _ in batches(ds)])
    np.testing.assert_array_equal(inputs.ravel(), CORPUS[:960])


def test_window_errors():
    too_short = (
        "`token_ids` is too short for one window: it holds 16 ids, and a window "
        "of sequence_length=16 needs 17 (the inputs plus the one-token shift of "
        "the targets). Received: len(token_ids)=16, sequence_length=16"
    )
    for make in (pipelines.random_windows, pipelines.contiguous_windows):
        with pytest.raises(ValueError, match=re.escape(too_short)):
            make(CORPUS[:16], 16, 2)
        message = "`batch_size` must be a positive integer. Received: batch_size=0"
        with pytest.raises(ValueError, match=re.escape(message)):
            make(CORPUS, 16, 0)
        message = "`sequence_length` must be a positive integer. Received: sequence_length='8'"
        with pytest.raises(ValueError, match=re.escape(message)):
            make(CORPUS, "8", 2)
        message = ("`token_ids` must be a 1-D sequence of integer token ids (tokenize the text "
                   "first). Received: token_ids.shape=(2, 500), token_ids.dtype=int32")
        with pytest.raises(ValueError, match=re.escape(message)):
            make(CORPUS.reshape(2, 500), 16, 2)
        message = ("`token_ids` must hold token ids from 0 to 2147483647. "
                   "Received: token_ids with ids from -1 to 998")
        with pytest.raises(ValueError, match=re.escape(message)):
            make(CORPUS - 1, 16, 2)
    message = "`num_batches` must be a positive integer. Received: num_batches=0"
    with pytest.raises(ValueError, match=re.escape(message)):
        pipelines.random_windows(CORPUS, 16, 2, num_batches=0)
    with pytest.raises(
        ValueError,
        match=re.escape(
            "`token_ids` holds 50 ids, 4 window(s) of sequence_length=12: fewer than batch_size=5"
        ),
    ):
        pipelines.contiguous_windows(CORPUS[:50], 12, 5)
    assert len(pipelines.contiguous_windows(CORPUS[:50], 12, 5, drop_remainder=False)) == 1


# Translation batches.


def expected_pair(source, target, max_source_length, max_target_length, start_id, end_id):
    """The documented layout, written out in plain Python."""
    pad = lambda ids, n: (ids + [0] * n)[:n]  # noqa: E731
    return (
        pad(source, max_source_length),
        pad([start_id] + target, max_target_length),
        pad(target + [end_id], max_target_length),
    )


def test_translation_padding_and_start_end_placement():
    ds = pipelines.translation_batches(SOURCES, TARGETS, 4, shuffle=False, **PAIRS)
    (features, labels), = batches(ds)
    assert sorted(features) == ["decoder_token_ids", "encoder_token_ids"]
    for i, (source, target) in enumerate(zip(SOURCES, TARGETS)):
        encoder, decoder, label = expected_pair(source, target, **PAIRS)
        assert features["encoder_token_ids"][i].tolist() == encoder
        assert features["decoder_token_ids"][i].tolist() == decoder
        assert labels[i].tolist() == label
    # The empty target: [start] in, [end] out.
    assert features["decoder_token_ids"][2].tolist() == [1, 0, 0, 0]
    assert labels[2].tolist() == [2, 0, 0, 0]
    # Labels are padding exactly where the decoder inputs are, so the
    # decoder's padding mask is the labels' mask.
    np.testing.assert_array_equal(labels != 0, features["decoder_token_ids"] != 0)


def test_translation_static_shapes_and_no_sample_weights():
    ds = pipelines.translation_batches(SOURCES, TARGETS, 2, **PAIRS)
    features, labels = ds.element_spec  # a 2-tuple: no sample weights
    assert features["encoder_token_ids"].shape == (2, 5)
    assert features["decoder_token_ids"].shape == labels.shape == (2, 4)
    assert {s.dtype for s in tf.nest.flatten(ds.element_spec)} == {tf.int32}


def test_translation_accepts_arrays_and_ragged_tensors():
    def make(sources, targets):
        return batches(pipelines.translation_batches(sources, targets, 2, shuffle=False, **PAIRS))

    expected = make(SOURCES, TARGETS)
    for sources, targets in [
        ([np.array(s, np.int64) for s in SOURCES], [np.array(t, np.int32) for t in TARGETS]),
        (tf.ragged.constant(SOURCES), tf.ragged.constant(TARGETS, dtype=tf.int32)),
    ]:
        got = make(sources, targets)
        tf.nest.map_structure(np.testing.assert_array_equal, got, expected)


def test_translation_other_ids():
    ds = pipelines.translation_batches(
        [[1, 0]], [[0, 5]], 1, max_source_length=3, max_target_length=4,
        start_id=7, end_id=8, pad_id=9, shuffle=False,
    )
    (features, labels), = batches(ds)
    assert features["encoder_token_ids"].tolist() == [[1, 0, 9]]
    assert features["decoder_token_ids"].tolist() == [[7, 0, 5, 9]]
    assert labels.tolist() == [[0, 5, 8, 9]]


def test_translation_too_long_errors_name_the_example():
    sources = [[3] * 5, [3] * 7, [3] * 6]
    with pytest.raises(ValueError) as error:
        pipelines.translation_batches(sources, [[4]] * 3, 1, **PAIRS)
    assert str(error.value) == (
        "`source_ids[1]` has 7 ids: more than max_source_length=5. Too long: 2 of "
        "3 sequences, the longest with 7 ids. Raise max_source_length to at least "
        "7, or pass truncate=True to cut them."
    )
    targets = [[4] * 3, [4] * 2, [4] * 4]  # 4 ids + start or end = 5 > 4
    with pytest.raises(ValueError) as error:
        pipelines.translation_batches([[3]] * 3, targets, 1, **PAIRS)
    assert str(error.value) == (
        "`target_ids[2]` has 4 ids, 5 with the start id (decoder inputs) or the end "
        "id (labels): more than max_target_length=4. Too long: 1 of 3 sequences, "
        "the longest with 4 ids. Raise max_target_length to at least 5, or pass "
        "truncate=True to cut them."
    )


def test_translation_truncate_cuts_without_an_end_id():
    sources = [[3, 4, 5, 6, 7, 8, 9]]
    for target, decoder, label in [
        ([4, 5, 6], [1, 4, 5, 6], [4, 5, 6, 2]),  # just fits: keeps its end id
        ([4, 5, 6, 7], [1, 4, 5, 6], [4, 5, 6, 7]),  # one too long
        ([4, 5, 6, 7, 8, 9], [1, 4, 5, 6], [4, 5, 6, 7]),
    ]:
        ds = pipelines.translation_batches(
            sources, [target], 1, truncate=True, shuffle=False, **PAIRS
        )
        (features, labels), = batches(ds)
        assert features["encoder_token_ids"].tolist() == [[3, 4, 5, 6, 7]]
        assert features["decoder_token_ids"].tolist() == [decoder]
        assert labels.tolist() == [label]


def test_translation_argument_errors():
    def make(sources=SOURCES, targets=TARGETS, batch_size=2, **overrides):
        return pipelines.translation_batches(sources, targets, batch_size, **{**PAIRS, **overrides})

    padded = np.array([[5, 6], [7, 0], [8, 9], [1, 2]])  # padded, not ragged
    padding = ("the model would take it for padding. Pass the sequences without padding "
               "(ragged), or use another id for padding.")
    cases = [
        (dict(targets=[[20], [21, 0, 23], [], [24]]),
         f"`target_ids[1]` holds pad_id=0 at position 1; {padding}"),
        (dict(sources=padded), f"`source_ids[1]` holds pad_id=0 at position 1; {padding}"),
        (dict(targets=TARGETS[:3]), "`source_ids` and `target_ids` must hold as many sequences. "
                                    "Received: len(source_ids)=4, len(target_ids)=3"),
        (dict(start_id=0), "`start_id` and `end_id` must differ from `pad_id`, or the model "
                           "would mask them as padding. Received: start_id=0, end_id=2, pad_id=0"),
        (dict(end_id=-1), "`end_id` must be an integer >= 0. Received: end_id=-1"),
        (dict(sources=["a b", "c"]),
         "`source_ids` must be a list of 1-D sequences of integer token ids (tokenize the text "
         "first). Received: source_ids[0] with shape=(), dtype=<U3"),
        (dict(sources=[[5], [6], [-7], [8]]),
         "`source_ids` must hold token ids from 0 to 2147483647. "
         "Received: source_ids with ids from -7 to 8"),
        (dict(batch_size=5), "There are 4 examples, fewer than batch_size=5, so with "
                             "drop_remainder=True there would be no batch. Use a smaller "
                             "batch_size or drop_remainder=False."),
        (dict(max_target_length=0),
         "`max_target_length` must be a positive integer. Received: max_target_length=0"),
        (dict(truncate=1), "`truncate` must be True or False. Received: truncate=1"),
    ]
    for overrides, message in cases:
        with pytest.raises(ValueError, match=re.escape(message)):
            make(**overrides)
    assert len(make(batch_size=5, drop_remainder=False)) == 1


def test_translation_drop_remainder():
    sources, targets = SOURCES * 5, TARGETS * 5  # 20 pairs
    assert len(pipelines.translation_batches(sources, targets, 6, **PAIRS)) == 3
    ds = pipelines.translation_batches(sources, targets, 6, drop_remainder=False, **PAIRS)
    assert [len(labels) for _, labels in batches(ds)] == [6, 6, 6, 2]


def test_translation_shuffle_is_seeded_and_new_each_epoch():
    sources = [[i + 3] for i in range(32)]  # the source says which pair it is

    def orders(seed):
        ds = pipelines.translation_batches(sources, sources, 8, seed=seed, **PAIRS)
        return [
            np.concatenate([f["encoder_token_ids"][:, 0] for f, _ in batches(ds)]).tolist()
            for _ in range(2)  # two epochs
        ]

    first, second = orders(seed=0)
    assert sorted(first) == sorted(second) == list(range(3, 35))  # each pair once
    assert first != second and first != sorted(first)
    assert orders(seed=0) == [first, second]
    assert orders(seed=1) != [first, second]
    # Shuffling keeps each source with its own target.
    for features, labels in batches(pipelines.translation_batches(sources, sources, 8, **PAIRS)):
        np.testing.assert_array_equal(features["encoder_token_ids"][:, 0], labels[:, 0])


def test_sequence_task_batches_match_translation_batches():
    data = load_sequence_task("reverse", num_train=12, num_validation=0, num_test=0, seed=1).train
    ds = pipelines.sequence_task_batches(data, 4, shuffle=False)
    features, labels = ds.element_spec
    assert features["encoder_token_ids"].shape == (4, 10)
    assert features["decoder_token_ids"].shape == labels.shape == (4, 11)
    unpadded = lambda rows: [r[:n].tolist() for r, n in zip(rows, data.lengths)]  # noqa: E731
    expected = pipelines.translation_batches(
        unpadded(data.sources), unpadded(data.targets), 4, max_source_length=10,
        max_target_length=11, start_id=START_ID, end_id=END_ID, shuffle=False,
    )
    tf.nest.map_structure(np.testing.assert_array_equal, batches(ds), batches(expected))
    message = ("There are 12 examples, fewer than batch_size=13, so with drop_remainder=True "
               "there would be no batch. Use a smaller batch_size or drop_remainder=False.")
    with pytest.raises(ValueError, match=re.escape(message)):
        pipelines.sequence_task_batches(data, 13)


# With the models.

TINY_GPT = GPTConfig.preset(
    "baby", vocabulary_size=1000, max_sequence_length=16, num_layers=1, num_heads=2, hidden_dim=32
)
TINY_TRANSFORMER = TransformerConfig.preset(
    "tiny", vocabulary_size=40, num_layers=1, num_heads=2, hidden_dim=32, dropout=0.0
)
LOSS = keras.losses.SparseCategoricalCrossentropy(from_logits=True)


def test_masked_loss_skips_padded_labels_without_sample_weights():
    model = build_transformer(TINY_TRANSFORMER)
    model.compile(loss=LOSS)
    ds = pipelines.translation_batches(SOURCES, TARGETS, 4, shuffle=False, **PAIRS)
    (features, labels), = batches(ds)
    logits = keras.ops.convert_to_numpy(model(features))  # (B, T, V)
    log_probs = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    nll = -np.take_along_axis(log_probs, labels[..., None], axis=-1)[..., 0]  # (B, T)
    expected = nll[labels != 0].mean()  # real labels only, each counted once
    np.testing.assert_allclose(model.evaluate(ds, verbose=0), expected, rtol=1e-5)


def test_fit_gpt_on_windows():
    # Under XLA: tests/models/test_precision_and_xla.py trains a GPT on fixed windows.
    model = build_gpt(TINY_GPT)
    model.compile(optimizer="adam", loss=LOSS)
    train = pipelines.random_windows(CORPUS, 16, 4, seed=0)
    history = model.fit(train, steps_per_epoch=2, epochs=1, verbose=0)
    assert int(model.optimizer.iterations) == 2
    assert np.isfinite(history.history["loss"]).all()
    loss = model.evaluate(pipelines.contiguous_windows(CORPUS[:200], 16, 4), verbose=0)
    assert np.isfinite(loss)


def test_fit_transformer_on_both_pipelines_with_jit_compile():
    # Shapes (4, 4) and (4, 5) on both, so the compiled step is reused.
    lengths = dict(max_source_length=4, max_target_length=5)
    translation = pipelines.translation_batches(
        SOURCES * 2, TARGETS * 2, 4, **{**PAIRS, **lengths}
    )
    data = load_sequence_task("copy", num_train=8, num_validation=0, num_test=0,
                              max_length=4, vocabulary_size=40).train
    sequence_task = pipelines.sequence_task_batches(data, 4)
    assert translation.element_spec == sequence_task.element_spec
    model = build_transformer(TINY_TRANSFORMER)
    model.compile(optimizer="adam", loss=LOSS, jit_compile=True)
    for steps, ds in [(2, translation), (4, sequence_task)]:
        history = model.fit(ds, epochs=1, verbose=0)
        assert int(model.optimizer.iterations) == steps
        assert np.isfinite(history.history["loss"]).all()
