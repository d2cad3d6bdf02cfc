import importlib

import keras
import numpy as np
import pytest
from keras import ops

from keras_attn.layers import MultiHeadAttention
from keras_attn.layers import scaled_dot_product_attention

# The module, not the function `keras_attn.layers` exports under its name.
sdpa = importlib.import_module("keras_attn.layers.scaled_dot_product_attention")


def numpy_attention(q, k, v, mask=None):
    """softmax(Q Kᵀ / √d_k) V in float64; fully masked rows get zero weights."""
    scores = q @ np.swapaxes(k, -1, -2) / np.sqrt(q.shape[-1])
    if mask is not None:
        scores = np.where(mask, scores, -np.inf)
    with np.errstate(invalid="ignore"):
        e = np.exp(scores - scores.max(-1, keepdims=True))
        weights = e / e.sum(-1, keepdims=True)
    weights = np.nan_to_num(weights)  # all -inf rows: no key to attend
    return weights @ v, weights


@pytest.fixture
def tiles(monkeypatch):
    """Fused attention runs by tiles of 4 queries and 8 keys at every length (the
    shape of the 128 x 256 tiles, smaller).

    Returns the list of `_tiled_attention` calls, to check the path was taken.
    """
    monkeypatch.setattr(sdpa, "_TILED_FROM", 1)
    monkeypatch.setattr(sdpa, "_QUERY_TILE", 4)
    monkeypatch.setattr(sdpa, "_KEY_TILE", 8)
    calls, tiled = [], sdpa._tiled_attention
    monkeypatch.setattr(sdpa, "_tiled_attention", lambda *args: calls.append(args) or tiled(*args))
    return calls


@pytest.fixture
def qkv():
    rng = np.random.default_rng(0)
    q = rng.normal(size=(2, 3, 5, 8))  # (B, heads, T, d_k)
    k = rng.normal(size=(2, 3, 7, 8))  # (B, heads, S, d_k)
    v = rng.normal(size=(2, 3, 7, 4))  # (B, heads, S, d_v)
    return q, k, v


def test_matches_numpy_formula(qkv):
    q, k, v = qkv
    out, weights = scaled_dot_product_attention(
        *(x.astype("float32") for x in qkv), return_attention_weights=True
    )
    ref_out, ref_weights = numpy_attention(q, k, v)
    np.testing.assert_allclose(out, ref_out, atol=1e-5)
    np.testing.assert_allclose(weights, ref_weights, atol=1e-6)


def test_any_leading_axes():
    rng = np.random.default_rng(1)
    q, k, v = (rng.normal(size=(4, 6)).astype("float32") for _ in range(3))
    np.testing.assert_allclose(
        scaled_dot_product_attention(q, k, v), numpy_attention(q, k, v)[0], atol=1e-5
    )


def test_mask_matches_numpy(qkv):
    q, k, v = qkv
    mask = np.random.default_rng(2).random((2, 1, 5, 7)) > 0.4  # broadcast over heads
    out, weights = scaled_dot_product_attention(
        *(x.astype("float32") for x in qkv), mask=mask, return_attention_weights=True
    )
    ref_out, ref_weights = numpy_attention(q, k, v, mask)
    np.testing.assert_allclose(out, ref_out, atol=1e-5)
    np.testing.assert_allclose(weights, ref_weights, atol=1e-6)
    assert np.all(np.asarray(weights)[~np.broadcast_to(mask, weights.shape)] == 0)


def test_integer_mask_is_treated_as_boolean(qkv):
    args = [x.astype("float32") for x in qkv]
    mask = np.tril(np.ones((5, 7), "int32"))
    np.testing.assert_allclose(
        scaled_dot_product_attention(*args, mask=mask),
        scaled_dot_product_attention(*args, mask=mask.astype(bool)),
    )


@pytest.mark.parametrize("dtype", ["float32", "float16", "bfloat16"])
def test_fully_masked_query_rows_are_finite_zeros(qkv, dtype):
    mask = np.ones((5, 7), bool)
    mask[2] = False  # query 2 may attend nothing
    out, weights = scaled_dot_product_attention(
        *(ops.cast(x, dtype) for x in qkv), mask=mask, return_attention_weights=True
    )
    out = ops.convert_to_numpy(ops.cast(out, "float32"))
    weights = ops.convert_to_numpy(ops.cast(weights, "float32"))
    assert np.all(np.isfinite(out))
    np.testing.assert_array_equal(out[:, :, 2], 0.0)
    np.testing.assert_array_equal(weights[:, :, 2], 0.0)
    np.testing.assert_allclose(weights[:, :, [0, 1, 3, 4]].sum(-1), 1.0, atol=1e-2)


