"""The demo server serves a keras-hub model exported by keras_attn, byte-pair tokens and all."""

import numpy as np
import pytest
import tensorflow as tf
from fastapi.testclient import TestClient

from chatgpt_demo import engine
from chatgpt_demo import server
from keras_attn.export import export_generator
from keras_attn.models import from_keras_hub
from tests.export.test_export_keras_hub import byte_pair_tokenizer
from tests.export.test_export_keras_hub import gpt2_backbone


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """A tiny GPT-2 with its byte-pair tokenizer, exported as `keras-attn export` does
    (a bare SavedModel folder), and the registry that loads it."""
    tokenizer = byte_pair_tokenizer()
    model = from_keras_hub(gpt2_backbone(tokenizer.vocabulary_size()))
    path = tmp_path_factory.mktemp("hub") / "tiny_gpt2"
    export_generator(model, tokenizer, path, max_new_tokens=12, temperature=0.0)
    return engine.ModelRegistry.load(path)


def test_a_bare_savedmodel_folder_is_served_under_its_name(served):
    model = served.get("tiny_gpt2")
    assert model.kind == "generator" and model.version == 1
    assert model.defaults["max_new_tokens"] == 12


def test_a_stream_of_byte_pair_tokens_gives_the_generated_text(served):
    """Per-token texts would break characters that two tokens share ("é" is two bytes);
    the stream decodes its tokens together, as `generate` does."""
    model = served.get("tiny_gpt2")
    for prompt in ("Café au", "The quick", "déjà"):
        stream = engine.Stream(model, prompt, max_new_tokens=12, temperature=0.0).run()
        expected = model.signatures["generate"](
            prompt=tf.constant([prompt]), max_new_tokens=tf.constant(12),
            temperature=tf.constant(0.0), top_k=tf.constant(0), top_p=tf.constant(1.0),
            seed=tf.constant(0))["text"].numpy()[0].decode()
        assert stream.text == expected == "".join(step.text for step in stream.steps)
        # The candidates show each token's text, a space as "␣".
        candidates = [text for step in stream.steps for text, _ in step.candidates]
        assert all(text for text in candidates) and any("␣" in text for text in candidates)


def test_the_tf_serving_route_serves_it(served):
    client = TestClient(server.create_app(served))
    response = client.post("/v1/models/tiny_gpt2:predict", json={
        "signature_name": "generate", "inputs": {"prompt": ["The quick"], "max_new_tokens": 5}})
    assert response.status_code == 200, response.text
    outputs = response.json()["outputs"]
    assert np.asarray(outputs["token_ids"]).shape == (1, 5) and isinstance(outputs["text"][0], str)
    completion = client.post("/api/complete", json={"prompt": "The quick", "max_new_tokens": 5,
                                                    "temperature": 0.0}).json()
    assert completion["reply"] == outputs["text"][0].strip("\n")
