"""The exported GPT: same tokens as in-process, served by TensorFlow alone, safe on bad input."""


import numpy as np
import pytest
import tensorflow as tf

from keras_attn.export import export_generator
from keras_attn.generation import GPTGenerator
from keras_attn.models import GPTConfig
from keras_attn.models import build_gpt
from keras_attn.text import ByteTokenizer
from keras_attn.text import CharacterTokenizer
from tests.helpers import sharpen

TEXT = "ROMEO:\nBut soft, what light through yonder window breaks?\nJULIET:\nAy me!\n"
CONTEXT = 32


def sharp_gpt(vocabulary_size, seed=0):
    """Large random weights: clear argmax winners, so greedy runs can be compared."""
    config = GPTConfig.preset(
        "baby", vocabulary_size=vocabulary_size, max_sequence_length=CONTEXT, num_layers=2
    )
    return sharpen(build_gpt(config), seed)


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """A character-level GPT, its tokenizer, and the reloaded SavedModel."""
    tokenizer = CharacterTokenizer.from_texts(TEXT)
    model = sharp_gpt(tokenizer.vocabulary_size())
    path = export_generator(model, tokenizer, tmp_path_factory.mktemp("gpt") / "saved",
                            max_new_tokens=7, temperature=0.0)
    return model, tokenizer, path, tf.saved_model.load(str(path))


def generate(served, prompts, max_new_tokens=10, temperature=0.0, top_k=0, top_p=1.0, seed=0):
    return served.signatures["generate"](
        prompt=tf.constant(prompts), max_new_tokens=tf.constant(max_new_tokens),
        temperature=tf.constant(float(temperature)), top_k=tf.constant(top_k),
        top_p=tf.constant(float(top_p)), seed=tf.constant(seed),
    )


def texts(tensor):
    return [t.decode("utf-8") for t in tensor.numpy()]


PROMPTS = ["ROMEO:\n", "JULIET:\nAy", "But soft, what light"]


def test_reloaded_greedy_output_equals_in_process_greedy(exported):
    model, tokenizer, _, served = exported
    out = generate(served, PROMPTS, max_new_tokens=10)
    expected = GPTGenerator(model).generate(
        [list(tokenizer.tokenize(p).numpy()) for p in PROMPTS], 10
    )
    assert out["token_ids"].numpy().tolist() == expected
    assert out["num_tokens"].numpy().tolist() == [10, 10, 10]
    assert texts(out["text"]) == [tokenizer.detokenize(ids) for ids in expected]


def test_sampling_is_reproducible_through_the_signature(exported):
    _, _, _, served = exported
    first = generate(served, PROMPTS, 12, temperature=1.0, top_k=5, top_p=0.9, seed=3)
    again = generate(served, PROMPTS, 12, temperature=1.0, top_k=5, top_p=0.9, seed=3)
    other = generate(served, PROMPTS, 12, temperature=1.0, top_k=5, top_p=0.9, seed=4)
    np.testing.assert_array_equal(first["token_ids"], again["token_ids"])
    assert (first["token_ids"].numpy() != other["token_ids"].numpy()).any()


def test_serving_default_uses_the_export_settings(exported):
    _, _, _, served = exported
    out = served.signatures["serving_default"](prompt=tf.constant(PROMPTS))
    np.testing.assert_array_equal(out["token_ids"], generate(served, PROMPTS, 7)["token_ids"])


def test_logits_signature_equals_the_model(exported):
    model, _, _, served = exported
    ids = np.array([[5, 6, 7, 8], [9, 10, 11, 12]], "int32")
    np.testing.assert_allclose(
        served.signatures["logits"](token_ids=tf.constant(ids))["logits"], model(ids), atol=1e-5
    )


@pytest.mark.parametrize("bad_id", [-1, "vocabulary_size"])
def test_ids_outside_the_vocabulary_are_refused_by_name(exported, bad_id):
    _, tokenizer, _, served = exported
    bad_id = tokenizer.vocabulary_size() if bad_id == "vocabulary_size" else bad_id
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"`token_ids` must be in \[0, "
                                                              rf"{tokenizer.vocabulary_size() - 1}\]"):
        served.signatures["logits"](token_ids=tf.constant([[5, bad_id]]))


def test_settings_signature_returns_the_serving_defaults(exported):
    _, _, _, served = exported
    settings = {k: v.numpy().item() for k, v in served.signatures["settings"]().items()}
    assert settings == {"max_new_tokens": 7, "temperature": 0.0, "top_k": 40, "top_p": 1.0,
                        "seed": 0, "context_length": CONTEXT}


