"""Cached translation equals recomputation; beams; bad arguments."""

import dataclasses

import numpy as np
import pytest

from keras_attn.generation import TranslatorGenerator
from keras_attn.generation import greedy_translate
from keras_attn.models import TransformerConfig
from keras_attn.models import build_transformer
from tests.helpers import sharpen

CONFIG = TransformerConfig.preset(
    "tiny", vocabulary_size=30, max_sequence_length=16, num_layers=2, dropout=0.0
)
# 0-padded sources of different lengths.
SOURCE = np.array([[5, 6, 7, 8, 0, 0], [9, 0, 0, 0, 0, 0], [3, 4, 5, 6, 7, 8]], "int32")


def sharp_translator(config=CONFIG, seed=0):
    """Large random kernels and embeddings: clear argmax winners."""
    return sharpen(build_transformer(config), seed)


@pytest.mark.parametrize(
    "overrides",
    [{}, {"position_encoding": "learned", "tie_embeddings": False, "normalize_first": False}],
    ids=["sinusoidal-tied-prenorm", "learned-untied-postnorm"],
)
def test_cached_greedy_equals_recomputation(overrides):
    model = sharp_translator(dataclasses.replace(CONFIG, **overrides))
    cached = TranslatorGenerator(model).translate(SOURCE, start_id=1, end_id=2, max_length=10)
    np.testing.assert_array_equal(cached, greedy_translate(model, SOURCE, 1, 2, 10))


def test_padding_of_the_source_does_not_change_the_translation():
    generator = TranslatorGenerator(sharp_translator())
    short = generator.translate(SOURCE[:2, :4], 1, 2, 10)
    padded = generator.translate(np.pad(SOURCE[:2, :4], [[0, 0], [0, 6]]), 1, 2, 10)
    np.testing.assert_array_equal(short, padded)


def test_one_beam_is_greedy_and_beams_end_cleanly():
    generator = TranslatorGenerator(sharp_translator())
    greedy = generator.translate(SOURCE, 1, 2, 10)
    np.testing.assert_array_equal(generator.translate(SOURCE, 1, 2, 10, num_beams=1), greedy)
    beams = generator.translate(SOURCE, 1, 2, 10, num_beams=4)
    assert beams.shape == greedy.shape
    for row in beams:  # ids, then only padding: no hole, no start or end id
        nonzero = np.flatnonzero(row)
        assert (row[: len(nonzero)] != 0).all() and not np.isin(row, [1, 2]).any()


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(max_length=0), "`max_length` must be a positive integer. Received: max_length=0"),
        (dict(max_length=16), r"`max_length` \+ 1 must be at most the decoder's context \(16\). Received: max_length=16"),
        (dict(max_length=5, num_beams=0), "`num_beams` must be a positive integer. Received: num_beams=0"),
    ],
)
def test_bad_arguments_are_named(kwargs, message):
    # Learned positions: the decoder's context is max_sequence_length.
    config = dataclasses.replace(CONFIG, position_encoding="learned")
    generator = TranslatorGenerator(build_transformer(config))
    with pytest.raises(ValueError, match=message):
        generator.translate(SOURCE, 1, 2, **kwargs)
