"""Tests for `keras_attn.data.sequence_tasks`."""

import re

import numpy as np
import pytest

from keras_attn.data import sequence_tasks as st


def as_lists(data):
    """Each row's sequence as a list, without padding."""
    return [row[:n].tolist() for row, n in zip(data.sources, data.lengths)]


@pytest.fixture(scope="module", params=st.TASKS)
def splits(request):
    return request.param, st.load_sequence_task(request.param)


def test_id_layout():
    assert (st.PAD_ID, st.START_ID, st.END_ID, st.FIRST_TOKEN_ID) == (0, 1, 2, 3)


def test_shapes_and_dtypes(splits):
    _, splits = splits
    for part, n in zip(splits, [10_000, 1_000, 1_000]):
        assert part.sources.shape == part.targets.shape == (n, 10)
        assert part.lengths.shape == (n,)
        for array in part:
            assert array.dtype == np.int32


def test_tokens_then_padding(splits):
    _, splits = splits
    for part in splits:
        positions = np.arange(10)
        inside = positions < part.lengths[:, None]
        for array in [part.sources, part.targets]:
            assert np.all((array >= 3) & (array < 16) | ~inside)
            assert np.all((array == 0) | inside)
        assert part.lengths.min() >= 1 and part.lengths.max() == 10
        assert set(part.lengths.tolist()) >= set(range(3, 11))


def test_targets_copy_or_reverse_the_sources(splits):
    task, splits = splits
    for part in splits:
        for source, target, n in zip(*part):
            expected = source[:n] if task == "copy" else source[:n][::-1]
            assert target[:n].tolist() == expected.tolist()
            assert not target[n:].any()


def test_reverse_of_one_sequence():
    data = st.load_sequence_task("reverse", 50, 0, 0, min_length=4, max_length=6).train
    row = int(np.argmax(data.lengths == 5))
    source, target = data.sources[row].tolist(), data.targets[row].tolist()
    assert target == source[4::-1] + [0]
    assert source[5] == 0


def test_held_out_sequences_are_not_in_training(splits):
    _, splits = splits
    train, validation, test = (set(map(tuple, as_lists(part))) for part in splits)
    assert len(train) == 10_000 and len(validation) == 1_000 and len(test) == 1_000
    assert not train & validation and not train & test and not validation & test


def test_every_sequence_can_be_drawn():
    # 3 tokens, lengths 1 to 3: 3 + 9 + 27 = 39 sequences, all of them drawn.
    splits = st.load_sequence_task("copy", 30, 5, 4, max_length=3, vocabulary_size=6)
    drawn = sorted(tuple(s) for part in splits for s in as_lists(part))
    assert len(drawn) == len(set(drawn)) == 39
    assert (3,) in drawn and (5, 5, 5) in drawn


def test_min_length_and_vocabulary():
    data = st.load_sequence_task(
        "copy", 200, 0, 0, min_length=5, max_length=8, vocabulary_size=5
    ).train
    assert data.lengths.min() == 5 and data.lengths.max() == 8
    assert set(np.unique(data.sources).tolist()) == {0, 3, 4}


def test_deterministic_for_a_seed():
    a = st.load_sequence_task("reverse", 100, 10, 10, seed=3)
    b = st.load_sequence_task("reverse", 100, 10, 10, seed=3)
    c = st.load_sequence_task("reverse", 100, 10, 10, seed=4)
    for x, y in zip(a, b):
        for u, v in zip(x, y):
            np.testing.assert_array_equal(u, v)
    assert not np.array_equal(a.train.sources, c.train.sources)
    # The same seed draws the same sequences for both tasks.
    copy = st.load_sequence_task("copy", 100, 10, 10, seed=3)
    np.testing.assert_array_equal(copy.test.sources, a.test.sources)


def test_decoder_inputs_and_labels():
    targets = np.array([[7, 5, 0, 0], [4, 4, 9, 3], [0, 0, 0, 0]])
    inputs, labels = st.decoder_inputs_and_labels(targets, [2, 4, 0])
    np.testing.assert_array_equal(
        inputs, [[1, 7, 5, 0, 0], [1, 4, 4, 9, 3], [1, 0, 0, 0, 0]]
    )
    np.testing.assert_array_equal(
        labels, [[7, 5, 2, 0, 0], [4, 4, 9, 3, 2], [2, 0, 0, 0, 0]]
    )
    assert inputs.dtype == labels.dtype == np.int32
    # Teacher forcing: the labels are the inputs shifted left by one, with
    # END where the inputs' padding starts.
    labels_without_end = np.where(labels == st.END_ID, 0, labels)
    np.testing.assert_array_equal(labels_without_end[:, :-1], inputs[:, 1:])


def test_decoder_inputs_and_labels_on_a_split(splits):
    _, splits = splits
    data = splits.test
    inputs, labels = st.decoder_inputs_and_labels(data.targets, data.lengths)
    assert inputs.shape == labels.shape == (1_000, 11)
    assert np.all(inputs[:, 0] == st.START_ID)
    assert np.all(labels[np.arange(1_000), data.lengths] == st.END_ID)
    assert np.count_nonzero(labels, axis=1).tolist() == (data.lengths + 1).tolist()


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"task": "rev"}, "`task` must be one of ('copy', 'reverse'). Received: task='rev'"),
        ({"num_train": -1}, "`num_train` must be an integer >= 0. Received: num_train=-1"),
        ({"num_test": 1.0}, "Received: num_test=1.0"),
        ({"min_length": 0}, "`min_length` must be a positive integer. Received: min_length=0"),
        ({"max_length": True}, "Received: max_length=True"),
        (
            {"vocabulary_size": 3},
            "`vocabulary_size` must be an integer >= 4. Received: vocabulary_size=3",
        ),
        ({"seed": "0"}, "Received: seed='0'"),
        (
            {"min_length": 5, "max_length": 4},
            "`max_length` must be >= `min_length`. Received: min_length=5, max_length=4",
        ),
        (
            {"vocabulary_size": 4, "max_length": 3},
            "Asked for 12,000 distinct sequences but only 3 exist with 1 token(s) and "
            "lengths 1 to 3; raise `vocabulary_size` or `max_length`, or ask for "
            "fewer. Received: num_train=10000, num_validation=1000, num_test=1000",
        ),
    ],
)
def test_bad_arguments(kwargs, message):
    kwargs = {"task": "copy", **kwargs}
    with pytest.raises(ValueError, match=re.escape(message)):
        st.load_sequence_task(**kwargs)


def test_decoder_inputs_and_labels_bad_shapes():
    message = (
        "`targets` must have shape (N, T) and `lengths` shape (N,). "
        "Received: targets.shape=(2, 3), lengths.shape=(3,)"
    )
    with pytest.raises(ValueError, match=re.escape(message)):
        st.decoder_inputs_and_labels(np.zeros((2, 3)), [1, 2, 3])
    message = "`lengths` must be between 0 and T=3. Received: lengths with min 1 and max 4"
    with pytest.raises(ValueError, match=re.escape(message)):
        st.decoder_inputs_and_labels(np.zeros((2, 3)), [1, 4])
