"""Exported keras-hub models: GPT-2 with its byte-pair tokenizer, Llama with SentencePiece.

Greedy output equals keras-hub's `CausalLM.generate` token for token, text comes
in and out, and the candidates show each token's real text. The vocabularies
are trained here, on a few lines, so nothing is downloaded. The helpers are
shared with the CLI test (`tests/test_cli.py`).
"""

import io
import json

import keras_hub
import numpy as np
import pytest
import sentencepiece
import tensorflow as tf
import tokenizers

from chatgpt_demo import engine
from chatgpt_demo import server
from fastapi.testclient import TestClient
from keras_attn.export import export_generator
from keras_attn.export.generator import token_texts
from keras_attn.generation.settings import DEFAULTS
from keras_attn.models import from_keras_hub
from tests.helpers import sharpen

LINES = [
    "The quick brown fox jumps over the lazy dog.",
    "Café au lait, naïve façade, déjà vu — the end.",
    "She sells sea shells by the sea shore.\n",
    "the theory of the thing is that there is no thing.",
]
PROMPTS = ["The quick", "the sea", "Café", ""]  # "": the start token alone
NEW_TOKENS = 8
CONTEXT = 64  # of the Llama exports
FOLDERS = {}  # family -> its exported folder, for the demo server's tests


def byte_pair_tokenizer():
    """A GPT2Tokenizer with about 300 tokens: every byte, and merges learned from LINES."""
    trainer = tokenizers.ByteLevelBPETokenizer()
    trainer.train_from_iterator(LINES * 4, vocab_size=300, min_frequency=2, show_progress=False)
    model = json.loads(trainer.to_str())["model"]
    # The end token last, as in GPT-2: keras-hub pads with id 0, and stops on padding
    # that equals the end token.
    vocabulary = {**model["vocab"], "<|endoftext|>": len(model["vocab"])}
    # tokenizers writes a merge as "a b" or, in newer versions, as ["a", "b"].
    merges = [m if isinstance(m, str) else " ".join(m) for m in model["merges"]]
    return keras_hub.models.GPT2Tokenizer(vocabulary=vocabulary, merges=merges)


def sentence_piece_tokenizer():
    """A LlamaTokenizer from a SentencePiece model trained on LINES (with byte fallback)."""
    proto = io.BytesIO()
    sentencepiece.SentencePieceTrainer.train(
        sentence_iterator=iter(LINES * 4), model_writer=proto, vocab_size=300,
        model_type="bpe", byte_fallback=True, hard_vocab_limit=False, minloglevel=2,
    )
    return keras_hub.models.LlamaTokenizer(proto=proto.getvalue())


def gpt2_backbone(vocabulary_size):
    backbone = keras_hub.models.GPT2Backbone(
        vocabulary_size=vocabulary_size, num_layers=2, num_heads=2, hidden_dim=32,
        intermediate_dim=64, max_sequence_length=CONTEXT, dropout=0.0,
    )
    return sharpen(backbone)


def llama_backbone(vocabulary_size):
    backbone = keras_hub.models.LlamaBackbone(
        vocabulary_size=vocabulary_size, num_layers=2, num_query_heads=4,
        num_key_value_heads=2, hidden_dim=32, intermediate_dim=48,
    )
    return sharpen(backbone)


FAMILIES = {
    # family: (backbone, tokenizer, keras-hub's CausalLM and its preprocessor)
    "gpt2": (gpt2_backbone, byte_pair_tokenizer,
             keras_hub.models.GPT2CausalLM, keras_hub.models.GPT2CausalLMPreprocessor),
    "llama": (llama_backbone, sentence_piece_tokenizer,
              keras_hub.models.LlamaCausalLM, keras_hub.models.LlamaCausalLMPreprocessor),
}


def family(name):
    """A small random `(backbone, tokenizer)` of a family, with sharp weights, so float
    round-off can't flip a greedy choice."""
    make_backbone, make_tokenizer, _, _ = FAMILIES[name]
    tokenizer = make_tokenizer()
    return make_backbone(tokenizer.vocabulary_size()), tokenizer


def stop_token_ids(tokenizer):
    """The ids keras-hub's `generate(stop_token_ids="auto")` stops on."""
    return [tokenizer.end_token_id] + ([tokenizer.end_token2_id]
                                       if hasattr(tokenizer, "end_token2_id") else [])


