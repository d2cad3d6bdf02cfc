"""Scaled dot-product attention: softmax(QKᵀ / √d_k) · V."""

import math

import keras
from keras import ops

from keras_attn.checks import check_number
from keras_attn.layers.masking import causal_mask

# Added to the scores of masked keys. The softmax runs in float32, where this
# is safe; it would overflow to -inf in float16.
_MASKED_SCORE = -1e9


def _check_shapes(query, key, value):
    """Q Kᵀ needs one depth d_k; P V needs as many values as keys."""
    depths = (query.shape[-1], key.shape[-1])
    if None not in depths and depths[0] != depths[1]:
        raise ValueError(
            "`query` and `key` must have the same depth (last axis, d_k). Received: "
            f"query.shape={tuple(query.shape)}, key.shape={tuple(key.shape)}"
        )
    lengths = (key.shape[-2], value.shape[-2])
    if None not in lengths and lengths[0] != lengths[1]:
        raise ValueError(
            "`key` and `value` must have the same length (axis -2, S). Received: "
            f"key.shape={tuple(key.shape)}, value.shape={tuple(value.shape)}"
        )


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
    is_causal=False,
):
    """Computes `Attention(Q, K, V) = softmax(Q Kᵀ / √d_k) V`.

    Each query is compared with every key (`Q Kᵀ`); the scores are divided by
    `√d_k` so that their spread does not grow with the depth; the softmax
    turns each query's scores into weights that sum to 1; and the output is
    the weighted sum of the values.

    Leading axes (batch, heads, ...) are broadcast, so this works for one
    head `(B, T, d_k)` as well as for many `(B, num_heads, T, d_k)`.

    Masking: `mask` is boolean, `True` means "may attend", and it must be
    broadcastable to the scores `(..., T, S)`. `is_causal=True` adds the
    causal mask (query `t` may attend keys `s <= t`), combined with `mask` by
    AND. A query whose keys are all masked gets zero weights and a zero
    output (never NaN). The softmax runs in float32 whatever the input
    dtype, so float16 inputs are safe.

    Speed and memory: without dropout and without `return_attention_weights`,
    the same formula runs with a hand-written backward pass, in one of two
    ways; both give the formula's numbers (tests).

    * Short (`T·S < 8192²`, or lengths not static, or Q, K and V with
      different leading axes): `_fused_attention` keeps the weights
      `(..., T, S)` for the backward pass, and a causal mask given as
      `is_causal=True` alone is computed by blocks of queries (64 below
      T=512, else 256), skipping the key blocks they can't see. On a 2-core
      CPU, causal `MultiHeadAttention` at T=256 then trains (forward and
      backward) in 0.69x the time of `keras.layers.MultiHeadAttention` in
      graph mode and 0.74x under XLA (`make bench`, 2026-12-01).
    * Long (`T·S ≥ 8192²`): `_tiled_attention` works by tiles of 128 queries
      and 256 keys (FlashAttention-2), keeping O(T·d) memory instead of
      O(T·S), and skips the tiles above the causal diagonal. The loops over
      tiles are loops (`ops.map`, `ops.fori_loop`), so the graph's size
      does not grow with T, in graph mode and under XLA.

    The switch at 8192, measured on a 2-core AMX Xeon (2026-12-06): causal
    `MultiHeadAttention`, B=1, 8 heads, width 512, forward and backward in
    graph mode, each case in its own process (`benchmarks/attention_memory.py`).
    By blocks of 256 a step took 0.055 s at T=1,024, 0.151 s at 2,048 and
    0.47 s at 4,096; by tiles (of 128 x 128), 0.08-0.10, 0.26 and 0.87 s;
    Keras's layer, 0.081, 0.27 and 0.91 s. At 8,192 the blocks took 1.65 s
    but peaked at 3.2 GB (the kept weights); tiles of 128 x 128 took 3.42 s
    (Keras's layer: 3.42 s) and peaked at 1,114 MB (Keras's layer: 9.4 GB),
    128 x 256 2.85 s and 1,186 MB (1,168 MB with 4 map iterations at once,
    `_PARALLEL_TILES`), 256 x 128 2.86 s and 1,202 MB, 256 x 256 2.37 s and
    1,305 MB. Past 8,192 only the tiles keep memory linear in T.

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
        is_causal: whether query `t` may attend keys `0 ... t` only.

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
    >>> causal = scaled_dot_product_attention(q, k, v, is_causal=True)
    >>> np.allclose(causal[:, 0], v[:, 0])   # the first query sees the first key only
    True

    References:
        Vaswani et al., "Attention Is All You Need", 2017, equation (1).
    """
    query = ops.convert_to_tensor(query)
    key = ops.convert_to_tensor(key)
    value = ops.convert_to_tensor(value)
    check_number("dropout_rate", dropout_rate, minimum=0, below=1)
    _check_shapes(query, key, value)
    d_k = query.shape[-1]
    if scale is None:
        scale = 1.0 / math.sqrt(d_k)
    scores_shape = tuple(query.shape[:-1]) + (key.shape[-2],)  # (..., T, S)
    if mask is not None:
        mask = ops.convert_to_tensor(mask)
        _check_mask(mask, scores_shape)
        mask = ops.cast(mask, "bool")
    # Scale Q before the product (not after) so float16 Q Kᵀ can't overflow.
    query = query * ops.cast(scale, query.dtype)

    # The formula, differentiated by the backend, gives the weights and takes
    # dropout; otherwise the fused attention runs: by tiles at long lengths,
    # else whole, by causal blocks if it can.
    fused = not (return_attention_weights or (training and dropout_rate > 0.0))
    if fused and _tiles_fit(query, key, value, mask):
        return _tiled_attention(query, key, value, mask, is_causal)
    length, key_length = query.shape[-2], key.shape[-2]
    blocks = fused and is_causal and mask is None and isinstance(length, int)
    blocks = blocks and length == key_length
    if is_causal and not blocks:
        causal = causal_mask(_length(query), _length(key))[0]  # (T, S)
        mask = causal if mask is None else ops.logical_and(mask, causal)

    # Added rather than selected: the bias has the mask's (broadcast) shape,
    # and the gradient passes through an addition without another pass over
    # the scores. Masked keys get a weight of exactly 0.
    bias = None if mask is None else _bias(mask)  # broadcastable to (..., T, S)

    if fused:
        output, weights = _fused_attention(query, key, value, bias, causal_blocks=blocks), None
    else:
        output, weights = _attention(query, key, value, bias, dropout_rate, seed, training)
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


