"""The decoding loops: one token per step, from any `next_logits` function.

The loops do not know the model. They take a function

```
next_logits(token_ids, state, index) -> (logits, state)
    token_ids: (B, 1) int32, the token at position `index`
    state:     anything the model carries between steps (its key/value caches)
    logits:    (B, V), the logits of the token at position `index + 1`
```

so they are tested with fake logits functions whose right answers are
known, and serve the GPT (`GPTGenerator`) and the translator
(`TranslatorGenerator`) alike.

Both loops are `tf.while_loop`s over a fixed-size token buffer `(B, L)`:
the shapes never change from step to step, so the loop compiles once with
XLA and runs with no Python work per token.

Prompts of different lengths (the approach of keras-hub's samplers): the
buffer holds the prompts right-padded, the loop starts after the shortest
prompt, and a row whose prompt is longer keeps its own prompt tokens until
it reaches its end. `next_logits` still runs on them, which also rewrites
their cache entries.
"""

import keras
import numpy as np
import tensorflow as tf

from keras_attn.checks import check_positive_int
from keras_attn.generation.sampling import sample_next_token

# A log-probability that stands for "impossible" without the NaNs of
# inf - inf.
_IMPOSSIBLE = -1e9


def _as_matrix(layer):
    """The shape that makes an `EinsumDense` kernel the matrix of its product,
    `(contracted, free)` or `(free, contracted)`, or None if it is not one.

    `abc,cde->abde` (a projection, `(dim, heads, head_dim)`) -> `(dim, heads * head_dim)`;
    `abcd,cde->abe` (the attention output, `(heads, head_dim, dim)`) -> `(heads * head_dim, dim)`.
    """
    inputs, kernel = layer.equation.split("->")[0].split(",")
    contracted = [letter in inputs for letter in kernel]
    if all(contracted) or not any(contracted):
        return None
    split = contracted.index(not contracted[0])
    if any(c == contracted[0] for c in contracted[split:]):
        return None  # contracted and free dims interleave
    shape = layer.kernel.shape
    return (int(np.prod(shape[:split])), int(np.prod(shape[split:])))


def matrix_kernels(model):
    """`[(variable, matrix)]`: each rank-3 `EinsumDense` kernel of `model`
    and its value as the matrix of its product (see `with_matrix_kernels`)."""
    kernels = []
    for layer in model._flatten_layers(include_self=False, recursive=True):
        if not isinstance(layer, keras.layers.EinsumDense):
            continue
        # With LoRA, `kernel` is a sum of variables: left as it is.
        if isinstance(layer.kernel, keras.Variable) and len(layer.kernel.shape) > 2:
            matrix = _as_matrix(layer)
            if matrix is not None:
                kernels.append((layer.kernel, tf.reshape(layer.kernel.value, matrix)))
    return kernels


def reading_matrices(kernels):
    """A scope in which each variable of `kernels` (`[(variable, matrix)]`)
    reads as its matrix reshaped back: the same numbers, from the matrix."""
    return keras.StatelessScope(
        [(variable, tf.reshape(matrix, variable.shape)) for variable, matrix in kernels]
    )


def with_matrix_kernels(model, next_logits):
    """`next_logits`, with `model`'s rank-3 `EinsumDense` kernels read as
    matrices made here: call it inside the compiled function, before the loop.

    Why: in a loop compiled by XLA on a CPU, products with `(768, 12, 64)`
    kernel variables streamed them at about 5 GB/s, and the same numbers
    as matrices made outside the loop at about 40 GB/s (measured with 57
    MB of kernels; XLA's dot gets a rank-2 buffer, not a reshaped
    variable). The loop captures the matrices (`matrix_kernels`); the
    layers read them reshaped back through a `keras.StatelessScope`
    (`reading_matrices`), so they compute the same thing. The matrices are
    read from the variables on every call, so they are never stale. At the
    GPT-2 124M shape this takes a batch-1 step from 47 to 32 ms; a baby
    model's from 0.31 to 0.21 ms. A single compiled step gains the same
    when the matrices are made outside it and passed in (the export's
    `decode_step` does).

    Example: a step that reads a `(16, 4, 8)` kernel as a `(16, 32)` matrix.

    >>> import numpy as np
    >>> dense = keras.layers.EinsumDense("abc,cde->abde", output_shape=(None, 4, 8))
    >>> model = keras.Sequential([keras.Input((1, 16)), dense])
    >>> x = np.ones((1, 1, 16), "float32")
    >>> def next_logits(token_ids, state, index):
    ...     return model(x), state
    >>> @tf.function(jit_compile=True)
    ... def first_step():
    ...     return with_matrix_kernels(model, next_logits)(None, (), 0)[0]
    >>> np.allclose(first_step(), model(x), atol=1e-6)
    True
    """
    kernels = matrix_kernels(model)

    def next_logits_from_matrices(token_ids, state, index):
        with reading_matrices(kernels):
            return next_logits(token_ids, state, index)

    return next_logits_from_matrices


