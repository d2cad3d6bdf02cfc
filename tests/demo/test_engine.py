"""chatgpt_demo.engine without the trained models: a fake generator and a tiny SavedModel."""

import base64
import types

import numpy as np
import pytest
import tensorflow as tf

from chatgpt_demo import engine


class FakeGenerator:
    """`prefill`/`decode_step` that write a fixed text, one character per step."""

    def __init__(self, text, context=64):
        self.vocabulary = sorted(set(text))
        self.text = text
        self.context = context
        self.calls = []

    def prefill(self, prompt, max_new_tokens):
        self.calls.append(("prefill", prompt.numpy()[0].decode(), int(max_new_tokens)))
        length = len(prompt.numpy()[0])
        return {"cache": tf.zeros([1]), "token_ids": tf.zeros([1, 1], tf.int32),
                "index": tf.constant(length - 1)}

    def decode_step(self, cache, token_ids, index, temperature, top_k, top_p, seed):
        self.calls.append(("decode_step", float(temperature), int(top_k), float(top_p), int(seed)))
        step = int(cache.shape[0]) - 1  # the cache counts the steps
        token = self.vocabulary.index(self.text[step % len(self.text)])
        return {"cache": tf.zeros([cache.shape[0] + 1]), "token_ids": tf.constant([[token]]),
                "index": index + 1, "top_tokens": tf.constant([[self.text[step % len(self.text)]]]),
                "top_probabilities": tf.constant([[0.5]])}


# What the `settings` signature of an exported model returns.
SETTINGS = {"max_new_tokens": 100, "temperature": 0.8, "top_k": 40, "top_p": 1.0, "seed": 0}


def fake_model(text, defaults=None, chat=None, context=64):
    fake = FakeGenerator(text, context)
    loaded = types.SimpleNamespace(signatures={"prefill": fake.prefill,
                                               "decode_step": fake.decode_step})
    settings = {"defaults": {**SETTINGS, **(defaults or {})}, "chat": chat}
    model = engine.ServedModel("fake", 1, None, loaded, settings)
    model.token_texts = fake.vocabulary
    return model, fake


@pytest.fixture
def _context_64(monkeypatch):
    """The fakes' context: a real model reads it from `decode_step`'s cache shape."""
    monkeypatch.setattr(engine.ServedModel, "context", property(lambda self: 64))


@pytest.mark.usefixtures("_context_64")
def test_stream_stops_at_the_stop_string_and_drops_it():
    model, _ = fake_model("Ay, my lord.\n\nHORATIO:")
    stream = engine.Stream(model, "prompt", max_new_tokens=50, stop="\n\n").run()
    assert stream.reason == "stop"
    assert stream.text == "Ay, my lord.\n\n"
    assert stream.reply == "Ay, my lord."
    assert [s.text for s in stream.steps] == list("Ay, my lord.\n\n")


@pytest.mark.usefixtures("_context_64")
def test_stream_stops_after_max_new_tokens():
    model, _ = fake_model("abc")
    stream = engine.Stream(model, "p", max_new_tokens=5, stop="\n\n").run()
    assert (stream.reason, stream.text) == ("length", "abcab")


@pytest.mark.usefixtures("_context_64")
def test_stream_stops_when_the_context_is_full():
    model, _ = fake_model("abc")
    # A 60-character prompt: prefill's index is 59, and the context (64) ends at index 63.
    stream = engine.Stream(model, "x" * 60, max_new_tokens=50).run()
    assert stream.reason == "context"
    assert len(stream.steps) == 4


@pytest.mark.usefixtures("_context_64")
def test_stream_takes_settings_from_the_request_then_the_model_defaults():
    defaults = {"max_new_tokens": 3, "temperature": 0.5, "top_k": 7, "top_p": 0.9, "seed": 11}
    model, fake = fake_model("abc", defaults)
    engine.Stream(model, "p", top_k=2).run()
    assert fake.calls[0] == ("prefill", "p", 3)
    assert fake.calls[1:] == [("decode_step", 0.5, 2, pytest.approx(0.9), 11)] * 3


def test_chat_prompt_keeps_the_latest_turns_that_fit(monkeypatch):
    monkeypatch.setattr(engine.ServedModel, "context", property(lambda self: 128))
    chat = {"persona": "HAMLET", "user_speaker": "HORATIO", "stop": "\n\n"}
    model, _ = fake_model("abc", chat=chat)
    assert engine.chat_prompt(model, "Hail!") == "HORATIO:\nHail!\n\nHAMLET:\n"
    history = [("user", "one"), ("assistant", "two"), ("user", "three"), ("assistant", "four")]
    # Half the context (64 characters) for the prompt: it holds the last two turns.
    prompt = engine.chat_prompt(model, "Hail!", history, speaker="OPHELIA")
    assert prompt == "OPHELIA:\nthree\n\nHAMLET:\nfour\n\nOPHELIA:\nHail!\n\nHAMLET:\n"


