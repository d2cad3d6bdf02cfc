"""`CharacterTokenizer`: exact round trips on the numbers and Shakespeare data."""

import re

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_attn.data import number_pair
from keras_attn.text import RESERVED_TOKENS
from keras_attn.text import CharacterTokenizer
from tests.text.helpers import core_tf
from tests.text.helpers import graph_op_types
from tests.text.helpers import tokenize_in_tf_data


@pytest.mark.parametrize("side", ["english", "french"])
def test_exact_round_trip_on_numbers(numbers, side):
    texts = [getattr(pair, side) for pair in numbers.train]
    tokenizer = CharacterTokenizer.from_texts(texts)
    for split in numbers:  # train, validation, test
        texts = [getattr(pair, side) for pair in split]
        ids = tokenizer(texts)
        assert [len(row) for row in ids] == [len(t) for t in texts]  # one id per character
        assert tokenizer.unk_token_id not in {i for row in ids for i in row}
        assert tokenizer.detokenize(ids) == texts


def test_round_trip_of_zero_in_french():
    # "é" occurs only in "zéro", so it is in the vocabulary only if 0 is in the corpus.
    pair = number_pair(0)
    tokenizer = CharacterTokenizer.from_texts([pair.french, "deux"])
    assert tokenizer.detokenize(tokenizer(pair.french)) == "zéro"


def test_exact_round_trip_on_hamlet(hamlet):
    tokenizer = CharacterTokenizer.from_texts(hamlet.train)
    assert tokenizer.vocabulary_size() == len(RESERVED_TOKENS) + len(set(hamlet.train))
    for text in hamlet:
        ids = tokenizer(text)
        assert ids.shape == (len(text),)
        assert tokenizer.detokenize(ids) == text


def test_exact_round_trip_on_non_ascii_shakespeare(edward_iii):
    tokenizer = CharacterTokenizer.from_texts(edward_iii.train)
    dash = tokenizer.token_to_id("—")
    ids = tokenizer(edward_iii.train).numpy()
    assert (ids == dash).sum() == edward_iii.train.count("—") > 0
    assert tokenizer.detokenize(ids) == edward_iii.train


def test_tf_data_and_tf_function_give_the_eager_ids(numbers):
    texts = [pair.french for pair in numbers.train[:100]]
    tokenizer = CharacterTokenizer.from_texts(texts)
    eager = tokenizer(texts)
    assert tokenize_in_tf_data(tokenizer, texts) == eager
    ragged = tf.function(tokenizer.tokenize)(tf.constant(texts))
    assert isinstance(ragged, tf.RaggedTensor) and ragged.to_list() == eager
    back = tf.function(tokenizer.detokenize)(ragged).numpy()
    assert [t.decode("utf-8") for t in back] == texts


def test_unknown_characters_and_invalid_utf8_become_unk():
    tokenizer = CharacterTokenizer.from_texts(["abc"])
    assert tokenizer("aé!").numpy().tolist() == [4, 3, 3]
    assert tokenizer(b"a\xffb").numpy().tolist() == [4, 3, 5]  # U+FFFD
    assert tokenizer.detokenize(tokenizer("aé")) == "a[UNK]"


def test_detokenize_drops_padding_start_and_end():
    tokenizer = CharacterTokenizer.from_texts(["ab"], sequence_length=5)
    padded = tokenizer(["ab", "b"])
    np.testing.assert_array_equal(padded, [[4, 5, 0, 0, 0], [5, 0, 0, 0, 0]])
    assert tokenizer.detokenize(padded) == ["ab", "b"]
    start, end = tokenizer.start_token_id, tokenizer.end_token_id
    assert tokenizer.detokenize([start, 4, 5, end, 0]) == "ab"


def test_reserved_ids_and_vocabulary_accessors():
    tokenizer = CharacterTokenizer.from_texts("ba")
    assert tokenizer.get_vocabulary() == list(RESERVED_TOKENS) + ["a", "b"]
    ids = (tokenizer.pad_token_id, tokenizer.start_token_id, tokenizer.end_token_id,
           tokenizer.unk_token_id)
    assert ids == (0, 1, 2, 3)
    assert tokenizer.vocabulary_size() == 6
    assert tokenizer.id_to_token(5) == "b" and tokenizer.token_to_id("[END]") == 2


def test_config_round_trip_gives_the_same_ids(numbers):
    texts = [pair.english for pair in numbers.train[:50]]
    tokenizer = CharacterTokenizer.from_texts(texts, sequence_length=80, name="english")
    restored = keras.saving.deserialize_keras_object(
        keras.saving.serialize_keras_object(tokenizer)
    )
    assert type(restored) is CharacterTokenizer and restored.name == "english"
    assert restored.get_config() == tokenizer.get_config()
    np.testing.assert_array_equal(restored(texts), tokenizer(texts))


def test_graph_uses_only_core_tensorflow_ops():
    types = graph_op_types(CharacterTokenizer.from_texts("abc"))
    assert {"UnicodeDecode", "LookupTableFindV2", "GatherV2"} <= types
    assert sorted(t for t in types if not core_tf(t)) == []


@pytest.mark.parametrize(
    "vocabulary, message",
    [
        (["a", "[PAD]", "[START]", "[END]", "[UNK]"],
         "`vocabulary` must start with the reserved tokens ('[PAD]', '[START]', '[END]', "
         "'[UNK]'). Received: vocabulary=['a', '[PAD]', '[START]', '[END]', '[UNK]']"),
        (list(RESERVED_TOKENS) + ["b", "ab"],
         "After the reserved tokens, `vocabulary` must hold single characters. "
         "Received: vocabulary[5]='ab'"),
        (list(RESERVED_TOKENS) + ["a", "a"],
         "`vocabulary` must not repeat tokens; ['a'] appear more than once. "
         "Received: vocabulary=['[PAD]', '[START]', '[END]', '[UNK]', 'a', 'a']"),
        ("[PAD][START]",
         "`vocabulary` must be a list of strings. Received: vocabulary='[PAD][START]'"),
        (list(RESERVED_TOKENS) + [7],
         "`vocabulary` must be a list of strings. "
         "Received: vocabulary=['[PAD]', '[START]', '[END]', '[UNK]', 7]"),
    ],
)
def test_bad_vocabulary(vocabulary, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        CharacterTokenizer(vocabulary)


def test_bad_arguments():
    message = "`sequence_length` must be None or a positive integer. Received: sequence_length=0"
    with pytest.raises(ValueError, match=re.escape(message)):
        CharacterTokenizer.from_texts("ab", sequence_length=0)
    message = "`dtype` must be an integer dtype. Received: dtype='float32'"
    with pytest.raises(ValueError, match=re.escape(message)):
        CharacterTokenizer.from_texts("ab", dtype="float32")
    message = "`texts` has no characters to build a vocabulary from. Received: texts=['', '']"
    with pytest.raises(ValueError, match=re.escape(message)):
        CharacterTokenizer.from_texts(["", ""])
    message = "`texts` must be a string or a list of strings. Received: texts[1]=3 (int)"
    with pytest.raises(ValueError, match=re.escape(message)):
        CharacterTokenizer.from_texts(["ab", 3])
    tokenizer = CharacterTokenizer.from_texts("ab")
    with pytest.raises(ValueError, match=re.escape("`id` must be in range [0, 5]. Received: id=6")):
        tokenizer.id_to_token(6)
    message = "Token 'c' is not in the vocabulary. Received: token='c'"
    with pytest.raises(ValueError, match=re.escape(message)):
        tokenizer.token_to_id("c")
