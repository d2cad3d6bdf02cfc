"""Cached, compiled text generation with a GPT (or any `CausalLM`).

`GPTGenerator(model)` drives the model's own `call_with_cache`, one token
at a time:

```
prefill:  the prompts (B, P) in one pass          -> caches hold positions 0 ... P-1
step i:   token (B, 1) at position i
            -> model.call_with_cache(token, cache, i)  -> logits (B, V) of position i+1
```

The caches are one tensor per block, `(B, 2, kv_heads, span, head_dim)`,
and the token buffer is `(B, span)`, so every step has the same shapes: the
whole loop (`decode` or `beam_search`) is one `tf.function` compiled with
XLA, with no Python per token. `generate` and `beam_search` take the span
as the power of two that holds the longest prompt and the new tokens (at
most the context), so a step reads only as many cached positions as the
generation can use; `generate_tensors` (the export) spans the context. It
compiles once per batch size, prompt bucket (prompts are padded to a power
of two) and span.
"""

import numpy as np
import tensorflow as tf

from keras_attn.checks import check_int
from keras_attn.checks import check_number
from keras_attn.generation.decoding import beam_search
from keras_attn.generation.decoding import decode
from keras_attn.generation.decoding import with_matrix_kernels
from keras_attn.generation.reference import decode_by_recomputation
from keras_attn.generation.settings import clamp_new_tokens
from keras_attn.models.causal_lm import as_causal_lm


def prompt_bucket(length, context_length):
    """The padded prompt length: the next power of two >= `length` (at least
    16), at most `context_length`, so few prompt shapes are compiled.

    >>> prompt_bucket(5, 256), prompt_bucket(100, 256), prompt_bucket(300, 256)
    (16, 128, 256)
    """
    return min(context_length, max(16, 1 << (max(int(length), 1) - 1).bit_length()))


