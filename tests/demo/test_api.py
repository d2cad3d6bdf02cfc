"""The server's routes on the committed SavedModels: chat, translation, TensorFlow Serving.

The models are loaded once per session (`conftest.py`). Every `generate`
call here has a one-prompt batch and a prompt of 17 to 32 tokens, so XLA
compiles that signature once.
"""

import base64
import json
import types

import pytest
import tensorflow as tf
from fastapi.testclient import TestClient

from chatgpt_demo import engine
from chatgpt_demo import server

PROMPT = "ROMEO:\nGood morrow!\n\n"  # 21 characters: generate's 32-token bucket
MESSAGE = "Who's there?"


def events(response):
    """The (name, data) server-sent events of a response."""
    parsed = []
    for block in response.text.split("\n\n"):
        if block.strip():
            lines = dict(line.split(": ", 1) for line in block.split("\n"))
            parsed.append((lines["event"], json.loads(lines["data"])))
    return parsed


def generate(registry, name, prompt, max_new_tokens, temperature=0.0, top_k=40, top_p=1.0,
             seed=0):
    """The text of the SavedModel's own `generate` signature, for one prompt."""
    out = registry.get(name).signatures["generate"](
        prompt=tf.constant([prompt]), max_new_tokens=tf.constant(max_new_tokens),
        temperature=tf.constant(float(temperature)), top_k=tf.constant(int(top_k)),
        top_p=tf.constant(float(top_p)), seed=tf.constant(int(seed)))
    return out["text"].numpy()[0].decode()


class RecordingSignature:
    """A signature that keeps the scalar inputs of each call (`calls`), then runs it."""

    def __init__(self, signature):
        self.signature = signature
        self.calls = []

    def __getattr__(self, name):  # structured_input_signature, ...
        return getattr(self.signature, name)

    def __call__(self, **inputs):
        self.calls.append({k: v.numpy().item() for k, v in inputs.items() if v.shape.rank == 0})
        return self.signature(**inputs)


# -- the page ----------------------------------------------------------------------


def test_page_and_its_files_come_from_this_server(client):
    page = client.get("/")
    assert page.status_code == 200
    assert "default-src 'self'" in page.headers["content-security-policy"]
    for path in ("/static/app.js", "/static/style.css"):
        assert client.get(path).status_code == 200
    for text in [page.text] + [client.get(f"/static/{f}").text for f in ("app.js", "style.css")]:
        assert "http://" not in text and "https://" not in text  # nothing from a CDN


def test_no_cors_headers_unless_an_origin_is_allowed(client, registry):
    headers = {"Origin": "http://example.com"}
    assert "access-control-allow-origin" not in client.get("/api/models", headers=headers).headers
    allowed = TestClient(server.create_app(registry, cors_origins=["http://example.com"]))
    response = allowed.get("/api/models", headers=headers)
    assert response.headers["access-control-allow-origin"] == "http://example.com"


def test_models_lists_the_saved_models(client):
    body = client.get("/api/models").json()
    models = {m["name"]: m for m in body["models"]}
    assert set(models) == {"numbers_en_fr", "shakespeare_gpt", "shakespeare_gpt_base"}
    assert models["shakespeare_gpt"]["chat"] == {"persona": "HAMLET", "user_speaker": "HORATIO",
                                                 "stop": "\n\n"}
    assert models["shakespeare_gpt"]["context"] == 256
    assert models["numbers_en_fr"]["kind"] == "translator"
    assert body["limits"]["max_new_tokens"] == 300


# -- chat ----------------------------------------------------------------------------


def test_greedy_chat_equals_the_generate_signature(client, registry):
    """The prefill/decode_step loop writes what generate's compiled loop writes."""
    response = client.post("/api/chat", json={"message": MESSAGE, "max_new_tokens": 24,
                                              "temperature": 0.0})
    assert response.status_code == 200
    body = response.json()
    prompt = engine.chat_prompt(registry.get("shakespeare_gpt"), MESSAGE)
    expected = generate(registry, "shakespeare_gpt", prompt, 24)
    assert body["reply"] == expected.split("\n\n")[0].strip("\n")
    assert body["finish_reason"] in ("stop", "length")
    assert 0 < body["num_tokens"] <= 24