def _attention(query, key, value, bias, dropout_rate, seed, training):
    """The formula, differentiated by the backend: `(output, weights)`.

    `query` is already scaled; `bias` is None or float32 `(..., T, S)`.
    """
    # The einsum lets the backend read K as it is, without a transpose op.
    scores = ops.einsum("...td,...sd->...ts", query, key)
    scores = ops.cast(scores, "float32")  # (..., T, S)
    if bias is not None:
        scores = scores + bias
    weights = ops.cast(ops.softmax(scores, axis=-1), value.dtype)
    dropped = weights
    if training and dropout_rate > 0.0:
        dropped = keras.random.dropout(weights, dropout_rate, seed=seed)
    return ops.matmul(dropped, value), weights  # (..., T, d_v)


def _bias(mask):
    """0 where `mask` allows, `_MASKED_SCORE` where it doesn't: float32, `mask`'s shape."""
    return ops.where(mask, ops.cast(0.0, "float32"), ops.cast(_MASKED_SCORE, "float32"))


# Query rows per block of the blocked causal attention: _CAUSAL_BLOCK below
# _LONG_BLOCK_FROM queries, else _LONG_BLOCK. Measured on the attention
# benchmark (T=256): blocks of 64 ran fastest under XLA and within 3% of the
# best in graph mode; 32 made too many small matmuls. At T=512 to 8,192
# (B=1, 8 heads, width 512, graph, 2-core AMX Xeon) blocks of 256 were faster
# than 64 and 128: 22 against 25 ms at T=512, 151 against 160 ms (128) at 2,048.
_CAUSAL_BLOCK = 64
_LONG_BLOCK = 256
_LONG_BLOCK_FROM = 512


def _causal_block(length):
    return _LONG_BLOCK if length >= _LONG_BLOCK_FROM else _CAUSAL_BLOCK


