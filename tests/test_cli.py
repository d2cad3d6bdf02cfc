"""The keras-attn command: bad arguments, and short real runs of both model families."""

import json
import os
import subprocess
import sys

import keras
import keras_hub
import numpy as np
import tensorflow as tf
import pytest

import keras_attn
from keras_attn import cli
from keras_attn import text


def run(capsys, *argv):
    status = cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return status, out, err


@pytest.mark.parametrize(
    "argv, message",
    [
        (["train", "gpt", "--dataset", "shakespeare", "--preset", "huge"],
         "--preset must be one of baby, baby_modern, shakespeare, shakespeare_modern, mini, "
         "mini_modern, small, gpt2. "
         "Received: huge"),
        (["train", "gpt", "--dataset", "shakespeare", "--steps", "60", "--warmup-steps", "60"],
         "--warmup-steps must be from 0 to --steps - 1 (59). Received: 60"),
        (["train", "gpt", "--dataset", "text:/no/such/file.txt"], "/no/such/file.txt"),
        (["train", "gpt", "--dataset", "wikipedia"], "Unknown GPT --dataset"),
        (["train", "translator", "--dataset", "klingon"], "Unknown translator --dataset"),
        (["train", "gpt", "--dataset", "shakespeare", "--steps", "0"], "--steps must be positive. Received: 0"),
        (["train", "gpt", "--dataset", "shakespeare", "--steps", "300", "--steps-per-epoch", "200"],
         "must be a multiple of --steps-per-epoch"),
    ],
)
def test_bad_arguments_exit_2_with_one_line(tmp_path, capsys, argv, message):
    status, _, err = run(capsys, *argv, "--out", tmp_path / "run")
    assert status == 2
    assert err.startswith("keras-attn: error: ") and message in err
    assert "Traceback" not in err


def test_version(capsys):
    with pytest.raises(SystemExit) as exit:
        cli.main(["--version"])
    assert exit.value.code == 0
    assert capsys.readouterr().out == f"keras-attn {keras_attn.__version__}\n"


def test_empty_text_file(tmp_path, capsys):
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    status, _, err = run(capsys, "train", "gpt", "--dataset", f"text:{empty}", "--out", tmp_path / "run")
    assert status == 2 and "empty" in err


def test_model_directory_must_hold_a_model(tmp_path, capsys):
    status, _, err = run(capsys, "generate", "--model", tmp_path)
    assert status == 2 and "run directory with model.keras" in err


@pytest.mark.slow
def test_train_gpt_then_generate(tmp_path, capsys):
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("ROMEO:\nBut soft, what light through yonder window breaks?\n\n" * 200)
    out = tmp_path / "gpt"
    # No --warmup-steps: a 60-step run warms up for 6; no --verbose: stdout is not a
    # terminal, so Keras prints a line per epoch instead of redrawing a bar. Rotary
    # positions learn the repeated line in 60 steps (0.03 nats); learned positions need
    # more (0.55 at this learning rate, 1.24 at 1e-3).
    status, stdout, err = run(
        capsys, "train", "gpt", "--dataset", f"text:{corpus}", "--preset", "baby_modern",
        "--steps", 60, "--steps-per-epoch", 30, "--evaluation-windows", 24,
        "--batch-size", 12, "--out", out,
    )
    assert status == 0, err
    # The default peak and floor: 3e-3 and 3e-4.
    assert "schedule: 6 warmup steps to 0.003, cosine decay to 0.0003 at step 60" in stdout
    assert "a fixed sample of 24 validation windows (1,536 tokens)" in stdout
    assert [line.startswith("30/30 - ") for line in stdout.splitlines()].count(True) == 2
    run_file = json.loads((out / "run.json").read_text())
    assert run_file["kind"] == "gpt" and run_file["recipe"]["warmup_steps"] == 6
    figures = run_file["figures"]
    assert figures["strategy"] == "default" and figures["evaluation_sample_tokens"] == 1536
    # The whole split at the end: every validation character but the first is a target.
    assert figures["validation_tokens"] == len(text.load_tokenizer(out / "tokenizer")(
        corpus.read_text()[int(len(corpus.read_text()) * 0.9):]))
    # An untrained model scores ln(vocabulary) = 3.3 nats; the repeated line is learnt.
    assert figures["validation_loss"] < 0.3, figures
    for name in ("model.keras", "tokenizer/tokenizer.json", "checkpoints/last.keras"):
        assert (out / name).exists(), name
    assert any((out / "logs").rglob("events.out.tfevents*"))
    # The saved model reloads with the same logits.
    model = keras.saving.load_model(out / "model.keras")
    ids = np.array([text.load_tokenizer(out / "tokenizer")("ROMEO:\nBut soft")])
    checkpoint = keras.saving.load_model(out / "checkpoints" / "last.keras")
    np.testing.assert_array_equal(model(ids), checkpoint(ids))
    status, stdout, _ = run(capsys, "generate", "--model", out, "--prompt", "ROMEO:",
                            "--max-new-tokens", 20, "--temperature", 0)
    assert status == 0 and stdout.startswith("ROMEO:") and len(stdout) > len("ROMEO:") + 10
    status, _, err = run(capsys, "generate", "--model", out, "--temperature", -1)
    assert status == 2 and "--temperature must be >= 0 (0: greedy). Received: -1.0" in err
    status, _, err = run(capsys, "translate", "--model", out, "eight")
    assert status == 2 and f"{out} holds a GPT run: use `keras-attn generate --model {out}`" in err
    # The exported SavedModel continues the prompt exactly as `generate` does.
    status, _, err = run(capsys, "export", "--model", out, "--out", tmp_path / "saved")
    assert status == 0, err
    served = tf.saved_model.load(str(tmp_path / "saved"))
    exported = served.signatures["generate"](
        prompt=tf.constant(["ROMEO:"]), max_new_tokens=tf.constant(20),
        temperature=tf.constant(0.0), top_k=tf.constant(0), top_p=tf.constant(1.0),
        seed=tf.constant(0))
    assert "ROMEO:" + exported["text"].numpy()[0].decode() == stdout.rstrip("\n")


