"""Choosing the next token from logits: greedy, temperature, top-k and top-p.

One function, `sample_next_token`, covers every sampler, and its settings
are tensors, not Python numbers. That is why keras_attn does not use
keras-hub's samplers (`GreedySampler`, `TopKSampler`, `TopPSampler`,
`RandomSampler`) here:

* they fix `k`, `p` and `temperature` when they are built, so an exported
  SavedModel could not take them as inputs of one `generate` signature;
* `TopKSampler` calls `top_k` with `k` as the output size, which XLA needs
  static: a `k` tensor would not compile;
* their randomness comes from a `keras.random.SeedGenerator` variable, a
  state that each call advances, so a `seed` input cannot make one call
  reproducible.

Here the logits are sorted once, top-k and top-p both become a threshold on
the sorted logits, and the draw is the Gumbel-max trick,
`argmax(logits + Gumbel noise)`, with noise from a counter-based hash of
`(seed, step, row, token)`. The same seed gives the same tokens in eager
code, in `tf.function`, under XLA and in a reloaded SavedModel.
TensorFlow's own stateless random ops (`stateless_categorical`,
`stateless_uniform`) draw other numbers under XLA than without it.

The settings, their defaults and what out-of-range values do are listed
once, in `keras_attn.generation.settings`.
"""

import tensorflow as tf


def check_top_p(top_p):
    """Raises `InvalidArgumentError` unless `0 < top_p <= 1`; works in graphs.

    Returns `top_p` as a float32 tensor, after the check.

    >>> print(check_top_p(0.5).numpy())
    0.5
    >>> check_top_p(1.5)
    Traceback (most recent call last):
    ...
    tensorflow.python.framework.errors_impl.InvalidArgumentError: ...`top_p` must be in (0, 1]. Received: top_p=...
    """
    top_p = tf.convert_to_tensor(top_p, tf.float32)
    ok = tf.logical_and(top_p > 0.0, top_p <= 1.0)
    check = tf.debugging.Assert(ok, ["`top_p` must be in (0, 1]. Received: top_p=", top_p])
    with tf.control_dependencies([check]):
        return tf.identity(top_p)


def check_temperature(temperature):
    """Raises `InvalidArgumentError` if `temperature` is negative, NaN or infinite.

    >>> print(check_temperature(0.5).numpy())
    0.5
    >>> check_temperature(-1.0)
    Traceback (most recent call last):
    ...
    tensorflow.python.framework.errors_impl.InvalidArgumentError: ...`temperature` must be a finite number >= 0 (0: greedy). Received: temperature=...
    """
    temperature = tf.convert_to_tensor(temperature, tf.float32)
    check = tf.debugging.Assert(
        tf.math.is_finite(temperature) & (temperature >= 0.0),
        ["`temperature` must be a finite number >= 0 (0: greedy). Received: temperature=",
         temperature],
    )
    with tf.control_dependencies([check]):
        return tf.identity(temperature)


def filter_logits(logits, top_k=0, top_p=1.0):
    """Sets every logit outside the top-k and the top-p nucleus to -inf.

    Args:
        logits: float `(B, V)`.
        top_k: int scalar; `<= 0` or `>= V` keeps every token.
        top_p: float scalar in `(0, 1]`: keep the fewest likeliest tokens
            whose probabilities add up to at least `top_p` (the likeliest
            token is always kept). `1.0` keeps every token.

    Returns:
        `(B, V)` float32 logits. Tokens tied with the last one kept are
        kept too.

    >>> logits = tf.math.log([[0.5, 0.3, 0.15, 0.05]])
    >>> print(filter_logits(logits, top_k=2).numpy().round(2))
    [[-0.69 -1.2   -inf  -inf]]
    >>> print(filter_logits(logits, top_p=0.9).numpy().round(2))
    [[-0.69 -1.2  -1.9   -inf]]
    """
    logits = tf.cast(logits, tf.float32)
    vocabulary_size = tf.shape(logits)[-1]
    sorted_logits = tf.sort(logits, axis=-1, direction="DESCENDING")  # (B, V)
    top_k = tf.cast(top_k, tf.int32)
    k = tf.where((top_k <= 0) | (top_k > vocabulary_size), vocabulary_size, top_k)
    # Top-k: ranks >= k are dropped. Then top-p over what is left: a rank is
    # kept while the probability of the ranks before it is below p.
    ranks = tf.range(vocabulary_size)[tf.newaxis]  # (1, V)
    sorted_logits = tf.where(ranks < k, sorted_logits, float("-inf"))
    probabilities = tf.nn.softmax(sorted_logits, axis=-1)
    before = tf.cumsum(probabilities, axis=-1, exclusive=True)  # (B, V)
    top_p = tf.cast(top_p, tf.float32)
    # top_p = 1 keeps every token, even where the float sum reaches 1 early.
    keep = (ranks < k) & ((before < top_p) | (ranks == 0) | (top_p >= 1.0))
    # The smallest kept logit is the threshold: (B, 1).
    threshold = tf.reduce_min(tf.where(keep, sorted_logits, float("inf")), -1, keepdims=True)
    return tf.where(logits >= threshold, logits, float("-inf"))


