"""GPT-2 style against today's style, at the same weight count, tokens and recipe.

The "modern" presets (rotary positions, RMSNorm, SwiGLU, grouped-query
attention with half the key/value heads, no biases, untied head) have their
GPT-2-style twins' depth, width, heads and context, within 1% of their
weights. Here each pair trains from the same seed on the same character
windows of the 38 plays with the same recipe, and the rows give the loss on
a fixed validation sample after training, and the training tokens per second
(the first steps, which compile, are left out). The baby pair is measured in
`time_to_loss` (2,000 steps, with the loss curve); this module trains the
larger pair, the demo's "shakespeare" size (4.8M weights, context 256).
"""

import time

import keras

from benchmarks.common import policy_scope
from benchmarks.common import row
from benchmarks.time_to_loss import corpus
from keras_attn import data
from keras_attn.models import GPTConfig
from keras_attn.models import build_gpt
from keras_attn.training import AdamW
from keras_attn.training import choose_precision
from keras_attn.training import MaskedSparseCategoricalCrossentropy
from keras_attn.training import warmup_cosine_decay

PAIR = ("shakespeare", "shakespeare_modern")
RECIPE = dict(steps=250, batch_size=16, learning_rate=1.5e-3, min_learning_rate=1e-4,
              warmup_steps=25)
CONTEXT = 256
SAMPLE_WINDOWS = 128  # 32,768 validation characters


class _Clock(keras.callbacks.Callback):
    """Training seconds after the first `skip` steps (which compile)."""

    def __init__(self, skip=3):
        super().__init__()
        self.skip = skip

    def on_train_begin(self, logs=None):
        self.step = 0

    def on_train_batch_end(self, batch, logs=None):
        self.step += 1
        if self.step == self.skip:
            self.start = time.perf_counter()

    def on_train_end(self, logs=None):
        self.seconds = time.perf_counter() - self.start


def train(preset, vocabulary_size, train_ids, sample, recipe, precision):
    keras.utils.set_random_seed(0)
    with policy_scope(precision):
        model = build_gpt(GPTConfig.preset(preset, vocabulary_size=vocabulary_size, dropout=0.0))
    schedule = warmup_cosine_decay(recipe["learning_rate"], recipe["warmup_steps"],
                                   recipe["steps"], recipe["min_learning_rate"])
    model.compile(optimizer=AdamW(schedule, weight_decay=0.1, beta_2=0.99),
                  loss=MaskedSparseCategoricalCrossentropy(pad_id=None))
    clock = _Clock()
    windows = data.random_windows(train_ids, CONTEXT, recipe["batch_size"], seed=0)
    model.fit(windows, steps_per_epoch=recipe["steps"], epochs=1, verbose=0, callbacks=[clock])
    tokens_per_second = (recipe["steps"] - clock.skip) * recipe["batch_size"] * CONTEXT / clock.seconds
    return model.count_params(), float(model.evaluate(sample, verbose=0)), tokens_per_second


def run(quick=False):
    vocabulary_size, train_ids, validation_ids = corpus()
    sample = data.random_windows(validation_ids, CONTEXT, 16, seed=1,
                                 num_batches=SAMPLE_WINDOWS // 16)
    recipe = dict(RECIPE, steps=20, warmup_steps=2) if quick else RECIPE
    # The precision `keras-attn train` picks here: mixed_bfloat16 on a CPU with
    # bfloat16 instructions, float32 elsewhere.
    precision, _ = choose_precision("auto")
    results = {preset: train(preset, vocabulary_size, train_ids, sample, recipe, precision)
               for preset in PAIR}
    (n_classic, loss_classic, speed_classic), (n_modern, loss_modern, speed_modern) = (
        results[p] for p in PAIR)
    case = (f"{recipe['steps']} steps x {recipe['batch_size']} x {CONTEXT} characters, "
            f"peak {recipe['learning_rate']:g}")
    return [
        row("architectures", case, "validation loss (sample)", loss_modern, peer=loss_classic,
            peer_name=f"GPT-2 style ({n_classic:,} weights)",
            note=f"modern: {n_modern:,} weights; {SAMPLE_WINDOWS} windows of {CONTEXT}"),
        row("architectures", case, "training tokens/s", speed_modern, peer=speed_classic,
            peer_name="GPT-2 style", note=f"{precision}, graph mode"),
    ]