def _set_column(tokens, index, values):
    """`tokens[:, index] = values` for a tensor `index`, XLA-friendly. (B, L)."""
    columns = tf.range(tf.shape(tokens)[1])[tf.newaxis]  # (1, L)
    return tf.where(columns == index, values[:, tf.newaxis], tokens)


def _column(tokens, index):
    """`tokens[:, index]` for a tensor `index`: (B,)."""
    return tf.gather(tokens, index, axis=1)


def _is_stop(token_ids, stop_token_ids):
    """(B,) bool: whether each token is one of `stop_token_ids` (K,)."""
    return tf.reduce_any(token_ids[:, tf.newaxis] == stop_token_ids[tf.newaxis], axis=-1)


def decode(
    next_logits,
    tokens,
    prompt_lengths,
    state,
    max_new_tokens,
    temperature=0.0,
    top_k=0,
    top_p=1.0,
    seed=0,
    stop_token_ids=(),
    pad_id=0,
):
    """Generates up to `max_new_tokens` tokens after each prompt.

    Step `index` runs `next_logits` on the token at `index - 1` and writes
    the chosen token at `index`. A row stops after `max_new_tokens` new
    tokens, at the end of the buffer, or after one of `stop_token_ids`
    (which is kept). Positions after a row's end hold `pad_id`.

    Args:
        next_logits: see the module docstring.
        tokens: `(B, L)` int32, the prompts right-padded; `L` is the most
            positions the model can see (its context).
        prompt_lengths: `(B,)` int32, each in `[1, L]`.
        state: the initial state of `next_logits`, holding the prompts up
            to (at least) position `min(prompt_lengths) - 2`.
        max_new_tokens: int scalar; `<= 0` generates nothing.
        temperature, top_k, top_p: see `sample_next_token`.
        seed: int scalar; step `index` draws with the seed `(seed, index)`.
        stop_token_ids: 1-D int, possibly empty.
        pad_id: the id written after a row ends.

    Returns:
        `(tokens, lengths)`: the `(B, L)` buffer with the new tokens, and
        `(B,)` int32, the end of each row (prompt plus new tokens).

    Example: a fake model whose next token is always the last one plus one.

    >>> import tensorflow as tf
    >>> def next_logits(token_ids, state, index):
    ...     return tf.one_hot(token_ids[:, 0] + 1, 10), state
    >>> tokens = tf.constant([[3, 0, 0, 0, 0], [5, 6, 0, 0, 0]])
    >>> out, lengths = decode(next_logits, tokens, tf.constant([1, 2]), (), 2)
    >>> out.numpy().tolist(), lengths.numpy().tolist()
    ([[3, 4, 5, 0, 0], [5, 6, 7, 8, 0]], [3, 4])
    """
    tokens = tf.convert_to_tensor(tokens, tf.int32)
    prompt_lengths = tf.convert_to_tensor(prompt_lengths, tf.int32)
    max_new_tokens = tf.convert_to_tensor(max_new_tokens, tf.int32)
    stop_token_ids = tf.reshape(tf.cast(stop_token_ids, tf.int32), [-1])
    seed = tf.cast(seed, tf.int32)
    buffer_length = tf.shape(tokens)[1]
    row_ends = tf.minimum(prompt_lengths + tf.maximum(max_new_tokens, 0), buffer_length)  # (B,)
    start = tf.reduce_min(prompt_lengths)
    last = tf.reduce_max(row_ends)

    def cond(index, tokens, state, lengths, stopped):
        finished = stopped | (index >= row_ends)
        return (index < last) & tf.logical_not(tf.reduce_all(finished))

    def body(index, tokens, state, lengths, stopped):
        logits, state = next_logits(_column(tokens, index - 1)[:, tf.newaxis], state, index - 1)
        chosen = sample_next_token(logits, temperature, top_k, top_p, tf.stack([seed, index]))
        in_prompt = index < prompt_lengths
        writing = tf.logical_not(in_prompt | stopped | (index >= row_ends))
        new = tf.where(in_prompt, _column(tokens, index), tf.where(writing, chosen, pad_id))
        tokens = _set_column(tokens, index, new)
        lengths = tf.where(writing, index + 1, lengths)
        stopped = stopped | (writing & _is_stop(new, stop_token_ids))
        return index + 1, tokens, state, lengths, stopped

    stopped = tf.zeros_like(prompt_lengths, tf.bool)
    _, tokens, _, lengths, _ = tf.while_loop(
        cond, body, (start, tokens, state, prompt_lengths, stopped)
    )
    # Rows that ended early and the padding of short prompts both read pad_id.
    columns = tf.range(buffer_length)[tf.newaxis]
    tokens = tf.where(columns < lengths[:, tf.newaxis], tokens, pad_id)
    return tokens, lengths