def _mix(h):
    """MurmurHash3's 32-bit finalizer: every input bit flips each output bit
    with probability about 1/2. Integer ops only, so XLA and TensorFlow's
    kernels give the same bits."""
    h = tf.bitwise.bitwise_xor(h, tf.bitwise.right_shift(h, 16))
    h = h * tf.constant(0x85EBCA6B, tf.uint32)
    h = tf.bitwise.bitwise_xor(h, tf.bitwise.right_shift(h, 13))
    h = h * tf.constant(0xC2B2AE35, tf.uint32)
    return tf.bitwise.bitwise_xor(h, tf.bitwise.right_shift(h, 16))


def hash_uniform(shape, seed):
    """Uniform floats in (0, 1) of `shape` `(B, V)`, a pure function of `seed` `(2,)`.

    >>> u = hash_uniform([2, 3], [1, 2]).numpy()
    >>> u.shape, bool(((0 < u) & (u < 1)).all())
    ((2, 3), True)
    >>> bool((u == hash_uniform([2, 3], [1, 2]).numpy()).all())
    True
    """
    rows, columns = shape[0], shape[1]
    counter = tf.cast(tf.range(rows)[:, tf.newaxis] * columns + tf.range(columns), tf.uint32)
    seed = tf.cast(tf.reshape(seed, [2]), tf.uint32)
    h = _mix(tf.bitwise.bitwise_xor(counter, _mix(seed[0] + tf.constant(0x9E3779B9, tf.uint32))))
    h = _mix(tf.bitwise.bitwise_xor(h, _mix(seed[1] + tf.constant(0x7F4A7C15, tf.uint32))))
    # The top 24 bits, centred in their bin: never exactly 0 or 1.
    return (tf.cast(tf.bitwise.right_shift(h, 8), tf.float32) + 0.5) / float(1 << 24)


def sample_next_token(logits, temperature=0.0, top_k=0, top_p=1.0, seed=(0, 0)):
    """Picks one token per row: greedy, or a draw from the filtered softmax.

    Args:
        logits: float `(B, V)`, the next-token logits.
        temperature: float scalar; `0` means greedy (argmax, ties to the
            lowest id), otherwise the logits are divided by it. The entry
            points refuse a negative one; here it is greedy too.
        top_k: int scalar, see `filter_logits`.
        top_p: float scalar, see `filter_logits`.
        seed: int32 `(2,)`, the seed of the draw (see `hash_uniform`). The
            decoding loops pass `(seed, step)`.

    Returns:
        `(B,)` int32 token ids.

    >>> logits = tf.constant([[0.0, 3.0, 1.0], [2.0, 0.0, 0.0]])
    >>> sample_next_token(logits).numpy().tolist()           # greedy
    [1, 0]
    >>> ids = sample_next_token(logits, temperature=1.0, top_k=1, seed=(7, 0))
    >>> ids.numpy().tolist()      # top-k=1 sampling is greedy too
    [1, 0]
    """
    logits = tf.cast(logits, tf.float32)
    temperature = tf.cast(temperature, tf.float32)
    greedy = tf.argmax(logits, axis=-1, output_type=tf.int32)

    def draw():
        scaled = logits / tf.maximum(temperature, 1e-6)
        # The filter sorts the vocabulary: only when top-k or top-p asks for it.
        vocabulary_size = tf.shape(logits)[-1]
        top_k_on = (tf.cast(top_k, tf.int32) > 0) & (tf.cast(top_k, tf.int32) < vocabulary_size)
        filtering = top_k_on | (tf.cast(top_p, tf.float32) < 1.0)
        filtered = tf.cond(filtering, lambda: filter_logits(scaled, top_k, top_p),
                           lambda: scaled)
        gumbel = -tf.math.log(-tf.math.log(hash_uniform(tf.shape(filtered), seed)))
        return tf.argmax(filtered + gumbel, axis=-1, output_type=tf.int32)

    return tf.cond(temperature > 0.0, draw, lambda: greedy)
