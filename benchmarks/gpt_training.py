"""GPT training with `model.fit`: our `build_gpt` against keras-nlp's GPT-2.

The peer is `keras_hub.models.GPT2Backbone` with the same dimensions and a
tied output head (`backbone.token_embedding(x, reverse=True)`), in a small
functional model `token_ids -> logits`. Both get the same optimizer
(`keras_attn.training.AdamW`), loss (sparse cross-entropy from logits) and
data: byte-level Shakespeare windows (`random_windows`, seed 0), float32.

Ours is compiled with a plain `model.compile(optimizer, loss)`, no flags;
keras-nlp's is compiled twice, `jit_compile=False` and `True`, and the
faster one is the peer. Every model is warmed up (its first steps compile
it), then the models take turns running `fit` for a fixed number of
steps; a step's time is the interval between two `on_train_batch_end`
calls, so `fit`'s start-up is not counted.

MFU: model FLOPs per second over the float32 matmul peak measured in the
same run, between the timings (`benchmarks.common.MatmulPeak`), with the
FLOPs per token of PaLM's appendix B:

    6 * N + 12 * L * T * d

N: weights outside the embeddings (the blocks and the final norm), L:
layers, T: context length, d: width. The tied head's matmul (2 * V * d
per token forward) and the causal mask's savings are not counted.
"""

import time

import keras
import keras_hub
import numpy as np

from benchmarks.common import MatmulPeak
from benchmarks.common import median
from benchmarks.common import policy_scope
from benchmarks.common import row
from benchmarks.common import time_alternating
from keras_attn.data.pipelines import random_windows
from keras_attn.data.shakespeare import load_shakespeare
from keras_attn.models import GPTConfig
from keras_attn.models import build_gpt
from keras_attn.training import AdamW

SHAPES = {
    # name: (num_layers, num_heads, hidden_dim, context, batch)
    "baby 4/128": (4, 4, 128, 64, 12),
    "6/384": (6, 6, 384, 256, 8),
}
VOCABULARY = 256  # bytes
FLOPS_FORMULA = "6*N + 12*L*T*d FLOPs/token (N: non-embedding weights)"


def byte_ids():
    """Shakespeare's training text as byte ids, `(n,)` int32."""
    return np.frombuffer(load_shakespeare().train.encode("utf-8"), np.uint8).astype("int32")


def dataset(shape):
    num_layers, num_heads, hidden_dim, context, batch = SHAPES[shape]
    return random_windows(byte_ids(), context, batch, seed=0)


def ours(shape):
    num_layers, num_heads, hidden_dim, context, batch = SHAPES[shape]
    config = GPTConfig(
        vocabulary_size=VOCABULARY,
        max_sequence_length=context,
        num_layers=num_layers,
        num_heads=num_heads,
        hidden_dim=hidden_dim,
        dropout=0.0,
    )
    return build_gpt(config)


def keras_nlp(shape):
    """GPT2Backbone plus its tied head: `token_ids (B, T) -> logits (B, T, V)`."""
    num_layers, num_heads, hidden_dim, context, batch = SHAPES[shape]
    backbone = keras_hub.models.GPT2Backbone(
        vocabulary_size=VOCABULARY,
        num_layers=num_layers,
        num_heads=num_heads,
        hidden_dim=hidden_dim,
        intermediate_dim=4 * hidden_dim,
        dropout=0.0,
        max_sequence_length=context,
    )
    token_ids = keras.Input(shape=(None,), dtype="int32", name="token_ids")
    hidden = backbone({"token_ids": token_ids, "padding_mask": keras.ops.ones_like(token_ids)})
    logits = backbone.token_embedding(hidden, reverse=True)
    logits = keras.layers.Activation("linear", dtype="float32", name="logits")(logits)
    return keras.Model(token_ids, logits, name="keras_nlp_gpt2")


def build(shape, model="ours", dtype_policy="float32"):
    """`ours(shape)` or `keras_nlp(shape)` (`model="keras-nlp"`), built under `dtype_policy`."""
    with policy_scope(dtype_policy):
        return ours(shape) if model == "ours" else keras_nlp(shape)


