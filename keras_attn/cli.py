"""The `keras-attn` command: train a GPT or a translator, then use it.

    keras-attn train gpt --dataset shakespeare --preset baby --steps 2000 --out runs/gpt
    keras-attn train translator --dataset numbers --preset tiny --steps 3000 --out runs/fr
    keras-attn generate --model runs/gpt --prompt "ROMEO:"
    keras-attn translate --model runs/fr "seventy-one"

A run writes everything under `--out`: `model.keras`, the tokenizer(s),
`run.json` (arguments, config and final figures), and from
`keras_attn.training.Trainer` the `checkpoints/`, `backup/` (running the
same command again resumes an interrupted run at the step of its last
backup) and TensorBoard `logs/`.

`--strategy` picks the `tf.distribute` strategy (see
`keras_attn.training.make_strategy`): `default`, `mirrored` (every local
GPU), `multi_worker` (run the same command on each machine, with TF_CONFIG
set; the chief writes `--out`, which must be shared storage to resume) or
`tpu`. `--batch-size` is the global batch, split between the replicas.
"""

import argparse
import dataclasses
import json
import os
import pathlib
import shutil
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # before TensorFlow loads

import keras  # noqa: E402
import numpy as np  # noqa: E402

from keras_attn import data  # noqa: E402
from keras_attn import generation  # noqa: E402
from keras_attn import models  # noqa: E402
from keras_attn import text  # noqa: E402
from keras_attn import training  # noqa: E402
from keras_attn.data import sequence_tasks  # noqa: E402

GPT_DATASETS = "shakespeare, or text:PATH for a UTF-8 text file"
TRANSLATOR_DATASETS = "numbers, copy, reverse, or tsv:PATH for tab-separated pairs"
TASK_VOCABULARY_SIZE = 16  # copy/reverse: pad, start, end and 13 tokens


class UsageError(ValueError):
    """A bad argument: printed as one line, exit status 2."""


def _parser():
    parser = argparse.ArgumentParser(prog="keras-attn", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)

    train = commands.add_parser("train", help="train a model")
    families = train.add_subparsers(dest="family", required=True)
    for family, datasets, preset, tokenizers in [
        ("gpt", GPT_DATASETS, "baby", ("char", "byte")),
        ("translator", TRANSLATOR_DATASETS, "tiny", ("wordpiece", "char")),
    ]:
        p = families.add_parser(family, help=f"train a {family}")
        p.add_argument("--dataset", required=True, help=datasets)
        p.add_argument("--preset", default=preset, help=f"model preset (default {preset})")
        p.add_argument("--tokenizer", choices=tokenizers, default=tokenizers[0])
        p.add_argument("--out", required=True, type=pathlib.Path, help="run directory")
        p.add_argument("--steps", type=int, default=2000, help="training steps")
        p.add_argument("--steps-per-epoch", type=int, default=200,
                       help="steps between evaluations, checkpoints and backups")
        p.add_argument("--batch-size", type=int, default=12 if family == "gpt" else 64)
        p.add_argument("--learning-rate", type=float, default=1e-3, help="peak learning rate")
        p.add_argument("--min-learning-rate", type=float, default=1e-4,
                       help="floor of the cosine decay")
        p.add_argument("--warmup-steps", type=int, default=100)
        p.add_argument("--beta2", type=float, default=0.99)
        p.add_argument("--weight-decay", type=float, default=0.1)
        p.add_argument("--dropout", type=float, default=None, help="overrides the preset's")
        p.add_argument("--label-smoothing", type=float, default=0.0)
        p.add_argument("--seed", type=int, default=0)
        p.add_argument("--verbose", type=int, default=1, choices=(0, 1, 2),
                       help="Keras progress output: 0 none, 1 bars, 2 a line per epoch")
        p.add_argument("--strategy", default="default",
                       help=f"tf.distribute strategy: {', '.join(training.STRATEGIES)} "
                            "(multi_worker reads TF_CONFIG)")
        if family == "gpt":
            p.add_argument("--sample-prompt", default="ROMEO:",
                           help="prompt of the samples logged to TensorBoard")
        else:
            p.add_argument("--num-train", type=int, default=None,
                           help="training pairs (numbers and copy/reverse)")

    generate = commands.add_parser("generate", help="continue a prompt with a trained GPT")
    generate.add_argument("--model", required=True, type=pathlib.Path, help="run directory")
    generate.add_argument("--prompt", default="ROMEO:")
    generate.add_argument("--max-new-tokens", type=int, default=200)
    generate.add_argument("--temperature", type=float, default=0.8, help="0: greedy")
    generate.add_argument("--top-k", type=int, default=0, help="0: no limit")
    generate.add_argument("--top-p", type=float, default=1.0, help="nucleus sampling, in (0, 1]")
    generate.add_argument("--num-beams", type=int, default=1, help=">1: beam search")
    generate.add_argument("--seed", type=int, default=0)

    translate = commands.add_parser("translate", help="translate with a trained translator")
    translate.add_argument("--model", required=True, type=pathlib.Path, help="run directory")
    translate.add_argument("--num-beams", type=int, default=1, help=">1: beam search")
    translate.add_argument("texts", nargs="+", help="the sentences to translate")

    export = commands.add_parser(
        "export", help="write a trained run as a text-in, text-out SavedModel"
    )
    export.add_argument("--model", required=True, type=pathlib.Path, help="run directory")
    export.add_argument("--out", required=True, type=pathlib.Path, help="SavedModel directory")
    export.add_argument("--num-beams", type=int, default=1, help="translators: >1 for beam search")
    return parser


