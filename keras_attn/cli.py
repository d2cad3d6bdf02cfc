"""The `keras-attn` command: train a GPT or a translator, then use it.

    keras-attn train gpt --dataset shakespeare --out runs/gpt
    keras-attn train translator --dataset numbers --preset tiny --steps 3000 --out runs/fr
    keras-attn generate --model runs/gpt --prompt "ROMEO:"
    keras-attn translate --model runs/fr "seventy-one"
    keras-attn export --model runs/gpt --out exported/gpt
    keras-attn export --keras-hub-preset gpt2_base_en --out exported/gpt2

Training runs `keras_attn.training.train_gpt` or `train_translator`, which
write everything under `--out`: `model.keras`, the tokenizer(s), `run.json`
(the kind of run, recipe, config, figures, wall time of each leg) and from
`keras_attn.training.Trainer` the `checkpoints/`, `backup/` (running the
same command again resumes an interrupted run at the step of its last
backup) and TensorBoard `logs/`.

`--strategy` picks the `tf.distribute` strategy (see
`keras_attn.training.make_strategy`): `default`, `mirrored` (every local
GPU), `multi_worker` (run the same command on each machine, with TF_CONFIG
set; the chief writes `--out`, which must be shared storage to resume) or
`tpu`. `--batch-size` is the global batch, split between the replicas.

Usage errors (a bad argument, a missing or unreadable file, a run of the
other kind) print one line and exit with status 2. Anything else is a bug
and shows its traceback.
"""

import argparse
import inspect
import os
import pathlib
import shutil
import sys
import tempfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # before TensorFlow loads

import keras  # noqa: E402

from keras_attn import __version__  # noqa: E402
from keras_attn import data  # noqa: E402
from keras_attn import generation  # noqa: E402
from keras_attn import models  # noqa: E402
from keras_attn import text  # noqa: E402
from keras_attn import training  # noqa: E402
from keras_attn.data import sequence_tasks  # noqa: E402
from keras_attn.generation.settings import DEFAULTS  # noqa: E402

GPT_DATASETS = "shakespeare, or text:PATH for a UTF-8 text file"
TRANSLATOR_DATASETS = "numbers, copy, reverse, or tsv:PATH for tab-separated pairs"
TASK_VOCABULARY_SIZE = 16  # copy/reverse: pad, start, end and 13 tokens


class UsageError(Exception):
    """A bad argument or input file: printed as one line, exit status 2."""


# Each family's default preset; the rest of its default recipe is its
# training function's (`train_gpt`: the fastest recipe measured to a good model,
# with "baby_modern"; see benchmarks/time_to_loss.py).
PRESETS = {"gpt": "baby_modern", "translator": "tiny"}
RECIPES = {"gpt": training.train_gpt, "translator": training.train_translator}


def _recipe_defaults(family):
    """The preset, and the defaults of the family's training function."""
    parameters = inspect.signature(RECIPES[family]).parameters
    return dict(preset=PRESETS[family], **{name: p.default for name, p in parameters.items()
                                           if p.default is not inspect.Parameter.empty})