def _fused_attention(query, key, value, bias, causal_blocks=False):
    """`softmax(Q Kᵀ + bias) V` with a hand-written gradient, by blocks of queries.

    `query` `(..., T, d_k)` is already scaled, `key` `(..., S, d_k)`,
    `value` `(..., S, d_v)`; `bias` is None or float32, broadcastable to
    `(..., T, S)`. All queries form one block, unless `causal_blocks`
    (causal attention, `T == S` static, `bias` None): then block `[r0, r1)`
    of `_causal_block(T)` queries sees keys `[0, r1)` only, the keys after `r1`
    being masked for all its queries, so their scores are never computed.

    Backward pass, with `P` the weights, `O = P V` and `dO` the incoming
    gradient (what autodiff would compute, in fewer passes over the
    `(T, S)` tensors):

    ```
    dV = Pᵀ dO        dP = dO Vᵀ        dS = P ∘ (dP − rowsum(dO ∘ O))
    dQ = dS K         dK = dSᵀ Q
    ```

    `rowsum(dO ∘ O)` equals the softmax's `rowsum(dP ∘ P)` and is summed
    over `d_v` instead of `S` (FlashAttention's trick).
    """
    length, key_length = query.shape[-2], key.shape[-2]
    # (r0, r1, keys): queries [r0, r1) over keys [0, keys)
    spans = [(0, length, key_length)]
    if causal_blocks:
        spans = []
        block = _causal_block(length)
        for r0 in range(0, length, block):
            r1 = min(r0 + block, length)
            spans.append((r0, r1, r1))

    @ops.custom_gradient
    def attend(query, key, value):
        outputs, weights = [], []
        for r0, r1, keys in spans:
            # (..., r1 - r0, keys): this block's scores, in float32
            scores = ops.einsum("...td,...sd->...ts", query[..., r0:r1, :], key[..., :keys, :])
            scores = ops.cast(scores, "float32")
            if causal_blocks:
                scores = scores + _bias(causal_mask(r1 - r0, keys, start_index=r0)[0])
            elif bias is not None:
                scores = scores + bias
            p = ops.softmax(scores, axis=-1)
            weights.append(p)
            outputs.append(ops.matmul(ops.cast(p, value.dtype), value[..., :keys, :]))
        output = outputs[0] if len(outputs) == 1 else ops.concatenate(outputs, axis=-2)

        def grad(*args, upstream=None):
            if upstream is None:
                (upstream,) = args
            d_query, d_key, d_value = [], None, None
            for (r0, r1, keys), p, out in zip(spans, weights, outputs):
                d_out = upstream[..., r0:r1, :]  # (..., rows, d_v)
                dv = ops.einsum("...ts,...td->...sd", ops.cast(p, value.dtype), d_out)
                dp = ops.einsum("...td,...sd->...ts", d_out, value[..., :keys, :])
                rowsum = ops.sum(
                    ops.cast(d_out, "float32") * ops.cast(out, "float32"),
                    axis=-1,
                    keepdims=True,
                )  # (..., rows, 1)
                ds = ops.cast(p * (ops.cast(dp, "float32") - rowsum), query.dtype)
                d_query.append(ops.matmul(ds, key[..., :keys, :]))
                dk = ops.einsum("...ts,...td->...sd", ds, query[..., r0:r1, :])
                if keys != key_length:  # keys past this block got no gradient
                    pad = [(0, 0)] * (len(dk.shape) - 2) + [(0, key_length - keys), (0, 0)]
                    dk, dv = ops.pad(dk, pad), ops.pad(dv, pad)
                d_key = dk if d_key is None else d_key + dk
                d_value = dv if d_value is None else d_value + dv
            if len(d_query) > 1:
                return ops.concatenate(d_query, axis=-2), d_key, d_value
            return d_query[0], d_key, d_value

        return output, grad

    return attend(query, key, value)


# The tiled path runs when T·S ≥ _TILED_FROM², by tiles of _QUERY_TILE queries
# and _KEY_TILE keys. Measured: see `scaled_dot_product_attention`'s docstring.
_TILED_FROM = 8192
_QUERY_TILE = 128
_KEY_TILE = 256
# Map iterations TensorFlow may run at once (its default: 10). Each holds its
# tiles' temporaries: at T=8,192, 4 peaked 18 MB lower than 10, in the same time.
_PARALLEL_TILES = 4


