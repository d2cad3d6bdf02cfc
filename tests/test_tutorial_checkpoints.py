"""The trained checkpoints that tutorials 5-8 and 11 load (tutorials/checkpoints/).

The tutorials' fast setting builds its model from the data it loads, then
`load_weights` a checkpoint: that only fits if the checkpoint's tokenizers
are the ones the tutorial learns, token for token. The notebooks run the
checkpoints themselves (tests/test_notebooks.py checks the figures they
quote); here, what a change to the data or the tokenizers would break.
"""

import pathlib

import keras
import pytest

from keras_attn import data
from keras_attn import models
from keras_attn import text

CHECKPOINTS = pathlib.Path(__file__).resolve().parents[1] / "tutorials" / "checkpoints"


@pytest.mark.parametrize("name, context", [("shakespeare_gpt", 64), ("shakespeare_gpt_128", 128)])
def test_the_shakespeare_checkpoints_are_the_baby_gpt_with_the_tutorials_tokenizer(name, context):
    corpus = data.load_shakespeare()
    learned = text.CharacterTokenizer.from_texts([corpus.train, corpus.validation])
    shipped = text.load_tokenizer(CHECKPOINTS / name / "tokenizer")
    assert shipped.get_vocabulary() == learned.get_vocabulary()
    model = keras.saving.load_model(CHECKPOINTS / name / "model.keras")
    assert model.config == models.GPTConfig.preset(
        "baby", vocabulary_size=learned.vocabulary_size(), max_sequence_length=context)
    assert (CHECKPOINTS / name / "model.keras").stat().st_size < 5e6  # "a few MB"


def test_the_numbers_checkpoint_has_the_tokenizers_tutorial_5_learns():
    pairs = data.load_numbers_en_fr(num_train=50_000, num_validation=2_000, num_test=2_000)
    for name, sentences in [("english", [p.english for p in pairs.train]),
                            ("french", [p.french for p in pairs.train])]:
        learned = text.ReversibleWordPieceTokenizer.from_texts(sentences)
        shipped = text.load_tokenizer(CHECKPOINTS / "numbers_translator" / f"{name}_tokenizer")
        assert shipped.get_vocabulary() == learned.get_vocabulary(), name
    model = keras.saving.load_model(CHECKPOINTS / "numbers_translator" / "model.keras")
    assert model.count_params() == 946_176
    assert (CHECKPOINTS / "numbers_translator" / "model.keras").stat().st_size < 5e6
