"""`ByteTokenizer`: exact on Shakespeare, safe on empty text in graphs, core TF ops only."""

import re

import keras
import keras_hub
import numpy as np
import pytest
import tensorflow as tf

from keras_attn.text import ByteTokenizer
from tests.text.helpers import core_tf
from tests.text.helpers import graph_op_types


def test_exact_round_trip_on_hamlet(hamlet):
    tokenizer = ByteTokenizer()
    for text in hamlet:  # train and validation
        ids = tokenizer(text)
        assert ids.tolist() == list(text.encode("utf-8"))
        assert tokenizer.detokenize(ids) == text


def test_exact_round_trip_on_non_ascii_shakespeare(edward_iii):
    text = edward_iii.train + edward_iii.validation
    assert text.count("—") == 64
    tokenizer = ByteTokenizer()
    ids = tokenizer(text)
    assert len(ids) == len(text.encode("utf-8")) == len(text) + 2 * 64  # "—" is 3 bytes
    assert tokenizer.detokenize(ids) == text


def test_tf_data_and_tf_function_give_the_same_ids(hamlet):
    # Eager calls run keras-hub's Python path, tf.data and tf.function the TF path.
    tokenizer = ByteTokenizer()
    lines = hamlet.train.split("\n")[:500] + ["Ô rage — désespoir", ""]
    batches = tf.data.Dataset.from_tensor_slices(lines).batch(len(lines)).map(tokenizer)
    ragged = batches.get_single_element()
    assert ragged.to_list() == tokenizer(lines)
    texts = tf.function(tokenizer.detokenize)(ragged).numpy()
    assert [t.decode("utf-8") for t in texts] == lines


def test_keras_hub_defaults_are_not_exact():
    # Why lowercase is fixed to False: keras-hub's default case-folds.
    default = keras_hub.tokenizers.ByteTokenizer()
    assert default.detokenize(default("ROMEO:")) == "romeo:"
    assert ByteTokenizer().detokenize(ByteTokenizer()("ROMEO:")) == "ROMEO:"


def test_empty_text_in_graphs_where_keras_hub_fails():
    plain = tf.function(keras_hub.tokenizers.ByteTokenizer(lowercase=False).tokenize)
    with pytest.raises(tf.errors.InvalidArgumentError, match="Can not squeeze"):
        plain(tf.constant(["", ""]))
    tokenize = tf.function(ByteTokenizer().tokenize)
    assert tokenize(tf.constant(["", ""])).to_list() == [[], []]
    assert tokenize(tf.constant([], tf.string)).to_list() == []
    assert tokenize(tf.constant("")).numpy().tolist() == []
    lines = tf.data.Dataset.from_tensor_slices(["a", "", "b"]).map(ByteTokenizer())
    assert [ids.numpy().tolist() for ids in lines] == [[97], [], [98]]


def test_detokenize_traced_twice_where_keras_hub_fails():
    ragged = tf.ragged.constant([[104, 105]], dtype=tf.int32)
    plain = keras_hub.tokenizers.ByteTokenizer(lowercase=False)
    tf.function(plain.detokenize)(ragged)
    with pytest.raises(Exception, match="out of scope"):
        tf.function(plain.detokenize)(tf.constant([104, 105]))
    tokenizer = ByteTokenizer()
    assert tf.function(tokenizer.detokenize)(ragged).numpy().tolist() == [b"hi"]
    assert tf.function(tokenizer.detokenize)(tf.constant([104, 105])).numpy() == b"hi"


def test_sequence_length_pads_with_zero_and_detokenize_drops_it():
    tokenizer = ByteTokenizer(sequence_length=6)
    padded = tokenizer(["é", "abc"])
    assert padded.tolist() == [[195, 169, 0, 0, 0, 0], [97, 98, 99, 0, 0, 0]]
    assert tokenizer.detokenize(padded) == ["é", "abc"]
    in_graph = tf.function(tokenizer.tokenize)(tf.constant(["é", "abc"]))
    np.testing.assert_array_equal(in_graph, padded)


def test_documented_losses_nul_and_invalid_utf8():
    tokenizer = ByteTokenizer()
    assert tokenizer.detokenize(tokenizer("a\x00b")) == "ab"  # id 0 is padding
    assert tokenizer.detokenize([104, 255, 105]) == "h\ufffdi"  # not UTF-8


def test_graph_uses_only_core_tensorflow_ops():
    types = graph_op_types(ByteTokenizer())
    assert {"StringSplit", "DecodeRaw", "UnicodeTranscode"} <= types
    assert sorted(t for t in types if not core_tf(t)) == []
    # keras-hub's default lowercase=True would add a tensorflow-text op:
    assert "CaseFoldUTF8" in graph_op_types(keras_hub.tokenizers.ByteTokenizer())


def test_config_round_trip():
    tokenizer = ByteTokenizer(sequence_length=8, name="bytes")
    restored = keras.saving.deserialize_keras_object(
        keras.saving.serialize_keras_object(tokenizer)
    )
    assert type(restored) is ByteTokenizer and restored.get_config() == tokenizer.get_config()


@pytest.mark.parametrize("sequence_length", [0, -1, 2.5, "8", True])
def test_bad_sequence_length(sequence_length):
    message = ("`sequence_length` must be None or a positive integer. "
               f"Received: sequence_length={sequence_length!r}")
    with pytest.raises(ValueError, match=re.escape(message)):
        ByteTokenizer(sequence_length=sequence_length)


def test_fixed_options():
    message = "keras_attn's ByteTokenizer fixes `lowercase=False`. Received: lowercase=True"
    with pytest.raises(ValueError, match=re.escape(message)):
        ByteTokenizer(lowercase=True)
    message = ("keras_attn's ByteTokenizer fixes `normalization_form=None`. "
               "Received: normalization_form='NFC'")
    with pytest.raises(ValueError, match=re.escape(message)):
        ByteTokenizer(normalization_form="NFC")
