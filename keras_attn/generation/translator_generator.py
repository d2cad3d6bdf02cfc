"""Cached greedy and beam decoding with a `Translator`.

```
encode once:   source ids (B, S) -> model.encode -> encoder output (B, S, d)
               -> model.decoder_state: per decoder block, a cross-attention
                  cache (B, 2, heads, S, head_dim) and an empty self-attention cache
step i:        target token (B, 1) at position i
               -> model.call_decoder_with_cache(token, state, i) -> logits (B, V) of i+1
```

The source is projected into keys and values once per translation, not
once per target token, and the loop is compiled with XLA, as in
`GPTGenerator`.
"""

import numpy as np
import tensorflow as tf

from keras_attn.checks import check_id_matrix
from keras_attn.checks import check_positive_int
from keras_attn.generation.decoding import beam_search
from keras_attn.generation.decoding import decode
from keras_attn.generation.decoding import with_matrix_kernels
from keras_attn.models.transformer import Translator


class TranslatorGenerator:
    """Translates with a `keras_attn.models.Translator` and its caches.

    Args:
        model: a `Translator` (what `build_transformer` returns).
        jit_compile: compile the decoding loops with XLA.

    Example:

    >>> from keras_attn.models import TransformerConfig, build_transformer
    >>> model = build_transformer(TransformerConfig.preset(
    ...     "tiny", vocabulary_size=12, max_sequence_length=8, num_layers=1))
    >>> generator = TranslatorGenerator(model)
    >>> source = np.array([[3, 4, 5, 0], [6, 7, 0, 0]])
    >>> ids = generator.translate(source, start_id=1, end_id=2, max_length=7)
    >>> ids.shape
    (2, 7)
    >>> from keras_attn.generation import greedy_translate
    >>> bool((ids == greedy_translate(model, source, 1, 2, 7)).all())
    True
    >>> generator.translate(source, 1, 2, 7, num_beams=3).shape
    (2, 7)
    """

    def __init__(self, model, jit_compile=True):
        if not isinstance(model, Translator):
            raise ValueError(
                "`model` must be a keras_attn.models.Translator (from build_transformer). "
                f"Received: model={model!r}"
            )
        self.model = model
        self.context_length = model.decoder_context_length
        self.jit_compile = jit_compile
        self._greedy = tf.function(self._greedy_loop, jit_compile=jit_compile)
        self._beam = tf.function(self._beam_loop, jit_compile=jit_compile)

    def _state(self, source_ids, length, copies):
        """The decoder state of each source, each row repeated `copies` times (beams)."""
        encoded, padding_mask = self.model.encode(source_ids)
        encoded = tf.repeat(encoded, copies, axis=0)
        padding_mask = tf.repeat(padding_mask, copies, axis=0)
        return self.model.decoder_state(encoded, padding_mask, length)

    def next_logits(self, token_ids, state, index):
        """The `next_logits` of the decoding loops: `(B, 1)` -> `(B, V)` logits."""
        logits, state = self.model.call_decoder_with_cache(token_ids, state, index)
        return logits[:, -1], state

    def _start(self, source_ids, start_id, length):
        batch_size = tf.shape(source_ids)[0]
        tokens = tf.pad(tf.fill([batch_size, 1], start_id), [[0, 0], [0, length - 1]])
        return tokens, tf.ones([batch_size], tf.int32)

    def _greedy_loop(self, source_ids, start_id, end_id, length):
        state = self._state(source_ids, length, 1)
        tokens, lengths = self._start(source_ids, start_id, length)
        return decode(
            with_matrix_kernels(self.model, self.next_logits), tokens, lengths, state,
            length - 1, stop_token_ids=tf.reshape(end_id, [1]),
        )

    def _beam_loop(self, source_ids, start_id, end_id, length, num_beams, length_penalty):
        state = self._state(source_ids, length, num_beams)
        tokens, lengths = self._start(source_ids, start_id, length)
        tokens, lengths, _ = beam_search(
            with_matrix_kernels(self.model, self.next_logits), tokens, lengths, state,
            length - 1, num_beams, length_penalty, stop_token_ids=tf.reshape(end_id, [1]),
        )
        return tokens, lengths

    def translate_tensors(self, source_ids, start_id, end_id, max_length, num_beams=1,
                          length_penalty=1.0):
        """The compiled loop on tensors, for `tf.function`s and the export.

        Returns `(tokens, lengths)`: `(B, max_length + 1)` ids starting with
        `start_id` and ending with `end_id` (when it was reached), and the
        end of each row. `max_length` must be a Python int here.
        """
        source_ids = tf.convert_to_tensor(source_ids, tf.int32)
        start_id = tf.convert_to_tensor(start_id, tf.int32)
        end_id = tf.convert_to_tensor(end_id, tf.int32)
        if num_beams == 1:
            return self._greedy(source_ids, start_id, end_id, max_length + 1)
        return self._beam(
            source_ids, start_id, end_id, max_length + 1, num_beams,
            tf.constant(length_penalty, tf.float32),
        )

    def translate(self, source_ids, start_id, end_id, max_length, num_beams=1,
                  length_penalty=1.0, batch_size=512):
        """Translates a batch of 0-padded source ids.

        Args:
            source_ids: `(N, S)` int array, 0-padded.
            start_id, end_id: the decoder's start and end ids.
            max_length: the most target ids, at most the decoder's context
                minus one.
            num_beams: 1 for greedy decoding, more for beam search.
            length_penalty: for beam search, see
                `keras_attn.generation.beam_search`.
            batch_size: rows decoded together.

        Returns:
            `(N, max_length)` int32, the target ids without the start and end
            ids, 0-padded after the end: the output of `greedy_translate`.
        """
        for name, value in (("max_length", max_length), ("num_beams", num_beams),
                            ("batch_size", batch_size)):
            check_positive_int(name, value)
        if max_length + 1 > self.context_length:
            raise ValueError(
                f"`max_length` + 1 must be at most the decoder's context "
                f"({self.context_length}). Received: max_length={max_length}"
            )
        source_ids = check_id_matrix("source_ids", source_ids)
        outputs = []
        for first in range(0, len(source_ids), batch_size):
            tokens, lengths = self.translate_tensors(
                source_ids[first : first + batch_size], start_id, end_id, max_length,
                num_beams, length_penalty,
            )
            tokens = np.array(tokens)[:, 1:]  # (B, max_length) without the start id
            tokens[tokens == end_id] = 0
            outputs.append(tokens)
        return np.concatenate(outputs, axis=0)
