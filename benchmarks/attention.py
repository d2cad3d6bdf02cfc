"""Causal self-attention: our `MultiHeadAttention` against Keras's layer.

B=16, T=256, width 256, 8 heads of 32, float32. Both layers hold the same
weights (copied). "fwd" is one forward call; "fwd+bwd" is a `GradientTape`
step that returns the gradients of the inputs and of every weight. Each
step runs inside `tf.function(jit_compile=False)` ("graph") or
`tf.function(jit_compile=True)` ("XLA").
"""

import keras
import numpy as np
import tensorflow as tf

from benchmarks.common import median
from benchmarks.common import row
from benchmarks.common import time_alternating
from benchmarks.common import timed
from keras_attn.layers import MultiHeadAttention

BATCH, LENGTH, WIDTH, HEADS = 16, 256, 256, 8
PEER = "keras.layers.MultiHeadAttention"


def _steps(layer, jit_compile):
    def forward(x):
        return layer(x, x, use_causal_mask=True)

    def forward_backward(x):
        with tf.GradientTape() as tape:
            tape.watch(x)
            loss = tf.reduce_mean(tf.square(forward(x)))
        return tape.gradient(loss, [x] + layer.trainable_variables)

    return {
        "fwd": tf.function(forward, jit_compile=jit_compile),
        "fwd+bwd": tf.function(forward_backward, jit_compile=jit_compile),
    }


def run(quick):
    keras.utils.set_random_seed(0)
    x = tf.constant(np.random.default_rng(0).normal(size=(BATCH, LENGTH, WIDTH)), "float32")
    theirs = keras.layers.MultiHeadAttention(num_heads=HEADS, key_dim=WIDTH // HEADS)
    ours = MultiHeadAttention(num_heads=HEADS, key_dim=WIDTH // HEADS)
    theirs(x, x, use_causal_mask=True)
    ours(x, x, use_causal_mask=True)
    ours.set_weights(theirs.get_weights())

    candidates, differences = {}, {}
    for jit in (False, True):
        mode = "XLA" if jit else "graph"
        our_steps, their_steps = _steps(ours, jit), _steps(theirs, jit)
        for step in ("fwd", "fwd+bwd"):
            ours_out, theirs_out = our_steps[step](x), their_steps[step](x)  # compiles
            pairs = list(zip(tf.nest.flatten(ours_out), tf.nest.flatten(theirs_out)))
            differences[(step, mode)] = max(
                float(tf.reduce_max(tf.abs(a - b))) for a, b in pairs
            ) / max(float(tf.reduce_max(tf.abs(b))) for _, b in pairs)
            candidates[(step, mode, "ours")] = timed(lambda f=our_steps[step]: f(x), 2)
            candidates[(step, mode, "theirs")] = timed(lambda f=their_steps[step]: f(x), 2)
    times = time_alternating(candidates, 3 if quick else 15)

    rows = []
    for step in ("fwd", "fwd+bwd"):
        for mode in ("graph", "XLA"):
            rows.append(
                row(
                    "attention",
                    f"{step}, {mode}",
                    "ms/step",
                    1e3 * median(times[(step, mode, "ours")]),
                    1e3 * median(times[(step, mode, "theirs")]),
                    PEER,
                    target=("ratio", "<=", 0.8) if step == "fwd+bwd" else None,
                    note=f"B={BATCH} T={LENGTH} width={WIDTH} heads={HEADS} causal; "
                    f"max |ours - keras| / max |keras| = {differences[(step, mode)]:.1e}",
                )
            )
    return rows