def beam_search(
    next_logits,
    tokens,
    prompt_lengths,
    state,
    max_new_tokens,
    num_beams=4,
    length_penalty=1.0,
    stop_token_ids=(),
    pad_id=0,
):
    """Keeps the `num_beams` likeliest sequences of each row, and returns the best.

    Each step extends every alive beam by every token, and keeps the
    `num_beams` best of the `num_beams * V` candidates by total
    log-probability. A beam that emits a stop token is finished: its score
    is frozen (its only continuation is `pad_id`, at log-probability 0) and
    it competes with the alive beams for its slot. The loop ends when every
    beam of every row is finished or after `max_new_tokens`. The best beam
    is the one with the highest `log_probability / new_tokens **
    length_penalty` (`0` compares raw sums, which favour short outputs).

    keras-hub's `BeamSampler` is not used because its beams never finish:
    after the end token they keep adding tokens and log-probabilities, and
    it has no length penalty.

    Args:
        next_logits: see the module docstring; `state` has `B * num_beams`
            rows (beams of a row next to each other).
        tokens: `(B, L)` int32, the prompts right-padded.
        prompt_lengths: `(B,)` int32, each in `[1, L]`.
        state: the state for the `B * num_beams` beams, e.g. the prompt's
            caches repeated with `tf.repeat(cache, num_beams, axis=0)`.
        max_new_tokens: int scalar.
        num_beams: Python int, beams per row.
        length_penalty: float, see above.
        stop_token_ids: 1-D int, possibly empty.
        pad_id: the id written after a beam ends.

    Returns:
        `(tokens, lengths, scores)`: the best beam of each row `(B, L)`, its
        end `(B,)`, and its total log-probability `(B,)`.

    Example: the likeliest first token (id 1, p=0.6) leads to a poor second
    one, so greedy decoding finds 1 then 3 (p=0.6*0.5) and beam search
    2 then 3 (p=0.4*0.9).

    >>> import tensorflow as tf
    >>> def next_logits(token_ids, state, index):
    ...     table = tf.math.log([[1e-9, 0.6, 0.4, 1e-9],   # after 0
    ...                          [1e-9, 1e-9, 0.5, 0.5],   # after 1
    ...                          [1e-9, 1e-9, 0.1, 0.9],   # after 2
    ...                          [1e-9, 1e-9, 1e-9, 1.0]]) # after 3
    ...     return tf.gather(table, token_ids[:, 0]), state
    >>> prompt = tf.constant([[0, 0, 0]])
    >>> greedy, _ = decode(next_logits, prompt, tf.constant([1]), (), 2)
    >>> best, lengths, scores = beam_search(next_logits, prompt, tf.constant([1]), (), 2,
    ...                                     num_beams=2, length_penalty=0.0)
    >>> greedy.numpy().tolist(), best.numpy().tolist(), round(float(tf.exp(scores)[0]), 2)
    ([[0, 1, 2]], [[0, 2, 3]], 0.36)
    """
    check_positive_int("num_beams", num_beams)
    tokens = tf.convert_to_tensor(tokens, tf.int32)
    prompt_lengths = tf.convert_to_tensor(prompt_lengths, tf.int32)
    max_new_tokens = tf.convert_to_tensor(max_new_tokens, tf.int32)
    stop_token_ids = tf.reshape(tf.cast(stop_token_ids, tf.int32), [-1])
    batch_size, buffer_length = tf.shape(tokens)[0], tf.shape(tokens)[1]
    beams = num_beams

    # (B, ...) -> (B * beams, ...), beams of a row next to each other.
    tokens = tf.repeat(tokens, beams, axis=0)
    prompt_lengths = tf.repeat(prompt_lengths, beams, axis=0)
    row_ends = tf.minimum(prompt_lengths + tf.maximum(max_new_tokens, 0), buffer_length)
    # Only beam 0 of a row is alive at first, so the first step does not
    # pick the same token once per beam.
    first = tf.one_hot(0, beams, on_value=0.0, off_value=_IMPOSSIBLE)  # (beams,)
    scores = tf.tile(first, [batch_size])  # (B * beams,)
    start_scores_shape = tokens.shape[:1]
    start = tf.reduce_min(prompt_lengths)
    last = tf.reduce_max(row_ends)

    def cond(index, tokens, state, scores, lengths, finished):
        done = finished | (index >= row_ends)
        return (index < last) & tf.logical_not(tf.reduce_all(done))

    def body(index, tokens, state, scores, lengths, finished):
        logits, state = next_logits(_column(tokens, index - 1)[:, tf.newaxis], state, index - 1)
        log_probs = tf.nn.log_softmax(tf.cast(logits, tf.float32), axis=-1)  # (B*beams, V)
        vocabulary_size = tf.shape(log_probs)[-1]
        in_prompt = index < prompt_lengths
        frozen = finished | (index >= row_ends)
        # A forced token: the prompt's own, or pad after the end, at log-prob 0.
        forced = tf.where(in_prompt, _column(tokens, index), pad_id)
        forced_log_probs = tf.where(
            tf.one_hot(forced, vocabulary_size) > 0, 0.0, _IMPOSSIBLE
        )  # (B*beams, V)
        log_probs = tf.where((in_prompt | frozen)[:, tf.newaxis], forced_log_probs, log_probs)
        candidates = scores[:, tf.newaxis] + log_probs  # (B*beams, V)
        candidates = tf.reshape(candidates, [batch_size, beams * vocabulary_size])
        scores, flat = tf.math.top_k(candidates, k=beams)  # (B, beams)
        origin = flat // vocabulary_size  # which beam each survivor extends
        new = tf.reshape(flat % vocabulary_size, [-1])  # (B*beams,)
        scores = tf.ensure_shape(tf.reshape(scores, [-1]), start_scores_shape)
        # Survivor j of row b comes from beam b * beams + origin[b, j].
        parents = tf.reshape(origin + tf.range(batch_size)[:, tf.newaxis] * beams, [-1])

        def gather(x):  # keeps the static shape, as the while loop requires
            return tf.ensure_shape(tf.gather(x, parents), x.shape)

        tokens, lengths = gather(tokens), gather(lengths)
        state = tf.nest.map_structure(gather, state)
        was_frozen, was_in_prompt = gather(frozen), gather(in_prompt)
        writing = tf.logical_not(was_frozen | was_in_prompt)
        tokens = _set_column(tokens, index, new)
        lengths = tf.where(writing, index + 1, lengths)
        finished = gather(finished) | (writing & _is_stop(new, stop_token_ids))
        return index + 1, tokens, state, scores, lengths, finished

    finished = tf.zeros_like(prompt_lengths, tf.bool)
    _, tokens, _, scores, lengths, _ = tf.while_loop(
        cond, body, (start, tokens, state, scores, prompt_lengths, finished)
    )
    new_tokens = tf.cast(tf.maximum(lengths - prompt_lengths, 1), tf.float32)
    normalized = tf.reshape(scores / new_tokens ** length_penalty, [batch_size, beams])
    best = tf.argmax(normalized, axis=-1, output_type=tf.int32) + tf.range(batch_size) * beams
    tokens, lengths, scores = tf.gather(tokens, best), tf.gather(lengths, best), tf.gather(scores, best)
    columns = tf.range(buffer_length)[tf.newaxis]
    tokens = tf.where(columns < lengths[:, tf.newaxis], tokens, pad_id)
    return tokens, lengths, scores
