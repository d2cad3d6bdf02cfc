"""Cached GPT generation: equal to recomputation, reproducible, safe on bad input."""

import dataclasses

import numpy as np
import pytest

from keras_attn.generation import GPTGenerator
from keras_attn.models import GPTConfig
from keras_attn.models import build_gpt
from tests.helpers import sharpen

CONFIG = GPTConfig.preset("baby", vocabulary_size=40, max_sequence_length=32, num_layers=2)
PROMPTS = [[5, 6, 7], [8], [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]]


def sharp_gpt(config=CONFIG, seed=0):
    """A GPT with large random weights: its logits have clear winners, so
    float round-off can't flip a greedy choice."""
    return sharpen(build_gpt(config), seed)


@pytest.mark.parametrize(
    "overrides",
    [
        {},
        {"tie_embeddings": False, "normalize_first": False},
        {"num_key_value_heads": 2, "activation": "swiglu"},
    ],
    ids=["tied-prenorm", "untied-postnorm", "gqa-swiglu"],
)
def test_cached_greedy_equals_recomputation(overrides):
    generator = GPTGenerator(sharp_gpt(dataclasses.replace(CONFIG, **overrides)))
    cached = generator.generate(PROMPTS, max_new_tokens=12)
    assert cached == generator.generate_by_recomputation(PROMPTS, 12)
    assert [len(ids) for ids in cached] == [12, 12, 12]


def test_xla_and_graph_loops_give_the_same_tokens():
    model = sharp_gpt()
    settings = dict(max_new_tokens=10, temperature=0.9, top_k=10, top_p=0.9, seed=3)
    assert (GPTGenerator(model).generate(PROMPTS, **settings)
            == GPTGenerator(model, jit_compile=False).generate(PROMPTS, **settings))


def test_seed_makes_sampling_reproducible():
    generator = GPTGenerator(sharp_gpt())
    runs = [generator.generate(PROMPTS, 15, temperature=1.5, seed=s) for s in (1, 1, 2)]
    assert runs[0] == runs[1]
    assert runs[0] != runs[2]


def test_a_row_does_not_depend_on_its_batch_for_greedy():
    generator = GPTGenerator(sharp_gpt())
    together = generator.generate(PROMPTS, 8)
    alone = [generator.generate([prompt], 8)[0] for prompt in PROMPTS]
    assert together == alone


def test_stop_tokens_end_each_row():
    generator = GPTGenerator(sharp_gpt())
    free = generator.generate(PROMPTS, 12)
    stop = free[0][3]
    stopped = generator.generate(PROMPTS, 12, stop_token_ids=[stop])
    for full, cut in zip(free, stopped):
        end = full.index(stop) + 1 if stop in full else len(full)
        assert cut == full[:end]


def test_long_prompts_are_left_truncated_to_fit_the_context():
    generator = GPTGenerator(sharp_gpt())
    long_prompt = list(np.random.default_rng(1).integers(0, 40, size=100))
    got = generator.generate([long_prompt], max_new_tokens=10)
    assert got == generator.generate([long_prompt[-(32 - 10):]], max_new_tokens=10)
    assert len(got[0]) == 10


def test_max_new_tokens_zero_and_beyond_the_context():
    generator = GPTGenerator(sharp_gpt())
    assert generator.generate(PROMPTS, 0) == [[], [], []]
    assert [len(ids) for ids in generator.generate(PROMPTS, 500)] == [31, 31, 31]


def test_one_beam_is_greedy_and_more_beams_score_at_least_as_well_here():
    model = sharp_gpt()
    generator = GPTGenerator(model)
    assert generator.beam_search(PROMPTS, 6, num_beams=1) == generator.generate(PROMPTS, 6)

    def log_probability(prompt, new):
        ids = np.array([prompt + new])
        logits = np.asarray(model(ids), "float64")[0]
        log_probs = logits - np.log(np.exp(logits - logits.max(-1, keepdims=True)).sum(-1, keepdims=True)) - logits.max(-1, keepdims=True)
        return sum(log_probs[len(prompt) - 1 + i, t] for i, t in enumerate(new))

    beams = generator.beam_search(PROMPTS, 6, num_beams=8, length_penalty=0.0)
    greedy = generator.generate(PROMPTS, 6)
    for prompt, beam, first in zip(PROMPTS, beams, greedy):
        assert len(beam) == 6
        assert log_probability(prompt, beam) >= log_probability(prompt, first) - 1e-4


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda g: g.generate([[]], 3), r"Every prompt needs at least one token. Received: prompts\[0\]=\[\]"),
        (lambda g: g.generate([[1, 40]], 3), r"Token ids must be in \[0, 39\]. Received: prompts\[0\]=\[1, 40\]"),
        (lambda g: g.generate([1, 2], 3), r"`prompts` must be a list of prompts"),
        (lambda g: g.generate([[1]], -1), r"`max_new_tokens` must be an integer >= 0. Received: max_new_tokens=-1"),
        (lambda g: g.generate([[1]], 3, temperature=-1.0), r"`temperature` must be a number >= 0. Received: temperature=-1.0"),
        (lambda g: g.generate([[1]], 3, temperature=1.0, top_p=0.0), r"`top_p` must be a number in \(0, 1\]. Received: top_p=0.0"),
        (lambda g: g.beam_search([[1]], 3, num_beams=0), r"`num_beams` must be a positive integer. Received: num_beams=0"),
    ],
)
def test_bad_arguments_are_named(call, message):
    with pytest.raises(ValueError, match=message):
        call(GPTGenerator(build_gpt(CONFIG)))


def test_not_a_gpt_is_rejected():
    import keras

    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)], name="mlp")
    with pytest.raises(ValueError, match=r"`model` must map token ids \(B, T\) to logits "
                                         r"\(B, T, V\). Received: model='mlp' with inputs "
                                         r"\[\(\(None, 3\), 'float32'\)\] and outputs \[\(None, 2\)\]"):
        GPTGenerator(model)


def test_a_reloaded_keras_model_generates_the_same(tmp_path):
    import keras

    model = sharp_gpt()
    model.save(tmp_path / "gpt.keras")
    reloaded = keras.saving.load_model(tmp_path / "gpt.keras")
    assert GPTGenerator(reloaded).generate(PROMPTS, 8) == GPTGenerator(model).generate(PROMPTS, 8)


def test_each_call_reads_the_current_weights():
    """The loop reads the kernels (as matrices, `with_matrix_kernels`) on every
    call: weights changed after the first call are used by the next."""
    model = sharp_gpt()
    generator = GPTGenerator(model)
    before = generator.generate(PROMPTS, 8)
    sharpen(model, seed=1)
    after = generator.generate(PROMPTS, 8)
    assert after != before
    assert after == generator.generate_by_recomputation(PROMPTS, 8)
