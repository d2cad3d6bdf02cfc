"""`save_tokenizer` / `load_tokenizer`: the same tokenizer, and the same ids, after a reload."""

import json
import re

import keras_hub
import numpy as np
import pytest

from keras_attn.text import CharacterTokenizer
from keras_attn.text import ReversibleWordPieceTokenizer
from keras_attn.text import ByteTokenizer
from keras_attn.text import load_tokenizer
from keras_attn.text import save_tokenizer
from keras_attn.text import tokenize_batch


@pytest.fixture(scope="module")
def english(numbers):
    return [pair.english for pair in numbers.train]


@pytest.mark.parametrize(
    "make",
    [
        lambda texts: ByteTokenizer(),
        lambda texts: CharacterTokenizer.from_texts(texts, sequence_length=90),
        lambda texts: ReversibleWordPieceTokenizer.from_texts(texts),
        # keras-hub's own WordPiece keeps its vocabulary in an asset file.
        lambda texts: keras_hub.tokenizers.WordPieceTokenizer(
            ReversibleWordPieceTokenizer.from_texts(texts).get_vocabulary()
        ),
    ],
    ids=["byte", "character", "reversible_word_piece", "keras_hub_word_piece"],
)
def test_reload_gives_the_same_ids(tmp_path, english, make):
    tokenizer = make(english)
    path = save_tokenizer(tokenizer, tmp_path / "run" / "tokenizer")
    assert path == tmp_path / "run" / "tokenizer" / "tokenizer.json"
    loaded = load_tokenizer(tmp_path / "run" / "tokenizer")
    assert type(loaded) is type(tokenizer)
    assert loaded.get_config() == tokenizer.get_config()
    if not isinstance(tokenizer, keras_hub.tokenizers.ByteTokenizer):
        assert loaded.get_vocabulary() == tokenizer.get_vocabulary()
    np.testing.assert_array_equal(
        tokenize_batch(loaded, english), tokenize_batch(tokenizer, english)
    )
    assert loaded.detokenize(loaded(english[:20])) == tokenizer.detokenize(tokenizer(english[:20]))


def test_the_file_is_readable_json_holding_the_vocabulary(tmp_path):
    # A token ending in a no-break space (French "?" spacing): keras-hub's
    # vocabulary.txt would lose it to line.rstrip(), the JSON file keeps it.
    texts = ["Où est la gare\u00a0?"] * 10
    tokenizer = ReversibleWordPieceTokenizer.from_texts(texts)
    assert any(token.endswith("\u00a0") for token in tokenizer.get_vocabulary())
    path = save_tokenizer(tokenizer, tmp_path)
    saved = json.loads(path.read_text(encoding="utf-8"))
    assert saved["registered_name"] == "keras_attn>ReversibleWordPieceTokenizer"
    assert saved["config"]["vocabulary"] == tokenizer.get_vocabulary()
    assert "Où" in path.read_text(encoding="utf-8")  # UTF-8, not \\u escapes
    loaded = load_tokenizer(tmp_path)
    assert loaded.detokenize(loaded(texts[0])) == texts[0]


def test_bad_arguments(tmp_path):
    message = (f"No tokenizer in '{tmp_path}': '{tmp_path / 'tokenizer.json'}' does not exist. "
               f"Save one with save_tokenizer. Received: directory={tmp_path!r}")
    with pytest.raises(ValueError, match=re.escape(message)):
        load_tokenizer(tmp_path)
    message = ("`tokenizer` must be a keras-hub tokenizer (keras_hub.tokenizers.Tokenizer). "
               "Received: tokenizer='bytes'")
    with pytest.raises(ValueError, match=re.escape(message)):
        save_tokenizer("bytes", tmp_path)
    message = "`directory` must be a path (str or pathlib.Path). Received: directory=None"
    with pytest.raises(ValueError, match=re.escape(message)):
        save_tokenizer(ByteTokenizer(), None)
