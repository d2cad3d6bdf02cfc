"""Training recipes: data in, a trained model, its tokenizer(s) and its figures out.

```
run = train_gpt(train_text, validation_text, tokenizer=CharacterTokenizer.from_texts([...]),
                config=GPTConfig.preset("baby", vocabulary_size=...), steps=2000, out_dir="runs/gpt")
run.model, run.tokenizers["tokenizer"], run.figures["validation_loss"]
```

`train_gpt` and `train_translator` are what `keras-attn train` and
`chatgpt_demo.build_models` run. Each:

* compiles the model with the project's recipe: `AdamW` (no decay on biases
  and norms, global norm clipped at 1), a linear warmup then a cosine decay
  (`schedule`), the masked loss and metrics;
* chooses the precision from the machine (`choose_precision`: bfloat16
  only where the CPU has bfloat16 instructions or on a GPU/TPU) and says so;
* trains with `Trainer` (any `tf.distribute` strategy, step-exact resume);
* evaluates a fixed, seeded validation sample after each epoch (cheap), and
  the whole validation split once at the end;
* with `out_dir`, writes `model.keras`, the tokenizer(s), `run.json` (kind,
  recipe, config, figures, and the wall time of each leg of the run) and
  the Trainer's checkpoints, backup and TensorBoard logs. Running the same
  recipe again on the same `out_dir` resumes an interrupted run from its
  last backup.
"""

import contextlib
import dataclasses
import json
import pathlib
import sys
import time

import keras
import numpy as np

from keras_attn import data
from keras_attn import generation
from keras_attn import text
from keras_attn.checks import check_int
from keras_attn.checks import check_one_of
from keras_attn.checks import check_positive_int
from keras_attn.models.gpt import GPTConfig
from keras_attn.models.gpt import build_gpt
from keras_attn.models.transformer import TransformerConfig
from keras_attn.models.transformer import build_transformer
from keras_attn.training.callbacks import gpt_sampler
from keras_attn.training.losses import MaskedSparseCategoricalCrossentropy
from keras_attn.training.metrics import MaskedAccuracy
from keras_attn.training.metrics import Perplexity
from keras_attn.training.optimizers import AdamW
from keras_attn.training.schedules import warmup_cosine_decay
from keras_attn.training.trainer import Trainer

PRECISIONS = ("auto", "float32", "mixed_bfloat16", "mixed_float16")


class DataError(ValueError):
    """The data can't train the model asked for (e.g. a text shorter than one window)."""


@dataclasses.dataclass
class TrainingRun:
    """What a recipe returns: the trained model, its tokenizers, config and figures.

    >>> TrainingRun(model=None, tokenizers={}, config=None, figures={"validation_loss": 1.5})
    TrainingRun(model=None, tokenizers={}, config=None, figures={'validation_loss': 1.5})
    """

    model: keras.Model  # the trained GPT or Translator
    tokenizers: dict  # {"tokenizer": ...} or {"source_tokenizer": ..., "target_tokenizer": ...}
    config: object  # its GPTConfig or TransformerConfig
    figures: dict  # what run.json records under "figures"