@pytest.mark.parametrize("path", ["fused", "tiled"])
def test_float16_large_scores_do_not_overflow(path, request):
    # Unscaled, Q Kᵀ = 64 * 40 * 40 = 102400 overflows float16 (max 65504);
    # scaled first it is 102400 / √64 = 12800. All scores are equal, so each
    # query gets the mean of the values (zeros or NaN if the scores overflowed).
    if path == "tiled":
        request.getfixturevalue("tiles")
    q = np.full((1, 2, 64), 40.0, "float16")
    v = np.arange(128, dtype="float16").reshape(1, 2, 64)
    out = ops.convert_to_numpy(ops.cast(scaled_dot_product_attention(q, q, v), "float32"))
    mean = np.broadcast_to(v.astype("float32").mean(axis=1, keepdims=True), out.shape)
    np.testing.assert_allclose(out, mean, rtol=1e-3)


def test_dropout_only_in_training(qkv):
    args = [x.astype("float32") for x in qkv]
    plain = scaled_dot_product_attention(*args)
    inference = scaled_dot_product_attention(*args, dropout_rate=0.5, seed=1, training=False)
    np.testing.assert_array_equal(plain, inference)
    dropped = scaled_dot_product_attention(*args, dropout_rate=0.5, seed=1, training=True)
    assert not np.allclose(plain, dropped)


