"""Trains, measures and exports the demo's models into saved_models/ (what `make models` runs).

    python -m chatgpt_demo.build_models                 # every leg
    python -m chatgpt_demo.build_models --only base     # one leg: base, chat or numbers

Each leg trains with a recipe of `keras_attn.training` into `runs/demo/<leg>/`
(ignored by git). A leg whose run is finished (its `run.json` is there) is
not trained again, and a leg killed at any point goes on from its last
backup when the command is run again. Then the model is measured and
exported into `saved_models/<name>/1/` (TensorFlow Serving's layout) with
`demo.json` (what the server needs to know) and `MODEL_CARD.md`.

Legs:

| leg | run | what | saved model |
|---|---|---|---|
| base | runs/demo/base | a character GPT pre-trained on 37 plays (all but *Hamlet*) | shakespeare_gpt_base |
| chat | runs/demo/chat | base fine-tuned into HAMLET on *Hamlet*'s replies, loss on the reply only | shakespeare_gpt |
| numbers | runs/demo/numbers | the EN->FR numbers translator | numbers_en_fr |
"""

import argparse
import json
import os
import pathlib
import shutil
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # before TensorFlow loads

import keras  # noqa: E402

from keras_attn import data  # noqa: E402
from keras_attn import models  # noqa: E402
from keras_attn import text  # noqa: E402
from keras_attn import training  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parent.parent
RUNS = ROOT / "runs" / "demo"
PERSONA_PLAY = "Hamlet"  # left out of pre-training: the chat leg's play

# The base model's recipe. Chosen on this project's 2-core CPU (no bfloat16
# instructions): see the "shakespeare" preset and the model card.
BASE = dict(
    preset="shakespeare",
    steps=4000,
    steps_per_epoch=100,
    batch_size=16,
    learning_rate=1.5e-3,
    min_learning_rate=1e-4,
    warmup_steps=200,
    evaluation_windows=64,
    seed=0,
)


def log(message):
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def shakespeare_tokenizer():
    """Every character of the 38 plays: the tokenizer of both GPT models."""
    everything = data.load_shakespeare()
    return text.CharacterTokenizer.from_texts([everything.train, everything.validation])


def train_base(run_dir):
    """Pre-trains (or resumes) the base GPT; returns `(model, tokenizer, run)`."""
    if (run_dir / "run.json").exists():
        log(f"base: {run_dir} is finished; loading it")
        return (keras.saving.load_model(run_dir / "model.keras"),
                text.load_tokenizer(run_dir / "tokenizer"), training.read_run(run_dir))
    tokenizer = shakespeare_tokenizer()
    plays = [title for title in data.play_titles() if title != PERSONA_PLAY]
    corpus = data.load_shakespeare(plays=plays)
    recipe = {k: v for k, v in BASE.items() if k != "preset"}
    config = models.GPTConfig.preset(BASE["preset"], vocabulary_size=tokenizer.vocabulary_size())
    log(f"base: {len(plays)} plays, {len(corpus.train):,} training characters, "
        f"{BASE['steps'] * BASE['batch_size'] * config.max_sequence_length:,} tokens to see")
    run = training.train_gpt(corpus.train, corpus.validation, tokenizer=tokenizer, config=config,
                             out_dir=run_dir, log=log, verbose=2, **recipe)
    return run.model, tokenizer, training.read_run(run_dir)


LEGS = {"base": train_base}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--only", choices=tuple(LEGS), help="run one leg")
    parser.add_argument("--runs", type=pathlib.Path, default=RUNS, help="where the runs are kept")
    args = parser.parse_args(argv)
    for name, leg in LEGS.items():
        if args.only in (None, name):
            leg(args.runs / name)


if __name__ == "__main__":
    main()