def _parser():
    parser = argparse.ArgumentParser(prog="keras-attn", description=__doc__.split("\n")[0])
    parser.add_argument("--version", action="version", version=f"keras-attn {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)

    train = commands.add_parser("train", help="train a model")
    families = train.add_subparsers(dest="family", required=True)
    for family, datasets, tokenizers in [
        ("gpt", GPT_DATASETS, ("char", "byte")),
        ("translator", TRANSLATOR_DATASETS, ("wordpiece", "char")),
    ]:
        defaults = _recipe_defaults(family)
        p = families.add_parser(family, help=f"train a {family}")
        p.add_argument("--dataset", required=True, help=datasets)
        p.add_argument("--preset", default=defaults["preset"],
                       help=f"model preset (default {defaults['preset']})")
        p.add_argument("--tokenizer", choices=tokenizers, default=tokenizers[0])
        p.add_argument("--out", required=True, type=pathlib.Path, help="run directory")
        p.add_argument("--steps", type=int, default=defaults["steps"],
                       help=f"training steps (default {defaults['steps']})")
        p.add_argument("--steps-per-epoch", type=int, default=defaults["steps_per_epoch"],
                       help="steps between evaluations, checkpoints and backups "
                            f"(default {defaults['steps_per_epoch']})")
        p.add_argument("--batch-size", type=int, default=defaults["batch_size"],
                       help=f"windows per step (default {defaults['batch_size']})")
        p.add_argument("--learning-rate", type=float, default=defaults["learning_rate"],
                       help=f"peak learning rate (default {defaults['learning_rate']:g})")
        p.add_argument("--min-learning-rate", type=float, default=defaults["min_learning_rate"],
                       help="floor of the cosine decay "
                            f"(default {defaults['min_learning_rate']:g})")
        p.add_argument("--warmup-steps", type=int, default=defaults["warmup_steps"],
                       help="linear warmup steps (default: min(100, steps // 10))")
        p.add_argument("--beta2", type=float, default=defaults["beta_2"])
        p.add_argument("--weight-decay", type=float, default=defaults["weight_decay"])
        p.add_argument("--dropout", type=float, default=None, help="overrides the preset's")
        p.add_argument("--label-smoothing", type=float, default=defaults["label_smoothing"])
        p.add_argument("--seed", type=int, default=defaults["seed"])
        p.add_argument("--precision", choices=training.recipes.PRECISIONS,
                       default=defaults["precision"],
                       help="auto: mixed_bfloat16 on accelerators and CPUs with bfloat16 "
                            "instructions, else float32")
        p.add_argument("--jit-compile", action="store_true", help="compile steps with XLA")
        p.add_argument("--verbose", type=int, default=None, choices=(0, 1, 2),
                       help="Keras progress: 0 none, 1 bars, 2 a line per epoch "
                            "(default: bars on a terminal, lines otherwise)")
        p.add_argument("--strategy", default=defaults["strategy"],
                       help=f"tf.distribute strategy: {', '.join(training.STRATEGIES)} "
                            "(multi_worker reads TF_CONFIG)")
        if family == "gpt":
            p.add_argument("--sample-prompt", default="ROMEO:",
                           help="prompt of the samples logged to TensorBoard")
            p.add_argument("--evaluation-windows", type=int,
                           default=defaults["evaluation_windows"],
                           help="validation windows evaluated after each epoch (a fixed "
                                "sample); the whole split is evaluated at the end")
        else:
            p.add_argument("--num-train", type=int, default=None,
                           help="training pairs (numbers and copy/reverse); numbers: with "
                                "20,000 or more, every number below 1,000 is 10 of them")

    generate = commands.add_parser("generate", help="continue a prompt with a trained GPT")
    generate.add_argument("--model", required=True, type=pathlib.Path, help="run directory")
    generate.add_argument("--prompt", default="ROMEO:")
    generate.add_argument("--max-new-tokens", type=int, default=DEFAULTS["max_new_tokens"])
    generate.add_argument("--temperature", type=float, default=DEFAULTS["temperature"],
                          help="0: greedy; must be >= 0")
    generate.add_argument("--top-k", type=int, default=DEFAULTS["top_k"], help="0: no limit")
    generate.add_argument("--top-p", type=float, default=DEFAULTS["top_p"],
                          help="nucleus sampling, in (0, 1]")
    generate.add_argument("--num-beams", type=int, default=1, help=">1: beam search")
    generate.add_argument("--seed", type=int, default=DEFAULTS["seed"])

    translate = commands.add_parser("translate", help="translate with a trained translator")
    translate.add_argument("--model", required=True, type=pathlib.Path, help="run directory")
    translate.add_argument("--num-beams", type=int, default=1, help=">1: beam search")
    translate.add_argument("texts", nargs="+", help="the sentences to translate")

    export = commands.add_parser(
        "export", help="write a trained run or a keras-hub preset as a text-in, text-out "
                       "SavedModel"
    )
    source = export.add_mutually_exclusive_group(required=True)
    source.add_argument("--model", type=pathlib.Path, help="run directory")
    source.add_argument("--keras-hub-preset", metavar="PATH_OR_NAME",
                        help="a keras-hub GPT-2 or Llama preset: a name (gpt2_base_en), a "
                             "directory from save_to_preset, or hf://ORG/MODEL")
    export.add_argument("--out", required=True, type=pathlib.Path, help="SavedModel directory")
    export.add_argument("--num-beams", type=int, default=1, help="translators: >1 for beam search")
    export.add_argument("--max-sequence-length", type=int, default=None,
                        help="keras-hub Llama presets: the context of the export (default "
                             "1024); GPT-2's is its position table")
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
    if args.warmup_steps is not None:
        _check(0 <= args.warmup_steps < args.steps,
               f"--warmup-steps must be from 0 to --steps - 1 ({args.steps - 1}). "
               f"Received: {args.warmup_steps}")
    _check(args.strategy in training.STRATEGIES,
           f"--strategy must be one of {', '.join(training.STRATEGIES)}. Received: {args.strategy}")
    _check(args.learning_rate > 0, f"--learning-rate must be positive. Received: {args.learning_rate}")
    _check(0 <= args.min_learning_rate <= args.learning_rate,
           f"--min-learning-rate must be from 0 to --learning-rate. "
           f"Received: {args.min_learning_rate}")
    if args.dropout is not None:
        _check(0 <= args.dropout < 1, f"--dropout must be in [0, 1). Received: {args.dropout}")


def _preset(config_class, args, **overrides):
    if args.dropout is not None:
        overrides["dropout"] = args.dropout
    presets = models.GPT_PRESETS if config_class is models.GPTConfig else models.TRANSFORMER_PRESETS
    _check(args.preset in presets,
           f"--preset must be one of {', '.join(presets)}. Received: {args.preset}")
    return config_class.preset(args.preset, **overrides)


def _recipe_args(args, trainer):
    return dict(
        steps=args.steps, steps_per_epoch=min(args.steps_per_epoch, args.steps),
        batch_size=args.batch_size, learning_rate=args.learning_rate,
        min_learning_rate=args.min_learning_rate, warmup_steps=args.warmup_steps,
        beta_2=args.beta2, weight_decay=args.weight_decay,
        label_smoothing=args.label_smoothing, seed=args.seed, precision=args.precision,
        jit_compile=args.jit_compile, strategy=trainer,
        verbose="auto" if args.verbose is None else args.verbose,
    )


def _read_user_data(load, *load_args):
    """Reads a dataset the user named; a missing or malformed file is a usage error."""
    try:
        return load(*load_args)
    except (ValueError, OSError) as error:
        raise UsageError(str(error)) from None


def _gpt_texts(dataset):
    if dataset == "shakespeare":
        corpus = data.load_shakespeare()
        return corpus.train, corpus.validation
    if dataset.startswith("text:"):
        whole = _read_user_data(data.load_text_file, dataset[len("text:"):])
        split = int(len(whole) * 0.9)
        return whole[:split], whole[split:]
    raise UsageError(f"Unknown GPT --dataset. Expected {GPT_DATASETS}. Received: {dataset}")


def train_gpt(args, trainer, files):
    train_text, validation_text = _gpt_texts(args.dataset)
    if args.tokenizer == "char":
        tokenizer = text.CharacterTokenizer.from_texts([train_text, validation_text])
    else:
        tokenizer = text.ByteTokenizer()
    config = _preset(models.GPTConfig, args, vocabulary_size=int(tokenizer.vocabulary_size()))
    _check(args.evaluation_windows > 0,
           f"--evaluation-windows must be positive. Received: {args.evaluation_windows}")
    try:
        run = training.train_gpt(
            train_text, validation_text, tokenizer=tokenizer, config=config, out_dir=files,
            sample_prompt=args.sample_prompt, evaluation_windows=args.evaluation_windows,
            **_recipe_args(args, trainer),
        )
    except training.recipes.DataError as error:
        raise UsageError(str(error)) from None
    _print_figures(run.figures)


def _translation_splits(args):
    """`(splits, source_tokenizer, target_tokenizer, config_overrides)`."""
    kwargs = {} if args.num_train is None else {"num_train": args.num_train}
    if args.dataset in sequence_tasks.TASKS:
        splits = data.load_sequence_task(
            args.dataset, vocabulary_size=TASK_VOCABULARY_SIZE, seed=args.seed, **kwargs
        )
        pairs = {
            name: [(list(s[:n]), list(t[:n])) for s, t, n in zip(*split)]
            for name, split in splits._asdict().items()
        }
        overrides = dict(vocabulary_size=TASK_VOCABULARY_SIZE,
                         max_sequence_length=splits.train.sources.shape[1] + 1)
        return pairs, None, None, overrides
    if args.dataset == "numbers":
        # Every number below 1,000 in training 10 times (so the tokenizers learn "zero" as
        # a word, as the demo's translator does), when --num-train leaves room.
        repeats = 10 if kwargs.get("num_train", 50_000) >= 20_000 else 0
        numbers = data.load_numbers_en_fr(seed=args.seed, small_number_repeats=repeats, **kwargs)
        pairs = {name: [(p.english, p.french) for p in split]
                 for name, split in numbers._asdict().items()}
    elif args.dataset.startswith("tsv:"):
        every_pair = _read_user_data(data.load_tsv_pairs, args.dataset[len("tsv:"):])
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
    # The longest source, or target with its start or end id, sets the context.
    sources = [s for split in pairs.values() for s, _ in split]
    targets = [t for split in pairs.values() for _, t in split]
    longest = max(
        max(len(ids) for ids in training.recipes.token_id_lists(source_tokenizer, sources)),
        1 + max(len(ids) for ids in training.recipes.token_id_lists(target_tokenizer, targets)),
    )
    overrides = dict(vocabulary_size=int(target_tokenizer.vocabulary_size()),
                     encoder_vocabulary_size=int(source_tokenizer.vocabulary_size()),
                     max_sequence_length=longest)
    return pairs, source_tokenizer, target_tokenizer, overrides


def train_translator(args, trainer, files):
    splits, source_tokenizer, target_tokenizer, overrides = _translation_splits(args)
    config = _preset(models.TransformerConfig, args, **overrides)
    ids = {} if source_tokenizer else dict(start_id=sequence_tasks.START_ID,
                                           end_id=sequence_tasks.END_ID)
    run = training.train_translator(
        splits, config=config, source_tokenizer=source_tokenizer,
        target_tokenizer=target_tokenizer, out_dir=files, **ids, **_recipe_args(args, trainer),
    )
    _print_figures(run.figures)


def _print_figures(figures):
    shown = {k: v for k, v in figures.items() if k != "legs"}
    print("\n".join(f"{name}: {value}" for name, value in shown.items()))


def train(args):
    """Runs `keras-attn train` under `args.strategy`, made before any other TensorFlow work."""
    _check_training_args(args)
    try:
        trainer = training.Trainer(args.strategy)
    except ValueError as error:  # e.g. no TPU where --strategy tpu asks for one
        raise UsageError(str(error)) from None
    args.out.mkdir(parents=True, exist_ok=True)
    # Non-chief workers write their copies to a temporary directory.
    files = args.out if trainer.is_chief else pathlib.Path(tempfile.mkdtemp(prefix="keras-attn-"))
    try:
        (train_gpt if args.family == "gpt" else train_translator)(args, trainer, files)
    finally:
        if files != args.out:
            shutil.rmtree(files, ignore_errors=True)


def _load_run(directory, kind):
    """The model of a run directory of `kind` ("gpt" or "translator"), and its run.json."""
    _check((directory / "model.keras").exists(),
           f"--model must be a run directory with model.keras. Received: {directory}")
    run = training.read_run(directory) if (directory / "run.json").exists() else {}
    found = run.get("kind") or ("gpt" if (directory / "tokenizer").exists() else "translator")
    if kind is not None and found != kind:
        command = "generate" if found == "gpt" else "translate"
        raise UsageError(
            f"{directory} holds a {'GPT' if found == 'gpt' else 'translator'} run: use "
            f"`keras-attn {command} --model {directory}`."
        )
    return keras.saving.load_model(directory / "model.keras"), found


def generate(args):
    model, _ = _load_run(args.model, "gpt")
    tokenizer = text.load_tokenizer(args.model / "tokenizer")
    _check(args.max_new_tokens > 0,
           f"--max-new-tokens must be positive. Received: {args.max_new_tokens}")
    _check(args.num_beams > 0, f"--num-beams must be positive. Received: {args.num_beams}")
    _check(args.temperature >= 0,
           f"--temperature must be >= 0 (0: greedy). Received: {args.temperature}")
    _check(0 < args.top_p <= 1, f"--top-p must be in (0, 1]. Received: {args.top_p}")
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


def translate(args):
    model, _ = _load_run(args.model, "translator")
    source_tokenizer = text.load_tokenizer(args.model / "source_tokenizer")
    target_tokenizer = text.load_tokenizer(args.model / "target_tokenizer")
    _check(args.num_beams > 0, f"--num-beams must be positive. Received: {args.num_beams}")
    sources = text.tokenize_batch(source_tokenizer, args.texts)
    ids = generation.TranslatorGenerator(model).translate(
        sources, target_tokenizer.start_token_id, target_tokenizer.end_token_id,
        max_length=model.decoder_context_length - 1, num_beams=args.num_beams,
    )
    for source, row in zip(args.texts, ids):
        print(f"{source}\t{target_tokenizer.detokenize(row)}")


def export_run(args):
    from keras_attn import export

    if args.keras_hub_preset is not None:
        return export_keras_hub_preset(args)
    _check(args.max_sequence_length is None,
           "--max-sequence-length is for --keras-hub-preset; a run keeps its model's context")
    model, kind = _load_run(args.model, None)
    _check(args.num_beams > 0, f"--num-beams must be positive. Received: {args.num_beams}")
    if kind == "gpt":
        path = export.export_generator(model, text.load_tokenizer(args.model / "tokenizer"), args.out)
    else:
        tokenizers = tuple(
            text.load_tokenizer(args.model / f"{side}_tokenizer") for side in ("source", "target")
        )
        path = export.export_translator(model, tokenizers, args.out, num_beams=args.num_beams)
    print(f"wrote {path}")


def export_keras_hub_preset(args):
    """Loads a keras-hub backbone and tokenizer, converts the backbone, exports both."""
    import keras_hub

    from keras_attn import export

    if args.max_sequence_length is not None:
        _check(args.max_sequence_length > 0,
               f"--max-sequence-length must be positive. Received: {args.max_sequence_length}")
    preset = args.keras_hub_preset
    try:
        backbone = keras_hub.models.Backbone.from_preset(preset)
        tokenizer = keras_hub.models.Tokenizer.from_preset(preset)
    except (ValueError, OSError) as error:  # no such preset, or not a model's
        first_line = str(error).strip().splitlines()[0]
        raise UsageError(f"--keras-hub-preset {preset}: {first_line}") from None
    try:
        model = models.from_keras_hub(backbone, max_sequence_length=args.max_sequence_length)
    except ValueError as error:  # another family, or a variant not implemented
        raise UsageError(f"--keras-hub-preset {preset}: {error}") from None
    # As keras-hub's CausalLM.generate: the start token first, stop at the end token(s).
    stop_token_ids = [tokenizer.end_token_id] + (
        [tokenizer.end_token2_id] if hasattr(tokenizer, "end_token2_id") else []
    )
    path = export.export_generator(model, tokenizer, args.out,
                                   start_token_id=tokenizer.start_token_id,
                                   stop_token_ids=stop_token_ids)
    print(f"wrote {path}")


COMMANDS = {"train": train, "generate": generate, "translate": translate, "export": export_run}


def main(argv=None):
    args = _parser().parse_args(argv)
    try:
        COMMANDS[args.command](args)
    except UsageError as error:
        print(f"keras-attn: error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
