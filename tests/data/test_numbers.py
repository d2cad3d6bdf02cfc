"""Tests for `keras_attn.data.numbers` (needs `pip install num2words==0.5.14`)."""

import re

import numpy as np
import pytest
from num2words import num2words

from keras_attn.data import numbers

# Golden numbers for seed 0 and the default sizes, from
#   python -c "from keras_attn.data import *; s = split_numbers(50_000, 2_000, 2_000);
#              print([p[:3].tolist() for p in s])"
FIRST_NUMBERS = ([329009, 82262, 496281], [335496, 39185, 883417], [18810, 290116, 39298])


@pytest.fixture(scope="module")
def splits():
    return numbers.load_numbers_en_fr(num_train=5_000, num_validation=500, num_test=500)


def test_the_example_pair():
    assert numbers.number_pair(71) == ("seventy-one", "soixante et onze", 71)


@pytest.mark.parametrize(
    "number, english, french",
    [
        (0, "zero", "zéro"),
        (21, "twenty-one", "vingt et un"),
        (80, "eighty", "quatre-vingts"),
        (81, "eighty-one", "quatre-vingt-un"),
        (200, "two hundred", "deux cents"),
        (201, "two hundred and one", "deux cent un"),
        (1_000, "one thousand", "mille"),
        (80_000, "eighty thousand", "quatre-vingt mille"),
        (
            999_999,
            "nine hundred and ninety-nine thousand, nine hundred and ninety-nine",
            "neuf cent quatre-vingt-dix-neuf mille neuf cent quatre-vingt-dix-neuf",
        ),
    ],
)
def test_pairs_are_num2words_strings(number, english, french):
    assert numbers.number_pair(number) == (english, french, number)
    assert (num2words(number), num2words(number, lang="fr")) == (english, french)
    to_english, to_french = numbers._converters()
    assert (to_english(number), to_french(number)) == (english, french)


def test_sampled_pairs_equal_num2words(splits):
    for part in splits:
        for english, french, number in part:
            assert english == num2words(number)
            assert french == num2words(number, lang="fr")


def test_fast_converters_equal_num2words_at_every_scale():
    # Where the spelling rules change: 0-100, round hundreds and thousands,
    # "quatre-vingt(s)", "cent(s)" before "mille", and the top of the range.
    to_english, to_french = numbers._converters()
    checked = list(range(0, 1_001)) + [
        base + offset
        for base in [1_000, 80_000, 100_000, 200_000, 280_000, 980_000, 999_000]
        for offset in [0, 1, 11, 21, 71, 80, 81, 91, 100, 180, 200, 201, 999]
    ]
    for n in checked:
        assert (to_english(n), to_french(n)) == (num2words(n), num2words(n, lang="fr")), n


def test_split_sizes_and_types(splits):
    assert [len(part) for part in splits] == [5_000, 500, 500]
    pair = splits.train[0]
    assert isinstance(pair, numbers.NumberPair)
    assert type(pair.number) is int and 0 <= pair.number <= 999_999


def test_splits_are_disjoint_by_number(splits):
    train, validation, test = ({p.number for p in part} for part in splits)
    assert len(train) == 5_000 and len(validation) == 500 and len(test) == 500
    assert not train & validation and not train & test and not validation & test
    # One spelling per number, so the sentences are disjoint too.
    assert not {p.english for p in splits.train} & {p.english for p in splits.test}
    assert not {p.french for p in splits.train} & {p.french for p in splits.test}


def test_default_split_is_disjoint_and_golden():
    drawn = numbers.split_numbers(50_000, 2_000, 2_000, seed=0)
    assert [part[:3].tolist() for part in drawn] == [list(f) for f in FIRST_NUMBERS]
    assert len(np.unique(np.concatenate(drawn))) == 54_000


def test_every_length_of_number_is_drawn_and_split():
    drawn = numbers.split_numbers(50_000, 2_000, 2_000)
    digit_counts = [np.bincount(np.char.str_len(part.astype(str)), minlength=7)[1:]
                    for part in drawn]
    # All 1,000 numbers below 1,000 are drawn (a uniform draw of 54,000 from a
    # million would hold about 54), and training gets most of each length.
    assert sum(counts[:3].sum() for counts in digit_counts) == 1_000
    train, validation, test = digit_counts
    assert np.all(train >= 0.8 * (train + validation + test))
    # The longer lengths share what is left about equally.
    assert max(train[3:]) < 3 * min(train[3:])
    assert np.all(test[3:] > 200)


def test_the_whole_range_can_be_drawn():
    # 0 and 999,999 are both in range: drawing every number finds them.
    drawn = numbers.split_numbers(999_000, 500, 500)
    assert np.array_equal(np.sort(np.concatenate(drawn)), np.arange(1_000_000))
    assert drawn[0].min() >= 0 and max(part.max() for part in drawn) == 999_999


def test_max_number_bounds_the_range():
    splits = numbers.load_numbers_en_fr(80, 10, 10, max_number=99)
    drawn = sorted(p.number for part in splits for p in part)
    assert drawn == list(range(100))


def test_deterministic_for_a_seed(splits):
    again = numbers.load_numbers_en_fr(num_train=5_000, num_validation=500, num_test=500)
    assert again == splits
    other = numbers.load_numbers_en_fr(num_train=5, num_validation=0, num_test=0, seed=1)
    assert other.train != splits.train[:5]


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"num_train": -1}, "`num_train` must be an integer >= 0. Received: num_train=-1"),
        ({"num_validation": 2.5},
         "`num_validation` must be an integer >= 0. Received: num_validation=2.5"),
        ({"num_test": True}, "`num_test` must be an integer >= 0. Received: num_test=True"),
        ({"seed": -3}, "`seed` must be an integer >= 0. Received: seed=-3"),
        (
            {"max_number": 1_000_000},
            "`max_number` must be an integer from 0 to 999,999. Received: max_number=1000000",
        ),
        (
            {"num_train": 90, "max_number": 99},
            "Asked for 4,090 distinct numbers but 0..max_number holds only 100. "
            "Received: num_train=90, num_validation=2000, num_test=2000, max_number=99",
        ),
    ],
)
def test_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        numbers.load_numbers_en_fr(**kwargs)


@pytest.mark.parametrize("number", [-1, 1_000_000, 7.0, "71"])
def test_number_pair_bad_number(number):
    message = f"`number` must be an integer from 0 to 999,999. Received: number={number!r}"
    with pytest.raises(ValueError, match=re.escape(message)):
        numbers.number_pair(number)
