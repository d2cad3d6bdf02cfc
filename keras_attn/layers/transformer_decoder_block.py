"""One Transformer decoder block: causal self-attention, cross-attention, feed-forward."""

import keras

from keras_attn.layers.masking import check_attention_mask
from keras_attn.layers.masking import check_padding_mask
from keras_attn.layers.masking import keras_mask
from keras_attn.layers.transformer_block import TransformerBlock


@keras.saving.register_keras_serializable(package="keras_attn")
class TransformerDecoderBlock(TransformerBlock):
    """Causal self-attention, optional cross-attention and a feed-forward net.

    ```
    normalize_first=False (the paper):      normalize_first=True (GPT-2):
    x = norm(x + self_attention(x))         x = x + self_attention(norm(x))
    x = norm(x + cross_attention(x, enc))   x = x + cross_attention(norm(x), enc)
    x = norm(x + feed_forward(x))           x = x + feed_forward(norm(x))
    ```

    Self-attention is causal: token `t` attends tokens `0 ... t` only, so the
    block can be trained on whole sequences and still generate one token at
    a time. GPT is a stack of these blocks without cross-attention. In a
    translator, cross-attention lets each target token attend the encoder's
    output (`encoder_sequence`). The block has cross-attention when it is
    first called (built) with an `encoder_sequence`.

    Sublayers: `self_attention`, `self_attention_layer_norm`,
    `self_attention_dropout`, then `cross_attention`,
    `cross_attention_layer_norm`, `cross_attention_dropout` when present,
    then `feed_forward`, `feed_forward_layer_norm`, `feed_forward_dropout`.

    Masking: `decoder_padding_mask` `(B, T)` and `encoder_padding_mask`
    `(B, S)` default to the Keras masks of their sequences (from
    `mask_zero=True` upstream). Padded tokens are not attended and attend
    nothing. `decoder_attention_mask` `(B, T, T)` and
    `encoder_attention_mask` `(B, T, S)` are combined with them by AND.

    Cached decoding: pass `self_attention_cache` (from
    `block.self_attention.get_empty_cache(batch_size, max_length)`) and
    `self_attention_cache_update_index`, the position of the first token
    of `decoder_sequence`; the block returns the updated cache. With a
    cache, padding of earlier tokens must be given as `decoder_attention_mask`
    of shape `(B, T, max_length)`. For cross-attention, a
    `cross_attention_cache` made once with
    `block.cross_attention.compute_cache(encoder_sequence)` saves projecting
    the encoder output at every step.

    Args:
        num_heads: int, number of attention heads; must divide the width.
        intermediate_dim: int, width of the feed-forward hidden layer.
        dropout: float in `[0, 1)`, used for attention weights, the
            feed-forward hidden layer and the residual branches.
        activation: the feed-forward activation, one of
            `keras_attn.layers.feed_forward.ACTIVATIONS`.
        layer_norm_epsilon: epsilon of the norms.
        normalize_first: pre-norm (`True`) or post-norm (`False`).
        num_key_value_heads: grouped-query attention, see
            `MultiHeadAttention`.
        use_rotary_embedding: rotate the self-attention's queries and keys
            by their positions.
        rotary_max_wavelength: the rotary embedding's `max_wavelength`.
        normalization: `"layer_norm"` or `"rms_norm"` (no shift).
        use_bias: whether the projections, the feed-forward layers and the
            layer norms have biases.
        kernel_initializer: initializer of every kernel.
        bias_initializer: initializer of every bias.
        **kwargs: base layer arguments, such as `name` and `dtype`.

    Call arguments:
        decoder_sequence: `(B, T, width)` tensor.
        encoder_sequence: optional `(B, S, width_enc)` encoder output.
        decoder_padding_mask: optional boolean `(B, T)`.
        decoder_attention_mask: optional boolean `(B, T, T)`, or
            `(B, T, max_length)` with a cache.
        encoder_padding_mask: optional boolean `(B, S)`.
        encoder_attention_mask: optional boolean `(B, T, S)`.
        use_causal_mask: whether self-attention is causal (default `True`).
        self_attention_cache: optional cache, see above.
        self_attention_cache_update_index: int or scalar tensor.
        cross_attention_cache: optional read-only cross-attention cache.
        return_attention_scores: also return a dict of the scores
            `{"self_attention": (B, H, T, T), "cross_attention": (B, H, T, S)}`.
        training: whether dropout is active.

    Returns:
        One form per call path: `outputs` `(B, T, width)`; `(outputs,
        scores)` with `return_attention_scores=True`, the scores a dict
        `{"self_attention": (B, H, T, T), "cross_attention": (B, H, T, S)}`;
        `(outputs, self_attention_cache)` whenever a `self_attention_cache`
        is given (a read-only `cross_attention_cache` is not returned).

    Example:

    >>> import numpy as np
    >>> block = TransformerDecoderBlock(num_heads=2, intermediate_dim=32)
    >>> x = np.random.rand(2, 6, 16).astype("float32")     # (B, T, width)
    >>> full = block(x)
    >>> cache = block.self_attention.get_empty_cache(batch_size=2, max_length=6)
    >>> steps = []
    >>> for t in range(6):
    ...     y, cache = block(x[:, t:t + 1], self_attention_cache=cache,
    ...                      self_attention_cache_update_index=t)
    ...     steps.append(y)
    >>> np.allclose(np.concatenate(steps, axis=1), full, atol=1e-5)
    True

    References:
        Vaswani et al., "Attention Is All You Need", 2017, section 3.1.
        Radford et al., "Language Models are Unsupervised Multitask
        Learners" (GPT-2), 2019.
    """

    def build(self, decoder_sequence_shape, encoder_sequence_shape=None):
        self.self_attention, self.self_attention_layer_norm, self.self_attention_dropout = (
            self._build_attention(
                "self_attention", decoder_sequence_shape, decoder_sequence_shape
            )
        )
        self.has_cross_attention = encoder_sequence_shape is not None
        if self.has_cross_attention:
            (
                self.cross_attention,
                self.cross_attention_layer_norm,
                self.cross_attention_dropout,
            ) = self._build_attention(
                "cross_attention", decoder_sequence_shape, encoder_sequence_shape
            )
        self._build_feed_forward(decoder_sequence_shape)

    def call(
        self,
        decoder_sequence,
        encoder_sequence=None,
        decoder_padding_mask=None,
        decoder_attention_mask=None,
        encoder_padding_mask=None,
        encoder_attention_mask=None,
        use_causal_mask=True,
        self_attention_cache=None,
        self_attention_cache_update_index=None,
        cross_attention_cache=None,
        return_attention_scores=False,
        training=None,
    ):
        uses_encoder = encoder_sequence is not None or cross_attention_cache is not None
        if uses_encoder and not self.has_cross_attention:
            raise ValueError(
                "This block was built without cross-attention, so it can't take "
                "`encoder_sequence` or `cross_attention_cache`. Call it with an "
                "`encoder_sequence` the first time to give it cross-attention."
            )
        if self.has_cross_attention and not uses_encoder:
            raise ValueError(
                "This block has cross-attention and needs `encoder_sequence` (or "
                "`cross_attention_cache`). Received: encoder_sequence=None"
            )
        if self_attention_cache is not None and return_attention_scores:
            raise ValueError(
                "`return_attention_scores=True` can't be combined with a "
                "`self_attention_cache`: a cached call returns `(outputs, cache)`."
            )
        self._check_masks(
            decoder_sequence, encoder_sequence, decoder_padding_mask, decoder_attention_mask,
            encoder_padding_mask, encoder_attention_mask, self_attention_cache,
            cross_attention_cache,
        )
        if decoder_padding_mask is None:
            decoder_padding_mask = keras_mask(decoder_sequence)
        if encoder_padding_mask is None and encoder_sequence is not None:
            encoder_padding_mask = keras_mask(encoder_sequence)
        scores = {}

        # Causal self-attention: (B, T, width) -> (B, T, width).
        x = decoder_sequence
        h = self._sublayer_input(x, self.self_attention_layer_norm)
        attended = self.self_attention(
            h,
            h,
            query_mask=decoder_padding_mask,
            value_mask=decoder_padding_mask,
            attention_mask=decoder_attention_mask,
            use_causal_mask=use_causal_mask,
            cache=self_attention_cache,
            cache_update_index=self_attention_cache_update_index,
            return_attention_scores=return_attention_scores,
            training=training,
        )
        # Scores only when asked: computing them needs the unfused attention.
        if self_attention_cache is not None:
            attended, self_attention_cache = attended
        elif return_attention_scores:
            attended, scores["self_attention"] = attended
        x = self._add_residual(
            x, attended, self.self_attention_layer_norm, self.self_attention_dropout, training
        )

        # Cross-attention: (B, T, width) over the encoder's (B, S, width_enc).
        if self.has_cross_attention:
            h = self._sublayer_input(x, self.cross_attention_layer_norm)
            attended = self.cross_attention(
                h,
                encoder_sequence,
                query_mask=decoder_padding_mask,
                value_mask=encoder_padding_mask,
                attention_mask=encoder_attention_mask,
                cache=cross_attention_cache,
                return_attention_scores=return_attention_scores,
                training=training,
            )
            if cross_attention_cache is not None:
                attended = attended[0]  # the read-only cache comes back unchanged
            elif return_attention_scores:
                attended, scores["cross_attention"] = attended
            x = self._add_residual(
                x, attended, self.cross_attention_layer_norm, self.cross_attention_dropout,
                training,
            )

        x = self._feed_forward_residual(x, training)
        if self_attention_cache is not None:
            return x, self_attention_cache
        if return_attention_scores:
            return x, scores
        return x

    def _check_masks(self, decoder_sequence, encoder_sequence, decoder_padding_mask,
                     decoder_attention_mask, encoder_padding_mask, encoder_attention_mask,
                     self_attention_cache, cross_attention_cache):
        """Checks the given masks' shapes under the names the caller used: the attention
        layers would call them `query_mask`, `key_mask` and `attention_mask`."""
        length = decoder_sequence.shape[1]  # T
        # Self-attention's keys: the decoder's tokens, or the cache's (B, 2, H, L, D) slots.
        keys = length if self_attention_cache is None else self_attention_cache.shape[3]
        check_padding_mask("decoder_padding_mask", decoder_padding_mask, length, "decoder_length")
        check_attention_mask("decoder_attention_mask", decoder_attention_mask, length, keys)
        if not self.has_cross_attention:
            return
        # Cross-attention's keys: the encoder's tokens, or the cache's.
        source = (encoder_sequence.shape[1] if cross_attention_cache is None
                  else cross_attention_cache.shape[3])  # S
        check_padding_mask("encoder_padding_mask", encoder_padding_mask, source, "encoder_length")
        check_attention_mask("encoder_attention_mask", encoder_attention_mask, length, source)

    def compute_output_shape(self, decoder_sequence_shape, encoder_sequence_shape=None):
        return decoder_sequence_shape

    def compute_output_spec(
        self,
        decoder_sequence,
        encoder_sequence=None,
        return_attention_scores=False,
        self_attention_cache=None,
        cross_attention_cache=None,
        **kwargs,
    ):
        outputs = keras.KerasTensor(decoder_sequence.shape, dtype=self.compute_dtype)
        if self_attention_cache is not None:
            cache = keras.KerasTensor(self_attention_cache.shape, dtype=self_attention_cache.dtype)
            return outputs, cache
        if not return_attention_scores:
            return outputs
        batch, length = decoder_sequence.shape[0], decoder_sequence.shape[1]
        scores = {
            "self_attention": keras.KerasTensor(
                (batch, self.num_heads, length, length), dtype=self.compute_dtype
            )
        }
        if self.has_cross_attention:
            cross_length = (
                encoder_sequence.shape[1]
                if cross_attention_cache is None
                else cross_attention_cache.shape[3]
            )
            scores["cross_attention"] = keras.KerasTensor(
                (batch, self.num_heads, length, cross_length), dtype=self.compute_dtype
            )
        return outputs, scores
