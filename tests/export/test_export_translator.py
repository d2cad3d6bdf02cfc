"""The exported translator: equal to in-process decoding, served by TensorFlow (+ tf-text)."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from keras_attn.export import export_translator
from keras_attn.generation import TranslatorGenerator
from keras_attn.models import TransformerConfig
from keras_attn.models import build_transformer
from keras_attn.text import CharacterTokenizer
from keras_attn.text import ReversibleWordPieceTokenizer
from tests.helpers import sharpen

SOURCES = ["one hundred", "twenty-two", "seven thousand three"]
TARGETS = ["cent", "vingt-deux", "sept mille trois"]


def sharp_translator(source_vocabulary, target_vocabulary, seed=0):
    config = TransformerConfig.preset(
        "tiny", encoder_vocabulary_size=source_vocabulary,
        decoder_vocabulary_size=target_vocabulary, max_sequence_length=24, num_layers=2,
        position_encoding="learned",
    )
    return sharpen(build_transformer(config), seed)


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    source = CharacterTokenizer.from_texts(SOURCES)
    target = CharacterTokenizer.from_texts(TARGETS)
    model = sharp_translator(source.vocabulary_size(), target.vocabulary_size())
    path = export_translator(model, (source, target), tmp_path_factory.mktemp("t") / "saved",
                             max_length=12)
    return model, source, target, path, tf.saved_model.load(str(path))


def in_process(model, source, target, texts, num_beams=1, max_source_length=24):
    ids = [list(source.tokenize(t).numpy())[:max_source_length] for t in texts]
    padded = np.zeros((len(ids), max(map(len, ids))), "int32")
    for row, seq in zip(padded, ids):
        row[: len(seq)] = seq
    out = TranslatorGenerator(model).translate(
        padded, target.start_token_id, target.end_token_id, 12, num_beams=num_beams
    )
    return [target.detokenize([i for i in row if i]) for row in out]


def translations(served, texts, signature="translate"):
    out = served.signatures[signature](text=tf.constant(texts))
    return [t.decode("utf-8") for t in out["translation"].numpy()], out["token_ids"].numpy()


def test_reloaded_translation_equals_in_process(exported):
    model, source, target, _, served = exported
    got, ids = translations(served, SOURCES)
    assert got == in_process(model, source, target, SOURCES)
    assert ids.shape == (3, 12)
    assert translations(served, SOURCES, "serving_default")[0] == got


def test_logits_signature_equals_the_model(exported):
    model, _, _, _, served = exported
    inputs = {"encoder_token_ids": np.array([[5, 6, 0]], "int32"),
              "decoder_token_ids": np.array([[1, 7, 8]], "int32")}
    np.testing.assert_allclose(
        served.signatures["logits"](**{k: tf.constant(v) for k, v in inputs.items()})["logits"],
        model(inputs), atol=1e-5,
    )


def test_bad_text_empty_unknown_invalid_utf8_and_too_long(exported):
    model, source, target, _, served = exported
    got, ids = translations(served, ["", "one Ω two", b"\xff\xfe", "one " * 40])
    assert got[0] == "" and (ids[0] == -1).all()
    # Unknown characters are [UNK] in the source; the output is valid text.
    assert got[1] == in_process(model, source, target, ["one Ω two"])[0]
    # Each byte that is not UTF-8 is one [UNK] too, like an unknown character.
    assert source.tokenize("ΩΩ").numpy().tolist() == [source.unk_token_id] * 2
    assert got[2] == in_process(model, source, target, ["ΩΩ"])[0]
    # Too long: the first 24 source tokens (the encoder's context).
    assert got[3] == in_process(model, source, target, [("one " * 40)[:24]])[0]


def test_beam_search_export(tmp_path):
    source = CharacterTokenizer.from_texts(SOURCES)
    target = CharacterTokenizer.from_texts(TARGETS)
    model = sharp_translator(source.vocabulary_size(), target.vocabulary_size(), seed=1)
    served = tf.saved_model.load(str(export_translator(
        model, (source, target), tmp_path / "beam", max_length=12, num_beams=3)))
    assert translations(served, SOURCES)[0] == in_process(model, source, target, SOURCES, num_beams=3)


FRESH_PROCESS = """
import json, sys
import tensorflow as tf
import tensorflow_text  # registers the WordPiece ops
served = tf.saved_model.load(sys.argv[1])
out = served.signatures["translate"](text=tf.constant(["one hundred", "twenty-two"]))
ours = sorted(m for m in sys.modules if m.split(".")[0] in ("keras_attn", "keras_hub", "keras_nlp"))
print(json.dumps({"translation": [t.decode() for t in out["translation"].numpy()], "imported": ours}))
"""


@pytest.mark.slow
def test_word_piece_translator_serves_with_tensorflow_text_alone(tmp_path):
    source = ReversibleWordPieceTokenizer.from_texts(SOURCES * 5, vocabulary_size=60)
    target = ReversibleWordPieceTokenizer.from_texts(TARGETS * 5, vocabulary_size=60)
    model = sharp_translator(source.vocabulary_size(), target.vocabulary_size())
    path = export_translator(model, (source, target), tmp_path / "wp", max_length=12)
    expected = translations(tf.saved_model.load(str(path)), ["one hundred", "twenty-two"])[0]
    result = subprocess.run(
        [sys.executable, "-c", FRESH_PROCESS, str(path)], capture_output=True, text=True,
        timeout=300, cwd=tmp_path, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
    )
    assert result.returncode == 0, result.stderr[-2000:]
    output = json.loads(result.stdout.strip().splitlines()[-1])
    assert output == {"translation": expected, "imported": []}


def test_saved_model_cli_runs_translate(exported):
    _, _, _, path, served = exported
    cli = os.path.join(os.path.dirname(sys.executable), "saved_model_cli")
    ran = subprocess.run(
        [cli, "run", "--dir", str(path), "--tag_set", "serve", "--signature_def", "translate",
         "--input_exprs", "text=['one hundred']"],
        capture_output=True, text=True, timeout=300, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
    )
    assert ran.returncode == 0, ran.stderr[-2000:]
    expected = served.signatures["translate"](text=tf.constant(["one hundred"]))["translation"]
    assert "Result for output key translation" in ran.stdout
    assert repr(expected.numpy()[0]) in ran.stdout


def test_tokenizers_must_be_a_pair():
    with pytest.raises(ValueError, match=r"`tokenizers` must be a pair .* Received: tokenizers="):
        export_translator(None, CharacterTokenizer.from_texts("ab"), "/tmp/unused")