def _check(condition, message):
    if not condition:
        raise UsageError(message)


def _check_training_args(args):
    for name in ("steps", "steps_per_epoch", "batch_size"):
        value = getattr(args, name)
        _check(value > 0, f"--{name.replace('_', '-')} must be positive. Received: {value}")
    _check(args.steps % args.steps_per_epoch == 0 or args.steps < args.steps_per_epoch,
           f"--steps ({args.steps}) must be a multiple of --steps-per-epoch "
           f"({args.steps_per_epoch}), so that a resumed run ends at the same step")
    _check(args.strategy in training.STRATEGIES,
           f"--strategy must be one of {', '.join(training.STRATEGIES)}. Received: {args.strategy}")


def _preset(config_class, args, **overrides):
    if args.dropout is not None:
        overrides["dropout"] = args.dropout
    return config_class.preset(args.preset, **overrides)


def _compile(model, args, pad_id):
    schedule = training.warmup_cosine_decay(
        args.learning_rate, args.warmup_steps, args.steps, args.min_learning_rate
    )
    model.compile(
        optimizer=training.AdamW(schedule, weight_decay=args.weight_decay, beta_2=args.beta2),
        loss=training.MaskedSparseCategoricalCrossentropy(
            pad_id=pad_id, label_smoothing=args.label_smoothing
        ),
        metrics=[training.MaskedAccuracy(pad_id=pad_id), training.Perplexity(pad_id=pad_id)],
    )


def _fit(trainer, model, args, train_data, validation_data, generate_fn=None):
    start = time.perf_counter()
    trainer.fit(
        model,
        train_data,
        steps=args.steps,
        steps_per_epoch=min(args.steps_per_epoch, args.steps),
        validation_data=validation_data,
        out_dir=args.out,
        generate_fn=generate_fn,
        verbose=args.verbose,
    )
    return time.perf_counter() - start


def _write_run(args, files, config, figures):
    arguments = {k: str(v) if isinstance(v, pathlib.Path) else v for k, v in vars(args).items()}
    run = {"arguments": arguments, "config": dataclasses.asdict(config), "figures": figures}
    (files / "run.json").write_text(json.dumps(run, indent=2) + "\n")
    print(json.dumps(figures, indent=2))


