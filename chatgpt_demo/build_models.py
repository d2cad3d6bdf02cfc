"""Trains, measures and exports the demo's models into saved_models/ (what `make models` runs).

    python -m chatgpt_demo.build_models                     # train and export everything
    python -m chatgpt_demo.build_models --only shakespeare  # the two GPTs; or: numbers
    python -m chatgpt_demo.build_models --only base         # train one leg only: base or chat

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
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
import tensorflow_text  # noqa: E402, F401  (the translator's WordPiece ops)

from chatgpt_demo import chat  # noqa: E402
from keras_attn import data  # noqa: E402
from keras_attn import export  # noqa: E402
from keras_attn import models  # noqa: E402
from keras_attn import text  # noqa: E402
from keras_attn import training  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parent.parent
RUNS = ROOT / "runs" / "demo"
SAVED = ROOT / "saved_models"
PERSONA = "HAMLET"
PERSONA_PLAY = "Hamlet"  # left out of pre-training: the chat leg's play
COMMAND = "python -m chatgpt_demo.build_models"

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


# The chat leg: HAMLET's replies in *Hamlet*, in the chat template, loss on the reply only.
CHAT = dict(
    steps=100,  # 3 passes over the pairs: 400 steps at 3e-4 overfit them (held-out
    steps_per_epoch=25,  # reply loss 1.35 after 50 steps, 1.66 after 200)
    batch_size=8,
    learning_rate=1e-4,
    min_learning_rate=1e-5,
    seed=0,
)
# The prompt takes at most half the 256-character context (as the server does), and a
# reply must fit in the other half: HAMLET is trained on his replies up to 126 characters
# (218 of 323, two in three), plus the blank line that ends them, and replies with up to
# 128 new characters by default.
MAX_REPLY = 126
HELD_OUT = 0.1  # the play's last tenth of pairs, as load_shakespeare holds out each play's end
# The numbers leg.
NUMBERS = dict(
    preset="tiny",
    steps=3000,
    steps_per_epoch=500,
    batch_size=64,
    seed=0,
)
NUMBERS_DATA = dict(num_train=50_000, num_validation=2_000, num_test=2_000, seed=0,
                    small_number_repeats=10)  # 10: "zero" and "zéro" become whole tokens
# (the WordPiece learner keeps words seen about 10 times); with 4, "zero" gave "zérro"
# Serving defaults (the `settings` of each export).
COMPLETION_DEFAULTS = dict(max_new_tokens=200, temperature=0.8, top_k=40, top_p=1.0, seed=0)
CHAT_DEFAULTS = dict(COMPLETION_DEFAULTS, max_new_tokens=MAX_REPLY + len(chat.STOP))
# The real-word measure: 3 samples of 200 characters from each of 8 speakers of the 37 plays.
SPEAKERS = ("GLOUCESTER", "FALSTAFF", "BRUTUS", "OTHELLO", "IAGO", "CLEOPATRA", "ROSALIND",
            "KING LEAR")
STRANGE_MESSAGES = {"empty": "", "5,000 characters": "x" * 5000, "punctuation": "?!... ;-)",
                    "Japanese": "こんにちは、元気ですか", "Russian": "Быть или не быть?"}


def chat_pairs(context):
    """`(prompt, reply)` texts: each HAMLET speech after someone else's, in the chat
    template, the prompt in at most half the context (as the server does)."""
    speeches = data.load_speeches(PERSONA_PLAY)
    pairs = []
    for before, speech in zip(speeches, speeches[1:]):
        if speech.speaker == PERSONA and before.speaker != PERSONA:
            prompt = chat.chat_prompt(PERSONA, before.text, speaker=before.speaker,
                                      max_characters=context // 2)
            pairs.append((prompt, speech.text + chat.STOP))
    cut = int(len(pairs) * (1 - HELD_OUT))
    return pairs[:cut], pairs[cut:]


def train_chat(run_dir, base_dir):
    """Fine-tunes (or resumes) HAMLET from the base; returns `(model, tokenizer, run)`."""
    if (run_dir / "run.json").exists():
        log(f"chat: {run_dir} is finished; loading it")
        return (keras.saving.load_model(run_dir / "model.keras"),
                text.load_tokenizer(run_dir / "tokenizer"), training.read_run(run_dir))
    model, tokenizer, _ = train_base(base_dir)
    train, held_out = chat_pairs(model.context_length)
    short = [(p, r) for p, r in train if len(r) <= MAX_REPLY + len(chat.STOP)]
    log(f"chat: {len(short)} of {len(train)} training pairs have replies up to {MAX_REPLY} "
        f"characters; {len(held_out)} held out")
    training.train_replies(model, short, held_out, tokenizer=tokenizer, out_dir=run_dir,
                           log=log, verbose=2, **CHAT)
    return model, tokenizer, training.read_run(run_dir)


def numbers_splits():
    numbers = data.load_numbers_en_fr(**NUMBERS_DATA)
    return {name: [(p.english, p.french) for p in split]
            for name, split in numbers._asdict().items()}


def train_numbers(run_dir):
    """Trains (or resumes) the translator; returns `(model, tokenizers, run)`."""
    if (run_dir / "run.json").exists():
        log(f"numbers: {run_dir} is finished; loading it")
        tokenizers = tuple(text.load_tokenizer(run_dir / f"{side}_tokenizer")
                           for side in ("source", "target"))
        return keras.saving.load_model(run_dir / "model.keras"), tokenizers, training.read_run(run_dir)
    splits = numbers_splits()
    source = text.ReversibleWordPieceTokenizer.from_texts([s for s, _ in splits["train"]])
    target = text.ReversibleWordPieceTokenizer.from_texts([t for _, t in splits["train"]])
    longest = max(
        max(len(ids) for ids in training.recipes.token_id_lists(source, [s for split in splits.values() for s, _ in split])),
        1 + max(len(ids) for ids in training.recipes.token_id_lists(target, [t for split in splits.values() for _, t in split])),
    )
    config = models.TransformerConfig.preset(
        NUMBERS["preset"], vocabulary_size=target.vocabulary_size(),
        encoder_vocabulary_size=source.vocabulary_size(), max_sequence_length=longest)
    recipe = {k: v for k, v in NUMBERS.items() if k != "preset"}
    run = training.train_translator(splits, config=config, source_tokenizer=source,
                                    target_tokenizer=target, out_dir=run_dir, log=log,
                                    verbose=2, **recipe)
    return run.model, (source, target), training.read_run(run_dir)


# -- measures of the exported models -------------------------------------------------------


def generate(served, prompts, settings, seed):
    out = served.signatures["generate"](
        prompt=tf.constant(prompts), max_new_tokens=tf.constant(settings["max_new_tokens"]),
        temperature=tf.constant(float(settings["temperature"])),
        top_k=tf.constant(settings["top_k"]), top_p=tf.constant(float(settings["top_p"])),
        seed=tf.constant(seed))
    return [t.decode("utf-8") for t in out["text"].numpy()]


def plays_words():
    everything = data.load_shakespeare()
    return set(text.words(everything.train + everything.validation))


def measure_base(served, reference):
    """The real-word rate of 24 samples of 200 characters at temperature 0.8, top-k off."""
    settings = dict(max_new_tokens=200, temperature=0.8, top_k=0, top_p=1.0)
    samples = []
    for seed in range(3):
        samples += generate(served, [f"{s}:\n" for s in SPEAKERS], settings, seed)
    rate, count = text.real_word_rate(samples, reference)
    return {"real_word_rate": round(rate, 4), "real_word_count": count,
            "sample": f"{SPEAKERS[0]}:\n" + samples[0]}


def measure_chat(served, prompts, reference):
    """Replies to held-out prompts with the serving defaults: ended, real words, headers."""
    replies = generate(served, prompts, CHAT_DEFAULTS, 0)
    ended = [chat.STOP in reply for reply in replies]
    cut = [chat.reply_from(reply) for reply in replies]
    headers = [bool(chat.headers_in(reply)) for reply in cut]
    rate, count = text.real_word_rate(cut, reference)
    return {"prompts": len(prompts), "ended": sum(ended), "ended_rate": round(np.mean(ended), 4),
            "with_header": sum(headers), "real_word_rate": round(rate, 4),
            "real_word_count": count, "examples": [
                {"prompt": p, "reply": r} for p, r in list(zip(prompts, cut))[:3]]}


def measure_strange(served, reference):
    context = int(served.signatures["settings"]()["context_length"])
    prompts = {name: chat.chat_prompt(PERSONA, message, max_characters=context // 2)
               for name, message in STRANGE_MESSAGES.items()}
    replies = generate(served, list(prompts.values()), CHAT_DEFAULTS, 0)
    return {name: {"reply": chat.reply_from(reply), "ended": chat.STOP in reply,
                   "headers": chat.headers_in(chat.reply_from(reply))}
            for name, reply in zip(prompts, replies)}


def measure_numbers(served, splits):
    def exact(pairs):
        out = served.signatures["translate"](text=tf.constant([e for e, _ in pairs]))
        return float(np.mean([t.decode() == f for t, (_, f) in
                              zip(out["translation"].numpy(), pairs)]))

    small = [(data.number_pair(n).english, data.number_pair(n).french) for n in range(1000)]
    typed = ["Seventy One", "  eight ", "two hundred one", "one thousand nine hundred eighty four",
             "one million", "banana split 42 !!", "", "x" * 10_000]
    out = served.signatures["translate"](text=tf.constant(typed))
    return {
        "exact_0_to_999": exact(small),
        "exact_test": exact(splits["test"]),
        "test_examples": len(splits["test"]),
        "typed": [{"english": e[:40] + ("..." if len(e) > 40 else ""), "translation": t.decode(),
                   "error": r.decode()}
                  for e, t, r in zip(typed, out["translation"].numpy(), out["error"].numpy())],
    }


# -- exports and cards ---------------------------------------------------------------------


def folder_megabytes(path):
    return round(sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) / 1e6, 2)


def write_folder(name, write_savedmodel, settings, card):
    """Exports into saved_models/name/1 (replacing it), then demo.json and MODEL_CARD.md."""
    folder = SAVED / name
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    write_savedmodel(folder / "1")
    settings["size_mb"] = folder_megabytes(folder / "1")
    (folder / "demo.json").write_text(json.dumps(settings, indent=2, ensure_ascii=False) + "\n")
    (folder / "MODEL_CARD.md").write_text(card(settings))
    log(f"wrote {folder} ({settings['size_mb']} MB)")
    return tf.saved_model.load(str(folder / "1"))


def legs_text(legs):
    return ", ".join(f"steps {leg['from_step']}-{leg['to_step']}: {leg['seconds']:.0f} s"
                     for leg in legs)


def export_shakespeare(runs):
    base, tokenizer, base_run = train_base(runs / "base")
    reference = plays_words()
    plays = [title for title in data.play_titles() if title != PERSONA_PLAY]
    settings = {"kind": "generator", "training": base_run, "preset": BASE["preset"],
                "plays": len(plays),
                "training_characters": len(data.load_shakespeare(plays=plays).train)}
    served = write_folder(
        "shakespeare_gpt_base",
        lambda path: export.export_generator(base, tokenizer, path, **COMPLETION_DEFAULTS),
        settings, lambda s: base_card(s))
    settings["measures"] = measure_base(served, reference)
    (SAVED / "shakespeare_gpt_base" / "demo.json").write_text(
        json.dumps(settings, indent=2, ensure_ascii=False) + "\n")
    (SAVED / "shakespeare_gpt_base" / "MODEL_CARD.md").write_text(base_card(settings))
    log(f"base: {settings['measures']}")

    model, tokenizer, chat_run = train_chat(runs / "chat", runs / "base")
    _, held_out = chat_pairs(model.context_length)
    settings = {"kind": "generator", "training": base_run, "finetuning": chat_run,
                "chat": {"persona": PERSONA, "user_speaker": chat.DEFAULT_SPEAKER,
                         "stop": chat.STOP}}
    served = write_folder(
        "shakespeare_gpt",
        lambda path: export.export_generator(model, tokenizer, path, **CHAT_DEFAULTS),
        settings, lambda s: chat_card(s))
    settings["measures"] = measure_chat(served, [p for p, _ in held_out], reference)
    settings["strange_messages"] = measure_strange(served, reference)
    (SAVED / "shakespeare_gpt" / "demo.json").write_text(
        json.dumps(settings, indent=2, ensure_ascii=False) + "\n")
    (SAVED / "shakespeare_gpt" / "MODEL_CARD.md").write_text(chat_card(settings))
    log(f"chat: {settings['measures']}")


def export_numbers(runs):
    model, tokenizers, run = train_numbers(runs / "numbers")
    settings = {"kind": "translator", "source": "English", "target": "French", "training": run}
    splits = numbers_splits()
    served = write_folder(
        "numbers_en_fr",
        lambda path: export.export_translator(model, tokenizers, path,
                                              preprocess=data.normalize_english_number),
        settings, lambda s: numbers_card(s))
    settings["measures"] = measure_numbers(served, splits)
    (SAVED / "numbers_en_fr" / "demo.json").write_text(
        json.dumps(settings, indent=2, ensure_ascii=False) + "\n")
    (SAVED / "numbers_en_fr" / "MODEL_CARD.md").write_text(numbers_card(settings))
    log(f"numbers: {settings['measures']}")


def _figure(settings, *keys, fmt="{}"):
    value = settings
    for key in keys:
        if not isinstance(value, dict) or key not in value:
            return "(not measured yet)"
        value = value[key]
    return fmt.format(value)


def base_card(s):
    t = s["training"]
    f, r = t["figures"], t["recipe"]
    c = t["config"]
    return "\n".join([
        "# shakespeare_gpt_base",
        "",
        "A character-level GPT pre-trained on 37 of Shakespeare's plays (all but *Hamlet*, kept "
        "for the chat model). It continues text in the plays' layout: `SPEAKER:`, lines, a "
        "blank line. `shakespeare_gpt` is this model fine-tuned into HAMLET.",
        "",
        "## Reproduce",
        "",
        "```",
        f"{COMMAND} --only base     # or `make models`, every leg",
        "```",
        "",
        "The run is kept in `runs/demo/base/` (ignored by git). Killed at any point, the "
        "same command goes on from its last backup (every "
        f"{r['steps_per_epoch']} steps). TensorFlow on a CPU is not bit-exact across machines: "
        "expect the same figures to within a few hundredths.",
        "",
        "## Model",
        "",
        f"* `keras_attn.models.GPT`, the \"{s['preset']}\" preset: {c['num_layers']} decoder "
        f"blocks, {c['num_heads']} heads, width {c['hidden_dim']}, a {c['max_sequence_length']}"
        f"-character context, learned positions, pre-norm, GELU, tied embeddings; "
        f"**{f['parameters']:,} parameters**.",
        f"* Tokenizer: `keras_attn.text.CharacterTokenizer` over the 38 plays, "
        f"{c['vocabulary_size']} ids. The SavedModel loads with `import tensorflow` alone.",
        "* Exported with `keras_attn.export.export_generator` (signatures `generate`, "
        "`serving_default`, `logits`, `tokenize`, `detokenize`, `prefill`, `decode_step`, "
        "`settings`); `serving_default` uses " + ", ".join(
            f"{k}={v}" for k, v in COMPLETION_DEFAULTS.items()) + ".",
        f"* Size: **{s.get('size_mb', '?')} MB** (`1/`, the SavedModel), weights in float32.",
        "",
        "## Training",
        "",
        f"* Data: `keras_attn.data.load_shakespeare(plays=...)`, {s['plays']} plays: "
        f"{s['training_characters']:,} training and {f['validation_tokens']:,} validation "
        "characters (the last 10% of each play).",
        f"* {r['steps']:,} steps of {r['batch_size']} random windows of "
        f"{c['max_sequence_length']} characters: **{f['training_tokens']:,} tokens seen** "
        f"({f['training_tokens'] / s['training_characters']:.1f} passes over the training "
        "text). AdamW (weight decay 0.1, beta_2 "
        f"{r['beta_2']}, global norm clipped at 1), {r['warmup_steps']} warmup steps to "
        f"{r['learning_rate']:g}, cosine decay to {r['min_learning_rate']:g}; no dropout; "
        f"{f['precision']}, graph mode (no XLA).",
        f"* Training time: **{f['training_seconds'] / 3600:.2f} h** on the project's 2-core "
        "CPU (AMD EPYC, AVX2, no bfloat16 instructions), shared with other work; legs: "
        f"{legs_text(f['legs'])}.",
        "* Why this size: on this CPU (no bfloat16, float32 matmuls at 120-140 GFLOP/s) "
        "nanoGPT's \"mini\" (6 layers, width 384, 10.8M weights) trains at 4.1 s per step of "
        "16 windows; this model at 2.2 s. In 6 minutes each, side by side: mini 344K tokens, "
        "validation loss 2.57; this one 598K tokens, 2.52. A 2-hour budget gives it about 2x "
        "the tokens of mini.",
        "",
        "## Figures",
        "",
        f"* Validation loss **{f['validation_loss']:.3f} nats per character** over the whole "
        "validation split (target <= 1.55; nanoGPT's 10.8M model reaches 1.47 on its own "
        "split after about 82M tokens on a GPU).",
        f"* Real-word rate **{_figure(s, 'measures', 'real_word_rate', fmt='{:.1%}')}** "
        f"({_figure(s, 'measures', 'real_word_count')} words): 24 samples of 200 new "
        "characters at temperature 0.8, top-k off, 3 seeds from `SPEAKER:\\n` prompts of 8 "
        f"speakers ({', '.join(SPEAKERS)}); a word (letters, inner apostrophes, lowercased, "
        "`keras_attn.text.words`) is real when it occurs anywhere in the 38 plays "
        "(`keras_attn.text.real_word_rate`). Target >= 90%.",
        "",
        "A sample (temperature 0.8):",
        "",
        "```",
        _figure(s, "measures", "sample"),
        "```",
        "",
        "## Limits",
        "",
        "A small character model: it writes words and verse-shaped lines, but what it says "
        "makes little sense over more than a line. It is for seeing how a GPT writes one "
        "character at a time, not for answers.",
        "",
    ])


def chat_card(s):
    t, ft = s["training"], s["finetuning"]
    f = ft["figures"]
    m = s.get("measures", {})
    lines = [
        "# shakespeare_gpt",
        "",
        "A character-level GPT that answers as HAMLET: `shakespeare_gpt_base` (pre-trained on "
        "37 plays) fine-tuned on Hamlet's replies in *Hamlet*, the play it had not seen.",
        "",
        "## Reproduce",
        "",
        "```",
        f"{COMMAND} --only chat     # after the base leg; or `make models`",
        "```",
        "",
        "## Fine-tuning",
        "",
        f"* Data: every speech of HAMLET in *Hamlet* that follows another character's speech; "
        f"the play's last {HELD_OUT:.0%} of these pairs is held out ({f['validation_pairs']} "
        f"pairs). Training keeps the replies of up to {MAX_REPLY} characters "
        f"({f['train_pairs']} pairs): the prompt takes at most half the 256-character "
        "context, so a reply must fit in the other half; HAMLET learns to answer briefly "
        "and to end his speech.",
        "* Each example is the chat template of `chatgpt_demo/chat.py` (the module the "
        "server uses too); the loss counts only the reply and the blank line that ends it "
        "(`keras_attn.training.train_replies`).",
        f"* {ft['recipe']['steps']} steps of {ft['recipe']['batch_size']} examples, AdamW, "
        f"peak learning rate {ft['recipe']['learning_rate']:g}, cosine decay; "
        f"{f['training_seconds']:.0f} s ({legs_text(f['legs'])}).",
        f"* Held-out reply loss: **{f['validation_reply_loss_before']:.3f} -> "
        f"{f['validation_reply_loss']:.3f}** nats per character (before -> after).",
        "",
        "## Figures (the exported model, serving defaults: " + ", ".join(
            f"{k}={v}" for k, v in CHAT_DEFAULTS.items()) + ")",
        "",
        f"On the {_figure(m, 'prompts')} held-out prompts:",
        "",
        f"* replies that end their speech (the blank line) within the default "
        f"{CHAT_DEFAULTS['max_new_tokens']} characters: "
        f"**{_figure(m, 'ended')} ({_figure(m, 'ended_rate', fmt='{:.1%}')})**, target >= 90%;",
        f"* real-word rate of the replies: **{_figure(m, 'real_word_rate', fmt='{:.1%}')}** "
        f"({_figure(m, 'real_word_count')} words), target >= 90%;",
        f"* replies with a speaker line (\"NAME:\") inside: **{_figure(m, 'with_header')}**, "
        "target 0.",
        "",
        "Strange messages (each still gets a reply in the format):",
        "",
        "| message | reply | ended | speaker lines |",
        "|---|---|---|---|",
    ]
    for name, r in s.get("strange_messages", {}).items():
        reply = r["reply"].replace("\n", " / ").replace("|", "\\|")
        lines.append(f"| {name} | {reply[:80]} | {r['ended']} | {len(r['headers'])} |")
    lines += [
        "",
        "## Chat format",
        "",
        "```",
        f"{chat.DEFAULT_SPEAKER}:",
        "<the user's message>",
        "",
        f"{PERSONA}:",
        "<the reply, ended by a blank line>",
        "```",
        "",
        f"* Model: the base's ({t['figures']['parameters']:,} parameters, see "
        "`shakespeare_gpt_base/MODEL_CARD.md`); size "
        f"**{s.get('size_mb', '?')} MB**.",
        "",
    ]
    return "\n".join(lines)


def numbers_card(s):
    f, r, c = s["training"]["figures"], s["training"]["recipe"], s["training"]["config"]
    m = s.get("measures", {})
    lines = [
        "# numbers_en_fr",
        "",
        "Translates English number words, 0 to 999,999, into French ones: `seventy-one` -> "
        "`soixante et onze`.",
        "",
        "## Reproduce",
        "",
        "```",
        f"{COMMAND} --only numbers",
        "```",
        "",
        "## Model",
        "",
        f"* `keras_attn.models.Translator`, the \"tiny\" preset: {c['num_layers']} encoder "
        f"and {c['num_layers']} decoder blocks, width {c['hidden_dim']}, sinusoidal positions; "
        f"**{f['parameters']:,} parameters**.",
        "* Tokenizers: `keras_attn.text.ReversibleWordPieceTokenizer`, one per language. "
        "Their graph holds tensorflow-text ops: `import tensorflow_text` before "
        "`tf.saved_model.load`.",
        f"* Size: **{s.get('size_mb', '?')} MB**.",
        "",
        "## Input: normalized, or refused",
        "",
        "The SavedModel's `translate` runs `keras_attn.data.normalize_english_number` in its "
        "graph first, so every server gets it: case, spaces, \"seventy one\" for "
        "\"seventy-one\", and \"and\" are made the dataset's spelling; a text that is not an "
        "English number from 0 to 999,999 gets an empty `translation` and an `error` that "
        "says why (the first unknown word, or the order of the words).",
        "",
        "| typed | translation | error |",
        "|---|---|---|",
        *(f"| {x['english']!r} | {x['translation']} | {x['error']} |" for x in m.get("typed", [])),
        "",
        "## Training",
        "",
        "* Data: `keras_attn.data.load_numbers_en_fr(" + ", ".join(
            f"{k}={v:_}" if isinstance(v, int) else f"{k}={v}" for k, v in NUMBERS_DATA.items())
        + f")`: every number from 0 to 999 is in training "
        f"{NUMBERS_DATA['small_number_repeats']} times (users type short numbers first); the "
        f"other {NUMBERS_DATA['num_train'] - 1000 * NUMBERS_DATA['small_number_repeats']:,} "
        f"training numbers and the {NUMBERS_DATA['num_validation']:,} validation and "
        f"{NUMBERS_DATA['num_test']:,} test numbers are drawn from 1,000 to 999,999, disjoint.",
        f"* {r['steps']:,} steps of {r['batch_size']} pairs; AdamW, warmup then cosine decay "
        f"from {r['learning_rate']:g} to {r['min_learning_rate']:g}; "
        f"{f['training_seconds']:.0f} s.",
        "",
        "## Figures (the exported model, greedy)",
        "",
        f"* Exact match on every number from 0 to 999: **{_figure(m, 'exact_0_to_999', fmt='{:.1%}')}** "
        "(target 100%).",
        f"* Exact match on {_figure(m, 'test_examples')} held-out numbers from 1,000 to 999,999: "
        f"**{_figure(m, 'exact_test', fmt='{:.2%}')}** (target >= 99.5%).",
        "",
    ]
    return "\n".join(lines)


LEGS = {
    "base": lambda runs: train_base(runs / "base"),
    "chat": lambda runs: train_chat(runs / "chat", runs / "base"),
}
EXPORTS = {"shakespeare": export_shakespeare, "numbers": export_numbers}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--only", choices=tuple(LEGS) + tuple(EXPORTS),
                        help="run one training leg, or train and export one family")
    parser.add_argument("--runs", type=pathlib.Path, default=RUNS, help="where the runs are kept")
    args = parser.parse_args(argv)
    if args.only in LEGS:
        LEGS[args.only](args.runs)
        return
    for name, build in EXPORTS.items():
        if args.only in (None, name):
            build(args.runs)


if __name__ == "__main__":
    main()
