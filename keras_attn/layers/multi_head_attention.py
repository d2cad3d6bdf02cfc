"""Multi-head attention, a drop-in for `keras.layers.MultiHeadAttention`."""

import keras
from keras import ops

from keras_attn.checks import check_bool
from keras_attn.checks import check_num_key_value_heads
from keras_attn.checks import check_number
from keras_attn.checks import check_positive_int
from keras_attn.layers.masking import merge_masks
from keras_attn.layers.masking import without_keras_mask
from keras_attn.layers.rotary_embedding import RotaryEmbedding
from keras_attn.layers.scaled_dot_product_attention import (
    scaled_dot_product_attention,
)


@keras.saving.register_keras_serializable(package="keras_attn")
class MultiHeadAttention(keras.layers.Layer):
    """Multi-head attention with a key/value cache, GQA and rotary positions.

    Each of the `num_heads` heads projects the inputs to its own queries,
    keys and values, runs `scaled_dot_product_attention`, and the heads'
    outputs are concatenated and projected back:

    ```
    head_i = Attention(query W_i^Q, key W_i^K, value W_i^V)
    output = concat(head_1, ..., head_h) W^O
    ```

    It is a drop-in replacement for `keras.layers.MultiHeadAttention` (3D
    inputs): the same call signature, and the same variables in the same
    shapes and order (`query`, `key`, `value`, `attention_output`, each
    kernel then bias), so `ours.set_weights(keras_mha.get_weights())` gives
    the same outputs. On top of Keras it offers:

    * a key/value cache for incremental decoding (`cache`,
      `cache_update_index`);
    * grouped-query attention: `num_key_value_heads` key/value heads shared
      by groups of query heads (`1` gives multi-query attention);
    * rotary position embedding of queries and keys
      (`use_rotary_embedding=True`).

    Masking. All masks are boolean, `True` meaning "may attend", and are
    merged with a logical AND by `keras_attn.layers.merge_masks`:

    * the Keras mask of `query` (from `mask_zero=True` upstream), `[B, T]`,
      becomes `[B, T, 1]`: padded queries attend nothing and output zeros
      before the output projection;
    * the Keras masks of `value` and `key`, `[B, S]`, become `[B, 1, S]`;
    * `attention_mask`, `[B, T, S]`, is used as given;
    * `use_causal_mask=True` adds a lower-triangular `[1, T, S]` mask,
      offset by `cache_update_index` when decoding with a cache.

    The cache. A cache is one tensor of shape
    `(B, 2, num_key_value_heads, max_length, key_dim)`: `cache[:, 0]` holds
    the projected keys (after the rotary embedding), `cache[:, 1]` the
    projected values. Start from `get_empty_cache(batch_size, max_length)`.

    * With `cache_update_index=i`, the keys and values of the `T` new tokens
      are written at positions `i ... i + T - 1`, the queries attend the whole
      cache (so pass `use_causal_mask=True`, or an `attention_mask` of shape
      `(B, T, max_length)`, to hide positions not yet written).
    * With `cache_update_index=None`, the cache is read only: keys and values
      are taken from it and `value`/`key` are ignored. Use it for
      cross-attention over a fixed encoder output, with a cache made once by
      `compute_cache(value)`.

    Either way a call with a cache returns `(output, cache)`: the updated
    cache, or the read-only one as it was.

    When a cache is updated, the Keras masks of `value` and `key` only
    describe the new tokens, not the cached ones, so they are not used: pass
    `attention_mask` instead. A read-only cache keeps them (they then have
    the cache's length).

    Args:
        num_heads: int, number of query heads.
        key_dim: int, size of each head for queries and keys.
        value_dim: int, size of each head for values. Defaults to `key_dim`.
        dropout: float in `[0, 1)`, dropout on the attention weights.
        use_bias: whether the projections have biases.
        output_shape: int, size of the output's last axis. Defaults to the
            query's last axis.
        num_key_value_heads: int dividing `num_heads`, number of key/value
            heads. Defaults to `num_heads` (standard multi-head attention).
        use_rotary_embedding: whether to rotate queries and keys by their
            positions (RoPE). `key_dim` must then be even.
        rotary_max_wavelength: the rotary embedding's `max_wavelength`.
        kernel_initializer: initializer of the projection kernels.
        bias_initializer: initializer of the projection biases.
        kernel_regularizer: regularizer of the projection kernels.
        bias_regularizer: regularizer of the projection biases.
        activity_regularizer: regularizer of the output.
        kernel_constraint: constraint on the projection kernels.
        bias_constraint: constraint on the projection biases.
        seed: int, seed of the attention dropout.
        **kwargs: base layer arguments, such as `name` and `dtype`.

    Call arguments:
        query: `(B, T, query_dim)` tensor.
        value: `(B, S, value_dim)` tensor. May be `None` when a read-only
            cache is given.
        key: optional `(B, S, key_dim)` tensor; defaults to `value`.
        query_mask, value_mask, key_mask: padding masks `(B, T)`/`(B, S)`;
            Keras fills them in from the inputs' Keras masks.
        attention_mask: optional boolean `(B, T, S)` mask (`S = max_length`
            with a cache).
        return_attention_scores: also return the attention weights
            `(B, num_heads, T, S)`.
        training: whether dropout is active.
        use_causal_mask: whether to add a causal mask.
        cache: optional cache tensor, see above.
        cache_update_index: int or scalar int tensor, see above.

    Returns:
        One form per call path:

        * `output`, of shape `(B, T, output_shape)`, as Keras's layer;
        * `(output, scores)` with `return_attention_scores=True`, as Keras's
          layer; the scores are `(B, num_heads, T, S)`;
        * `(output, cache)` whenever a `cache` is given, updated or read only
          (it can't be combined with `return_attention_scores`).

    Example:

    >>> import numpy as np
    >>> mha = MultiHeadAttention(num_heads=2, key_dim=4)
    >>> x = np.random.rand(3, 5, 8).astype("float32")   # (B, T, dim)
    >>> out, scores = mha(x, x, use_causal_mask=True,
    ...                   return_attention_scores=True)
    >>> tuple(out.shape), tuple(scores.shape)
    ((3, 5, 8), (3, 2, 5, 5))

    Decoding one token at a time with a cache gives the same output:

    >>> cache = mha.get_empty_cache(batch_size=3, max_length=5)
    >>> steps = []
    >>> for i in range(5):
    ...     step, cache = mha(x[:, i:i + 1], x[:, i:i + 1], cache=cache,
    ...                       cache_update_index=i, use_causal_mask=True)
    ...     steps.append(step)
    >>> np.allclose(np.concatenate(steps, axis=1), out, atol=1e-5)
    True

    References:
        Vaswani et al., "Attention Is All You Need", 2017, section 3.2.2.
        Ainslie et al., "GQA: Training Generalized Multi-Query Transformer
        Models from Multi-Head Checkpoints", 2023.
    """

    def __init__(
        self,
        num_heads,
        key_dim,
        value_dim=None,
        dropout=0.0,
        use_bias=True,
        output_shape=None,
        num_key_value_heads=None,
        use_rotary_embedding=False,
        rotary_max_wavelength=10000,
        kernel_initializer="glorot_uniform",
        bias_initializer="zeros",
        kernel_regularizer=None,
        bias_regularizer=None,
        activity_regularizer=None,
        kernel_constraint=None,
        bias_constraint=None,
        seed=None,
        **kwargs,
    ):
        check_positive_int("num_heads", num_heads)
        check_positive_int("key_dim", key_dim)
        check_positive_int("value_dim", value_dim, allow_none=True)
        check_positive_int("output_shape", output_shape, allow_none=True)
        check_num_key_value_heads(num_key_value_heads, num_heads)
        check_number("dropout", dropout, minimum=0, below=1)
        check_bool("use_bias", use_bias)
        check_bool("use_rotary_embedding", use_rotary_embedding)
        if use_rotary_embedding and key_dim % 2:
            raise ValueError(
                "`key_dim` must be even with `use_rotary_embedding=True`. "
                f"Received: key_dim={key_dim}"
            )
        super().__init__(activity_regularizer=activity_regularizer, **kwargs)
        self.supports_masking = True  # the output carries the query's mask
        self.num_heads = num_heads
        self.key_dim = key_dim
        self.value_dim = value_dim if value_dim is not None else key_dim
        self.dropout = dropout
        self.use_bias = use_bias
        self._output_shape = output_shape
        self.num_key_value_heads = num_key_value_heads or num_heads
        self.use_rotary_embedding = use_rotary_embedding
        self.rotary_max_wavelength = rotary_max_wavelength
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.bias_initializer = keras.initializers.get(bias_initializer)
        self.kernel_regularizer = keras.regularizers.get(kernel_regularizer)
        self.bias_regularizer = keras.regularizers.get(bias_regularizer)
        self.kernel_constraint = keras.constraints.get(kernel_constraint)
        self.bias_constraint = keras.constraints.get(bias_constraint)
        self.seed = seed
        self.seed_generator = (
            keras.random.SeedGenerator(seed) if dropout > 0 else None
        )

    @property
    def output_shape(self):
        return self._output_shape

    def _projection(self, name, heads, head_dim):
        # (B, T, dim) -> (B, T, heads, head_dim); kernel (dim, heads, head_dim)
        return keras.layers.EinsumDense(
            "abc,cde->abde",
            output_shape=(None, heads, head_dim),
            bias_axes="de" if self.use_bias else None,
            name=name,
            **self._dense_kwargs(),
        )

    def _dense_kwargs(self):
        return dict(
            kernel_initializer=keras.initializers.get(
                keras.initializers.serialize(self.kernel_initializer)
            ),
            bias_initializer=keras.initializers.get(
                keras.initializers.serialize(self.bias_initializer)
            ),
            kernel_regularizer=self.kernel_regularizer,
            bias_regularizer=self.bias_regularizer,
            kernel_constraint=self.kernel_constraint,
            bias_constraint=self.bias_constraint,
            dtype=self.dtype_policy,
        )

    def build(self, query_shape, value_shape=None, key_shape=None):
        if len(query_shape) != 3:
            raise ValueError(
                "`query` must have shape (batch, query_length, dim). "
                f"Received: query.shape={tuple(query_shape)}"
            )
        if value_shape is None:
            value_shape = query_shape
        if key_shape is None:
            key_shape = value_shape
        self.query_dense = self._projection("query", self.num_heads, self.key_dim)
        self.query_dense.build(query_shape)
        self.key_dense = self._projection("key", self.num_key_value_heads, self.key_dim)
        self.key_dense.build(key_shape)
        self.value_dense = self._projection(
            "value", self.num_key_value_heads, self.value_dim
        )
        self.value_dense.build(value_shape)
        output_dim = self._output_shape or query_shape[-1]
        # (B, T, heads, value_dim) -> (B, T, output_dim)
        self.output_dense = keras.layers.EinsumDense(
            "abcd,cde->abe",
            output_shape=(None, output_dim),
            bias_axes="e" if self.use_bias else None,
            name="attention_output",
            **self._dense_kwargs(),
        )
        self.output_dense.build((None, None, self.num_heads, self.value_dim))
        if self.use_rotary_embedding:
            self.rotary_embedding = RotaryEmbedding(
                max_wavelength=self.rotary_max_wavelength,
                dtype=self.dtype_policy,
                name="rotary_embedding",
            )
        self.built = True

    def get_empty_cache(self, batch_size, max_length, dtype=None):
        """Returns a zero cache `(batch_size, 2, kv_heads, max_length, key_dim)`."""
        self._check_cacheable()
        shape = (batch_size, 2, self.num_key_value_heads, max_length, self.key_dim)
        return ops.zeros(shape, dtype=dtype or self.compute_dtype)

    def compute_cache(self, value, key=None):
        """Projects `value` (and `key`) once into a read-only cache.

        Use it for cross-attention, where the encoder output does not change
        while the decoder generates. Returns a `(B, 2, kv_heads, S, key_dim)`
        tensor to pass as `cache` with `cache_update_index=None`.
        """
        self._check_cacheable()
        # The encoder output's Keras mask is for the caller to pass as a
        # padding mask; the projections don't take it.
        value = without_keras_mask(value)
        key = value if key is None else without_keras_mask(key)
        keys = self.key_dense(key)
        if self.use_rotary_embedding:
            keys = self.rotary_embedding(keys)
        cache = ops.stack([keys, self.value_dense(value)], axis=1)  # (B, 2, S, H_kv, D)
        return ops.transpose(cache, (0, 1, 3, 2, 4))

    def _check_cacheable(self):
        if self.key_dim != self.value_dim:
            raise ValueError(
                "A key/value cache needs `value_dim == key_dim`. Received: "
                f"key_dim={self.key_dim}, value_dim={self.value_dim}"
            )

    def call(
        self,
        query,
        value,
        key=None,
        query_mask=None,
        value_mask=None,
        key_mask=None,
        attention_mask=None,
        return_attention_scores=False,
        training=None,
        use_causal_mask=False,
        cache=None,
        cache_update_index=None,
    ):
        if cache is not None and return_attention_scores:
            raise ValueError(
                "`return_attention_scores=True` can't be combined with a `cache`: a "
                "cached call returns `(output, cache)`. Call the layer without a cache "
                "to get the scores (keras_attn.viz.attention_scores does)."
            )
        if key is None:
            key = value
        # Keras filled in the *_mask arguments; the projections don't take masks.
        query, key, value = (without_keras_mask(x) for x in (query, key, value))
        if cache is not None:
            self._check_cacheable()
        # Position of the first query: rotary angles and the causal offset.
        start_index = 0 if cache_update_index is None else cache_update_index

        query = self.query_dense(query)  # (B, T, H, D)
        if self.use_rotary_embedding:
            query = self.rotary_embedding(query, start_index=start_index)

        # Keys and values go heads first, (B, H_kv, S, D), as the cache holds them:
        # a decoding step then reads the cache without transposing it.
        if cache is not None and cache_update_index is None:
            key, value = cache[:, 0], cache[:, 1]  # (B, H_kv, S, D), read only
        else:
            key = self.key_dense(key)  # (B, S, H_kv, D)
            value = self.value_dense(value)  # (B, S, H_kv, Dv)
            if self.use_rotary_embedding:
                key = self.rotary_embedding(key, start_index=start_index)
            key = ops.transpose(key, (0, 2, 1, 3))  # (B, H_kv, S, D)
            value = ops.transpose(value, (0, 2, 1, 3))  # (B, H_kv, S, Dv)
            if cache is not None:
                # One write of the T new keys and values, (B, 2, H_kv, T, D), into the
                # (B, 2, H_kv, max_length, D) cache: XLA updates a loop's cache in place,
                # where splitting and stacking it again would copy it every step.
                update = ops.cast(ops.stack([key, value], axis=1), cache.dtype)
                cache = ops.slice_update(cache, [0, 0, 0, cache_update_index, 0], update)
                key, value = cache[:, 0], cache[:, 1]

        if cache_update_index is not None:
            value_mask = key_mask = None  # they describe new tokens, not the cache
        key_padding_mask = value_mask
        if key_mask is not None:
            key_padding_mask = (
                key_mask
                if key_padding_mask is None
                else ops.logical_and(ops.cast(key_mask, "bool"), ops.cast(value_mask, "bool"))
            )
        # Without a cache, the causal mask goes to the attention as `is_causal`,
        # which skips the key blocks a query block can't see.
        is_causal = use_causal_mask and cache_update_index is None
        mask = merge_masks(
            query_length=_length(query),
            key_length=_length(key, axis=2),
            query_mask=query_mask,
            key_mask=key_padding_mask,
            attention_mask=attention_mask,
            use_causal_mask=use_causal_mask and not is_causal,
            start_index=start_index,
        )

        # Grouped-query attention: each key/value head serves `groups` query heads.
        groups = self.num_heads // self.num_key_value_heads
        if groups > 1:
            key = ops.repeat(key, groups, axis=1)
            value = ops.repeat(value, groups, axis=1)

        # (B, T, H, D) -> (B, H, T, D): heads become a leading axis, as for the keys.
        attention = scaled_dot_product_attention(
            ops.transpose(query, (0, 2, 1, 3)),
            key,
            value,
            mask=None if mask is None else ops.expand_dims(mask, 1),  # (B, 1, T, S)
            dropout_rate=self.dropout,
            seed=self.seed_generator,
            training=training,
            return_attention_weights=return_attention_scores,
            is_causal=is_causal,
        )
        outputs, scores = attention if return_attention_scores else (attention, None)
        outputs = ops.transpose(outputs, (0, 2, 1, 3))  # (B, T, H, Dv)
        outputs = self.output_dense(outputs)  # (B, T, output_dim)

        if cache is not None:
            return outputs, cache
        if return_attention_scores:
            return outputs, scores
        return outputs

    def compute_output_shape(self, query_shape, value_shape=None, key_shape=None):
        return tuple(query_shape[:-1]) + (self._output_shape or query_shape[-1],)

    def compute_output_spec(
        self,
        query,
        value,
        key=None,
        query_mask=None,
        value_mask=None,
        key_mask=None,
        attention_mask=None,
        return_attention_scores=False,
        training=None,
        use_causal_mask=False,
        cache=None,
        cache_update_index=None,
    ):
        outputs = keras.KerasTensor(
            self.compute_output_shape(query.shape), dtype=self.compute_dtype
        )
        if cache is not None:
            return outputs, keras.KerasTensor(cache.shape, dtype=cache.dtype)
        if return_attention_scores:
            key_length = (value if key is None else key).shape[1]
            scores_shape = (query.shape[0], self.num_heads, query.shape[1], key_length)
            return outputs, keras.KerasTensor(scores_shape, dtype=self.compute_dtype)
        return outputs

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "num_heads": self.num_heads,
                "key_dim": self.key_dim,
                "value_dim": self.value_dim,
                "dropout": self.dropout,
                "use_bias": self.use_bias,
                "output_shape": self._output_shape,
                "num_key_value_heads": self.num_key_value_heads,
                "use_rotary_embedding": self.use_rotary_embedding,
                "rotary_max_wavelength": self.rotary_max_wavelength,
                "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
                "bias_initializer": keras.initializers.serialize(self.bias_initializer),
                "kernel_regularizer": keras.regularizers.serialize(self.kernel_regularizer),
                "bias_regularizer": keras.regularizers.serialize(self.bias_regularizer),
                "activity_regularizer": keras.regularizers.serialize(
                    self.activity_regularizer
                ),
                "kernel_constraint": keras.constraints.serialize(self.kernel_constraint),
                "bias_constraint": keras.constraints.serialize(self.bias_constraint),
                "seed": self.seed,
            }
        )
        return config


def _length(x, axis=1):
    """Static length of `axis` when known, else a scalar tensor."""
    return x.shape[axis] if x.shape[axis] is not None else ops.shape(x)[axis]
