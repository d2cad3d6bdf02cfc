"""Cached greedy and beam decoding with a `build_transformer` translator.

```
encode once:   source ids (B, S) -> encoder output (B, S, d)
               -> per decoder block: cross-attention cache (B, 2, S, heads, head_dim)
step i:        target token (B, 1) at position i
               -> decoder_embedding(start_index=i)
               -> decoder_block_j(self-attention cache j, cross-attention cache j)
               -> decoder_final_layer_norm -> head -> logits (B, V) of position i+1
```

The source is projected into keys and values once per translation, not
once per target token, and the loop is compiled with XLA, as in
`GPTGenerator`.
"""

import numpy as np
import tensorflow as tf

from keras_attn.generation.decoding import beam_search
from keras_attn.generation.decoding import decode
from keras_attn.models.config_checks import check_positive_int


class TranslatorGenerator:
    """Translates with a `keras_attn.models.build_transformer` model and its caches.

    Args:
        model: a `build_transformer` model.
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
        names = {layer.name for layer in model.layers}
        if "decoder_embedding" not in names or "encoder_embedding" not in names:
            raise ValueError(
                "`model` must be a translator from keras_attn.models.build_transformer "
                f"(layers 'encoder_embedding' and 'decoder_embedding'). Received: model={model.name!r}"
            )

        def blocks(prefix):
            found = []
            while f"{prefix}_{len(found)}" in names:
                found.append(model.get_layer(f"{prefix}_{len(found)}"))
            return found

        def optional(name):
            return model.get_layer(name) if name in names else None

        self.model = model
        self.encoder_embedding = model.get_layer("encoder_embedding")
        self.encoder_blocks = blocks("encoder_block")
        self.encoder_final_layer_norm = optional("encoder_final_layer_norm")
        self.decoder_embedding = model.get_layer("decoder_embedding")
        self.decoder_blocks = blocks("decoder_block")
        self.decoder_final_layer_norm = optional("decoder_final_layer_norm")
        self.lm_head = optional("lm_head")
        self.jit_compile = jit_compile
        self._greedy = tf.function(self._greedy_loop, jit_compile=jit_compile)
        self._beam = tf.function(self._beam_loop, jit_compile=jit_compile)

    def encode(self, source_ids):
        """`(B, S)` ids (0 = padding) -> encoder output `(B, S, d)` and mask `(B, S)`."""
        padding_mask = tf.not_equal(source_ids, 0)
        x = self.encoder_embedding(source_ids)  # carries the padding mask
        for block in self.encoder_blocks:
            x = block(x)
        if self.encoder_final_layer_norm is not None:
            x = self.encoder_final_layer_norm(x)
        return x, padding_mask

    def _state(self, source_ids, length, copies):
        """The encoder's cross-attention caches and mask, each row repeated
        `copies` times, and empty self-attention caches of `length` positions."""
        encoded, padding_mask = self.encode(source_ids)
        cross = [block.cross_attention.compute_cache(encoded) for block in self.decoder_blocks]
        cross = [tf.repeat(c, copies, axis=0) for c in cross]
        padding_mask = tf.repeat(padding_mask, copies, axis=0)
        batch_size = tf.shape(padding_mask)[0]
        caches = tuple(
            block.self_attention.get_empty_cache(batch_size, length) for block in self.decoder_blocks
        )
        return cross, padding_mask, caches

    def _next_logits_fn(self, cross, padding_mask):
        def next_logits(token_ids, caches, index):
            x = self.decoder_embedding(token_ids, start_index=index)  # (B, 1, d)
            new_caches = []
            for block, cache, cross_cache in zip(self.decoder_blocks, caches, cross):
                x, cache = block(
                    x,
                    encoder_padding_mask=padding_mask,
                    self_attention_cache=cache,
                    self_attention_cache_update_index=index,
                    cross_attention_cache=cross_cache,
                )
                new_caches.append(cache)
            if self.decoder_final_layer_norm is not None:
                x = self.decoder_final_layer_norm(x)
            if self.lm_head is not None:
                logits = self.lm_head(x)
            else:
                logits = self.decoder_embedding(x, reverse=True)
            return tf.cast(logits[:, -1], tf.float32), tuple(new_caches)

        return next_logits

    def _start(self, source_ids, start_id, length):
        batch_size = tf.shape(source_ids)[0]
        tokens = tf.pad(tf.fill([batch_size, 1], start_id), [[0, 0], [0, length - 1]])
        return tokens, tf.ones([batch_size], tf.int32)

    def _greedy_loop(self, source_ids, start_id, end_id, length):
        cross, padding_mask, caches = self._state(source_ids, length, 1)
        tokens, lengths = self._start(source_ids, start_id, length)
        return decode(
            self._next_logits_fn(cross, padding_mask), tokens, lengths, caches,
            length - 1, stop_token_ids=tf.reshape(end_id, [1]),
        )

    def _beam_loop(self, source_ids, start_id, end_id, length, num_beams, length_penalty):
        cross, padding_mask, caches = self._state(source_ids, length, num_beams)
        tokens, lengths = self._start(source_ids, start_id, length)
        tokens, lengths, _ = beam_search(
            self._next_logits_fn(cross, padding_mask), tokens, lengths, caches, length - 1,
            num_beams, length_penalty, stop_token_ids=tf.reshape(end_id, [1]),
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
        start_id = tf.constant(start_id, tf.int32) if isinstance(start_id, int) else start_id
        end_id = tf.constant(end_id, tf.int32) if isinstance(end_id, int) else end_id
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
        context = getattr(self.decoder_embedding, "sequence_length", None)
        if context is not None and max_length + 1 > context:
            raise ValueError(
                f"`max_length` + 1 must be at most the decoder's context ({context}). "
                f"Received: max_length={max_length}"
            )
        source_ids = np.asarray(source_ids, "int32")
        if source_ids.ndim != 2:
            raise ValueError(
                "`source_ids` must have shape (batch, source_length). "
                f"Received: source_ids.shape={source_ids.shape}"
            )
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
