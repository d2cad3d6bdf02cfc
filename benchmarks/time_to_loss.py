"""Time to a good model: seconds of training until the validation loss reaches 1.86.

Character-level Shakespeare (all 38 plays, `load_shakespeare()`), the
"baby" size (about 0.8M weights, context 64). Every candidate trains with
`model.fit` from the same seed, and every `EVAL_EVERY` steps its loss is
measured on the same fixed validation sample (`EVAL_WINDOWS` windows of
64 characters, seeded); the clock stops during evaluations, and the first
steps (which compile the step) are timed apart, as start-up. A row gives
the training seconds until the sample loss first reaches `TARGET`, the
tokens seen by then, the loss after the whole run, and tokens per second.

Candidates:

* `recipe`: the README's recipe (batch 12, AdamW, 100 warmup steps, cosine
  from 1e-3 to 1e-4 over 2,000 steps), our GPT-2-style "baby" preset;
* `keras-nlp`: keras-hub's `GPT2Backbone` of the same size with a tied head,
  the same recipe and data (the peer);
* `modern`: the "baby_modern" preset (RoPE, RMSNorm, SwiGLU, grouped-query
  attention, no biases, within 1% of the weights), the same recipe;
* `fast`: the levers that made it faster here (see `FAST`): a larger batch
  and learning rate, fewer steps, and the precision `keras-attn train`
  picks for the machine (`choose_precision`);
* `fast modern`: the same levers on "baby_modern".

bfloat16 is a lever only on a CPU with bfloat16 instructions (elsewhere it
is emulated: 0.29x on the 2026-11-25 machine), and XLA compiled these shapes
slower than graph mode on the AMD machine of 2026-12-02 (`gpt_training`);
the rows say which levers each candidate used.
"""

import time

import keras
import keras_hub
import numpy as np

from benchmarks.common import policy_scope
from benchmarks.common import row
from keras_attn import data
from keras_attn import text
from keras_attn.models import GPTConfig
from keras_attn.models import build_gpt
from keras_attn.training import AdamW
from keras_attn.training import choose_precision
from keras_attn.training import MaskedSparseCategoricalCrossentropy
from keras_attn.training import warmup_cosine_decay

TARGET = 1.86  # nats per character
CONTEXT = 64
EVAL_EVERY = 100  # steps
EVAL_WINDOWS = 512  # 32,768 validation characters, the same for every candidate
RECIPE = dict(batch_size=12, learning_rate=1e-3, min_learning_rate=1e-4, warmup_steps=100,
              steps=2000)
FAST = dict(batch_size=32, learning_rate=3e-3, min_learning_rate=3e-4, warmup_steps=50,
            steps=700)


def corpus():
    shakespeare = data.load_shakespeare()
    tokenizer = text.CharacterTokenizer.from_texts([shakespeare.train, shakespeare.validation])
    train = np.asarray(tokenizer(shakespeare.train), "int32")
    validation = np.asarray(tokenizer(shakespeare.validation), "int32")
    return tokenizer.vocabulary_size(), train, validation


def keras_nlp_gpt(vocabulary_size):
    """GPT2Backbone of the baby size plus its tied head: `token_ids -> logits`."""
    backbone = keras_hub.models.GPT2Backbone(
        vocabulary_size=vocabulary_size, num_layers=4, num_heads=4, hidden_dim=128,
        intermediate_dim=512, dropout=0.0, max_sequence_length=CONTEXT,
    )
    ids = keras.Input(shape=(None,), dtype="int32")
    hidden = backbone({"token_ids": ids, "padding_mask": keras.ops.ones_like(ids)})
    logits = backbone.token_embedding(hidden, reverse=True)
    return keras.Model(ids, keras.layers.Activation("linear", dtype="float32")(logits))


class _Curve(keras.callbacks.Callback):
    """Evaluates every `EVAL_EVERY` steps, with the training clock stopped.

    The first `warm_up_steps` steps compile the step: they are start-up, not training.
    """

    def __init__(self, sample, warm_up_steps):
        super().__init__()
        self.sample, self.warm_up_steps = sample, warm_up_steps
        self.points = []  # (training seconds, step, sample loss)

    def on_train_begin(self, logs=None):
        self.step, self.seconds, self.began, self.start = 0, 0.0, time.perf_counter(), None

    def on_train_batch_end(self, batch, logs=None):
        self.step += 1
        now = time.perf_counter()
        if self.step == self.warm_up_steps:
            self.start_up, self.start = now - self.began, now
        elif self.start is not None and self.step % EVAL_EVERY == 0:
            self.seconds += now - self.start
            loss = self.model.evaluate(self.sample, verbose=0)
            self.points.append((self.seconds, self.step, float(loss)))
            self.start = time.perf_counter()


