"""`ReversibleWordPieceTokenizer`: exact round trips where keras-hub's WordPiece is not."""

import re

import keras
import keras_hub
import pytest
import tensorflow as tf

from keras_attn.data import load_tsv_pairs
from keras_attn.text import RESERVED_TOKENS
from keras_attn.text import SPACE_MARKER
from keras_attn.text import ReversibleWordPieceTokenizer
from tests.text.helpers import core_tf
from tests.text.helpers import graph_op_types
from tests.text.helpers import tokenize_in_tf_data


@pytest.fixture(scope="module")
def tokenizers(numbers):
    """One tokenizer per side, trained on the 2,000 training pairs."""
    return {
        side: ReversibleWordPieceTokenizer.from_texts([getattr(p, side) for p in numbers.train])
        for side in ["english", "french"]
    }


@pytest.mark.parametrize("side", ["english", "french"])
def test_exact_round_trip_on_numbers(numbers, tokenizers, side):
    tokenizer = tokenizers[side]
    for split in numbers:  # train, validation, test
        texts = [getattr(pair, side) for pair in split]
        ids = tokenizer(texts)
        assert tokenizer.unk_token_id not in {i for row in ids for i in row}
        assert tokenizer.detokenize(ids) == texts


@pytest.mark.parametrize("side", ["english", "french"])
def test_every_number_word_is_one_token(numbers, tokenizers, side):
    # Words, spaces (as "‿"), hyphens and commas: no word is cut into pieces,
    # so a sequence is about 3 times shorter than its characters. "zero",
    # in one training string only, is too rare to earn a token of its own.
    tokenizer = tokenizers[side]
    texts = [getattr(pair, side) for pair in numbers.train if pair.number != 0]
    for text, ids in zip(texts, tokenizer(texts)):
        tokens = [tokenizer.id_to_token(i) for i in ids]
        assert tokens == re.findall(r"[a-zé]+|[^a-zé]", text.replace(" ", SPACE_MARKER))


def test_keras_hub_word_piece_is_not_exact_on_numbers(numbers, tokenizers):
    # Why this class exists: keras-hub's WordPiece drops the spaces and puts
    # one between every two words, even with the same vocabulary.
    plain = keras_hub.tokenizers.WordPieceTokenizer(tokenizers["english"].get_vocabulary())
    texts = [pair.english for pair in numbers.train]
    back = plain.detokenize(plain(texts))
    wrong = [(t, b) for t, b in zip(texts, back) if t != b]
    assert len(wrong) > 0.9 * len(texts)
    text = "seventy-one thousand, two"
    assert plain.detokenize(plain(text)) == "seventy - one thousand , two"
    assert tokenizers["english"].detokenize(tokenizers["english"](text)) == text


def test_exact_round_trip_on_user_tsv_pairs(tmp_path):
    lines = [
        "Where is the station?\tOù est la gare\u00a0?",  # French no-break space
        "  Two  spaces, then  more  \tDeux  espaces, puis  d'autres  ",
        "Ça va?\tÇa va\u00a0?",
    ]
    path = tmp_path / "pairs.tsv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    pairs = load_tsv_pairs(path)
    for side in range(2):
        texts = [pair[side] for pair in pairs]
        tokenizer = ReversibleWordPieceTokenizer.from_texts(texts)
        assert tokenizer.detokenize(tokenizer(texts)) == texts


@pytest.mark.parametrize(
    "text",
    [" leading", "trailing ", "two  spaces", "", "a-b,c", "'quoted' (x) #1 ##2", "中文字"],
)
def test_exact_round_trip_of_spacing_and_punctuation(text):
    tokenizer = ReversibleWordPieceTokenizer.from_texts([text, "abc xyz"])
    assert tokenizer.detokenize(tokenizer(text)) == text


def test_documented_losses():
    tokenizer = ReversibleWordPieceTokenizer.from_texts(["one two\nthree\tfour" + SPACE_MARKER])
    # Whitespace other than " " is dropped; the marker itself comes back as a space.
    assert tokenizer.detokenize(tokenizer("one\ntwo\tthree")) == "onetwothree"
    assert tokenizer.detokenize(tokenizer("one" + SPACE_MARKER + "two")) == "one two"
    # A word with a character outside the vocabulary becomes one [UNK].
    assert tokenizer.detokenize(tokenizer("one twö")) == "one [UNK]"


