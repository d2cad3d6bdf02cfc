"""Every tokenizer works in graphs (tf.data, tf.function, export) on edge cases."""

import pytest
import tensorflow as tf

from keras_attn.text import ByteTokenizer
from keras_attn.text import CharacterTokenizer
from keras_attn.text import ReversibleWordPieceTokenizer

TEXTS = ["ab", "b a", "a, b"] * 10


@pytest.fixture(
    scope="module",
    params=[
        lambda: ByteTokenizer(),
        lambda: CharacterTokenizer.from_texts(TEXTS),
        lambda: ReversibleWordPieceTokenizer.from_texts(TEXTS),
    ],
    ids=["byte", "character", "reversible_word_piece"],
)
def tokenizer(request):
    return request.param()


def test_empty_text(tokenizer):
    tokenize = tf.function(tokenizer.tokenize)
    assert tokenize(tf.constant(["", ""])).to_list() == [[], []]
    assert tokenize(tf.constant([], tf.string)).to_list() == []
    assert tokenize(tf.constant("")).numpy().tolist() == []
    lines = tf.data.Dataset.from_tensor_slices(["a", "", "b a"]).map(tokenizer)
    ids = [row.numpy().tolist() for row in lines]
    assert ids == tokenizer(["a", "", "b a"])
    assert tokenizer.detokenize(ids) == ["a", "", "b a"]


def test_each_function_can_be_traced_again(tokenizer):
    # An export traces them once per signature; nothing may belong to one graph.
    ids = tokenizer(TEXTS)
    for _ in range(2):
        tokenize = tf.function(tokenizer.tokenize)
        assert tokenize(tf.constant(TEXTS)).to_list() == ids
        assert tokenize(tf.constant(TEXTS[0])).numpy().tolist() == ids[0]
        detokenize = tf.function(tokenizer.detokenize)
        ragged = tf.ragged.constant(ids, dtype=tf.int32)
        assert detokenize(ragged).numpy().tolist() == [t.encode() for t in TEXTS]
        assert detokenize(tf.constant(ids[0])).numpy() == TEXTS[0].encode()
        assert detokenize(ragged.to_tensor()).numpy().tolist() == [t.encode() for t in TEXTS]