def train(model, recipe, train_ids, sample):
    keras.utils.set_random_seed(0)
    schedule = warmup_cosine_decay(recipe["learning_rate"], recipe["warmup_steps"],
                                   recipe["steps"], recipe["min_learning_rate"])
    model.compile(optimizer=AdamW(schedule, weight_decay=0.1, beta_2=0.99),
                  loss=MaskedSparseCategoricalCrossentropy(pad_id=None))
    curve = _Curve(sample, warm_up_steps=3)
    windows = data.random_windows(train_ids, CONTEXT, recipe["batch_size"], seed=0)
    model.fit(windows, steps_per_epoch=recipe["steps"], epochs=1, verbose=0,
              callbacks=[curve])
    return curve


def reached(curve):
    """`(seconds, step)` when the sample loss first reached TARGET, else `(None, None)`."""
    for seconds, step, loss in curve.points:
        if loss <= TARGET:
            return seconds, step
    return None, None


def run(quick=False):
    vocabulary_size, train_ids, validation_ids = corpus()
    sample = data.random_windows(validation_ids, CONTEXT, 64, seed=1,
                                 num_batches=EVAL_WINDOWS // 64)
    shrink = (lambda r: dict(r, steps=200, warmup_steps=20)) if quick else (lambda r: r)
    # `fast` trains in the precision `keras-attn train` picks for this machine
    # (`choose_precision`): mixed_bfloat16 where the CPU has bfloat16 instructions.
    precision, why = choose_precision("auto")
    fast_levers = f"batch 32, peak 3e-3, 700 steps, {precision} ({why}), graph"
    candidates = {
        "recipe": (lambda: build_gpt(GPTConfig.preset("baby", vocabulary_size=vocabulary_size)),
                   RECIPE, "float32", "GPT-2 style, float32, graph"),
        "keras-nlp": (lambda: keras_nlp_gpt(vocabulary_size), RECIPE, "float32",
                      "keras-hub GPT2Backbone, float32, graph"),
        "modern": (lambda: build_gpt(GPTConfig.preset("baby_modern",
                                                      vocabulary_size=vocabulary_size)),
                   RECIPE, "float32", "RoPE, RMSNorm, SwiGLU, GQA, float32, graph"),
        "fast": (lambda: build_gpt(GPTConfig.preset("baby", vocabulary_size=vocabulary_size)),
                 FAST, precision, fast_levers),
        "fast modern": (lambda: build_gpt(GPTConfig.preset("baby_modern",
                                                           vocabulary_size=vocabulary_size)),
                        FAST, precision, "baby_modern, " + fast_levers),
    }
    curves = {}
    for name, (make, recipe, policy, _) in candidates.items():
        with policy_scope(policy):
            curves[name] = train(make(), shrink(recipe), train_ids, sample)
    peer_seconds, _ = reached(curves["keras-nlp"])
    rows = []
    for name, (_, recipe, _, levers) in candidates.items():
        curve = curves[name]
        seconds, step = reached(curve)
        recipe = shrink(recipe)
        last_step = curve.points[-1][1]
        tokens_per_second = (last_step - 3) * recipe["batch_size"] * CONTEXT / curve.seconds
        note = (f"{levers}; final sample loss {curve.points[-1][2]:.3f} after {recipe['steps']} "
                f"steps; {tokens_per_second:,.0f} tokens/s; start-up {curve.start_up:.1f} s; "
                + (f"reached {TARGET} at step {step} ({step * recipe['batch_size'] * CONTEXT:,} "
                   "tokens)" if step else f"did not reach {TARGET}"))
        rows.append(row(
            "time to loss 1.86", name, "training seconds", seconds,
            peer=peer_seconds if name != "keras-nlp" and seconds else None,
            peer_name="keras-nlp, same recipe", note=note,
            target=("ours", "<=", 45.0) if name.startswith("fast") else None,
        ))
        rows[-1]["curve"] = [list(point) for point in curve.points]
    return rows
