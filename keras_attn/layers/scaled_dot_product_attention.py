"""Scaled dot-product attention: softmax(QKᵀ / √d_k) · V."""

import math

import keras
from keras import ops

# Added to the scores of masked keys. The softmax runs in float32, where this
# is safe; it would overflow to -inf in float16.
_MASKED_SCORE = -1e9


def _check_mask(mask, scores_shape):
    if len(mask.shape) > len(scores_shape):
        raise ValueError(
            "`mask` must be broadcastable to the attention scores "
            f"(..., query_length, key_length) = {tuple(scores_shape)}, so it "
            f"can't have more axes. Received: mask.shape={tuple(mask.shape)}"
        )
    for mask_dim, score_dim in zip(mask.shape[::-1], scores_shape[::-1]):
        if mask_dim not in (None, 1) and score_dim is not None:
            if mask_dim != score_dim:
                raise ValueError(
                    "`mask` must be broadcastable to the attention scores "
                    f"(..., query_length, key_length) = {tuple(scores_shape)}."
                    f" Received: mask.shape={tuple(mask.shape)}"
                )


def scaled_dot_product_attention(
    query,
    key,
    value,
    mask=None,
    scale=None,
    dropout_rate=0.0,
    seed=None,
    training=False,
    return_attention_weights=False,
):
    """Computes `Attention(Q, K, V) = softmax(Q Kᵀ / √d_k) V`.

    Each query is compared with every key (`Q Kᵀ`); the scores are divided by
    `√d_k` so that their spread does not grow with the depth; the softmax
    turns each query's scores into weights that sum to 1; and the output is
    the weighted sum of the values.

    Leading axes (batch, heads, ...) are broadcast, so this works for one
    head `(B, T, d_k)` as well as for many `(B, num_heads, T, d_k)`.

    Masking: `mask` is boolean, `True` means "may attend", and it must be
    broadcastable to the scores `(..., T, S)`. A query whose keys are all
    masked gets zero weights and a zero output (never NaN). The softmax runs
    in float32 whatever the input dtype, so float16 inputs are safe.

    Args:
        query: `(..., T, d_k)` tensor.
        key: `(..., S, d_k)` tensor.
        value: `(..., S, d_v)` tensor.
        mask: optional boolean tensor broadcastable to `(..., T, S)`.
        scale: the factor applied to `Q Kᵀ`. Defaults to `1 / √d_k`.
        dropout_rate: float in `[0, 1)`, dropout on the attention weights
            during training.
        seed: an int or a `keras.random.SeedGenerator`, for the dropout.
        training: whether dropout is active.
        return_attention_weights: also return the weights `(..., T, S)`
            (before dropout).

    Returns:
        The output `(..., T, d_v)`, or `(output, weights)` when
        `return_attention_weights=True`.

    Example:

    >>> import numpy as np
    >>> q = np.ones((2, 4, 8), "float32")     # (batch, queries, d_k)
    >>> k = np.ones((2, 6, 8), "float32")     # (batch, keys, d_k)
    >>> v = np.random.rand(2, 6, 3).astype("float32")
    >>> out, weights = scaled_dot_product_attention(
    ...     q, k, v, return_attention_weights=True)
    >>> tuple(out.shape), tuple(weights.shape)
    ((2, 4, 3), (2, 4, 6))
    >>> np.allclose(np.asarray(weights).sum(-1), 1.0)
    True

    References:
        Vaswani et al., "Attention Is All You Need", 2017, equation (1).
    """
    query = ops.convert_to_tensor(query)
    key = ops.convert_to_tensor(key)
    value = ops.convert_to_tensor(value)
    if not 0.0 <= dropout_rate < 1.0:
        raise ValueError(
            f"`dropout_rate` must be in [0, 1). Received: dropout_rate={dropout_rate}"
        )
    d_k = query.shape[-1]
    if scale is None:
        scale = 1.0 / math.sqrt(d_k)

    # Scale Q before the product (not after) so float16 Q Kᵀ can't overflow.
    # The einsum lets the backend read K as it is, without a transpose op.
    scores = ops.einsum("...td,...sd->...ts", query * ops.cast(scale, query.dtype), key)
    scores = ops.cast(scores, "float32")  # (..., T, S)
    if mask is not None:
        mask = ops.convert_to_tensor(mask)
        _check_mask(mask, scores.shape)
        mask = ops.cast(mask, "bool")
        # Added rather than selected: the bias has the mask's (broadcast) shape,
        # and the gradient passes through an addition without another pass
        # over the scores. Masked keys get a weight of exactly 0.
        scores = scores + ops.where(
            mask, ops.cast(0.0, scores.dtype), ops.cast(_MASKED_SCORE, scores.dtype)
        )
    weights = ops.softmax(scores, axis=-1)
    weights = ops.cast(weights, value.dtype)

    dropped = weights
    if training and dropout_rate > 0.0:
        dropped = keras.random.dropout(weights, dropout_rate, seed=seed)
    output = ops.matmul(dropped, value)  # (..., T, d_v)
    if mask is not None:
        # A fully masked row got uniform weights; it gets none instead. Zeroing
        # the output (..., T, d_v) is cheaper than zeroing the weights.
        attends = ops.any(mask, axis=-1, keepdims=True)  # (..., T, 1)
        output = ops.where(attends, output, ops.zeros_like(output))
        if return_attention_weights:
            weights = ops.where(attends, weights, ops.zeros_like(weights))
    if return_attention_weights:
        return output, weights
    return output
