"""Our GPT under `mixed_bfloat16` against itself in float32, at 6/384.

Both models start from the same weights and train on the same batches
(`benchmarks.gpt_training`), each compiled with a plain
`model.compile(optimizer, loss)`. The first `N` steps (300; 20 with
`--quick`) compare the losses: after them each model is evaluated on the
same 4 validation batches. Those steps also warm the models up; the
models then take turns to measure tokens/s, with keras-nlp's GPT2
(`benchmarks.gpt_training.keras_nlp`) under `mixed_bfloat16` beside them,
compiled the same way, as the peer: does the other library gain from
bfloat16 on the same CPU? The full run adds a diagnostic row:
`mixed_bfloat16` compiled with `jit_compile=True`.
"""

import keras
import numpy as np

from benchmarks import gpt_training
from benchmarks.common import MatmulPeak
from benchmarks.common import median
from benchmarks.common import row
from benchmarks.common import time_alternating
from keras_attn.data.pipelines import random_windows
from keras_attn.data.shakespeare import load_shakespeare

SHAPE = "6/384"


def _build(policy, weights=None):
    model = gpt_training.build(SHAPE, dtype_policy=policy)
    if weights is not None:
        model.set_weights(weights)
    return gpt_training.compile_model(model)


def run(quick):
    num_layers, num_heads, hidden_dim, context, batch = gpt_training.SHAPES[SHAPE]
    loss_steps = 20 if quick else 300
    steps, repetitions = (2, 2) if quick else (6, 5)
    data = gpt_training.dataset(SHAPE)
    validation_ids = np.frombuffer(
        load_shakespeare().validation.encode("utf-8"), np.uint8
    ).astype("int32")
    validation = random_windows(validation_ids, context, batch, seed=1, num_batches=4)

    keras.utils.set_random_seed(0)
    models = {"float32": _build("float32")}
    models["mixed_bfloat16"] = _build("mixed_bfloat16", models["float32"].get_weights())
    losses = {}
    for name, model in models.items():
        model.fit(data, epochs=1, steps_per_epoch=loss_steps, verbose=0)
        losses[name] = model.evaluate(validation, verbose=0)
    if not quick:  # what XLA makes of bfloat16 on this CPU
        models["mixed_bfloat16, jit_compile=True"] = gpt_training.compile_model(
            _build("mixed_bfloat16", models["float32"].get_weights()), jit_compile=True
        )
        gpt_training.warm_up(models["mixed_bfloat16, jit_compile=True"], data, 3)
    # The peer: keras-nlp under mixed_bfloat16, its better of XLA off and on.
    peers = {"keras-nlp mixed_bfloat16": False}  # name: jit_compile
    if not quick:
        peers["keras-nlp mixed_bfloat16, XLA"] = True
    for name, jit_compile in peers.items():
        models[name] = gpt_training.compile_model(
            gpt_training.build(SHAPE, "keras-nlp", "mixed_bfloat16"), jit_compile=jit_compile
        )
        gpt_training.warm_up(models[name], data, 3)
    peaks = {dtype: MatmulPeak(dtype) for dtype in ("float32", "bfloat16")}
    candidates = {name: gpt_training.fit_candidate(m, data, steps) for name, m in models.items()}
    for dtype, peak in peaks.items():
        candidates[f"peak {dtype}"] = peak.sample
    times = time_alternating(candidates, repetitions)
    speed = {name: batch * context / median(times[name]) for name in models}
    peer = max(peers, key=speed.get)
    flops = gpt_training.flops_per_token(
        SHAPE, gpt_training.non_embedding_weights(models["float32"])
    )
    peak16, peak16_case = peaks["bfloat16"].best()
    peak32, peak32_case = peaks["float32"].best()
    jit = {name: m.jit_compile for name, m in models.items()}
    rows = [
        row(
            "bfloat16",
            f"{SHAPE}, B={batch} tokens/s",
            "tokens/s",
            speed["mixed_bfloat16"],
            speed["float32"],
            "ours in float32",
            target=("ratio", ">=", 1.4),
            note=f"{steps} steps x {repetitions}, medians; jit_compile {jit}",
        ),
        row(
            "bfloat16",
            f"{SHAPE}, loss after {loss_steps} steps",
            "loss",
            losses["mixed_bfloat16"],
            losses["float32"],
            "ours in float32",
            target=("ratio", "within", 0.01),
            note="validation loss (nats/byte) on 4 fixed batches, same start and data",
        ),
        row(
            "bfloat16",
            f"{SHAPE}, B={batch} tokens/s, vs keras-nlp",
            "tokens/s",
            speed["mixed_bfloat16"],
            speed[peer],
            f"keras-nlp GPT2Backbone + tied head, {peer}",
            note="both under mixed_bfloat16, same data and optimizer; "
            + ", ".join(f"{name}: {speed[name]:,.0f} tok/s" for name in peers),
        ),
        row(
            "gpt MFU",
            f"{SHAPE}, mixed_bfloat16",
            "MFU",
            speed["mixed_bfloat16"] * flops / peak16,
            speed["float32"] * flops / peak32,
            "ours in float32 (of the float32 peak)",
            note=f"{gpt_training.FLOPS_FORMULA}; bfloat16 peak {peak16 / 1e9:.0f} GFLOP/s "
            f"({peak16_case}), float32 peak {peak32 / 1e9:.0f} GFLOP/s ({peak32_case})",
        ),
    ]
    if not quick:
        rows.append(
            row(
                "bfloat16",
                f"{SHAPE}, B={batch} tokens/s, jit_compile=True",
                "tokens/s",
                speed["mixed_bfloat16, jit_compile=True"],
                speed["float32"],
                "ours in float32, plain compile",
                note="diagnostic: mixed_bfloat16 under XLA",
            )
        )
    return rows