@pytest.mark.slow
def test_train_translator_then_translate(tmp_path, capsys):
    pairs = tmp_path / "pairs.tsv"
    words = ["one", "two", "three", "four", "five"]
    french = ["un", "deux", "trois", "quatre", "cinq"]
    pairs.write_text("".join(f"{a} {b}\t{c} {d}\n" for a, c in zip(words, french)
                             for b, d in zip(words, french)) * 4)
    out = tmp_path / "translator"
    status, _, err = run(
        capsys, "train", "translator", "--dataset", f"tsv:{pairs}", "--tokenizer", "char",
        "--steps", 80, "--steps-per-epoch", 40, "--warmup-steps", 5, "--batch-size", 16,
        "--learning-rate", 3e-3, "--strategy", "mirrored", "--out", out, "--verbose", 0,
    )
    assert status == 0, err
    run_file = json.loads((out / "run.json").read_text())
    assert run_file["kind"] == "translator" and run_file["figures"]["strategy"] == "mirrored"
    # The 25 pairs repeat, so held-out lines were seen: a trained run gets them right.
    assert run_file["figures"]["test_exact_match"] >= 0.9, run_file["figures"]
    assert run_file["figures"]["validation_loss"] < 0.5, run_file["figures"]
    status, stdout, _ = run(capsys, "translate", "--model", out, "one two")
    assert status == 0 and stdout == "one two\tun deux\n"
    status, _, err = run(capsys, "generate", "--model", out, "--prompt", "one")
    assert status == 2 and f"{out} holds a translator run: use `keras-attn translate" in err
    status, _, err = run(capsys, "export", "--model", out, "--out", tmp_path / "saved")
    assert status == 0, err
    served = tf.saved_model.load(str(tmp_path / "saved"))
    translation = served.signatures["translate"](text=tf.constant(["one two"]))["translation"]
    assert stdout == f"one two\t{translation.numpy()[0].decode()}\n"


@pytest.mark.parametrize(
    "strategy, message",
    [("horovod",
      "--strategy must be one of default, mirrored, multi_worker, tpu. Received: horovod"),
     ("tpu", "No TPU found for name='tpu' (tpu=None): ")],
)
def test_bad_strategy_exits_2_with_one_line(tmp_path, capsys, strategy, message):
    status, _, err = run(capsys, "train", "gpt", "--dataset", "shakespeare", "--strategy", strategy,
                         "--out", tmp_path / "run")
    assert status == 2
    assert err.startswith(f"keras-attn: error: {message}") and err.count("\n") == 1, err


# -- export --keras-hub-preset ------------------------------------------------