@pytest.mark.usefixtures("_context_64")
def test_chat_prompt_needs_a_chat_model():
    model, _ = fake_model("abc")
    with pytest.raises(engine.RequestError, match="has no chat format"):
        engine.chat_prompt(model, "Hail!")


# -- TensorFlow Serving's format, on a small real SavedModel ---------------------------


class Tiny(tf.Module):
    @tf.function(input_signature=[tf.TensorSpec([None], tf.string), tf.TensorSpec([], tf.int32)])
    def repeat(self, text, times):
        return {"text": tf.strings.reduce_join(tf.repeat(text[:, None], times, axis=1), axis=1),
                "length": tf.strings.length(text) * times}

    @tf.function(input_signature=[tf.TensorSpec([None, 2], tf.float32)])
    def double(self, x):
        return {"y": 2.0 * x}

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string)])
    def raw(self, text):
        return {"raw_bytes": text}


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    path = tmp_path_factory.mktemp("tiny") / "tiny" / "1"
    module = Tiny()
    tf.saved_model.save(module, str(path), signatures={
        "serving_default": module.double, "repeat": module.repeat, "raw": module.raw})
    loaded = tf.saved_model.load(str(path))
    return engine.ServedModel("tiny", 1, path, loaded, {"defaults": {"times": 2}})


def test_predict_row_format_gives_one_prediction_per_instance(tiny):
    _, response = engine.predict_request(tiny, {"instances": [[1.0, 2.0], [3, 4]]})
    assert response == {"predictions": [[2.0, 4.0], [6.0, 8.0]]}


def test_predict_columnar_format_and_a_left_out_scalar_input(tiny):
    body = {"signature_name": "repeat", "inputs": {"text": ["ab", "c"]}}
    _, response = engine.predict_request(tiny, body)
    assert response == {"outputs": {"text": ["abab", "cc"], "length": [4, 2]}}
    body = {"signature_name": "repeat", "instances": [{"text": "ab", "times": 3}, {"text": "c"}]}
    _, response = engine.predict_request(tiny, body)
    assert response == {"predictions": [{"text": "ababab", "length": 6},
                                        {"text": "ccc", "length": 3}]}


def test_predict_reads_and_writes_base64(tiny):
    encoded = base64.b64encode(b"\xff\x00").decode()
    body = {"signature_name": "raw", "inputs": [{"b64": encoded}, "ok"]}
    _, response = engine.predict_request(tiny, body)
    # Outputs named *_bytes are always base64, as in TensorFlow Serving.
    assert response == {"outputs": [{"b64": encoded}, {"b64": base64.b64encode(b"ok").decode()}]}


@pytest.mark.parametrize("body, message", [
    ([1], "must be a JSON object"),
    ({"instances": [[1.0, 2.0]], "inputs": [[1.0, 2.0]]}, "exactly one of"),
    ({"signature_name": "nope", "inputs": [[1.0, 2.0]]}, "not found in signature def"),
    ({"inputs": [[1.0, 2.0, 3.0]]}, r"shape \[1, 3\] does not fit"),
    ({"inputs": [[1.0], [2.0, 3.0]]}, "ragged"),
    ({"inputs": [["a", "b"]]}, "expected a number"),
    ({"inputs": [[True, 1.0]]}, "expected a number"),
    ({"signature_name": "repeat", "inputs": {"text": ["a"], "times": 1.5}}, "expected an integer"),
    ({"signature_name": "repeat", "inputs": {"text": [1]}}, "expected a string"),
    ({"signature_name": "repeat", "inputs": {"times": 1}}, "Missing input 'text'"),
    ({"signature_name": "repeat", "inputs": {"text": ["a"], "x": 1}}, "Unknown input 'x'"),
    ({"signature_name": "repeat", "instances": [{"text": "a", "times": 1},
                                                {"text": "b", "times": 2}]}, "same value"),
    ({"signature_name": "repeat", "instances": [{"text": "a"}, "b"]}, "all objects"),
    ({"instances": []}, "non-empty list"),
])
def test_predict_rejects_bad_requests_with_a_message(tiny, body, message):
    with pytest.raises(engine.RequestError, match=message):
        engine.predict_request(tiny, body)


def test_metadata_lists_signatures_in_tf_serving_layout(tiny):
    signatures = engine.metadata(tiny)["metadata"]["signature_def"]["signature_def"]
    assert sorted(signatures) == ["raw", "repeat", "serving_default"]
    text = signatures["repeat"]["inputs"]["text"]
    assert text["dtype"] == "DT_STRING"
    assert text["tensor_shape"]["dim"] == [{"size": "-1", "name": ""}]
    assert np.array(engine.status(tiny)["model_version_status"][0]["state"]) == "AVAILABLE"
