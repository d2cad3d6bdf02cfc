"""The decoding loops with fake `next_logits` functions whose answers are known."""

import itertools

import keras
import numpy as np
import pytest
import tensorflow as tf
from keras.src.backend.common import stateless_scope

from keras_attn.generation import beam_search
from keras_attn.generation import decode
from keras_attn.generation import with_matrix_kernels
from keras_attn.generation.decoding import _as_matrix
from keras_attn.generation.decoding import matrix_kernels
from keras_attn.layers import MultiHeadAttention

VOCABULARY = 6


def counting(token_ids, state, index):
    """Next token = last token + 1 (mod V); the state counts the calls."""
    return tf.one_hot((token_ids[:, 0] + 1) % VOCABULARY, VOCABULARY) * 10, state + 1


def buffer(prompts, length):
    tokens = np.zeros((len(prompts), length), "int32")
    for row, prompt in zip(tokens, prompts):
        row[: len(prompt)] = prompt
    return tf.constant(tokens), tf.constant([len(p) for p in prompts])


def test_prompts_of_different_lengths_each_get_max_new_tokens():
    tokens, lengths = buffer([[1], [2, 3, 4], [0, 1]], 8)
    out, ends = decode(counting, tokens, lengths, tf.constant(0), 3)
    assert out.numpy().tolist() == [
        [1, 2, 3, 4, 0, 0, 0, 0],
        [2, 3, 4, 5, 0, 1, 0, 0],
        [0, 1, 2, 3, 4, 0, 0, 0],
    ]
    assert ends.numpy().tolist() == [4, 6, 5]


def test_stop_token_is_kept_and_ends_the_row():
    tokens, lengths = buffer([[1], [4]], 8)
    out, ends = decode(counting, tokens, lengths, tf.constant(0), 6, stop_token_ids=[3])
    assert out.numpy().tolist() == [[1, 2, 3, 0, 0, 0, 0, 0], [4, 5, 0, 1, 2, 3, 0, 0]]
    assert ends.numpy().tolist() == [3, 6]


def counted_calls(prompts, max_new_tokens, stop_token_ids=()):
    counter = tf.Variable(0)

    def next_logits(token_ids, state, index):
        counter.assign_add(1)
        return counting(token_ids, state, index)

    tokens, lengths = buffer(prompts, 50)
    _, ends = decode(next_logits, tokens, lengths, tf.constant(0), max_new_tokens,
                     stop_token_ids=stop_token_ids)
    return int(counter.numpy()), ends.numpy().tolist()


def test_the_loop_runs_only_the_steps_it_needs():
    # Rows end at 4 and 5: steps 1 ... 4.
    assert counted_calls([[1], [2, 3]], 3) == (4, [4, 5])
    # 1 -> 2 -> 3 stops row 0 at step 2, 2 -> 3 stops row 1 at step 1.
    assert counted_calls([[1], [2]], 40, stop_token_ids=[3]) == (2, [3, 2])


@pytest.mark.parametrize("max_new_tokens", [0, -5])
def test_no_new_tokens(max_new_tokens):
    tokens, lengths = buffer([[1, 2], [3]], 5)
    out, ends = decode(counting, tokens, lengths, tf.constant(0), max_new_tokens)
    np.testing.assert_array_equal(out.numpy(), tokens.numpy())
    assert ends.numpy().tolist() == [2, 1]


def test_rows_stop_at_the_end_of_the_buffer():
    tokens, lengths = buffer([[1, 1, 1], [2]], 4)
    out, ends = decode(counting, tokens, lengths, tf.constant(0), 10)
    assert out.numpy().tolist() == [[1, 1, 1, 2], [2, 3, 4, 5]]
    assert ends.numpy().tolist() == [4, 4]


def test_sampling_is_reproducible_and_the_seed_matters():
    def uniform(token_ids, state, index):
        return tf.zeros((tf.shape(token_ids)[0], 50)), state

    tokens, lengths = buffer([[1]] * 4, 20)
    runs = [decode(uniform, tokens, lengths, (), 19, temperature=1.0, seed=s)[0].numpy()
            for s in (7, 7, 8)]
    np.testing.assert_array_equal(runs[0], runs[1])
    assert (runs[0] != runs[2]).any()


def random_table(seed, vocabulary=4):
    """A bigram 'model': logits of the next token depend on the last one."""
    table = np.random.default_rng(seed).normal(size=(vocabulary, vocabulary)).astype("float32") * 2
    return table, lambda token_ids, state, index: (tf.gather(table, token_ids[:, 0]), state)


def log_softmax(x):
    return x - np.log(np.exp(x - x.max(-1, keepdims=True)).sum(-1, keepdims=True)) - x.max(-1, keepdims=True)


@pytest.mark.parametrize("seed", range(5))
def test_beam_search_with_every_sequence_as_a_beam_finds_the_best(seed):
    """With num_beams >= V^(n-1), no sequence is ever pruned: the answer is
    the exhaustive argmax of the total log-probability."""
    table, next_logits = random_table(seed)
    log_probs = log_softmax(table)
    steps, first = 3, 2
    best = max(
        itertools.product(range(4), repeat=steps),
        key=lambda seq: sum(log_probs[a, b] for a, b in zip((first,) + seq, seq)),
    )
    tokens, lengths = buffer([[first]], steps + 1)
    out, ends, score = beam_search(next_logits, tokens, lengths, (), steps, num_beams=16,
                                   length_penalty=0.0)
    assert tuple(out.numpy()[0, 1:]) == best
    expected = sum(log_probs[a, b] for a, b in zip((first,) + best, best))
    np.testing.assert_allclose(score.numpy()[0], expected, rtol=1e-5)


