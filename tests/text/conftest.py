"""Real data shared by the tokenizer tests, loaded once per test module."""

import pytest

from keras_attn.data import load_numbers_en_fr
from keras_attn.data import load_shakespeare


@pytest.fixture(scope="module")
def numbers():
    """2,000 training pairs and 200 held-out ones (about 0.1 s)."""
    return load_numbers_en_fr(num_train=2000, num_validation=200, num_test=200)


@pytest.fixture(scope="module")
def hamlet():
    return load_shakespeare(plays="Hamlet")


@pytest.fixture(scope="module")
def edward_iii():
    """The only play of the corpus with non-ASCII text: 64 em dashes."""
    return load_shakespeare(plays="Edward III")