def train_gpt(args, trainer, files):
    """Trains `build_gpt` on a text and reports the validation loss per token.

    `trainer` is a `keras_attn.training.Trainer`; `files` the directory for
    the model, tokenizer and run.json (`args.out`, or a temporary one on
    non-chief workers).
    """
    if args.dataset == "shakespeare":
        corpus = data.load_shakespeare()
        train_text, validation_text = corpus.train, corpus.validation
    elif args.dataset.startswith("text:"):
        whole = data.load_text_file(args.dataset[len("text:"):])
        split = int(len(whole) * 0.9)
        train_text, validation_text = whole[:split], whole[split:]
    else:
        raise UsageError(f"Unknown GPT --dataset. Expected {GPT_DATASETS}. Received: {args.dataset}")
    if args.tokenizer == "char":
        tokenizer = text.CharacterTokenizer.from_texts([train_text, validation_text])
    else:
        tokenizer = text.ByteTokenizer()
    train_ids = np.asarray(tokenizer(train_text), "int32")  # (N,)
    validation_ids = np.asarray(tokenizer(validation_text), "int32")
    config = _preset(models.GPTConfig, args, vocabulary_size=int(tokenizer.vocabulary_size()))
    length = config.max_sequence_length
    _check(len(validation_ids) > length + 1,
           f"The validation text is too short for windows of {length} tokens: "
           f"{len(validation_ids)} tokens")

    keras.utils.set_random_seed(args.seed)
    with trainer.scope():
        model = models.build_gpt(config)
        _compile(model, args, pad_id=None)
    train_data = data.random_windows(train_ids, length, args.batch_size, seed=args.seed)
    # Validation during training: a fixed sample; at the end, every window.
    validation_sample = data.random_windows(
        validation_ids, length, args.batch_size, seed=args.seed + 1, num_batches=50
    )
    generate_fn = training.gpt_sampler(
        tokenizer(args.sample_prompt), 200, lambda ids: tokenizer.detokenize(ids),
        temperature=0.8, seed=args.seed,
    )
    text.save_tokenizer(tokenizer, files / "tokenizer")
    seconds = _fit(trainer, model, args, train_data, validation_sample, generate_fn)
    model.save(files / "model.keras")
    # Every window once; TPUs need a static batch, so there the last partial batch is left out.
    windows = (len(validation_ids) - 1) // length
    every_window = data.contiguous_windows(validation_ids, length, min(256, windows),
                                           drop_remainder=args.strategy == "tpu")
    results = trainer.evaluate(model, every_window)
    _write_run(args, files, config, {
        "validation_loss": round(float(results["loss"]), 4),
        "validation_accuracy": round(float(results["accuracy"]), 4),
        "validation_tokens": len(validation_ids),
        "training_seconds": round(seconds, 1),
        "parameters": model.count_params(),
    })


