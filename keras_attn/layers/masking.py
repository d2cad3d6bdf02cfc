"""Attention masks: one convention for the whole library.

Every mask is boolean and `True` means "may attend". Shapes:

* a padding mask is `(B, T)`: `True` for real tokens, `False` for padding;
* an attention mask is `(B, T, S)`: query `t` may attend key `s`;
* a causal mask is `(1, T, S)` and is made here, never passed in.

`merge_masks` is the one place where they are combined.
"""

from keras import ops

# Keras has no public accessor for the mask it attaches to a tensor; keras-hub
# uses this one too. It works on every backend (JAX arrays take no attributes).
from keras.src.backend import get_keras_mask


def keras_mask(x):
    """The padding mask Keras attached to `x` (from `mask_zero=True`), or None."""
    return get_keras_mask(x)


def without_keras_mask(x):
    """`x` without its Keras mask, leaving the caller's tensor untouched.

    Layers that hand a masked tensor to sublayers that don't support masking
    (like `Dense`) use it, once they have read the mask themselves.
    """
    return ops.copy(x) if keras_mask(x) is not None else x


def causal_mask(query_length, key_length, start_index=0):
    """Lower-triangular `(1, T, S)` mask: a query sees only its past.

    Query row `t` sits at absolute position `start_index + t` (during cached
    decoding `start_index` is the cache index), and may attend key `s` when
    `s <= start_index + t`.

    Args:
        query_length: int or scalar tensor, `T`.
        key_length: int or scalar tensor, `S`.
        start_index: int or scalar tensor, position of the first query.

    Returns:
        A boolean tensor of shape `(1, T, S)`.

    Example:

    >>> import numpy as np
    >>> np.asarray(causal_mask(3, 3)[0]).astype(int)
    array([[1, 0, 0],
           [1, 1, 0],
           [1, 1, 1]])
    >>> np.asarray(causal_mask(1, 4, start_index=2)[0]).astype(int)
    array([[1, 1, 1, 0]])
    """
    query_positions = ops.arange(query_length, dtype="int32") + ops.cast(
        start_index, "int32"
    )
    key_positions = ops.arange(key_length, dtype="int32")
    # (T, 1) >= (1, S) -> (T, S)
    mask = ops.expand_dims(query_positions, 1) >= ops.expand_dims(key_positions, 0)
    return ops.expand_dims(mask, 0)


def _check_rank(name, mask, rank, shape_text):
    if mask is not None and len(mask.shape) != rank:
        raise ValueError(
            f"`{name}` must have rank {rank}, with shape {shape_text}. "
            f"Received: {name}.shape={tuple(mask.shape)}"
        )


def _check_dim(name, mask, axis, expected, what):
    actual = mask.shape[axis]
    if actual is not None and expected is not None and actual != expected:
        raise ValueError(
            f"Axis {axis} of `{name}` must equal the {what} ({expected}). "
            f"Received: {name}.shape={tuple(mask.shape)}"
        )


def check_padding_mask(name, mask, length, length_name):
    """Raises a ValueError, naming the argument `name`, unless `mask` is `(B, length)`.

    Args:
        name: the argument's name in the caller's signature.
        mask: None (nothing to check), or a tensor or array.
        length: the expected length, or None when it is not known statically.
        length_name: the axis' name in the message, e.g. `"query_length"`.

    Example:

    >>> import numpy as np
    >>> check_padding_mask("decoder_padding_mask", np.ones((2, 5)), 4, "decoder_length")
    Traceback (most recent call last):
    ...
    ValueError: Axis 1 of `decoder_padding_mask` must equal the decoder length (4). ...
    """
    if mask is None:
        return
    mask = mask if hasattr(mask, "shape") else ops.convert_to_tensor(mask)  # a nested list
    _check_rank(name, mask, 2, f"(batch, {length_name})")
    _check_dim(name, mask, 1, length, length_name.replace("_", " "))


def check_attention_mask(name, mask, query_length, key_length):
    """Raises a ValueError, naming the argument `name`, unless `mask` is
    `(B, query_length, key_length)`; a length of None is not checked."""
    if mask is None:
        return
    mask = mask if hasattr(mask, "shape") else ops.convert_to_tensor(mask)  # a nested list
    _check_rank(name, mask, 3, "(batch, query_length, key_length)")
    _check_dim(name, mask, 1, query_length, "query length")
    _check_dim(name, mask, 2, key_length, "key length")


def merge_masks(
    query_length,
    key_length,
    query_mask=None,
    key_mask=None,
    attention_mask=None,
    use_causal_mask=False,
    start_index=0,
):
    """Combines padding, explicit and causal masks into one attention mask.

    No mask wins over another: they are combined with a logical AND, so query
    `t` attends key `s` only where *every* given mask allows it.

    * `query_mask` `(B, T)` becomes `(B, T, 1)`: a padded query attends
      nothing, and its attention output is zero.
    * `key_mask` `(B, S)` becomes `(B, 1, S)`: nobody attends a padded key.
    * `attention_mask` `(B, T, S)` is used as given.
    * `use_causal_mask=True` adds `causal_mask(T, S, start_index)`; with a
      key/value cache, `start_index` is the cache index, so the queries sit
      at positions `start_index ... start_index + T - 1` of the cache.

    Args:
        query_length: `T`, the number of queries (an int, or a scalar tensor
            for dynamic shapes).
        key_length: `S`, the number of keys.
        query_mask: optional `(B, T)` padding mask of the queries.
        key_mask: optional `(B, S)` padding mask of the keys.
        attention_mask: optional `(B, T, S)` mask.
        use_causal_mask: whether to add the causal mask.
        start_index: absolute position of the first query, for the causal
            mask.

    Returns:
        A boolean mask broadcastable to `(B, T, S)`, or `None` when no mask
        was given.

    Example:

    >>> import numpy as np
    >>> padding = np.array([[True, True, False]])
    >>> mask = merge_masks(3, 3, key_mask=padding, use_causal_mask=True)
    >>> np.asarray(mask[0]).astype(int)
    array([[1, 0, 0],
           [1, 1, 0],
           [1, 1, 0]])
    """
    static_t = query_length if isinstance(query_length, int) else None
    static_s = key_length if isinstance(key_length, int) else None
    masks = []
    if query_mask is not None:
        query_mask = ops.convert_to_tensor(query_mask)
        check_padding_mask("query_mask", query_mask, static_t, "query_length")
        masks.append(ops.expand_dims(ops.cast(query_mask, "bool"), -1))
    if key_mask is not None:
        key_mask = ops.convert_to_tensor(key_mask)
        check_padding_mask("key_mask", key_mask, static_s, "key_length")
        masks.append(ops.expand_dims(ops.cast(key_mask, "bool"), -2))
    if attention_mask is not None:
        attention_mask = ops.convert_to_tensor(attention_mask)
        check_attention_mask("attention_mask", attention_mask, static_t, static_s)
        masks.append(ops.cast(attention_mask, "bool"))
    if use_causal_mask:
        masks.append(causal_mask(query_length, key_length, start_index))
    if not masks:
        return None
    merged = masks[0]
    for mask in masks[1:]:
        merged = ops.logical_and(merged, mask)
    return merged