class GPTGenerator:
    """Generates with a GPT's key/value caches, in one XLA-compiled loop.

    Args:
        model: a `keras_attn.models.GPT`, or any model `as_causal_lm` takes:
            a functional model of keras_attn layers composed by hand, or one
            saved by keras_attn 0.1. Its layers are used as they are;
            nothing is copied.
        jit_compile: compile the decoding loop with XLA (the default; about
            twice as fast on a CPU). `False` runs it as a plain graph.
        context_length: for a hand-made model without a position table
            (see `as_causal_lm`).

    Prompts longer than the context are left-truncated: with
    `max_new_tokens` new tokens, each prompt keeps its last
    `context_length - max_new_tokens` tokens, so the prompt and the new
    tokens fit the model's positions. `max_new_tokens` is clamped by
    `keras_attn.generation.settings.clamp_new_tokens`.

    Example:

    >>> from keras_attn.models import GPTConfig, build_gpt
    >>> model = build_gpt(GPTConfig.preset("baby", vocabulary_size=50, num_layers=1))
    >>> generator = GPTGenerator(model)
    >>> outputs = generator.generate([[5, 6, 7], [8]], max_new_tokens=4)
    >>> [len(ids) for ids in outputs]
    [4, 4]
    >>> outputs == generator.generate_by_recomputation([[5, 6, 7], [8]], 4)
    True
    """

    def __init__(self, model, jit_compile=True, context_length=None):
        self.model = as_causal_lm(model, context_length)
        self.context_length = self.model.context_length
        self.vocabulary_size = self.model.vocabulary_size
        self.jit_compile = jit_compile
        self._decode = tf.function(self._decode_loop, jit_compile=jit_compile)
        self._beam_search = tf.function(self._beam_loop, jit_compile=jit_compile)

    # -- the model, one step at a time -----------------------------------

    def next_logits(self, token_ids, cache, index):
        """The `next_logits` of the decoding loops: `(B, 1)` -> `(B, V)` logits."""
        logits, cache = self.model.call_with_cache(token_ids, cache, index)
        return logits[:, -1], cache

    def prefill(self, tokens, span=None):
        """Caches of `span` positions (default: the context) holding the whole
        padded prompt `(B, P)`, written from position 0."""
        cache = self.model.get_empty_cache(tf.shape(tokens)[0], max_length=span)
        _, cache = self.model.call_with_cache(tokens, cache, 0)
        return cache

    # -- compiled loops (tensors in, tensors out) ------------------------

    def _buffer(self, prompts, span):
        """(B, P) prompts -> (B, span) token buffer, and the prompt caches."""
        span = span or self.context_length
        cache = self.prefill(prompts, span)
        return tf.pad(prompts, [[0, 0], [0, span - tf.shape(prompts)[1]]]), cache

    def _decode_loop(self, prompts, prompt_lengths, max_new_tokens, temperature, top_k,
                     top_p, seed, stop_token_ids, span=None):
        tokens, cache = self._buffer(prompts, span)
        return decode(
            with_matrix_kernels(self.model, self.next_logits), tokens, prompt_lengths, cache,
            max_new_tokens, temperature, top_k, top_p, seed, stop_token_ids,
        )

    def _beam_loop(self, prompts, prompt_lengths, max_new_tokens, num_beams, length_penalty,
                   stop_token_ids, span=None):
        tokens, cache = self._buffer(prompts, span)
        cache = tf.nest.map_structure(lambda c: tf.repeat(c, num_beams, axis=0), cache)
        tokens, lengths, _ = beam_search(
            with_matrix_kernels(self.model, self.next_logits), tokens, prompt_lengths, cache,
            max_new_tokens, num_beams, length_penalty, stop_token_ids,
        )
        return tokens, lengths

    def generate_tensors(self, prompts, prompt_lengths, max_new_tokens, temperature=0.0,
                         top_k=0, top_p=1.0, seed=0, stop_token_ids=(), span=None):
        """The compiled sampling loop on tensors, for use inside `tf.function`s
        (the SavedModel export calls it).

        Args:
            prompts: `(B, P)` int32, right-padded, `P <= context_length`.
            prompt_lengths: `(B,)` int32 in `[1, P]`.
            max_new_tokens, temperature, top_k, top_p, seed, stop_token_ids:
                scalars or tensors, see `keras_attn.generation.decode`.
            span: None for the whole context, or a Python int: the positions of
                the token buffer and the caches, at least the longest prompt
                plus `max_new_tokens` (a row stops at the buffer's end).

        Returns:
            `(tokens, lengths)`: the `(B, span)` buffer and the row ends.
        """
        return self._decode(
            tf.convert_to_tensor(prompts, tf.int32),
            tf.convert_to_tensor(prompt_lengths, tf.int32),
            tf.convert_to_tensor(max_new_tokens, tf.int32),
            tf.convert_to_tensor(temperature, tf.float32),
            tf.convert_to_tensor(top_k, tf.int32),
            tf.convert_to_tensor(top_p, tf.float32),
            tf.convert_to_tensor(seed, tf.int32),
            tf.reshape(tf.convert_to_tensor(stop_token_ids, tf.int32), [-1]),
            span,
        )

    # -- the Python API ----------------------------------------------------

    def _pack(self, prompts, max_new_tokens):
        """Lists of ids -> left-truncated, right-padded (B, bucket) array and lengths."""
        if isinstance(prompts, (list, tuple)) and prompts and np.ndim(prompts[0]) == 0:
            raise ValueError(
                "`prompts` must be a list of prompts, each a list of token ids. "
                f"Received: prompts={list(prompts)[:8]!r}"
            )
        prompts = [np.asarray(p, "int64").reshape(-1) for p in prompts]
        if not prompts:
            raise ValueError("`prompts` must hold at least one prompt. Received: prompts=[]")
        for i, prompt in enumerate(prompts):
            if prompt.size == 0:
                raise ValueError(
                    f"Every prompt needs at least one token. Received: prompts[{i}]=[]"
                )
            if prompt.min() < 0 or prompt.max() >= self.vocabulary_size:
                raise ValueError(
                    f"Token ids must be in [0, {self.vocabulary_size - 1}]. "
                    f"Received: prompts[{i}]={prompt.tolist()[:16]!r}"
                )
        keep = self.context_length - max_new_tokens
        prompts = [p[-keep:] for p in prompts]
        lengths = np.array([len(p) for p in prompts], "int32")
        packed = np.zeros((len(prompts), prompt_bucket(lengths.max(), self.context_length)), "int32")
        for row, prompt in zip(packed, prompts):
            row[: len(prompt)] = prompt
        return packed, lengths

    def _span(self, prompt_lengths, max_new_tokens):
        """The positions a generation needs, rounded up to a power of two (a bucket)."""
        return prompt_bucket(int(prompt_lengths.max()) + max_new_tokens, self.context_length)

    def _unpack(self, tokens, lengths, prompt_lengths):
        tokens, lengths = np.asarray(tokens), np.asarray(lengths)
        return [row[p:end].tolist() for row, p, end in zip(tokens, prompt_lengths, lengths)]

    def _clamp(self, max_new_tokens):
        check_int("max_new_tokens", max_new_tokens, minimum=0)
        return clamp_new_tokens(int(max_new_tokens), self.context_length)

    def generate(self, prompts, max_new_tokens, temperature=0.0, top_k=0, top_p=1.0, seed=0,
                 stop_token_ids=()):
        """Continues each prompt by up to `max_new_tokens` tokens.

        Args:
            prompts: a list of prompts, each a non-empty list of token ids;
                lengths may differ.
            max_new_tokens: int >= 0, clamped to `context_length - 1`.
            temperature: `0` (the default) for greedy decoding; negative is an error.
            top_k: keep the `k` likeliest tokens; `<= 0` for no limit.
            top_p: nucleus sampling, in `(0, 1]`.
            seed: int; the same seed and inputs give the same tokens.
            stop_token_ids: ids that end a row (the stop id is returned).

        Returns:
            A list with the new token ids of each prompt.
        """
        max_new_tokens = self._clamp(max_new_tokens)
        check_number("temperature", temperature, minimum=0)
        check_number("top_p", top_p, above=0, maximum=1)
        check_int("top_k", top_k)
        check_int("seed", seed)
        packed, lengths = self._pack(prompts, max_new_tokens)
        tokens, ends = self.generate_tensors(
            packed, lengths, max_new_tokens, temperature, top_k, top_p, seed, list(stop_token_ids),
            self._span(lengths, max_new_tokens),
        )
        return self._unpack(tokens, ends, lengths)

    def beam_search(self, prompts, max_new_tokens, num_beams=4, length_penalty=1.0,
                    stop_token_ids=()):
        """The likeliest continuation of each prompt by beam search.

        Args:
            prompts, max_new_tokens, stop_token_ids: as in `generate`.
            num_beams: int, beams per prompt.
            length_penalty: float, see `keras_attn.generation.beam_search`.

        Returns:
            A list with the new token ids of each prompt.
        """
        max_new_tokens = self._clamp(max_new_tokens)
        check_int("num_beams", num_beams, minimum=1)
        packed, lengths = self._pack(prompts, max_new_tokens)
        tokens, ends = self._beam_search(
            tf.constant(packed), tf.constant(lengths), tf.constant(max_new_tokens),
            int(num_beams), tf.constant(float(length_penalty)),
            tf.constant(list(stop_token_ids), tf.int32, shape=[len(stop_token_ids)]),
            self._span(lengths, max_new_tokens),
        )
        return self._unpack(tokens, ends, lengths)

    def generate_by_recomputation(self, prompts, max_new_tokens, stop_token_ids=()):
        """Greedy decoding that reruns the whole model for each new token.

        The reference the cached loop must equal, token for token (and the
        baseline of the cache benchmark): `reference.decode_by_recomputation`
        on the model's full forward pass. Same arguments as `generate`.
        """
        max_new_tokens = self._clamp(max_new_tokens)
        packed, lengths = self._pack(prompts, max_new_tokens)
        forward = tf.function(lambda ids: self.model(ids, training=False),
                              jit_compile=self.jit_compile)
        tokens, ends = decode_by_recomputation(
            forward, packed, lengths, max_new_tokens, self.context_length, stop_token_ids
        )
        return self._unpack(tokens, ends, lengths)