def keras_hub_greedy(name, backbone, tokenizer, prompts, max_new_tokens):
    """keras-hub's greedy continuation ids of `prompts`, as `CausalLM.generate` makes
    them: its preprocessor puts the start token first, it stops after the end token."""
    _, _, causal_lm_class, preprocessor_class = FAMILIES[name]
    longest = max(len(tokenizer.tokenize(p)) for p in prompts)
    preprocessor = preprocessor_class(tokenizer, sequence_length=longest + 1 + max_new_tokens)
    packed = preprocessor.generate_preprocess(prompts)
    prompt_lengths = np.sum(np.asarray(packed["padding_mask"]), axis=1)
    causal_lm = causal_lm_class(backbone=backbone, preprocessor=None)  # ids in, ids out
    causal_lm.compile(sampler="greedy")
    out = causal_lm.generate(packed, stop_token_ids=stop_token_ids(tokenizer))
    ids, mask = np.asarray(out["token_ids"]), np.asarray(out["padding_mask"])
    return [row[p:][row_mask[p:]][:max_new_tokens].tolist()
            for row, row_mask, p in zip(ids, mask, prompt_lengths)]


def export(name, backbone, tokenizer, path):
    """What `keras-attn export --keras-hub-preset` does with a loaded backbone and tokenizer."""
    model = from_keras_hub(backbone, **({"max_sequence_length": CONTEXT} if name == "llama" else {}))
    return export_generator(model, tokenizer, path, start_token_id=tokenizer.start_token_id,
                            stop_token_ids=stop_token_ids(tokenizer))


def greedy(served, prompts, max_new_tokens=NEW_TOKENS):
    return served.signatures["generate"](
        prompt=tf.constant(prompts), max_new_tokens=tf.constant(max_new_tokens),
        temperature=tf.constant(0.0), top_k=tf.constant(0), top_p=tf.constant(1.0),
        seed=tf.constant(0),
    )


def continuations(out):
    """The new ids of each row of a `generate` output, stop token included."""
    return [row[:n].tolist() for row, n in zip(out["token_ids"].numpy(), out["num_tokens"].numpy())]


@pytest.fixture(scope="module", params=sorted(FAMILIES))
def exported(request, tmp_path_factory):
    """`(family, backbone, tokenizer, reloaded SavedModel)` for each family."""
    name = request.param
    backbone, tokenizer = family(name)
    path = export(name, backbone, tokenizer, tmp_path_factory.mktemp(name) / f"tiny_{name}")
    FOLDERS[name] = path
    return name, backbone, tokenizer, tf.saved_model.load(str(path))


def test_greedy_output_equals_keras_hub_generate(exported):
    name, backbone, tokenizer, served = exported
    expected = keras_hub_greedy(name, backbone, tokenizer, PROMPTS, NEW_TOKENS)
    assert continuations(greedy(served, PROMPTS)) == expected


def test_text_in_text_out_leaves_out_the_end_token(exported):
    name, backbone, tokenizer, served = exported
    out = greedy(served, PROMPTS)
    texts = [t.decode("utf-8") for t in out["text"].numpy()]
    ends = stop_token_ids(tokenizer)
    expected = [
        tokenizer.detokenize(row[:-1] if row and row[-1] in ends else row) if row else ""
        for row in continuations(out)
    ]
    # keras-hub detokenizes with the Python tokenizers; the graph's ops give the same text.
    assert texts == [t if isinstance(t, str) else t.decode("utf-8") for t in expected]
    tokenized = served.signatures["tokenize"](text=tf.constant(PROMPTS))
    assert [row[row >= 0].tolist() for row in tokenized["token_ids"].numpy()] == [
        np.asarray(tokenizer.tokenize(p)).tolist() for p in PROMPTS
    ]


def test_streamed_candidates_show_each_tokens_text(exported):
    _, _, tokenizer, served = exported
    state = served.signatures["prefill"](prompt=tf.constant(["The"]), max_new_tokens=tf.constant(4))
    step = served.signatures["decode_step"](
        cache=state["cache"], token_ids=state["token_ids"], index=state["index"],
        temperature=tf.constant(0.0), top_k=tf.constant(0), top_p=tf.constant(1.0),
        seed=tf.constant(0),
    )
    texts = token_texts(tokenizer, tokenizer.vocabulary_size())
    candidates = step["top_token_ids"].numpy()[0]
    shown = [t.decode("utf-8") for t in step["top_tokens"].numpy()[0]]
    assert shown == [texts[i] for i in candidates]