FRESH_KERAS_HUB_PROCESS = """
import json, sys
import tensorflow as tf
import tensorflow_text  # noqa: F401  (the byte-pair and SentencePiece ops)
served = tf.saved_model.load(sys.argv[1])
out = served.signatures["generate"](
    prompt=tf.constant(json.loads(sys.argv[2])), max_new_tokens=tf.constant(int(sys.argv[3])),
    temperature=tf.constant(0.0), top_k=tf.constant(0), top_p=tf.constant(1.0),
    seed=tf.constant(0))
ids = [row[:n].tolist() for row, n in zip(out["token_ids"].numpy(), out["num_tokens"].numpy())]
ours = sorted(m for m in sys.modules if m.split(".")[0] in ("keras_attn", "keras_hub", "keras_nlp"))
print(json.dumps({"ids": ids, "imported": ours}))
"""


def save_preset(directory, backbone, tokenizer):
    backbone.save_to_preset(str(directory))
    tokenizer.save_to_preset(str(directory))
    return directory


@pytest.mark.slow
@pytest.mark.parametrize("family", ["gpt2", "llama"])
def test_export_keras_hub_preset_generates_as_keras_hub_in_a_fresh_process(tmp_path, capsys,
                                                                            family):
    """save_to_preset -> keras-attn export -> a process with only TensorFlow (and TF Text)
    generates greedily the same ids as keras-hub's CausalLM.generate on the same weights."""
    from tests.export import test_export_keras_hub as hub

    backbone, tokenizer = hub.family(family)
    preset = save_preset(tmp_path / "preset", backbone, tokenizer)
    context = ["--max-sequence-length", hub.CONTEXT] if family == "llama" else []
    status, stdout, err = run(capsys, "export", "--keras-hub-preset", preset,
                              "--out", tmp_path / "saved", *context)
    assert status == 0, err
    assert stdout == f"wrote {tmp_path / 'saved'}\n"
    result = subprocess.run(
        [sys.executable, "-c", FRESH_KERAS_HUB_PROCESS, str(tmp_path / "saved"),
         json.dumps(hub.PROMPTS), str(hub.NEW_TOKENS)],
        capture_output=True, text=True, timeout=600, cwd=tmp_path,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
    )
    assert result.returncode == 0, result.stderr[-2000:]
    output = json.loads(result.stdout.strip().splitlines()[-1])
    assert output["imported"] == []
    assert output["ids"] == hub.keras_hub_greedy(family, backbone, tokenizer, hub.PROMPTS,
                                                 hub.NEW_TOKENS)


def test_export_refuses_a_keras_hub_variant_it_does_not_implement(tmp_path, capsys):
    from tests.export import test_export_keras_hub as hub

    tokenizer = hub.sentence_piece_tokenizer()
    backbone = keras_hub.models.LlamaBackbone(
        vocabulary_size=tokenizer.vocabulary_size(), num_layers=1, num_query_heads=2,
        num_key_value_heads=1, hidden_dim=16, intermediate_dim=32,
        rope_position_scaling_factor=2.0,
    )
    preset = save_preset(tmp_path / "preset", backbone, tokenizer)
    status, _, err = run(capsys, "export", "--keras-hub-preset", preset, "--out", tmp_path / "x")
    assert status == 2 and err.count("\n") == 1, err
    assert err.startswith(f"keras-attn: error: --keras-hub-preset {preset}: "
                          "`backbone.rope_position_scaling_factor` must be 1.0")
    assert "Received: rope_position_scaling_factor=2.0" in err


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--keras-hub-preset", "/no/such/preset"],
         "--keras-hub-preset /no/such/preset: Unknown preset identifier."),
        (["--keras-hub-preset", "{tmp}"], "has no config.json"),
        (["--keras-hub-preset", "{tmp}", "--max-sequence-length", "0"],
         "--max-sequence-length must be positive. Received: 0"),
        (["--model", "{tmp}", "--max-sequence-length", "64"],
         "--max-sequence-length is for --keras-hub-preset"),
    ],
)
def test_export_bad_keras_hub_arguments_exit_2_with_one_line(tmp_path, capsys, argv, message):
    argv = [str(a).replace("{tmp}", str(tmp_path)) for a in argv]
    status, _, err = run(capsys, "export", *argv, "--out", tmp_path / "x")
    assert status == 2 and err.count("\n") == 1, err
    assert err.startswith("keras-attn: error: ") and message in err


@pytest.mark.parametrize("argv", [[], ["--model", "run", "--keras-hub-preset", "gpt2_base_en"]])
def test_export_takes_a_run_or_a_keras_hub_preset(tmp_path, capsys, argv):
    with pytest.raises(SystemExit) as exit:
        cli.main(["export", *argv, "--out", str(tmp_path / "x")])
    assert exit.value.code == 2
    err = capsys.readouterr().err
    assert ("one of the arguments --model --keras-hub-preset is required" in err
            or "argument --keras-hub-preset: not allowed with argument --model" in err), err