def default_warmup_steps(steps):
    """`min(100, steps // 10)`: a short run gets a short warmup.

    >>> default_warmup_steps(2000), default_warmup_steps(60), default_warmup_steps(5)
    (100, 6, 0)
    """
    return min(100, steps // 10)


def schedule(steps, learning_rate=1e-3, min_learning_rate=1e-4, warmup_steps=None):
    """The recipe's learning rate: linear warmup, then cosine decay to the floor.

    Returns `(schedule, warmup_steps)`; `warmup_steps=None` takes
    `default_warmup_steps(steps)`.

    >>> rate, warmup = schedule(60)
    >>> warmup, round(float(rate(6)), 6), round(float(rate(60)), 6)
    (6, 0.001, 0.0001)
    """
    if warmup_steps is None:
        warmup_steps = default_warmup_steps(steps)
    return warmup_cosine_decay(learning_rate, warmup_steps, steps, min_learning_rate), warmup_steps


def cpu_has_bfloat16(cpuinfo="/proc/cpuinfo"):
    """Whether the CPU has bfloat16 instructions (AVX512-BF16 or AMX), read from `cpuinfo`."""
    try:
        flags = pathlib.Path(cpuinfo).read_text()
    except OSError:
        return False
    return any(flag in flags.split() for flag in ("avx512_bf16", "amx_bf16"))


def choose_precision(precision="auto"):
    """The dtype policy to train with, and why.

    `"auto"`: `mixed_bfloat16` on a TPU, on a GPU, or on a CPU with bfloat16
    instructions (AMX or AVX512-BF16), where it was measured 1.6x faster
    than float32 with the same loss; `float32` on other CPUs, where
    bfloat16 matmuls are emulated and about 3x slower. Any other value is
    used as given.

    Returns:
        `(policy_name, reason)`.

    >>> choose_precision("float32")
    ('float32', 'asked for')
    """
    check_one_of("precision", precision, PRECISIONS)
    if precision != "auto":
        return precision, "asked for"
    import tensorflow as tf

    if tf.config.list_logical_devices("TPU") or tf.config.list_logical_devices("GPU"):
        return "mixed_bfloat16", "an accelerator"
    if cpu_has_bfloat16():
        return "mixed_bfloat16", "the CPU has bfloat16 instructions"
    return "float32", "the CPU has no bfloat16 instructions"


def _verbose(verbose):
    """`"auto"`: progress bars on a terminal, a line per epoch in a log file."""
    if verbose == "auto":
        return 1 if sys.stdout.isatty() else 2
    check_one_of("verbose", verbose, (0, 1, 2, "auto"))
    return verbose


def _compile(model, steps, learning_rate, min_learning_rate, warmup_steps, beta_2,
             weight_decay, label_smoothing, pad_id, jit_compile):
    rate, warmup_steps = schedule(steps, learning_rate, min_learning_rate, warmup_steps)
    model.compile(
        optimizer=AdamW(rate, weight_decay=weight_decay, beta_2=beta_2),
        loss=MaskedSparseCategoricalCrossentropy(pad_id=pad_id, label_smoothing=label_smoothing),
        metrics=[MaskedAccuracy(pad_id=pad_id), Perplexity(pad_id=pad_id)],
        jit_compile=jit_compile,
    )
    return warmup_steps


class _Legs(keras.callbacks.Callback):
    """Keeps `legs.json` in `out_dir`: each run of the recipe (a leg) with its first and
    last step and wall time, rewritten after each epoch so a killed leg is counted."""

    def __init__(self, path, steps_per_epoch):
        super().__init__()
        self.path = pathlib.Path(path)
        self.legs = json.loads(self.path.read_text()) if self.path.exists() else []
        self.steps_per_epoch = steps_per_epoch

    def on_train_begin(self, logs=None):
        self.start = time.perf_counter()
        self.first_step = None

    def on_epoch_begin(self, epoch, logs=None):
        if self.first_step is None:
            self.first_step = epoch * self.steps_per_epoch
            self.legs.append({})

    def on_epoch_end(self, epoch, logs=None):
        self.legs[-1] = {
            "from_step": self.first_step,
            "to_step": (epoch + 1) * self.steps_per_epoch,
            "seconds": round(time.perf_counter() - self.start, 1),
        }
        self.path.write_text(json.dumps(self.legs, indent=2) + "\n")


def _train(trainer, model, train_data, evaluation_sample, out_dir, steps, steps_per_epoch,
           generate_fn, verbose, log):
    """Trains; returns `(training seconds of this leg, every leg so far)`."""
    callbacks = []
    if out_dir is not None:
        legs = _Legs(pathlib.Path(out_dir) / "legs.json", steps_per_epoch)
        callbacks.append(legs)
    start = time.perf_counter()
    trainer.fit(
        model, train_data, steps=steps, steps_per_epoch=steps_per_epoch,
        validation_data=evaluation_sample, out_dir=out_dir, generate_fn=generate_fn,
        callbacks=callbacks, verbose=verbose,
    )
    seconds = time.perf_counter() - start
    every_leg = [leg for leg in legs.legs if leg] if out_dir is not None else []
    return seconds, every_leg


def _write_run(out_dir, kind, recipe, config, figures, log):
    run = {"kind": kind, "recipe": recipe, "config": dataclasses.asdict(config),
           "figures": figures}
    (pathlib.Path(out_dir) / "run.json").write_text(json.dumps(run, indent=2) + "\n")
    log(f"wrote {pathlib.Path(out_dir) / 'run.json'}")


def read_run(run_dir):
    """The `run.json` of a run directory, as a dict (with `"kind"`: `"gpt"` or `"translator"`).

    Raises a `ValueError` naming the directory when it holds no run.

    >>> read_run("/no/such/run")
    Traceback (most recent call last):
    ...
    ValueError: `run_dir` must be a directory written by a training recipe (with run.json). Received: run_dir='/no/such/run'
    """
    path = pathlib.Path(run_dir) / "run.json"
    if not path.exists():
        raise ValueError(
            f"`run_dir` must be a directory written by a training recipe (with run.json). "
            f"Received: run_dir={str(run_dir)!r}"
        )
    return json.loads(path.read_text())


def _setup(strategy, precision, seed, log):
    policy, reason = choose_precision(precision)
    log(f"precision: {policy} ({reason})")
    keras.utils.set_random_seed(seed)
    trainer = strategy if isinstance(strategy, Trainer) else Trainer(strategy)
    return trainer, policy


@contextlib.contextmanager
def _building(trainer, policy):
    """The model is built under `policy` and the strategy; the global policy is restored."""
    before = keras.config.dtype_policy()
    keras.config.set_dtype_policy(policy)
    try:
        with trainer.scope():
            yield
    finally:
        keras.config.set_dtype_policy(before)


def train_gpt(
    train_text,
    validation_text,
    *,
    tokenizer,
    config,
    out_dir=None,
    steps=700,
    steps_per_epoch=100,
    batch_size=32,
    learning_rate=3e-3,
    min_learning_rate=3e-4,
    warmup_steps=None,
    beta_2=0.99,
    weight_decay=0.1,
    label_smoothing=0.0,
    evaluation_windows=128,
    seed=0,
    precision="auto",
    jit_compile=False,
    strategy="default",
    sample_prompt=None,
    verbose="auto",
    log=print,
):
    """Trains a GPT on a text and measures its loss per token on another.

    Args:
        train_text, validation_text: strings.
        tokenizer: a keras_attn tokenizer (`CharacterTokenizer`,
            `ByteTokenizer`, ...) that covers both texts.
        config: a `GPTConfig`; its `vocabulary_size` must be the tokenizer's.
        out_dir: None, or the run directory (see the module docstring).
        steps, steps_per_epoch, batch_size: training steps; steps between
            evaluations, checkpoints and backups; windows per step.
        learning_rate, min_learning_rate, warmup_steps: the schedule
            (`schedule`); warmup defaults to `min(100, steps // 10)`. The
            defaults (700 steps of 32 windows, peak 3e-3) are the fastest
            recipe `benchmarks/time_to_loss.py` measured to a good model,
            with the "baby_modern" preset (`keras-attn train gpt`'s default).
        beta_2, weight_decay, label_smoothing: the optimizer's and loss's.
        evaluation_windows: the size of the fixed, seeded validation sample
            evaluated after each epoch, in windows of the context length.
        seed: the seed of the weights, the batches and the samples.
        precision: see `choose_precision`.
        jit_compile: compile the training step with XLA.
        strategy: a strategy name or a `Trainer`.
        sample_prompt: with `out_dir`, a prompt whose continuation is logged
            to TensorBoard each epoch.
        verbose: 0, 1, 2, or `"auto"` (bars on a terminal, else a line per epoch).
        log: where the recipe's messages go.

    Returns:
        A `TrainingRun`; `figures` holds the validation loss and accuracy
        over the whole split, the tokens seen and the training time.

    Example:

    >>> from keras_attn.text import CharacterTokenizer
    >>> tokenizer = CharacterTokenizer.from_texts(["abcabc"])
    >>> config = GPTConfig(vocabulary_size=tokenizer.vocabulary_size(), max_sequence_length=8,
    ...                    num_layers=1, num_heads=2, hidden_dim=16)
    >>> run = train_gpt("abcabc" * 50, "abcabc" * 10, tokenizer=tokenizer, config=config,
    ...                 steps=100, steps_per_epoch=50, batch_size=8, learning_rate=1e-2,
    ...                 verbose=0, log=lambda m: None)
    >>> run.figures["training_tokens"], run.figures["validation_loss"] < 0.3   # ln(7) = 1.9 at first
    (6400, True)
    """
    _check_common(steps, steps_per_epoch, batch_size, seed)
    check_positive_int("evaluation_windows", evaluation_windows)
    if not isinstance(config, GPTConfig):
        raise ValueError(f"`config` must be a GPTConfig. Received: config={config!r}")
    if config.vocabulary_size != tokenizer.vocabulary_size():
        raise ValueError(
            "`config.vocabulary_size` must be the tokenizer's vocabulary size "
            f"({tokenizer.vocabulary_size()}). Received: vocabulary_size={config.vocabulary_size}"
        )
    length = config.max_sequence_length
    train_ids = np.asarray(tokenizer(train_text), "int32")  # (N,)
    validation_ids = np.asarray(tokenizer(validation_text), "int32")
    for name, ids in (("train_text", train_ids), ("validation_text", validation_ids)):
        if len(ids) <= length + 1:
            raise DataError(
                f"`{name}` is too short for windows of {length} tokens. "
                f"Received: {len(ids)} tokens"
            )
    trainer, policy = _setup(strategy, precision, seed, log)
    with _building(trainer, policy):
        model = build_gpt(config)
        warmup = _compile(model, steps, learning_rate, min_learning_rate, warmup_steps, beta_2,
                          weight_decay, label_smoothing, None, jit_compile)
    log(f"schedule: {warmup} warmup steps to {learning_rate:g}, cosine decay to "
        f"{min_learning_rate:g} at step {steps}")
    train_data = data.random_windows(train_ids, length, batch_size, seed=seed)
    sample_batches = max(1, evaluation_windows // batch_size)
    evaluation_sample = data.random_windows(validation_ids, length, batch_size, seed=seed + 1,
                                            num_batches=sample_batches)
    log(f"evaluation after each epoch: a fixed sample of {sample_batches * batch_size} "
        f"validation windows ({sample_batches * batch_size * length:,} tokens); "
        f"at the end: the whole split ({len(validation_ids):,} tokens)")
    generate_fn = None
    if out_dir is not None:
        out_dir = pathlib.Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        text.save_tokenizer(tokenizer, out_dir / "tokenizer")
        if sample_prompt:
            prompt_ids = tokenizer(sample_prompt)
            generate_fn = gpt_sampler(
                prompt_ids, min(200, length - len(prompt_ids)),
                lambda ids: tokenizer.detokenize(ids), temperature=0.8, seed=seed,
            )
    seconds, legs = _train(trainer, model, train_data, evaluation_sample, out_dir, steps,
                           steps_per_epoch, generate_fn, _verbose(verbose), log)
    # Every validation window once; TPUs need a static batch.
    windows = (len(validation_ids) - 1) // length
    every_window = data.contiguous_windows(
        validation_ids, length, min(64, windows),
        drop_remainder=type(trainer.strategy).__name__ == "TPUStrategy",
    )
    start = time.perf_counter()
    results = trainer.evaluate(model, every_window)
    figures = {
        "validation_loss": round(float(results["loss"]), 4),
        "validation_accuracy": round(float(results["accuracy"]), 4),
        "validation_tokens": len(validation_ids),
        "evaluation_sample_tokens": sample_batches * batch_size * length,
        "final_evaluation_seconds": round(time.perf_counter() - start, 1),
        "training_tokens": steps * batch_size * length,
        "training_seconds": round(sum(leg["seconds"] for leg in legs) if legs else seconds, 1),
        "legs": legs,
        "parameters": model.count_params(),
        "precision": policy,
        "strategy": trainer.strategy_name,
    }
    if out_dir is not None:
        model.save(out_dir / "model.keras")
        recipe = dict(steps=steps, steps_per_epoch=steps_per_epoch, batch_size=batch_size,
                      learning_rate=learning_rate, min_learning_rate=min_learning_rate,
                      warmup_steps=warmup, beta_2=beta_2, weight_decay=weight_decay,
                      label_smoothing=label_smoothing, seed=seed, jit_compile=jit_compile)
        _write_run(out_dir, "gpt", recipe, config, figures, log)
    return TrainingRun(model, {"tokenizer": tokenizer}, config, figures)


def _check_common(steps, steps_per_epoch, batch_size, seed):
    check_positive_int("steps", steps)
    check_positive_int("steps_per_epoch", steps_per_epoch)
    check_positive_int("batch_size", batch_size)
    check_int("seed", seed, minimum=0)
    if steps % steps_per_epoch and steps > steps_per_epoch:
        raise ValueError(
            "`steps` must be a multiple of `steps_per_epoch`, so that a resumed run ends at "
            f"the same step. Received: steps={steps}, steps_per_epoch={steps_per_epoch}"
        )


def token_id_lists(tokenizer, strings):
    """Token ids of each string, as Python lists (one tokenizer call for the list)."""
    ids = tokenizer(strings)
    return ids.to_list() if hasattr(ids, "to_list") else [list(row) for row in ids]


def train_translator(
    splits,
    *,
    config,
    source_tokenizer=None,
    target_tokenizer=None,
    start_id=None,
    end_id=None,
    out_dir=None,
    steps=2000,
    steps_per_epoch=200,
    batch_size=64,
    learning_rate=1e-3,
    min_learning_rate=1e-4,
    warmup_steps=None,
    beta_2=0.99,
    weight_decay=0.1,
    label_smoothing=0.0,
    seed=0,
    precision="auto",
    jit_compile=False,
    strategy="default",
    verbose="auto",
    log=print,
):
    """Trains a translator and measures its greedy exact match on a test split.

    Args:
        splits: `{"train": pairs, "validation": pairs, "test": pairs}`. With
            tokenizers, a pair is `(source text, target text)`; without, a
            pair of id lists (no padding, no start or end ids) and
            `start_id`/`end_id` must be given.
        config: a `TransformerConfig` whose vocabulary sizes fit the ids.
        source_tokenizer, target_tokenizer: keras_attn tokenizers, or None
            for id pairs. The target's start and end ids frame the outputs.
        start_id, end_id: for id pairs.
        out_dir, steps, steps_per_epoch, batch_size, learning_rate,
        min_learning_rate, warmup_steps, beta_2, weight_decay,
        label_smoothing, seed, precision, jit_compile, strategy, verbose,
        log: as in `train_gpt`.

    Returns:
        A `TrainingRun`; `figures` holds the validation loss and token
        accuracy, and `test_exact_match`, the share of test sources whose
        greedy translation is exactly the target.

    Example: learn to copy three-token sequences.

    >>> rng = np.random.default_rng(0)
    >>> pairs = [(list(s), list(s)) for s in rng.integers(3, 8, size=(300, 3))]
    >>> splits = {"train": pairs[:200], "validation": pairs[200:250], "test": pairs[250:]}
    >>> config = TransformerConfig(vocabulary_size=8, max_sequence_length=5, num_layers=1,
    ...                            hidden_dim=32, intermediate_dim=64, dropout=0.0)
    >>> run = train_translator(splits, config=config, start_id=1, end_id=2, steps=150,
    ...                        steps_per_epoch=50, batch_size=32, learning_rate=3e-3,
    ...                        verbose=0, log=lambda m: None)
    >>> run.figures["test_exact_match"] > 0.9
    True
    """
    _check_common(steps, steps_per_epoch, batch_size, seed)
    if not isinstance(config, TransformerConfig):
        raise ValueError(f"`config` must be a TransformerConfig. Received: config={config!r}")
    if set(splits) != {"train", "validation", "test"}:
        raise ValueError(
            "`splits` must have the keys 'train', 'validation' and 'test'. "
            f"Received: keys {sorted(splits)}"
        )
    texts = target_tokenizer is not None
    if texts:
        start_id, end_id = target_tokenizer.start_token_id, target_tokenizer.end_token_id
        ids = {name: (token_id_lists(source_tokenizer, [s for s, _ in pairs]),
                      token_id_lists(target_tokenizer, [t for _, t in pairs]))
               for name, pairs in splits.items()}
    else:
        if start_id is None or end_id is None:
            raise ValueError("Without tokenizers, `start_id` and `end_id` must be given. "
                             f"Received: start_id={start_id}, end_id={end_id}")
        ids = {name: ([list(s) for s, _ in pairs], [list(t) for _, t in pairs])
               for name, pairs in splits.items()}
    max_source = max(len(s) for sources, _ in ids.values() for s in sources)
    max_target = max(len(t) for _, targets in ids.values() for t in targets) + 1
    if max(max_source, max_target) > config.max_sequence_length:
        raise DataError(
            f"`config.max_sequence_length` must fit the longest source ({max_source}) and "
            f"target plus its start or end id ({max_target}). "
            f"Received: max_sequence_length={config.max_sequence_length}"
        )
    trainer, policy = _setup(strategy, precision, seed, log)
    tpu = type(trainer.strategy).__name__ == "TPUStrategy"
    batches = {
        name: data.translation_batches(
            sources, targets, batch_size, max_source_length=max_source,
            max_target_length=max_target, start_id=start_id, end_id=end_id, seed=seed,
            shuffle=name == "train", drop_remainder=name == "train" or tpu,
        )
        for name, (sources, targets) in ids.items()
    }
    with _building(trainer, policy):
        model = build_transformer(config)
        warmup = _compile(model, steps, learning_rate, min_learning_rate, warmup_steps, beta_2,
                          weight_decay, label_smoothing, 0, jit_compile)
    log(f"schedule: {warmup} warmup steps to {learning_rate:g}, cosine decay to "
        f"{min_learning_rate:g} at step {steps}")
    if out_dir is not None:
        out_dir = pathlib.Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        if texts:
            text.save_tokenizer(source_tokenizer, out_dir / "source_tokenizer")
            text.save_tokenizer(target_tokenizer, out_dir / "target_tokenizer")
    seconds, legs = _train(trainer, model, batches["train"], batches["validation"], out_dir,
                           steps, steps_per_epoch, None, _verbose(verbose), log)
    results = trainer.evaluate(model, batches["validation"])
    test_sources, test_targets = ids["test"]
    padded = np.zeros((len(test_sources), max_source), "int32")
    for row, source in zip(padded, test_sources):
        row[: len(source)] = source
    start = time.perf_counter()
    predicted = generation.TranslatorGenerator(model).translate(
        padded, start_id, end_id, max_length=config.max_sequence_length - 1
    )
    decode_seconds = time.perf_counter() - start
    if texts:
        predicted = [target_tokenizer.detokenize(row) for row in predicted]
        expected = [t for _, t in splits["test"]]
    else:
        predicted = [[int(i) for i in row if i] for row in predicted]
        expected = test_targets
    exact = sum(p == t for p, t in zip(predicted, expected))
    figures = {
        "validation_loss": round(float(results["loss"]), 4),
        "validation_token_accuracy": round(float(results["accuracy"]), 4),
        "test_exact_match": round(exact / len(expected), 4),
        "test_examples": len(expected),
        "training_seconds": round(sum(leg["seconds"] for leg in legs) if legs else seconds, 1),
        "legs": legs,
        "greedy_decoding_seconds": round(decode_seconds, 1),
        "parameters": model.count_params(),
        "precision": policy,
        "strategy": trainer.strategy_name,
    }
    if out_dir is not None:
        model.save(out_dir / "model.keras")
        recipe = dict(steps=steps, steps_per_epoch=steps_per_epoch, batch_size=batch_size,
                      learning_rate=learning_rate, min_learning_rate=min_learning_rate,
                      warmup_steps=warmup, beta_2=beta_2, weight_decay=weight_decay,
                      label_smoothing=label_smoothing, seed=seed, jit_compile=jit_compile,
                      start_id=start_id, end_id=end_id)
        _write_run(out_dir, "translator", recipe, config, figures, log)
    tokenizers = {"source_tokenizer": source_tokenizer, "target_tokenizer": target_tokenizer}
    return TrainingRun(model, tokenizers if texts else {}, config, figures)


def reply_examples(tokenizer, pairs, length):
    """`(inputs, labels)` int32 arrays `(N, length)` for a loss on the replies only.

    Each row is a prompt followed by its reply, cut to `length + 1` tokens;
    `labels[t]` is the token after `inputs[t]` inside the reply, and 0 (the
    padding id, which `MaskedSparseCategoricalCrossentropy(pad_id=0)` skips)
    over the prompt and after the end.

    >>> from keras_attn.text import CharacterTokenizer
    >>> tokenizer = CharacterTokenizer.from_texts(["Q:ab A:cd"])
    >>> inputs, labels = reply_examples(tokenizer, [("Q:ab A:", "cd")], 9)
    >>> tokenizer.detokenize(inputs[0]), [tokenizer.detokenize([i]) for i in labels[0] if i]
    ('Q:ab A:c', ['c', 'd'])
    """
    check_positive_int("length", length)
    prompts = token_id_lists(tokenizer, [p for p, _ in pairs])
    replies = token_id_lists(tokenizer, [r for _, r in pairs])
    inputs = np.zeros((len(pairs), length), "int32")
    labels = np.zeros((len(pairs), length), "int32")
    for row, (prompt, reply) in enumerate(zip(prompts, replies)):
        if not prompt or not reply:
            raise DataError(f"Every pair needs a prompt and a reply. Received: pairs[{row}]="
                            f"{pairs[row]!r}")
        prompt = prompt[-(length - 1):]  # the prompt keeps its end; the reply starts in view
        ids = (prompt + reply)[: length + 1]
        inputs[row, : len(ids) - 1] = ids[:-1]
        labels[row, len(prompt) - 1 : len(ids) - 1] = ids[len(prompt):]
    return inputs, labels


def train_replies(
    model,
    train_pairs,
    validation_pairs,
    *,
    tokenizer,
    out_dir=None,
    steps=300,
    steps_per_epoch=50,
    batch_size=8,
    learning_rate=3e-4,
    min_learning_rate=3e-5,
    warmup_steps=None,
    beta_2=0.99,
    weight_decay=0.1,
    seed=0,
    verbose="auto",
    log=print,
):
    """Fine-tunes a GPT on `(prompt, reply)` pairs with a loss on the replies only.

    This is how a pre-trained GPT becomes a chat model: the prompts are the
    conversation so far in a chat template, the replies what the model
    should answer (with what ends a reply). The model is not asked to
    predict the prompts, only to answer them.

    Args:
        model: a trained GPT (compiled again here).
        train_pairs, validation_pairs: lists of `(prompt, reply)` strings.
        tokenizer: the model's tokenizer.
        out_dir, steps, steps_per_epoch, batch_size, learning_rate,
        min_learning_rate, warmup_steps, beta_2, weight_decay, seed,
        verbose, log: as in `train_gpt` (the run resumes from `out_dir`).

    Returns:
        A `TrainingRun`; `figures` has the validation reply loss before and
        after, in nats per token.

    Example: answer "Q:a A:" with "b".

    >>> from keras_attn.text import CharacterTokenizer
    >>> tokenizer = CharacterTokenizer.from_texts(["Q:ab A:"])
    >>> config = GPTConfig(vocabulary_size=tokenizer.vocabulary_size(), max_sequence_length=8,
    ...                    num_layers=1, num_heads=2, hidden_dim=16)
    >>> model = build_gpt(config)
    >>> pairs = [("Q:a A:", "b"), ("Q:b A:", "a")] * 8
    >>> run = train_replies(model, pairs, pairs[:2], tokenizer=tokenizer, steps=60,
    ...                     steps_per_epoch=30, batch_size=8, learning_rate=1e-2,
    ...                     verbose=0, log=lambda m: None)
    >>> run.figures["validation_reply_loss"] < run.figures["validation_reply_loss_before"]
    True
    """
    _check_common(steps, steps_per_epoch, batch_size, seed)
    import tensorflow as tf

    length = model.context_length
    train = reply_examples(tokenizer, train_pairs, length)
    validation = reply_examples(tokenizer, validation_pairs, length)
    keras.utils.set_random_seed(seed)
    trainer = Trainer("default")
    warmup = _compile(model, steps, learning_rate, min_learning_rate, warmup_steps, beta_2,
                      weight_decay, 0.0, 0, False)
    log(f"schedule: {warmup} warmup steps to {learning_rate:g}, cosine decay to "
        f"{min_learning_rate:g} at step {steps}; {len(train_pairs)} training pairs")
    train_data = (
        tf.data.Dataset.from_tensor_slices(train)
        .shuffle(len(train[0]), seed=seed).repeat()
        .batch(batch_size, drop_remainder=True).prefetch(2)
    )
    validation_data = tf.data.Dataset.from_tensor_slices(validation).batch(64)
    before = float(trainer.evaluate(model, validation_data)["loss"])
    if out_dir is not None:
        out_dir = pathlib.Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        text.save_tokenizer(tokenizer, out_dir / "tokenizer")
    seconds, legs = _train(trainer, model, train_data, validation_data, out_dir, steps,
                           steps_per_epoch, None, _verbose(verbose), log)
    after = float(trainer.evaluate(model, validation_data)["loss"])
    figures = {
        "train_pairs": len(train_pairs),
        "validation_pairs": len(validation_pairs),
        "validation_reply_loss_before": round(before, 4),
        "validation_reply_loss": round(after, 4),
        "training_seconds": round(sum(leg["seconds"] for leg in legs) if legs else seconds, 1),
        "legs": legs,
    }
    if out_dir is not None:
        model.save(out_dir / "model.keras")
        recipe = dict(steps=steps, steps_per_epoch=steps_per_epoch, batch_size=batch_size,
                      learning_rate=learning_rate, min_learning_rate=min_learning_rate,
                      warmup_steps=warmup, beta_2=beta_2, weight_decay=weight_decay, seed=seed)
        _write_run(out_dir, "gpt", recipe, model.config, figures, log)
    return TrainingRun(model, {"tokenizer": tokenizer}, getattr(model, "config", None), figures)
