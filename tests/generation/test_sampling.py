"""Samplers against NumPy: the filtered sets, the drawn frequencies, the seeds."""

import numpy as np
import pytest
import tensorflow as tf

from keras_attn.generation import filter_logits
from keras_attn.generation import sample_next_token
from keras_attn.generation.sampling import check_top_p


def numpy_filter(logits, top_k, top_p):
    """The reference: sort, keep the top k, then the smallest prefix reaching p."""
    out = np.full_like(logits, -np.inf)
    for row, values in enumerate(logits):
        order = np.argsort(-values, kind="stable")
        k = len(values) if top_k <= 0 or top_k > len(values) else top_k
        kept = order[:k]
        probs = np.exp(values[kept] - values[kept].max())
        probs /= probs.sum()
        before = np.concatenate([[0.0], np.cumsum(probs)[:-1]])
        kept = kept[(before < top_p) | (np.arange(k) == 0) | (top_p >= 1)]
        out[row, kept] = values[kept]
    return out


@pytest.mark.parametrize("top_k, top_p", [(0, 1.0), (1, 1.0), (5, 1.0), (50, 1.0),
                                          (0, 0.5), (0, 0.9), (7, 0.8), (-3, 0.3)])
def test_filter_logits_matches_numpy(top_k, top_p):
    logits = np.random.default_rng(0).normal(size=(6, 40)).astype("float32") * 3
    got = filter_logits(tf.constant(logits), top_k, top_p).numpy()
    np.testing.assert_array_equal(got, numpy_filter(logits, top_k, top_p))


def test_greedy_for_zero_and_negative_temperature():
    logits = tf.constant(np.random.default_rng(1).normal(size=(8, 30)), tf.float32)
    expected = np.argmax(logits.numpy(), axis=-1)
    for temperature in (0.0, -1.0):
        ids = sample_next_token(logits, temperature, top_k=3, top_p=0.5, seed=(1, 2))
        np.testing.assert_array_equal(ids.numpy(), expected)


def test_draws_follow_the_softmax_of_logits_over_temperature():
    logits = np.log(np.array([0.5, 0.3, 0.15, 0.05], "float32"))
    temperature = 2.0
    rows = np.tile(logits, (20000, 1))
    ids = sample_next_token(tf.constant(rows), temperature, seed=(3, 0)).numpy()
    expected = np.exp(logits / temperature)
    expected /= expected.sum()
    frequencies = np.bincount(ids, minlength=4) / len(ids)
    np.testing.assert_allclose(frequencies, expected, atol=0.015)


def test_top_k_and_top_p_draws_stay_in_the_kept_set():
    logits = np.random.default_rng(2).normal(size=(500, 20)).astype("float32")
    for top_k, top_p in [(3, 1.0), (0, 0.6), (4, 0.7)]:
        ids = sample_next_token(tf.constant(logits), 1.0, top_k, top_p, seed=(5, 1)).numpy()
        kept = np.isfinite(numpy_filter(logits, top_k, top_p))
        assert kept[np.arange(len(ids)), ids].all()


def test_same_seed_same_tokens_and_another_seed_other_tokens():
    logits = tf.zeros((64, 50))
    first = sample_next_token(logits, 1.0, seed=(9, 4)).numpy()
    np.testing.assert_array_equal(first, sample_next_token(logits, 1.0, seed=(9, 4)).numpy())
    assert (first != sample_next_token(logits, 1.0, seed=(10, 4)).numpy()).any()


def test_compiled_sampling_equals_eager():
    logits = tf.constant(np.random.default_rng(3).normal(size=(16, 30)), tf.float32)
    compiled = tf.function(sample_next_token, jit_compile=True)
    for args in [(0.0, 0, 1.0), (0.8, 5, 0.9)]:
        np.testing.assert_array_equal(
            compiled(logits, *args, seed=tf.constant([1, 2])).numpy(),
            sample_next_token(logits, *args, seed=(1, 2)).numpy(),
        )


@pytest.mark.parametrize("top_p", [0.0, -0.1, 1.01, float("nan")])
def test_top_p_outside_zero_one_is_rejected(top_p):
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"`top_p` must be in \(0, 1\]"):
        check_top_p(top_p)