def test_one_beam_is_greedy():
    _, next_logits = random_table(11, vocabulary=7)
    tokens, lengths = buffer([[1], [2, 3], [4]], 9)
    greedy, greedy_ends = decode(next_logits, tokens, lengths, (), 6, stop_token_ids=[0])
    beam, beam_ends, _ = beam_search(next_logits, tokens, lengths, (), 6, num_beams=1,
                                     stop_token_ids=[0])
    np.testing.assert_array_equal(beam.numpy(), greedy.numpy())
    np.testing.assert_array_equal(beam_ends.numpy(), greedy_ends.numpy())


def test_finished_beams_keep_their_score():
    """Token 3 ends a beam. After 0: p(3)=0.5, p(1)=0.5; after 1: p(2)=1/3 each
    of three tokens. Ending at once (0.5) beats any longer path (0.5 * 1/3)."""
    table = np.log(np.array([
        [1e-6, 0.5, 1e-6, 0.5],
        [1e-6, 1 / 3, 1 / 3, 1 / 3],
        [1e-6, 1 / 3, 1 / 3, 1 / 3],
        [0.25, 0.25, 0.25, 0.25],
    ], "float32"))

    def next_logits(token_ids, state, index):
        return tf.gather(table, token_ids[:, 0]), state

    tokens, lengths = buffer([[0]], 6)
    out, ends, score = beam_search(next_logits, tokens, lengths, (), 5, num_beams=2,
                                   length_penalty=0.0, stop_token_ids=[3])
    assert out.numpy().tolist() == [[0, 3, 0, 0, 0, 0]]
    assert ends.numpy().tolist() == [2]
    np.testing.assert_allclose(np.exp(score.numpy()), [0.5], rtol=1e-4)


@pytest.mark.parametrize("seed", range(3))
def test_the_state_follows_the_beams(seed):
    """A trigram 'model' reads the token before the last one from its state.
    If the state were not reordered with the beams, an exhaustive beam
    search would miss the best sequence."""
    vocabulary, steps = 3, 3
    table = np.random.default_rng(seed).normal(size=(vocabulary, vocabulary, vocabulary)) * 2
    table = table.astype("float32")
    log_probs = log_softmax(table)

    def next_logits(token_ids, previous, index):  # previous: (B*beams,)
        pairs = tf.stack([previous, token_ids[:, 0]], axis=-1)
        return tf.gather_nd(table, pairs), token_ids[:, 0]

    prompt = (0, 1)
    best = max(
        itertools.product(range(vocabulary), repeat=steps),
        key=lambda seq: sum(log_probs[s] for s in zip(prompt + seq, prompt[1:] + seq, seq)),
    )
    tokens, lengths = buffer([list(prompt), list(prompt)], 5)
    # Prefilled state: position 0's token, for the step that reads position 1.
    out, _, _ = beam_search(next_logits, tokens, lengths, tf.zeros(2 * 9, tf.int32), steps,
                            num_beams=9, length_penalty=0.0)
    assert [tuple(row[2:]) for row in out.numpy()] == [best, best]


def test_num_beams_must_be_positive():
    tokens, lengths = buffer([[1]], 3)
    with pytest.raises(ValueError, match="`num_beams` must be a positive integer. Received: num_beams=0"):
        beam_search(counting, tokens, lengths, tf.constant(0), 2, num_beams=0)


def test_kernels_are_read_as_the_matrices_of_their_products():
    """`with_matrix_kernels`: each rank-3 kernel becomes (contracted, free) or
    (free, contracted), and the step reads it from there, to the same result."""
    attention = MultiHeadAttention(num_heads=4, key_dim=8, num_key_value_heads=2)
    x = np.random.default_rng(0).normal(size=(2, 3, 16)).astype("float32")
    attention(x, x)
    projections = (attention.query_dense, attention.key_dense, attention.value_dense,
                   attention.output_dense)
    assert [_as_matrix(layer) for layer in projections] == [(16, 32), (16, 16), (16, 16), (32, 16)]
    interleaved = keras.layers.EinsumDense("abc,dce->abde", output_shape=(None, 2, 5))
    interleaved.build((None, None, 3))
    assert _as_matrix(interleaved) is None
    attention.key_dense.enable_lora(rank=2)  # its kernel is now a sum, left as it is
    assert [variable.path for variable, _ in matrix_kernels(attention)] == [
        layer.kernel.path for layer in (attention.query_dense, attention.value_dense,
                                        attention.output_dense)]

    dense = keras.layers.EinsumDense("abc,cde->abde", output_shape=(None, 4, 8), bias_axes="de")
    model = keras.Sequential([keras.Input((3, 16)), dense])

    def next_logits(token_ids, state, index):
        scope = stateless_scope.get_stateless_scope()
        assert scope is not None and scope.get_current_value(dense.kernel) is not None
        return model(x), state

    step = tf.function(lambda: with_matrix_kernels(model, next_logits)(None, (), 0)[0],
                       jit_compile=True)
    np.testing.assert_allclose(step().numpy(), model(x).numpy(), rtol=1e-5, atol=1e-6)
