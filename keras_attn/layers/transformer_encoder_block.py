"""One Transformer encoder block: self-attention, then a feed-forward network."""

import keras

from keras_attn.layers.masking import keras_mask
from keras_attn.layers.transformer_block import TransformerBlock


@keras.saving.register_keras_serializable(package="keras_attn")
class TransformerEncoderBlock(TransformerBlock):
    """Self-attention and a feed-forward network, each with a residual.

    ```
    normalize_first=False (the paper):   normalize_first=True (GPT-2):
    x = norm(x + attention(x))           x = x + attention(norm(x))
    x = norm(x + feed_forward(x))        x = x + feed_forward(norm(x))
    ```

    Every token attends every other (non-padding) token of the same
    sequence, in both directions. The encoder of a translator stacks these
    blocks; its output is what the decoder's cross-attention reads.

    Sublayers: `self_attention` (a `MultiHeadAttention` with
    `key_dim = width // num_heads`), `self_attention_layer_norm`,
    `self_attention_dropout`, `feed_forward` (a `FeedForward`),
    `feed_forward_layer_norm` and `feed_forward_dropout`.

    Masking: `padding_mask` `(B, T)` defaults to the Keras mask of `inputs`
    (from `mask_zero=True` upstream), and both give the same outputs.
    Padded tokens are not attended, and attend nothing themselves. An
    explicit `attention_mask` `(B, T, T)` is combined with it by AND.

    Args:
        num_heads: int, number of attention heads; must divide the width.
        intermediate_dim: int, width of the feed-forward hidden layer.
        dropout: float in `[0, 1)`, used for attention weights, the
            feed-forward hidden layer and both residual branches.
        activation: the feed-forward activation, one of
            `keras_attn.layers.feed_forward.ACTIVATIONS`.
        layer_norm_epsilon: epsilon of the norms.
        normalize_first: pre-norm (`True`) or post-norm (`False`).
        num_key_value_heads: grouped-query attention, see
            `MultiHeadAttention`.
        use_rotary_embedding: rotate queries and keys by their positions.
        rotary_max_wavelength: the rotary embedding's `max_wavelength`.
        normalization: `"layer_norm"` or `"rms_norm"` (no shift).
        use_bias: whether the projections, the feed-forward layers and the
            layer norms have biases.
        kernel_initializer: initializer of every kernel.
        bias_initializer: initializer of every bias.
        **kwargs: base layer arguments, such as `name` and `dtype`.

    Call arguments:
        inputs: `(B, T, width)` tensor.
        padding_mask: optional boolean `(B, T)`, `True` for real tokens.
        attention_mask: optional boolean `(B, T, T)`.
        return_attention_scores: also return
            `{"self_attention": (B, num_heads, T, T)}`.
        training: whether dropout is active.

    Returns:
        `(B, T, width)`, or `(outputs, scores)` when
        `return_attention_scores=True`.

    Example:

    >>> import keras
    >>> from keras_attn.layers import TokenAndPositionEmbedding
    >>> token_ids = keras.Input(shape=(None,), dtype="int32")
    >>> x = TokenAndPositionEmbedding(1000, 64, 32, mask_zero=True)(token_ids)
    >>> x = TransformerEncoderBlock(num_heads=4, intermediate_dim=64)(x)
    >>> tuple(x.shape)
    (None, None, 32)

    References:
        Vaswani et al., "Attention Is All You Need", 2017, section 3.1.
    """

    def build(self, inputs_shape):
        self.self_attention, self.self_attention_layer_norm, self.self_attention_dropout = (
            self._build_attention("self_attention", inputs_shape, inputs_shape)
        )
        self._build_feed_forward(inputs_shape)

    def call(
        self,
        inputs,
        padding_mask=None,
        attention_mask=None,
        return_attention_scores=False,
        training=None,
    ):
        if padding_mask is None:
            padding_mask = keras_mask(inputs)
        # Self-attention: (B, T, width) -> (B, T, width), every token to every token.
        h = self._sublayer_input(inputs, self.self_attention_layer_norm)
        attended = self.self_attention(
            h,
            h,
            query_mask=padding_mask,
            value_mask=padding_mask,
            attention_mask=attention_mask,
            return_attention_scores=return_attention_scores,
            training=training,
        )
        # Scores only when asked: computing them needs the unfused attention.
        if return_attention_scores:
            attended, scores = attended
        x = self._add_residual(
            inputs, attended, self.self_attention_layer_norm, self.self_attention_dropout,
            training,
        )
        x = self._feed_forward_residual(x, training)
        if return_attention_scores:
            return x, {"self_attention": scores}
        return x

    def compute_output_shape(self, inputs_shape):
        return inputs_shape

    def compute_output_spec(self, inputs, return_attention_scores=False, **kwargs):
        outputs = keras.KerasTensor(inputs.shape, dtype=self.compute_dtype)
        if not return_attention_scores:
            return outputs
        batch, length = inputs.shape[0], inputs.shape[1]
        scores = keras.KerasTensor(
            (batch, self.num_heads, length, length), dtype=self.compute_dtype
        )
        return outputs, {"self_attention": scores}