def test_byte_pair_texts_show_spaces_newlines_and_stray_bytes():
    tokenizer = byte_pair_tokenizer()
    texts = token_texts(tokenizer, tokenizer.vocabulary_size() + 2)
    text_of = {token: texts[i] for token, i in tokenizer.vocabulary.items()}
    # GPT-2's alphabet: "Ġ" is a space, "Ċ" a newline, "Ã" the byte 0xC3 (the
    # first half of "é"), "Ã©" both halves.
    assert text_of["Ġthe"] == "␣the" and text_of["Ġ"] == "␣"
    assert text_of["Ċ"] == "\\n" and text_of["Ã"] == "\\xc3"
    assert text_of["Ã©"] == "é" and text_of["<|endoftext|>"] == "<|endoftext|>"
    assert texts[-2:] == ["", ""]  # ids past the tokenizer's


def test_sentence_piece_texts_show_spaces_and_stray_bytes():
    tokenizer = sentence_piece_tokenizer()
    texts = token_texts(tokenizer, tokenizer.vocabulary_size())
    text_of = dict(zip(tokenizer.get_vocabulary(), texts))
    assert text_of["▁the"] == "␣the" and text_of["<0xC3>"] == "\\xc3"
    assert text_of["<0x0A>"] == "\\n" and text_of["<0x41>"] == "A"
    assert text_of["<s>"] == "<s>" and text_of["</s>"] == "</s>"


def test_start_token_id_outside_the_vocabulary_is_refused(tmp_path):
    backbone, tokenizer = family("gpt2")
    with pytest.raises(ValueError, match=r"`start_token_id` must be an integer from 0 to "
                                         r"\d+ or None. Received: start_token_id=100000"):
        export_generator(from_keras_hub(backbone), tokenizer, tmp_path / "x",
                         start_token_id=100_000)


# One family is enough here: the export's code is the same for both.
@pytest.mark.parametrize("exported", ["gpt2"], indirect=True)
def test_a_row_ending_on_a_stop_token_keeps_it_in_ids_not_in_text(exported, tmp_path):
    name, backbone, tokenizer, served = exported
    first = continuations(greedy(served, PROMPTS))[0][0]  # "The quick" continues with it
    model = from_keras_hub(backbone)
    stopping = tf.saved_model.load(str(export_generator(
        model, tokenizer, tmp_path / "stop", start_token_id=tokenizer.start_token_id,
        stop_token_ids=[first],
    )))
    out = greedy(stopping, PROMPTS)
    assert continuations(out)[0] == [first]
    assert out["text"].numpy()[0] == b""


# The demo server serves a keras-hub model exported as `keras-attn export` does (a bare
# SavedModel folder), byte-pair tokens and all. One family is enough: the server reads
# only the signatures.


@pytest.fixture
def registry(exported):
    return engine.ModelRegistry.load(FOLDERS[exported[0]])


@pytest.mark.parametrize("exported", ["gpt2"], indirect=True)
def test_a_bare_savedmodel_folder_is_served_under_its_name(registry):
    model = registry.get("tiny_gpt2")
    assert model.kind == "generator" and model.version == 1
    assert model.defaults["max_new_tokens"] == DEFAULTS["max_new_tokens"]


@pytest.mark.parametrize("exported", ["gpt2"], indirect=True)
def test_a_stream_of_byte_pair_tokens_gives_the_generated_text(registry):
    """Per-token texts would break characters that two tokens share ("é" is two bytes);
    the stream decodes its tokens together, as `generate` does."""
    model = registry.get("tiny_gpt2")
    for prompt in ("Café au", "The quick", "déjà"):
        stream = engine.Stream(model, prompt, max_new_tokens=NEW_TOKENS, temperature=0.0).run()
        expected = greedy(model.loaded, [prompt])["text"].numpy()[0].decode()
        assert stream.text == expected == "".join(step.text for step in stream.steps)
        # The candidates show each token's text, a space as "␣".
        candidates = [text for step in stream.steps for text, _ in step.candidates]
        assert all(text for text in candidates) and any("␣" in text for text in candidates)


@pytest.mark.parametrize("exported", ["gpt2"], indirect=True)
def test_the_tf_serving_route_serves_it(registry):
    client = TestClient(server.create_app(registry))
    response = client.post("/v1/models/tiny_gpt2:predict", json={
        "signature_name": "generate",
        "inputs": {"prompt": ["The quick"], "max_new_tokens": 5, "temperature": 0.0}})
    assert response.status_code == 200, response.text
    outputs = response.json()["outputs"]
    assert np.asarray(outputs["token_ids"]).shape == (1, 5) and isinstance(outputs["text"][0], str)
    completion = client.post("/api/complete", json={"prompt": "The quick", "max_new_tokens": 5,
                                                    "temperature": 0.0}).json()
    assert completion["reply"] == outputs["text"][0].strip("\n")