def compile_model(model, **flags):
    model.compile(
        optimizer=AdamW(learning_rate=1e-3),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        **flags,
    )
    return model


def non_embedding_weights(model):
    """Weights outside the token and position embeddings."""
    return sum(
        int(np.prod(w.shape))
        for w in model.trainable_weights
        if "embedding" not in w.path.split("/")[-1] and "embeddings" not in w.path
    )


def flops_per_token(shape, weights):
    num_layers, num_heads, hidden_dim, context, batch = SHAPES[shape]
    return 6 * weights + 12 * num_layers * context * hidden_dim


class _StepTimes(keras.callbacks.Callback):
    def on_train_begin(self, logs=None):
        self.ends = []

    def on_train_batch_end(self, batch, logs=None):
        self.ends.append(time.perf_counter())


def fit_candidate(model, data, steps):
    """A `time_alternating` candidate: `fit` for `steps + 1` steps, seconds per step."""
    timer = _StepTimes()

    def candidate():
        model.fit(data, epochs=1, steps_per_epoch=steps + 1, verbose=0, callbacks=[timer])
        return (timer.ends[-1] - timer.ends[0]) / steps

    return candidate


def warm_up(model, data, steps):
    """Compiles the train step; returns the seconds it took."""
    start = time.perf_counter()
    model.fit(data, epochs=1, steps_per_epoch=steps, verbose=0)
    return time.perf_counter() - start


def run(quick):
    peak = MatmulPeak("float32")
    rows = []
    for shape, (num_layers, num_heads, hidden_dim, context, batch) in SHAPES.items():
        big = hidden_dim >= 384
        steps = (2 if big else 10) if quick else (6 if big else 60)
        repetitions = 2 if quick else 5
        data = dataset(shape)
        keras.utils.set_random_seed(0)
        models = {
            "ours": compile_model(ours(shape)),
            "keras-nlp jit=False": compile_model(keras_nlp(shape), jit_compile=False),
            "keras-nlp jit=True": compile_model(keras_nlp(shape), jit_compile=True),
        }
        if not quick:
            models["ours jit=True"] = compile_model(ours(shape), jit_compile=True)
        compile_seconds = {name: warm_up(m, data, 3) for name, m in models.items()}
        candidates = {name: fit_candidate(m, data, steps) for name, m in models.items()}
        times = time_alternating({**candidates, "peak": peak.sample}, repetitions)
        del times["peak"]
        tokens_per_step = batch * context
        speed = {name: tokens_per_step / median(t) for name, t in times.items()}
        peer = max(("keras-nlp jit=False", "keras-nlp jit=True"), key=speed.get)
        jit_note = ", ".join(
            f"{name}: {speed[name]:,.0f} tok/s, jit_compile={m.jit_compile}, "
            f"warm-up {compile_seconds[name]:.0f} s"
            for name, m in models.items()
        )
        rows.append(
            row(
                "gpt training",
                f"{shape}, B={batch}",
                "tokens/s",
                speed["ours"],
                speed[peer],
                f"keras-nlp GPT2Backbone + tied head, {peer}",
                target=("ratio", ">=", 1.2),
                note=f"{steps} steps x {repetitions}, medians; {jit_note}",
            )
        )
        peak_flops, peak_case = peak.best()
        ours_weights = non_embedding_weights(models["ours"])
        their_weights = non_embedding_weights(models[peer])
        rows.append(
            row(
                "gpt MFU",
                f"{shape}, float32",
                "MFU",
                speed["ours"] * flops_per_token(shape, ours_weights) / peak_flops,
                speed[peer] * flops_per_token(shape, their_weights) / peak_flops,
                f"keras-nlp, {peer}",
                target=("ours", ">=", 0.8) if big else None,
                note=f"{FLOPS_FORMULA}; N={ours_weights:,} (keras-nlp {their_weights:,}), "
                f"{flops_per_token(shape, ours_weights) / 1e6:.1f} MFLOP/token; "
                f"peak {peak_flops / 1e9:.0f} GFLOP/s ({peak_case}, best of samples taken "
                "between the timings)",
            )
        )
    return rows
