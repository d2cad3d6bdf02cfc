"""Trains a tiny byte-level GPT on Shakespeare on the CPU, then samples from it.

An interim end-to-end demo of keras_attn's layers in the style of nanoGPT:
bytes of the dialogue text -> random windows -> a small pre-norm GPT ->
validation loss before and after training -> a sample from a prompt. With
the defaults, training takes 1-2.5 minutes on 2 CPU cores and the validation
loss goes from 5.97 to 1.83. Run from the repository root:

    python -m chatgpt_demo.tiny_gpt
    python -m chatgpt_demo.tiny_gpt --steps 20 --prompt "JULIET:"  # smoke run
"""

import argparse
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # before TensorFlow loads

import keras
import keras_hub
import numpy as np
import tensorflow as tf

from keras_attn.data import load_shakespeare
from keras_attn.layers import TokenAndPositionEmbedding
from keras_attn.layers import TransformerDecoderBlock

parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
parser.add_argument("--steps", type=int, default=500, help="training steps")
parser.add_argument("--log-every", type=int, default=100, help="steps per log")
parser.add_argument("--batch-size", type=int, default=64)
parser.add_argument("--seq-len", type=int, default=64, help="context, bytes")
parser.add_argument("--dim", type=int, default=128, help="model width")
parser.add_argument("--num-layers", type=int, default=2)
parser.add_argument("--num-heads", type=int, default=4)
parser.add_argument("--dropout", type=float, default=0.0)
parser.add_argument("--learning-rate", type=float, default=3e-3)
parser.add_argument("--eval-batches", type=int, default=20)
parser.add_argument("--prompt", default="ROMEO:")
parser.add_argument("--max-new-tokens", type=int, default=300)
parser.add_argument("--temperature", type=float, default=0.8)
parser.add_argument("--top-k", type=int, default=20)
parser.add_argument("--seed", type=int, default=0)
args = parser.parse_args()
keras.utils.set_random_seed(args.seed)
T = args.seq_len

# Data: the text as bytes, so the vocabulary is the 256 byte values.
text = load_shakespeare(validation_fraction=0.1)
tokenizer = keras_hub.tokenizers.ByteTokenizer(lowercase=False)
VOCAB = tokenizer.vocabulary_size()
train_ids = tokenizer(text.train)  # (N,) int32 NumPy array
valid_ids = tokenizer(text.validation)
print(f"train {len(train_ids):,} bytes, validation {len(valid_ids):,} bytes")


def random_windows(ids, seed):
    """Endless batches of (inputs, targets): T bytes and the same shifted by one."""
    ids = tf.constant(ids)
    last_start = len(ids) - T - 1
    starts = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=False)
    windows = starts.map(lambda r: ids[r % last_start : r % last_start + T + 1])
    batches = windows.batch(args.batch_size, drop_remainder=True)  # (B, T + 1)
    return batches.map(lambda w: (w[:, :-1], w[:, 1:])).prefetch(2)


train_data = random_windows(train_ids, seed=args.seed)
# The same validation batches for the loss before and after training.
valid_data = random_windows(valid_ids, seed=args.seed + 1).take(args.eval_batches)

# Model: embeddings -> pre-norm decoder blocks -> final norm -> logits.
token_ids = keras.Input(shape=(T,), dtype="int32", name="token_ids")
x = TokenAndPositionEmbedding(VOCAB, T, args.dim, name="embedding")(token_ids)
for i in range(args.num_layers):
    x = TransformerDecoderBlock(
        num_heads=args.num_heads,
        intermediate_dim=4 * args.dim,
        dropout=args.dropout,
        activation="gelu",
        normalize_first=True,
        name=f"decoder_block_{i}",
    )(x)  # (B, T, dim)
x = keras.layers.LayerNormalization(epsilon=1e-5, name="final_layer_norm")(x)
logits = keras.layers.Dense(VOCAB, name="logits")(x)  # (B, T, VOCAB)
model = keras.Model(token_ids, logits, name="tiny_gpt")
model.compile(
    optimizer=keras.optimizers.AdamW(args.learning_rate, weight_decay=0.01),
    loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
)
model.summary()

loss_before = model.evaluate(valid_data, verbose=0)
print(f"validation loss before training: {loss_before:.4f} (ln 256 = 5.5452)")
# One Keras "epoch" per log line; --steps is rounded down to whole epochs.
steps_per_epoch = min(args.log_every, args.steps)
epochs = args.steps // steps_per_epoch
start = time.perf_counter()
model.fit(
    train_data,
    epochs=epochs,
    steps_per_epoch=steps_per_epoch,
    shuffle=False,  # the windows are already random
    verbose=2,
)
seconds = time.perf_counter() - start
loss_after = model.evaluate(valid_data, verbose=0)
tokens = epochs * steps_per_epoch * args.batch_size * T
print(
    f"trained {epochs * steps_per_epoch} steps in {seconds:.1f} s: "
    f"{tokens / seconds:,.0f} training tokens/s (including graph compilation)"
)
print(f"validation loss after training:  {loss_after:.4f}")


def generate(prompt_ids, max_new_tokens, temperature, top_k, seed):
    """Samples bytes one at a time, rerunning the model on the whole window."""
    rng = np.random.default_rng(seed)
    ids = list(prompt_ids)
    for _ in range(max_new_tokens):
        window = ids[-T:]
        # Left-aligned in a zero-padded (1, T) input: with causal attention
        # the padding after the window does not change its logits.
        inputs = np.zeros((1, T), dtype="int32")
        inputs[0, : len(window)] = window
        next_logits = model.predict_on_batch(inputs)[0, len(window) - 1]  # (V,)
        next_logits = next_logits.astype("float64") / temperature
        next_logits[next_logits < np.sort(next_logits)[-top_k]] = -np.inf
        probs = np.exp(next_logits - next_logits.max())
        ids.append(rng.choice(VOCAB, p=probs / probs.sum()))
    return ids


prompt_ids = tokenizer(args.prompt)
start = time.perf_counter()
sample = generate(
    prompt_ids, args.max_new_tokens, args.temperature, args.top_k, args.seed
)
seconds = time.perf_counter() - start
print(f"--- sample ({args.max_new_tokens} new bytes in {seconds:.1f} s) ---")
print(tokenizer.detokenize(np.array(sample, dtype="int32")))