def test_tf_data_and_tf_function_give_the_eager_ids(numbers, tokenizers):
    tokenizer = tokenizers["french"]
    texts = [pair.french for pair in numbers.validation[:100]]
    eager = tokenizer(texts)
    assert tokenize_in_tf_data(tokenizer, texts) == eager
    ragged = tf.function(tokenizer.tokenize)(tf.constant(texts))
    assert isinstance(ragged, tf.RaggedTensor) and ragged.to_list() == eager
    back = tf.function(tokenizer.detokenize)(ragged).numpy()
    assert [t.decode("utf-8") for t in back] == texts


def test_detokenize_drops_padding_start_and_end(tokenizers):
    tokenizer = tokenizers["english"]
    ids = tokenizer("one hundred").numpy().tolist()
    start, end = tokenizer.start_token_id, tokenizer.end_token_id
    assert tokenizer.detokenize([[start] + ids + [end, 0, 0], ids]) == ["one hundred"] * 2


def test_reserved_ids_and_sequence_length(tokenizers):
    vocabulary = tokenizers["english"].get_vocabulary()
    assert vocabulary[:4] == list(RESERVED_TOKENS)
    tokenizer = ReversibleWordPieceTokenizer(vocabulary, sequence_length=6)
    assert (tokenizer.pad_token_id, tokenizer.start_token_id, tokenizer.end_token_id,
            tokenizer.unk_token_id) == (0, 1, 2, 3)
    padded = tokenizer(["one", "one hundred and one"])
    assert padded.shape == (2, 6) and padded.numpy()[0, 1:].tolist() == [0] * 5
    assert tokenizer.detokenize(padded) == ["one", "one hundred and "]  # cut at 6 ids


def test_config_round_trip_gives_the_same_ids(numbers, tokenizers):
    tokenizer = tokenizers["french"]
    restored = keras.saving.deserialize_keras_object(
        keras.saving.serialize_keras_object(tokenizer)
    )
    assert type(restored) is ReversibleWordPieceTokenizer
    assert restored.get_vocabulary() == tokenizer.get_vocabulary()
    texts = [pair.french for pair in numbers.test]
    assert restored(texts) == tokenizer(texts)


def test_graph_uses_tensorflow_text_ops(tokenizers):
    # As documented: an export with this tokenizer needs `import tensorflow_text`.
    other = {t for t in graph_op_types(tokenizers["english"]) if not core_tf(t)}
    assert {"RegexSplitWithOffsets", "FastWordpieceTokenizeWithOffsets"} <= other


def test_bad_arguments(tokenizers):
    message = ("`vocabulary_size` is too small for this corpus: 8 of its 8 characters "
               "('egintuv‿') would have no token, so words with them would become [UNK]. "
               "Use at least 20. Received: vocabulary_size=10")
    with pytest.raises(ValueError, match=re.escape(message)):
        ReversibleWordPieceTokenizer.from_texts(["vingt et un"], vocabulary_size=10)
    message = "`vocabulary_size` must be an integer > 4. Received: vocabulary_size=4"
    with pytest.raises(ValueError, match=re.escape(message)):
        ReversibleWordPieceTokenizer.from_texts(["un"], vocabulary_size=4)
    message = ("`vocabulary` must start with the reserved tokens ('[PAD]', '[START]', '[END]', "
               "'[UNK]'). Received: vocabulary=['[UNK]', 'a']")
    with pytest.raises(ValueError, match=re.escape(message)):
        ReversibleWordPieceTokenizer(["[UNK]", "a"])
    vocabulary = tokenizers["english"].get_vocabulary()
    message = "ReversibleWordPieceTokenizer fixes `lowercase=False`. Received: lowercase=True"
    with pytest.raises(ValueError, match=re.escape(message)):
        ReversibleWordPieceTokenizer(vocabulary, lowercase=True)
    message = "`sequence_length` must be None or a positive integer. Received: sequence_length=-3"
    with pytest.raises(ValueError, match=re.escape(message)):
        ReversibleWordPieceTokenizer(vocabulary, sequence_length=-3)