def _translation_data(args):
    """`(source_tokenizer, target_tokenizer, splits)`; splits hold (sources, targets) ids."""
    if args.dataset in sequence_tasks.TASKS:
        kwargs = {} if args.num_train is None else {"num_train": args.num_train}
        splits = data.load_sequence_task(
            args.dataset, vocabulary_size=TASK_VOCABULARY_SIZE, seed=args.seed, **kwargs
        )
        return None, None, splits
    if args.dataset == "numbers":
        kwargs = {} if args.num_train is None else {"num_train": args.num_train}
        numbers = data.load_numbers_en_fr(seed=args.seed, **kwargs)
        pairs = {name: [(p.english, p.french) for p in split]
                 for name, split in numbers._asdict().items()}
    elif args.dataset.startswith("tsv:"):
        every_pair = data.load_tsv_pairs(args.dataset[len("tsv:"):])
        _check(len(every_pair) >= 20, f"{args.dataset} has {len(every_pair)} pairs; need 20+")
        tenth = max(1, len(every_pair) // 10)
        pairs = {"test": every_pair[:tenth], "validation": every_pair[tenth: 2 * tenth],
                 "train": every_pair[2 * tenth:]}
    else:
        raise UsageError(
            f"Unknown translator --dataset. Expected {TRANSLATOR_DATASETS}. Received: {args.dataset}"
        )
    tokenizer_class = (
        text.CharacterTokenizer if args.tokenizer == "char" else text.ReversibleWordPieceTokenizer
    )
    source_tokenizer = tokenizer_class.from_texts([s for s, _ in pairs["train"]])
    target_tokenizer = tokenizer_class.from_texts([t for _, t in pairs["train"]])
    return source_tokenizer, target_tokenizer, pairs


def _id_lists(tokenizer, strings):
    """Token ids of each string, as Python lists."""
    ids = tokenizer(strings)
    return ids.to_list() if hasattr(ids, "to_list") else [list(row) for row in ids]


def train_translator(args, trainer, files):
    """Trains `build_transformer` and reports greedy exact-match accuracy on the test split.

    `trainer` and `files` as in `train_gpt`.
    """
    source_tokenizer, target_tokenizer, splits = _translation_data(args)
    keras.utils.set_random_seed(args.seed)
    if source_tokenizer is None:  # copy/reverse: the data are ids already
        config = _preset(models.TransformerConfig, args, vocabulary_size=TASK_VOCABULARY_SIZE,
                         max_sequence_length=splits.train.sources.shape[1] + 1)
        batches = {name: data.sequence_task_batches(split, args.batch_size, seed=args.seed)
                   for name, split in splits._asdict().items()}
        test_sources = splits.test.sources
        test_targets = [list(t[:n]) for t, n in zip(splits.test.targets, splits.test.lengths)]
        start_id, end_id = sequence_tasks.START_ID, sequence_tasks.END_ID
        detokenize = None
    else:
        # One tokenizer call per list: per-string calls are ~1000x slower.
        ids = {name: (_id_lists(source_tokenizer, [s for s, _ in pairs]),
                      _id_lists(target_tokenizer, [t for _, t in pairs]))
               for name, pairs in splits.items()}
        max_source = max(len(s) for sources, _ in ids.values() for s in sources)
        max_target = max(len(t) for _, targets in ids.values() for t in targets) + 1
        config = _preset(
            models.TransformerConfig, args,
            vocabulary_size=int(target_tokenizer.vocabulary_size()),
            encoder_vocabulary_size=int(source_tokenizer.vocabulary_size()),
            max_sequence_length=max(max_source, max_target),
        )
        start_id, end_id = target_tokenizer.start_token_id, target_tokenizer.end_token_id
        batches = {
            name: data.translation_batches(
                sources, targets, args.batch_size, max_source_length=max_source,
                max_target_length=max_target, start_id=start_id, end_id=end_id,
                seed=args.seed, shuffle=name == "train",
                drop_remainder=name == "train" or args.strategy == "tpu",  # TPUs: static shapes
            )
            for name, (sources, targets) in ids.items()
        }
        test_sources = text.tokenize_batch(
            source_tokenizer, [s for s, _ in splits["test"]], sequence_length=max_source
        )
        test_targets = [t for _, t in splits["test"]]
        detokenize = target_tokenizer.detokenize
        text.save_tokenizer(source_tokenizer, files / "source_tokenizer")
        text.save_tokenizer(target_tokenizer, files / "target_tokenizer")

    with trainer.scope():
        model = models.build_transformer(config)
        _compile(model, args, pad_id=0)
    seconds = _fit(trainer, model, args, batches["train"], batches["validation"])
    model.save(files / "model.keras")
    results = trainer.evaluate(model, batches["validation"])
    start = time.perf_counter()
    predicted = generation.TranslatorGenerator(model).translate(
        test_sources, start_id, end_id, max_length=_translation_length(model) - 1
    )
    decode_seconds = time.perf_counter() - start
    if detokenize is None:
        predicted = [[int(i) for i in row if i] for row in predicted]
    else:
        predicted = [detokenize(row) for row in predicted]
    exact = sum(p == t for p, t in zip(predicted, test_targets))
    _write_run(args, files, config, {
        "validation_loss": round(float(results["loss"]), 4),
        "validation_token_accuracy": round(float(results["accuracy"]), 4),
        "test_exact_match": round(exact / len(test_targets), 4),
        "test_examples": len(test_targets),
        "training_seconds": round(seconds, 1),
        "greedy_decoding_seconds": round(decode_seconds, 1),
        "parameters": model.count_params(),
    })


def train(args):
    """Runs `keras-attn train` under `args.strategy`, made before any other TensorFlow work."""
    trainer = training.Trainer(args.strategy)
    args.out.mkdir(parents=True, exist_ok=True)
    # Non-chief workers write their copies to a temporary directory.
    files = args.out if trainer.is_chief else pathlib.Path(tempfile.mkdtemp(prefix="keras-attn-"))
    try:
        (train_gpt if args.family == "gpt" else train_translator)(args, trainer, files)
    finally:
        if files != args.out:
            shutil.rmtree(files, ignore_errors=True)


def _load_run(directory):
    _check((directory / "model.keras").exists(),
           f"--model must be a run directory with model.keras. Received: {directory}")
    return keras.saving.load_model(directory / "model.keras")


def generate(args):
    model = _load_run(args.model)
    tokenizer = text.load_tokenizer(args.model / "tokenizer")
    _check(args.max_new_tokens > 0, f"--max-new-tokens must be positive. Received: {args.max_new_tokens}")
    _check(args.num_beams > 0, f"--num-beams must be positive. Received: {args.num_beams}")
    prompt_ids = [int(i) for i in tokenizer(args.prompt)]
    _check(prompt_ids, "--prompt must not be empty")
    generator = generation.GPTGenerator(model)
    if args.num_beams > 1:
        new = generator.beam_search([prompt_ids], args.max_new_tokens, num_beams=args.num_beams)
    else:
        new = generator.generate(
            [prompt_ids], args.max_new_tokens, temperature=args.temperature, top_k=args.top_k,
            top_p=args.top_p, seed=args.seed,
        )
    print(tokenizer.detokenize(prompt_ids + new[0]))


def _translation_length(model):
    """The longest translation: the decoder's context minus the start token."""
    embedding = model.get_layer("decoder_embedding")
    return getattr(embedding, "sequence_length", None) or 64


def translate(args):
    model = _load_run(args.model)
    source_tokenizer = text.load_tokenizer(args.model / "source_tokenizer")
    target_tokenizer = text.load_tokenizer(args.model / "target_tokenizer")
    _check(args.num_beams > 0, f"--num-beams must be positive. Received: {args.num_beams}")
    sources = text.tokenize_batch(source_tokenizer, args.texts)
    ids = generation.TranslatorGenerator(model).translate(
        sources, target_tokenizer.start_token_id, target_tokenizer.end_token_id,
        max_length=_translation_length(model) - 1, num_beams=args.num_beams,
    )
    for source, row in zip(args.texts, ids):
        print(f"{source}\t{target_tokenizer.detokenize(row)}")


def export_run(args):
    from keras_attn import export

    model = _load_run(args.model)
    _check(args.num_beams > 0, f"--num-beams must be positive. Received: {args.num_beams}")
    if (args.model / "tokenizer").exists():
        path = export.export_generator(model, text.load_tokenizer(args.model / "tokenizer"), args.out)
    else:
        tokenizers = tuple(
            text.load_tokenizer(args.model / f"{side}_tokenizer") for side in ("source", "target")
        )
        path = export.export_translator(model, tokenizers, args.out, num_beams=args.num_beams)
    print(f"wrote {path}")


def main(argv=None):
    args = _parser().parse_args(argv)
    try:
        if args.command == "train":
            _check_training_args(args)
            train(args)
        elif args.command == "generate":
            generate(args)
        elif args.command == "export":
            export_run(args)
        else:
            translate(args)
    except (ValueError, FileNotFoundError) as error:  # bad arguments or data
        if os.environ.get("KERAS_ATTN_DEBUG"):
            raise
        print(f"keras-attn: error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