def _tiles_fit(query, key, value, mask):
    """Whether `_tiled_attention` applies: static lengths with T·S ≥ `_TILED_FROM`²."""
    length, key_length = query.shape[-2], key.shape[-2]
    if not (isinstance(length, int) and isinstance(key_length, int)):
        return False
    if length * key_length < _TILED_FROM**2:
        return False
    # The tiles' gradients take the inputs' shapes: no broadcast leading axes.
    if not query.shape[:-2] == key.shape[:-2] == value.shape[:-2]:
        return False
    return mask is None or None not in mask.shape[-2:]


def _tiled_attention(query, key, value, mask, is_causal):
    """`softmax(Q Kᵀ) V` by tiles of queries and keys (FlashAttention-2).

    `query` `(..., T, d_k)` is already scaled, `key` `(..., S, d_k)`, `value`
    `(..., S, d_v)`, all with the same leading axes; `mask` is None or
    boolean, broadcastable to `(..., T, S)`, with static last two axes.
    Everything is computed in float32 and the output cast to `value`'s dtype.

    Forward, for each tile of `_QUERY_TILE` queries (`ops.map`): a loop over
    the tiles of `_KEY_TILE` keys keeps, per query, the running maximum `m`
    of its scores, the sum `l` of `exp(scores - m)` and the output so far,
    both rescaled by `exp(m_old - m)` when the maximum grows (online
    softmax). Only the output and the log-sum-exp `m + log l` are kept.

    Backward, a loop over key tiles `j`, each mapping over the query tiles
    `i`: the weights are recomputed as `P = exp(Q_i K_jᵀ - lse_i)`, then, with
    `dS = P ∘ (dO_i V_jᵀ − rowsum(dO_i ∘ O_i))` as in `_fused_attention`,
    `dK_j = Σ_i dSᵀ Q_i` and `dV_j = Σ_i Pᵀ dO_i`, and the map adds `dS K_j`
    to each `dQ_i`. Running the key tiles in the outer loop this way
    recomputes `P` once, not twice (one pass for `dQ`, one for `dK, dV`):
    on a 2-core CPU at T=2,048 the backward pass took 0.8x the time.

    Extra memory is O(T·d), and the tiles are looped over, so the graph's
    size does not depend on T. With `is_causal`, the key tiles a query tile
    can't see are skipped. Tiles that hold the causal diagonal or padding
    ("edge" tiles) get a mask from positions; the others only `mask`'s tile.

    A query with every key masked keeps the initial maximum
    `_MASKED_SCORE`: it outputs zeros and gets a log-sum-exp of
    `-_MASKED_SCORE`, which makes its recomputed weights, and so its
    gradients, zero.
    """
    length, key_length = query.shape[-2], key.shape[-2]
    q_tile, k_tile = _QUERY_TILE, _KEY_TILE
    q_count, k_count = -(-length // q_tile), -(-key_length // k_tile)
    full_k_count = key_length // k_tile  # key tiles without padding
    if mask is not None:
        while len(mask.shape) < 2:  # (S,) -> (1, S)
            mask = ops.expand_dims(mask, 0)
        by_query, by_key = mask.shape[-2] != 1, mask.shape[-1] != 1
        mask_tiles = _mask_tiles(mask, by_query, by_key)  # (nk' * nq', ..., tq', tk')
    positions = ops.arange(max(q_tile, k_tile), dtype="int32")

    def allowed(i, j, edge):
        """Boolean `(..., tq, tk)`, or None: may query tile `i` attend key tile `j`."""
        ok = None
        if mask is not None:
            index = (j if by_key else 0) * (q_count if by_query else 1) + (i if by_query else 0)
            ok = _tile(mask_tiles, index)
        if edge:
            rows = ops.expand_dims(i * q_tile + positions[:q_tile], 1)  # (tq, 1)
            cols = ops.expand_dims(j * k_tile + positions[:k_tile], 0)  # (1, tk)
            inside = cols < key_length
            if is_causal:
                inside = ops.logical_and(inside, cols <= rows)
            ok = inside if ok is None else ops.logical_and(ok, inside)
        return ok

    def scores(q, k, i, j, edge):
        s = ops.einsum("...td,...sd->...ts", q, k)  # (..., tq, tk)
        ok = allowed(i, j, edge)
        return s if ok is None else ops.where(ok, s, _MASKED_SCORE)

    def key_tiles(i):
        """Query tile `i` sees key tiles `[0, split)` whole and `[split, stop)` in part."""
        if not is_causal:
            return full_k_count, k_count
        stop = ops.minimum(((i + 1) * q_tile - 1) // k_tile + 1, k_count)
        split = ops.minimum(ops.minimum((i * q_tile + 1) // k_tile, full_k_count), stop)
        return split, stop

    def query_tiles(j):
        """Key tile `j` is seen in part by query tiles `[start, split)`, whole by `[split, nq)`."""
        split = 0
        if is_causal:  # the first query tile whose first query sees the tile's last key
            split = ops.minimum(((j + 1) * k_tile - 1 + q_tile - 1) // q_tile, q_count)
        if key_length % k_tile:  # the last key tile holds padding
            split = ops.where(j >= full_k_count, q_count, split)
        start = ops.minimum(j * k_tile // q_tile, split) if is_causal else 0
        return start, split

    @ops.custom_gradient
    def attend(query, key, value):
        q_tiles = _to_tiles(ops.cast(query, "float32"), q_tile)  # (nq, ..., tq, d_k)
        k_tiles = _to_tiles(ops.cast(key, "float32"), k_tile)  # (nk, ..., tk, d_k)
        v_tiles = _to_tiles(ops.cast(value, "float32"), k_tile)  # (nk, ..., tk, d_v)

        def forward(i):
            q = _tile(q_tiles, i)  # (..., tq, d_k)

            def step(edge):
                def body(j, carry):
                    m, l, out = carry  # (..., tq, 1), (..., tq, 1), (..., tq, d_v)
                    s = scores(q, _tile(k_tiles, j), i, j, edge)
                    m_next = ops.maximum(m, ops.max(s, axis=-1, keepdims=True))
                    p = ops.exp(s - m_next)
                    rescale = ops.exp(m - m_next)
                    l = rescale * l + ops.sum(p, axis=-1, keepdims=True)
                    return m_next, l, rescale * out + ops.matmul(p, _tile(v_tiles, j))

                return body

            zeros = ops.zeros_like(q[..., :1])  # (..., tq, 1)
            carry = (zeros + _MASKED_SCORE, zeros, zeros + ops.zeros_like(v_tiles[0, ..., :1, :]))
            split, stop = key_tiles(i)
            carry = ops.fori_loop(0, split, step(False), carry)
            m, l, out = ops.fori_loop(split, stop, step(True), carry)
            empty = m <= _MASKED_SCORE  # (..., tq, 1): no key to attend
            return ops.where(empty, 0.0, out / l), ops.where(empty, -_MASKED_SCORE, m + ops.log(l))

        # (nq, ..., tq, d_v), (nq, ..., tq, 1)
        out_tiles, lse_tiles = _map(forward, ops.arange(q_count, dtype="int32"))
        output = _from_tiles(out_tiles, length)  # (..., T, d_v)

        def grad(*args, upstream=None):
            if upstream is None:
                (upstream,) = args
            d_out = ops.cast(upstream, "float32")  # (..., T, d_v)
            rowsum = ops.sum(d_out * output, axis=-1, keepdims=True)  # (..., T, 1)
            do_tiles, rowsum_tiles = _to_tiles(d_out, q_tile), _to_tiles(rowsum, q_tile)

            def key_tile_step(j, carry):
                dq_tiles, dk_tiles, dv_tiles = carry
                k, v = _tile(k_tiles, j), _tile(v_tiles, j)  # (..., tk, d_k), (..., tk, d_v)
                start, split = query_tiles(j)

                def pair(i):
                    """Query tile `i`'s `dQ_i` plus its term, and its `dK_j`, `dV_j` terms."""
                    dq = _tile(dq_tiles, i)

                    def visit(edge):
                        def terms():
                            q, do, lse, rs = (
                                _tile(t, i) for t in (q_tiles, do_tiles, lse_tiles, rowsum_tiles)
                            )
                            p = ops.exp(scores(q, k, i, j, edge) - lse)  # (..., tq, tk)
                            dv = ops.einsum("...ts,...td->...sd", p, do)
                            ds = p * (ops.einsum("...td,...sd->...ts", do, v) - rs)
                            dk = ops.einsum("...ts,...td->...sd", ds, q)
                            return dq + ops.matmul(ds, k), dk, dv

                        return terms

                    def unseen():
                        return dq, ops.zeros_like(k), ops.zeros_like(v)

                    branch = ops.where(i < start, 0, ops.where(i < split, 1, 2))
                    return ops.switch(branch, [unseen, visit(True), visit(False)])

                # (nq, ..., tq, d_k), (nq, ..., tk, d_k), (nq, ..., tk, d_v). Reading
                # `dq_tiles` in the map also makes each key tile wait for the last (a
                # while loop runs up to 10 at once, each holding O(T·d) terms); read
                # tile by tile, not passed as the map's input, which would copy it.
                indices = ops.arange(q_count, dtype="int32")
                dq_tiles, dk, dv = _map(pair, indices)
                # Tile j of dK and dV, written by a select over the tiles: in graph
                # mode TensorFlow runs `slice_update` as an XLA op compiled on
                # demand: 0.54 ms per call at T=1,024, 8.6 ms of the step's op time.
                ones = (1,) * (len(k_tiles.shape) - 1)
                is_j = ops.reshape(ops.arange(k_count) == j, (k_count,) + ones)
                dk_tiles = ops.where(is_j, ops.sum(dk, axis=0, keepdims=True), dk_tiles)
                dv_tiles = ops.where(is_j, ops.sum(dv, axis=0, keepdims=True), dv_tiles)
                return dq_tiles, dk_tiles, dv_tiles

            zeros = tuple(ops.zeros_like(t) for t in (q_tiles, k_tiles, v_tiles))
            dq_tiles, dk_tiles, dv_tiles = ops.fori_loop(0, k_count, key_tile_step, zeros)
            return (
                ops.cast(_from_tiles(dq_tiles, length), query.dtype),
                ops.cast(_from_tiles(dk_tiles, key_length), key.dtype),
                ops.cast(_from_tiles(dv_tiles, key_length), value.dtype),
            )

        return ops.cast(output, value.dtype), grad

    return attend(query, key, value)


def _map(fn, xs):
    """`ops.map`; on TensorFlow, with at most `_PARALLEL_TILES` iterations at once."""
    if keras.backend.backend() != "tensorflow":
        return ops.map(fn, xs)
    import tensorflow as tf

    first = keras.tree.map_structure(lambda x: x[0], xs)
    signature = keras.tree.map_structure(tf.TensorSpec.from_tensor, fn(first))
    return tf.map_fn(fn, xs, fn_output_signature=signature,
                     parallel_iterations=_PARALLEL_TILES)


def _to_tiles(x, tile, axis=-2):
    """`(..., L, d)` -> `(n, ..., tile, d)`: `axis` cut into zero-padded tiles, tiles first."""
    axis = axis % len(x.shape)
    size = x.shape[axis]
    count = -(-size // tile)
    if count * tile != size:
        pad = [(0, 0)] * len(x.shape)
        pad[axis] = (0, count * tile - size)
        x = ops.pad(x, pad)
    shape = list(ops.shape(x))
    x = ops.reshape(x, shape[:axis] + [count, tile] + shape[axis + 1 :])
    return ops.moveaxis(x, axis, 0)


def _from_tiles(tiles, size):
    """`(n, ..., tile, d)` -> `(..., size, d)`: undoes `_to_tiles` along axis -2."""
    x = ops.moveaxis(tiles, 0, -3)  # (..., n, tile, d)
    shape = list(ops.shape(x))
    x = ops.reshape(x, shape[:-3] + [shape[-3] * shape[-2], shape[-1]])
    return x[..., :size, :]


def _mask_tiles(mask, by_query, by_key):
    """`(..., T or 1, S or 1)` -> `(nk * nq, ..., tq or 1, tk or 1)`, tile `(i, j)` at `j * nq + i`.

    An axis of 1 is broadcast, not cut (then `nq` or `nk` is 1). Padding is
    masked.
    """
    tiles = _to_tiles(mask, _QUERY_TILE, -2) if by_query else ops.expand_dims(mask, 0)
    tiles = _to_tiles(tiles, _KEY_TILE, -1) if by_key else ops.expand_dims(tiles, 0)
    shape = list(ops.shape(tiles))
    return ops.reshape(tiles, [shape[0] * shape[1]] + shape[2:])


def _tile(tiles, index):
    """Tile `index` (a scalar tensor) of `(n, ...)` tiles."""
    return ops.take(tiles, index, axis=0)


def _length(x):
    """Static length of axis -2 when known, else a scalar tensor."""
    return x.shape[-2] if x.shape[-2] is not None else ops.shape(x)[-2]