@pytest.mark.parametrize(
    "mask_shape, message",
    [
        ((1, 2, 3, 5, 7), "can't have more axes. Received: mask.shape=(1, 2, 3, 5, 7)"),
        ((2, 3, 5, 6), r"Received: mask.shape=(2, 3, 5, 6)"),
        ((4, 1, 1), r"Received: mask.shape=(4, 1, 1)"),
    ],
)
def test_bad_mask_shape(qkv, mask_shape, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        scaled_dot_product_attention(
            *(x.astype("float32") for x in qkv), mask=np.ones(mask_shape, bool)
        )


def test_bad_dropout_rate(qkv):
    with pytest.raises(ValueError, match=r"Received: dropout_rate=1.5"):
        scaled_dot_product_attention(*qkv, dropout_rate=1.5)


def _formula_gradients(q, k, v, mask, d_out):
    """Autodiff of the plain formula in float64: `(output, [dq, dk, dv])`."""
    import tensorflow as tf

    q, k, v = (tf.constant(x, tf.float64) for x in (q, k, v))
    with tf.GradientTape() as tape:
        tape.watch([q, k, v])
        scores = tf.einsum("...td,...sd->...ts", q, k) / np.sqrt(q.shape[-1])
        if mask is not None:
            scores = tf.where(mask, scores, -1e9)
        out = tf.nn.softmax(scores) @ v
        if mask is not None:
            out = tf.where(np.any(mask, -1, keepdims=True), out, 0.0)
    d_out = tf.constant(d_out, tf.float64)
    return out.numpy(), [g.numpy() for g in tape.gradient(out, [q, k, v], d_out)]


def _fused_gradients(q, k, v, d_out, jit_compile=False, **kwargs):
    import tensorflow as tf

    @tf.function(jit_compile=jit_compile)
    def step(q, k, v):
        with tf.GradientTape() as tape:
            tape.watch([q, k, v])
            out = scaled_dot_product_attention(q, k, v, **kwargs)
        return out, tape.gradient(out, [q, k, v], tf.cast(d_out, out.dtype))

    out, grads = step(*(tf.constant(x) for x in (q, k, v)))
    return np.asarray(out, "float64"), [np.asarray(ops.cast(g, "float32"), "float64") for g in grads]


@pytest.mark.parametrize("jit_compile", [False, True], ids=["graph", "xla"])
@pytest.mark.parametrize(
    "case", ["no_mask", "mask_with_empty_row", "causal_blocks", "long_causal_blocks",
             "causal_and_mask", "causal_cross"]
)
def test_fused_backward_matches_autodiff_of_the_formula(case, jit_compile):
    # With is_causal alone, T=150 runs by blocks of 64, 64 and 22 queries, and
    # T=600 (from 512 on) by blocks of 256, 256 and 88.
    rng = np.random.default_rng(3)
    length = {"causal_blocks": 150, "long_causal_blocks": 600}.get(case, 9)
    key_length = 12 if case in ("no_mask", "mask_with_empty_row", "causal_cross") else length
    q = rng.normal(size=(2, 3, length, 8)).astype("float32")
    k = rng.normal(size=(2, 3, key_length, 8)).astype("float32")
    v = rng.normal(size=(2, 3, key_length, 5)).astype("float32")
    d_out = rng.normal(size=(2, 3, length, 5)).astype("float32")
    causal = np.tril(np.ones((length, key_length), bool))
    mask, kwargs = None, {}
    if case == "mask_with_empty_row":
        mask = rng.random((2, 1, length, key_length)) > 0.3
        mask[0, 0, 4] = False
        kwargs["mask"] = mask
    elif case == "causal_and_mask":
        kwargs["mask"] = rng.random((2, 1, 1, key_length)) > 0.3  # key padding
        kwargs["is_causal"] = True
        mask = np.logical_and(kwargs["mask"], causal)
    elif case in ("causal_blocks", "long_causal_blocks", "causal_cross"):
        kwargs["is_causal"] = True
        mask = np.broadcast_to(causal, (2, 3, length, key_length))

    ref_out, ref_grads = _formula_gradients(q, k, v, mask, d_out)
    out, grads = _fused_gradients(q, k, v, d_out, jit_compile, **kwargs)
    np.testing.assert_allclose(out, ref_out, atol=2e-5)
    for name, grad, ref in zip("qkv", grads, ref_grads):
        np.testing.assert_allclose(grad, ref, atol=1e-4, err_msg=f"d{name}")


def test_is_causal_equals_a_lower_triangular_mask():
    rng = np.random.default_rng(4)
    q, k, v = (rng.normal(size=(2, 130, 8)).astype("float32") for _ in range(3))
    tril = np.tril(np.ones((130, 130), bool))
    out, weights = scaled_dot_product_attention(
        q, k, v, is_causal=True, return_attention_weights=True
    )
    np.testing.assert_allclose(
        scaled_dot_product_attention(q, k, v, is_causal=True),
        scaled_dot_product_attention(q, k, v, mask=tril),
        atol=1e-6,
    )
    np.testing.assert_allclose(out, scaled_dot_product_attention(q, k, v, mask=tril), atol=1e-6)
    assert np.all(np.asarray(weights)[:, ~tril] == 0)


# Relative error ‖half − float32‖ / ‖float32‖ of the gradients allowed, about
# 2x the largest measured (dQ, dK, dV at seed 5): the fused path multiplies
# in the input dtype (measured 1.8e-3 in float16, 1.35e-2 in bfloat16), the
# tiled path in float32 after rounding the inputs (2.9e-4 and 2.4e-3). A
# gradient off by 1% everywhere breaks them (by 5% for fused bfloat16), and
# so does one wrong row in ten (a relative error of about 0.3).
HALF_PRECISION_TOLERANCE = {
    ("fused", "float16"): 4e-3,
    ("fused", "bfloat16"): 3e-2,
    ("tiled", "float16"): 1e-3,
    ("tiled", "bfloat16"): 8e-3,
}


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
@pytest.mark.parametrize("path", ["fused", "tiled"])
def test_backward_in_half_precision_is_close_to_float32(path, dtype, request, monkeypatch):
    if path == "tiled":
        request.getfixturevalue("tiles")
        monkeypatch.setattr(sdpa, "_QUERY_TILE", 32)
        monkeypatch.setattr(sdpa, "_KEY_TILE", 32)
    tolerance = HALF_PRECISION_TOLERANCE[(path, dtype)]
    rng = np.random.default_rng(5)
    q, k, v = (rng.normal(size=(2, 2, 100, 16)).astype("float32") for _ in range(3))
    d_out = rng.normal(size=(2, 2, 100, 16)).astype("float32")
    _, full = _fused_gradients(q, k, v, d_out, is_causal=True)
    _, grads = _fused_gradients(*(ops.cast(x, dtype) for x in (q, k, v)), d_out, is_causal=True)
    for name, grad, ref in zip("qkv", grads, full):
        error = grad - ref
        assert np.linalg.norm(error) <= tolerance * np.linalg.norm(ref), f"d{name}"
        assert np.abs(error).max() <= 2 * tolerance * np.abs(ref).max(), f"d{name}"


# (T, S, query tile, key tile): lengths that are not multiples of the tiles.
TILED_CASES = {
    "no_mask": (19, 21, 8, 8),
    "causal": (21, 21, 8, 8),
    "causal_key_padding_with_empty_rows": (21, 21, 8, 8),
    "mask_with_empty_rows": (19, 21, 8, 8),
    "causal_fewer_queries_than_keys": (13, 21, 8, 4),
    "causal_more_queries_than_keys": (21, 13, 4, 8),
}


@pytest.mark.parametrize("jit_compile", [False, True], ids=["graph", "xla"])
@pytest.mark.parametrize("case", list(TILED_CASES))
def test_tiled_backward_matches_autodiff_of_the_formula(case, jit_compile, tiles, monkeypatch):
    length, key_length, q_tile, k_tile = TILED_CASES[case]
    monkeypatch.setattr(sdpa, "_QUERY_TILE", q_tile)
    monkeypatch.setattr(sdpa, "_KEY_TILE", k_tile)
    rng = np.random.default_rng(6)
    q = rng.normal(size=(2, 3, length, 8)).astype("float32")
    k = rng.normal(size=(2, 3, key_length, 8)).astype("float32")
    v = rng.normal(size=(2, 3, key_length, 5)).astype("float32")
    d_out = rng.normal(size=(2, 3, length, 5)).astype("float32")
    causal = np.tril(np.ones((length, key_length), bool))
    kwargs = {"is_causal": case.startswith("causal")}
    mask = causal if kwargs["is_causal"] else None
    empty_rows = []
    if case == "causal_key_padding_with_empty_rows":
        kwargs["mask"] = np.ones((2, 1, 1, key_length), bool)
        kwargs["mask"][0, 0, 0, :3] = False  # queries 0-2 of item 0 see no key
        kwargs["mask"][1, 0, 0, 17:] = False  # padding at the end
        mask = np.logical_and(kwargs["mask"], causal)
        empty_rows = [(0, slice(None), slice(0, 3))]
    elif case == "mask_with_empty_rows":
        kwargs["mask"] = rng.random((2, 1, length, key_length)) > 0.3
        kwargs["mask"][0, 0, [4, 17]] = False
        mask = kwargs["mask"]
        empty_rows = [(0, slice(None), [4, 17])]
    if mask is not None:
        mask = np.broadcast_to(mask, (2, 3, length, key_length))

    ref_out, ref_grads = _formula_gradients(q, k, v, mask, d_out)
    out, grads = _fused_gradients(q, k, v, d_out, jit_compile, **kwargs)
    assert tiles, "the tiled path did not run"
    np.testing.assert_allclose(out, ref_out, atol=2e-5)
    for name, grad, ref in zip("qkv", grads, ref_grads):
        np.testing.assert_allclose(grad, ref, atol=1e-4, err_msg=f"d{name}")
    for rows in empty_rows:  # exactly zero, as in the formula
        np.testing.assert_array_equal(out[rows], 0.0)
        np.testing.assert_array_equal(grads[0][rows], 0.0)


def test_tiled_masks_of_any_rank_and_eager_mode(tiles):
    # A key mask (S,), a query mask (T, 1) and an integer mask, run eagerly.
    rng = np.random.default_rng(7)
    q, k, v = (rng.normal(size=(2, 11, 4)).astype("float32") for _ in range(3))
    key_mask = rng.random(11) > 0.3
    query_mask = (rng.random((11, 1)) > 0.3).astype("int32")
    for mask in (key_mask, query_mask):
        full = np.broadcast_to(mask.astype(bool), (2, 11, 11))
        np.testing.assert_allclose(
            scaled_dot_product_attention(q, k, v, mask=mask),
            numpy_attention(q, k, v, full)[0],
            atol=1e-5,
        )
    assert len(tiles) == 2


def test_tiled_graph_does_not_grow_with_length(tiles):
    import tensorflow as tf

    def graph_size(length):
        """Nodes of the fwd+bwd graph, with the loops' bodies and branches."""

        @tf.function
        def step(q):
            with tf.GradientTape() as tape:
                tape.watch(q)
                out = scaled_dot_product_attention(q, q, q, is_causal=True)
            return tape.gradient(out, q)

        graph = step.get_concrete_function(tf.TensorSpec((1, 2, length, 4))).graph
        library = graph.as_graph_def().library.function
        return len(graph.as_graph_def().node) + sum(len(f.node_def) for f in library)

    # (Lengths past 16: TF makes small zeros constants, large ones `Fill` ops.)
    assert graph_size(203) == graph_size(2003)
    assert len(tiles) == 2


def test_tiled_multi_head_attention_matches_the_fused_path(tiles, monkeypatch):
    # Grouped-query attention (K/V heads repeated), causal, with padded keys
    # and queries: the tiles give the same outputs and gradients.
    import tensorflow as tf

    keras.utils.set_random_seed(1)
    layer = MultiHeadAttention(num_heads=4, num_key_value_heads=2, key_dim=8)
    x = tf.constant(np.random.default_rng(8).normal(size=(2, 21, 16)), "float32")
    padding = np.arange(21) < np.array([[21], [15]])  # (B, T)
    attention_mask = padding[:, :, None] & padding[:, None, :]  # (B, T, S)

    def outputs_and_gradients():
        with tf.GradientTape() as tape:
            tape.watch(x)
            out = layer(x, x, attention_mask=attention_mask, use_causal_mask=True)
            loss = tf.reduce_sum(out * tf.sin(tf.range(16.0)))
        return [out] + tape.gradient(loss, [x] + layer.trainable_variables)

    tiled = outputs_and_gradients()
    assert tiles, "the tiled path did not run"
    monkeypatch.setattr(sdpa, "_TILED_FROM", 10**6)
    for mine, ref in zip(tiled, outputs_and_gradients()):
        np.testing.assert_allclose(mine, ref, atol=1e-5 * max(1.0, np.abs(ref).max()))
