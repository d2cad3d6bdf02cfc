"""`tokenize_batch`: padded id arrays for training, with start and end ids."""

import re

import numpy as np
import pytest

from keras_attn.data import decoder_inputs_and_labels
from keras_attn.text import CharacterTokenizer
from keras_attn.text import ReversibleWordPieceTokenizer
from keras_attn.text import ByteTokenizer
from keras_attn.text import tokenize_batch


@pytest.fixture(scope="module")
def french(numbers):
    texts = [pair.french for pair in numbers.train]
    return texts, ReversibleWordPieceTokenizer.from_texts(texts)


def test_rows_are_the_tokenizer_ids_padded_with_zero(french):
    texts, tokenizer = french
    ids = tokenize_batch(tokenizer, texts)
    rows = tokenizer(texts)
    assert ids.dtype == np.int32 and ids.shape == (len(texts), max(map(len, rows)))
    for row, expected in zip(ids, rows):
        assert row[: len(expected)].tolist() == expected
        assert not row[len(expected) :].any()
    assert tokenizer.detokenize(ids) == texts


def test_start_end_matches_decoder_inputs_and_labels(french):
    # The reserved ids are those of keras_attn.data's copy/reverse task, so the
    # data module's teacher-forcing helper gives the same labels, and the same
    # decoder inputs wherever a label counts (is not padding).
    texts, tokenizer = french
    packed = tokenize_batch(tokenizer, texts, add_start_end=True)
    assert (packed[:, 0] == tokenizer.start_token_id).all()
    targets = tokenize_batch(tokenizer, texts)
    lengths = np.count_nonzero(targets, axis=1)
    inputs, labels = decoder_inputs_and_labels(targets, lengths)
    np.testing.assert_array_equal(packed[:, 1:], labels)
    counted = labels != 0
    np.testing.assert_array_equal(packed[:, :-1][counted], inputs[counted])
    assert tokenizer.detokenize(packed) == texts


def test_sequence_length_pads_and_never_cuts():
    tokenizer = CharacterTokenizer.from_texts(["abc"])
    ids = tokenize_batch(tokenizer, ["abc", "a"], sequence_length=6, add_start_end=True)
    np.testing.assert_array_equal(ids, [[1, 4, 5, 6, 2, 0], [1, 4, 2, 0, 0, 0]])
    message = (
        r"1 of the 2 texts have more than sequence_length=4 tokens \(the longest has 5\)"
    )
    with pytest.raises(ValueError, match=message):
        tokenize_batch(tokenizer, ["abc", "a"], sequence_length=4, add_start_end=True)


def test_byte_tokenizer_and_edge_cases():
    np.testing.assert_array_equal(
        tokenize_batch(ByteTokenizer(), ["é", "ab"]), [[195, 169], [97, 98]]
    )
    assert tokenize_batch(ByteTokenizer(), []).shape == (0, 0)
    assert tokenize_batch(ByteTokenizer(), ["", ""]).shape == (2, 0)
    tokenizer = CharacterTokenizer.from_texts("a")
    np.testing.assert_array_equal(tokenize_batch(tokenizer, [""], add_start_end=True), [[1, 2]])


def test_bad_arguments():
    message = ("`add_start_end=True` needs a tokenizer with start and end tokens, such as "
               "CharacterTokenizer or ReversibleWordPieceTokenizer. "
               "Received: tokenizer=ByteTokenizer")
    with pytest.raises(ValueError, match=re.escape(message)):
        tokenize_batch(ByteTokenizer(), ["a"], add_start_end=True)
    message = ("`tokenizer` must be a keras-hub tokenizer (keras_hub.tokenizers.Tokenizer). "
               f"Received: tokenizer={str.split!r}")
    with pytest.raises(ValueError, match=re.escape(message)):
        tokenize_batch(str.split, ["a"])
    message = "`sequence_length` must be None or a positive integer. Received: sequence_length=0"
    with pytest.raises(ValueError, match=re.escape(message)):
        tokenize_batch(ByteTokenizer(), ["a"], sequence_length=0)
    message = "`texts` must be a string or a list of strings. Received: texts[1]=b'a' (bytes)"
    with pytest.raises(ValueError, match=re.escape(message)):
        tokenize_batch(ByteTokenizer(), ["", b"a"])