def test_chat_candidates_are_the_sampling_distribution(client):
    """With top_k=1 every step has one candidate, of probability 1, and greedy's reply."""
    request = {"message": MESSAGE, "max_new_tokens": 12, "candidates": True}
    top1 = client.post("/api/chat", json={**request, "top_k": 1, "temperature": 1.0}).json()
    greedy = client.post("/api/chat", json={**request, "temperature": 0.0}).json()
    assert top1["reply"] == greedy["reply"]
    for step in top1["tokens"]:
        assert step["candidates"][0] == {"text": step["text"], "p": 1.0}
        assert all(c["p"] == 0.0 for c in step["candidates"][1:])
    for step in greedy["tokens"]:  # the plain softmax: 10 candidates, likeliest first
        probabilities = [c["p"] for c in step["candidates"]]
        assert len(probabilities) == 10 and probabilities == sorted(probabilities, reverse=True)
        assert step["text"] == step["candidates"][0]["text"]
        assert sum(probabilities) <= 1.0001


def test_chat_stream_sends_every_token_then_the_reply(client):
    response = client.post("/api/chat", json={
        "message": MESSAGE, "max_new_tokens": 40, "temperature": 0.8, "seed": 3, "stream": True,
        "history": [{"role": "user", "content": "Hail!"}, {"role": "assistant", "content": "Ay."}],
        "speaker": "ophelia"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    names = [name for name, _ in events(response)]
    assert names[0] == "start" and names[-1] == "done"
    assert set(names[1:-1]) == {"token"}
    start, *tokens, (_, done) = events(response)
    assert start[1]["prompt"] == ("OPHELIA:\nHail!\n\nHAMLET:\nAy.\n\n"
                                  f"OPHELIA:\n{MESSAGE}\n\nHAMLET:\n")
    text = "".join(data["text"] for _, data in tokens)
    assert done["num_tokens"] == len(tokens) <= 40
    if done["finish_reason"] == "stop":
        assert text.endswith("\n\n") and done["reply"] == text[:-2].strip("\n")
    else:
        assert done["reply"] == text.strip("\n")
    # The same seed gives the same reply without streaming.
    again = client.post("/api/chat", json={
        "message": MESSAGE, "max_new_tokens": 40, "temperature": 0.8, "seed": 3,
        "history": [{"role": "user", "content": "Hail!"}, {"role": "assistant", "content": "Ay."}],
        "speaker": "OPHELIA"}).json()
    assert again["reply"] == done["reply"]


def test_complete_continues_a_prompt_with_the_base_model(client, registry):
    """The reply is what `generate` writes with the model's defaults and the request's seed."""
    body = client.post("/api/complete", json={"model": "shakespeare_gpt_base", "prompt": PROMPT,
                                              "max_new_tokens": 15, "seed": 1}).json()
    assert body["model"] == "shakespeare_gpt_base"
    assert (body["num_tokens"], body["finish_reason"]) == (15, "length")
    defaults = registry.get("shakespeare_gpt_base").defaults
    settings = {name: defaults[name] for name in ("temperature", "top_k", "top_p")}
    expected = generate(registry, "shakespeare_gpt_base", PROMPT, 15, **settings, seed=1)
    assert body["reply"] == expected.strip("\n")


# -- translation ------------------------------------------------------------------------


def test_translate_one_text_and_a_batch(client):
    one = client.post("/api/translate", json={"text": "Seventy One"}).json()
    assert one == {"model": "numbers_en_fr", "translation": "soixante et onze", "error": ""}
    batch = client.post("/api/translate", json={"texts": ["two hundred one", "one million"]}).json()
    assert batch["translations"] == ["deux cent un", ""]
    assert batch["errors"] == [
        "", 'Not an English number from 0 to 999,999: unknown word "million".']


def test_a_long_or_empty_chat_message_gets_a_reply_in_the_format(client):
    for message in ("", "x" * 5000):
        body = client.post("/api/chat", json={"message": message, "max_new_tokens": 40}).json()
        assert body["prompt"].endswith("\n\nHAMLET:\n") and len(body["prompt"]) <= 128
        assert "reply" in body


# -- TensorFlow Serving's REST API --------------------------------------------------------


def test_tf_serving_row_format(client):
    encoded = base64.b64encode(b"two hundred and one").decode()
    response = client.post("/v1/models/numbers_en_fr:predict",
                           json={"instances": ["seventy-one", {"b64": encoded}]})
    assert response.status_code == 200
    predictions = response.json()["predictions"]
    assert [p["translation"] for p in predictions] == ["soixante et onze", "deux cent un"]
    assert all(len(p["token_ids"]) == len(predictions[0]["token_ids"]) for p in predictions)


def test_tf_serving_columnar_format(client):
    for inputs in (["seventy-one"], {"text": ["seventy-one"]}):
        response = client.post("/v1/models/numbers_en_fr:predict",
                               json={"signature_name": "translate", "inputs": inputs})
        assert response.json()["outputs"]["translation"] == ["soixante et onze"]


def test_tf_serving_left_out_inputs_take_the_defaults(client, registry, monkeypatch):
    """Left-out scalar inputs get the model's own defaults (its `settings` signature, or
    demo.json for an older export), in both formats. The defaults sample, so the text
    depends on them, and it must be what `generate` writes with them."""
    model = registry.get("shakespeare_gpt")
    defaults = model.defaults
    left_out = {name: defaults[name] for name in ("temperature", "top_k", "top_p", "seed")}
    recording = RecordingSignature(model.signatures["generate"])
    monkeypatch.setattr(model, "loaded", types.SimpleNamespace(
        signatures={**model.signatures, "generate": recording}))
    url = "/v1/models/shakespeare_gpt:predict"
    columns = client.post(url, json={"signature_name": "generate", "inputs": {
        "prompt": [PROMPT], "max_new_tokens": 10}}).json()
    rows = client.post(url, json={"signature_name": "generate", "instances": [
        {"prompt": PROMPT, "max_new_tokens": 10}]}).json()
    # What the signature received (as float32): a wrong default fails here whatever the text.
    assert recording.calls == [pytest.approx({"max_new_tokens": 10, **left_out})] * 2
    expected = generate(registry, "shakespeare_gpt", PROMPT, 10, **left_out)
    assert columns["outputs"]["text"] == [expected]
    assert rows["predictions"][0]["text"] == expected
    # The defaults sample, so the text depends on them: another seed writes another.
    another_seed = {**left_out, "seed": left_out["seed"] + 1}
    assert generate(registry, "shakespeare_gpt", PROMPT, 10, **another_seed) != expected


def test_tf_serving_signatures_other_than_generate(client):
    url = "/v1/models/shakespeare_gpt_base:predict"
    tokens = client.post(url, json={"signature_name": "tokenize",
                                    "instances": [{"text": "ab"}, {"text": "abc"}]}).json()
    assert [p["num_tokens"] for p in tokens["predictions"]] == [2, 3]
    ids = tokens["predictions"][1]["token_ids"]
    text = client.post(url, json={"signature_name": "detokenize", "inputs": [ids]}).json()
    assert text == {"outputs": ["abc"]}


def test_tf_serving_status_metadata_and_versions(client):
    assert client.get("/v1/models/shakespeare_gpt").json()["model_version_status"][0] == {
        "version": "1", "state": "AVAILABLE", "status": {"error_code": "OK", "error_message": ""}}
    signatures = client.get("/v1/models/shakespeare_gpt/metadata").json()["metadata"][
        "signature_def"]["signature_def"]
    assert set(signatures) == {"generate", "serving_default", "logits", "tokenize", "detokenize",
                               "prefill", "decode_step", "settings"}
    assert signatures["generate"]["inputs"]["prompt"]["dtype"] == "DT_STRING"
    ok = client.post("/v1/models/numbers_en_fr/versions/1:predict", json={"inputs": ["eighty"]})
    assert ok.status_code == 200
    missing = client.post("/v1/models/numbers_en_fr/versions/2:predict", json={"inputs": ["x"]})
    assert missing.status_code == 404


# -- bad requests: a status and a message, never a stack trace -----------------------------

LONG = "x" * 10_001
BAD_REQUESTS = [
    # (method, url, json body or raw bytes, status, part of the message)
    ("post", "/api/chat", {"message": LONG}, 413, "the limit is 10000"),
    ("post", "/api/chat", {"message": "hi", "max_new_tokens": 256}, 413, "from 1 to 255"),
    ("post", "/api/chat", {"message": "hi", "max_new_tokens": 0}, 422, "from 1 to 255"),
    ("post", "/api/chat", {"message": "hi", "history": [{"role": "user", "content": LONG}]},
     413, "history[0].content"),
    ("post", "/api/complete", {"prompt": LONG}, 413, "the limit is 10000"),
    ("post", "/api/translate", {"texts": ["one"] * 17}, 413, "1 to 16 texts"),
    ("post", "/v1/models/shakespeare_gpt:predict",
     {"signature_name": "generate", "inputs": {"prompt": ["hi"], "max_new_tokens": 1000}},
     413, "at most 255"),
    ("post", "/v1/models/shakespeare_gpt:predict", {"inputs": ["x" * 40001]}, 413, "limit"),
    ("post", "/api/chat", b'{"message": "hi",', 400, "not valid JSON"),
    ("post", "/api/chat", b"[1, 2]", 400, "must be a JSON object"),
    ("post", "/v1/models/numbers_en_fr:predict", b"{not json", 400, "not valid JSON"),
    ("post", "/api/chat", {"message": 5}, 422, "`message`: Input should be a valid string"),
    ("post", "/api/chat", {"message": "hi", "temperature": "hot"}, 422, "`temperature`"),
    ("post", "/api/chat", {"message": "hi", "top_k": 2.5}, 422, "`top_k`"),
    ("post", "/api/chat", {"message": "hi", "stream": "yes"}, 422, "`stream`"),
    ("post", "/api/chat", {"message": "hi", "history": [{"role": "king", "content": "x"}]},
     422, "history.0.role"),
    ("post", "/api/chat", {"message": "hi", "colour": "red"}, 422, "`colour`"),
    ("post", "/api/chat", {"message": "hi", "top_p": 0}, 422, "`top_p` must be in (0, 1]"),
    ("post", "/api/chat", {"message": "hi", "speaker": "<script>"}, 422, "`speaker`"),
    ("post", "/v1/models/numbers_en_fr:predict", {"inputs": [5]}, 400, "expected a string"),
    ("post", "/v1/models/shakespeare_gpt:predict",
     {"signature_name": "generate", "inputs": {"prompt": ["hi"], "max_new_tokens": 1.5}},
     400, "expected an integer"),
    ("post", "/v1/models/shakespeare_gpt:predict",
     {"signature_name": "generate", "inputs": {"prompt": ["hi"], "top_p": 1.5,
                                                "max_new_tokens": 1}},
     400, "`top_p` must be in (0, 1]"),
    ("post", "/v1/models/shakespeare_gpt:predict",
     {"signature_name": "generate", "inputs": {"max_new_tokens": 5}},
     400, "Missing input 'prompt'"),
    ("post", "/v1/models/shakespeare_gpt:predict", {"instances": "hi"}, 400, "non-empty list"),
    ("post", "/api/chat", {"message": "hi", "model": "nope"}, 404, "Unknown model 'nope'"),
    ("post", "/api/chat", {"message": "hi", "model": "numbers_en_fr"}, 400, "not a text generator"),
    ("post", "/api/chat", {"message": "hi", "model": "shakespeare_gpt_base"},
     400, "no chat format"),
    ("post", "/api/translate", {"text": "one", "model": "shakespeare_gpt"}, 404, "No translator"),
    ("post", "/v1/models/nope:predict", {"inputs": ["x"]}, 404, "Unknown model 'nope'"),
    ("get", "/v1/models/nope", None, 404, "Unknown model 'nope'"),
    ("post", "/v1/models/numbers_en_fr:predict", {"signature_name": "nope", "inputs": ["x"]},
     400, "'nope' not found in signature def"),
    ("get", "/no/such/page", None, 404, "Not Found"),
]


@pytest.mark.parametrize("method, url, body, status, message", BAD_REQUESTS,
                         ids=[f"{r[1]}-{r[4][:24]}" for r in BAD_REQUESTS])
def test_bad_requests_get_a_status_and_a_message(client, method, url, body, status, message):
    if isinstance(body, bytes):
        response = client.post(url, content=body, headers={"Content-Type": "application/json"})
    elif method == "get":
        response = client.get(url)
    else:
        response = client.post(url, json=body)
    assert response.status_code == status, response.text
    assert message in response.json()["error"]
    assert "Traceback" not in response.text


def test_oversized_bodies_and_a_full_server_are_refused(registry):
    small = TestClient(server.create_app(registry, server.Limits(max_body_bytes=100)))
    response = small.post("/api/chat", json={"message": "x" * 200})
    assert response.status_code == 413 and "over 100 bytes" in response.json()["error"]
    full = TestClient(server.create_app(registry, server.Limits(max_pending=0)))
    response = full.post("/api/translate", json={"text": "one"})
    assert response.status_code == 503 and "busy" in response.json()["error"]