def test_streaming_prefill_and_decode_steps_equal_generate(exported):
    _, _, _, served = exported
    prompt = "JULIET:\nAy"
    state = served.signatures["prefill"](prompt=tf.constant([prompt]), max_new_tokens=tf.constant(8))
    cache, token_ids, index = state["cache"], state["token_ids"], state["index"]
    streamed = []
    for _ in range(8):
        step = served.signatures["decode_step"](
            cache=cache, token_ids=token_ids, index=index, temperature=tf.constant(0.0),
            top_k=tf.constant(0), top_p=tf.constant(1.0), seed=tf.constant(0),
        )
        cache, token_ids, index = step["cache"], step["token_ids"], step["index"]
        probabilities = step["top_probabilities"].numpy()[0]
        assert step["top_token_ids"].numpy()[0, 0] == token_ids.numpy()[0, 0]  # greedy = top 1
        assert (np.diff(probabilities) <= 0).all() and probabilities.sum() <= 1 + 1e-5
        streamed.append(int(token_ids.numpy()[0, 0]))
    assert streamed == generate(served, [prompt], 8)["token_ids"].numpy()[0].tolist()
    assert step["top_tokens"].dtype == tf.string


def test_empty_prompt_starts_from_a_newline(exported):
    _, _, _, served = exported
    empty, newline = generate(served, ["", "ROMEO:"]), generate(served, ["\n", "ROMEO:"])
    np.testing.assert_array_equal(empty["token_ids"], newline["token_ids"])


def test_unknown_characters_and_invalid_utf8_become_unk(exported):
    """Each byte that is not UTF-8 is one replacement character, which is [UNK], as is
    a character outside the vocabulary; `tokenize` pads its rows with -1."""
    model, tokenizer, _, served = exported
    unk, r = tokenizer.unk_token_id, tokenizer.token_to_id("R")
    prompts = ["R\xe9Z", b"R\xff\xfe", b"R\xff"]
    ids = served.signatures["tokenize"](text=tf.constant(prompts))
    assert ids["token_ids"].numpy().tolist() == [[r, unk, unk], [r, unk, unk], [r, unk, -1]]
    assert ids["num_tokens"].numpy().tolist() == [3, 3, 2]
    out = generate(served, prompts)
    expected = GPTGenerator(model).generate([[r, unk, unk], [r, unk, unk], [r, unk]], 10)
    assert out["token_ids"].numpy().tolist() == expected
    assert texts(out["text"]) == [tokenizer.detokenize(row) for row in expected]


def test_long_prompts_are_left_truncated(exported):
    _, _, _, served = exported
    long_prompt = (TEXT * 3)[:100]
    out = generate(served, [long_prompt], max_new_tokens=10)
    kept = generate(served, [long_prompt[-(CONTEXT - 10):]], max_new_tokens=10)
    np.testing.assert_array_equal(out["token_ids"], kept["token_ids"])


@pytest.mark.parametrize("max_new_tokens, width", [(0, 0), (-3, 0), (10_000, CONTEXT - 1)])
def test_max_new_tokens_out_of_range(exported, max_new_tokens, width):
    _, _, _, served = exported
    out = generate(served, ["ROMEO:"], max_new_tokens=max_new_tokens)
    assert out["token_ids"].shape == (1, width)
    if width == 0:
        assert texts(out["text"]) == [""]


def test_top_k_zero_or_negative_is_no_limit(exported):
    _, _, _, served = exported
    unlimited = generate(served, PROMPTS, temperature=1.0, top_k=10_000, seed=5)["token_ids"]
    for top_k in (0, -4):
        np.testing.assert_array_equal(
            generate(served, PROMPTS, temperature=1.0, top_k=top_k, seed=5)["token_ids"], unlimited
        )


@pytest.mark.parametrize(
    "settings, message",
    [
        (dict(top_p=0.0), r"`top_p` must be in \(0, 1\]"),
        (dict(top_p=1.5), r"`top_p` must be in \(0, 1\]"),
        (dict(temperature=float("nan")), r"`temperature` must be a finite number >= 0 \(0: greedy\)"),
        (dict(temperature=-1.0), r"`temperature` must be a finite number >= 0 \(0: greedy\)"),
    ],
)
def test_bad_settings_fail_with_a_named_error(exported, settings, message):
    _, _, _, served = exported
    with pytest.raises(tf.errors.InvalidArgumentError, match=message):
        generate(served, PROMPTS, **settings)


def test_byte_level_export_handles_any_bytes(tmp_path):
    model = sharp_gpt(256)
    served = tf.saved_model.load(str(export_generator(model, ByteTokenizer(), tmp_path / "b")))
    out = generate(served, ["ROMEO: Ô—", b"\xff\xfe\x00", ""], max_new_tokens=6)
    # Every byte is a token, and the empty prompt starts from "\n".
    expected = GPTGenerator(model).generate(
        [list("ROMEO: Ô—".encode()), [0xFF, 0xFE, 0x00], [ord("\n")]], 6
    )
    assert out["token_ids"].numpy().tolist() == expected
    # The text is valid UTF-8 even where the bytes are not (stray bytes become U+FFFD).
    assert texts(out["text"]) == [ByteTokenizer().detokenize(row) for row in expected]


# Loading in a fresh process with TensorFlow alone, and saved_model_cli's show and run,
# are asserted by tutorials/09_export_and_serving.md, which the notebook tests run.
