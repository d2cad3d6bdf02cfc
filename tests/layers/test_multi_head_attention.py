import keras
import numpy as np
import pytest

from keras_attn.layers import MultiHeadAttention
from keras_attn.layers import RotaryEmbedding
from keras_attn.layers import scaled_dot_product_attention
from keras_attn.layers.masking import keras_mask
from tests.helpers import random_normal
from tests.helpers import padding_mask
from tests.helpers import run_layer_test

B, T, S, DIM = 2, 5, 7, 16


def test_layer(tmp_path):
    run_layer_test(
        MultiHeadAttention,
        {"num_heads": 2, "key_dim": 4, "dropout": 0.1, "num_key_value_heads": 1},
        {None: random_normal(B, T, DIM), "value": random_normal(B, S, 8, seed=1)},
        expected_output_shape=((B, T, DIM), (B, 2, T, S)),
        expected_num_trainable_weights=8,
        call_kwargs={"return_attention_scores": True},
        tmp_path=tmp_path,
    )


def test_layer_with_rotary_and_causal_mask(tmp_path):
    run_layer_test(
        MultiHeadAttention,
        {"num_heads": 4, "key_dim": 4, "use_rotary_embedding": True, "output_shape": 12},
        {None: random_normal(B, T, DIM), "value": random_normal(B, T, DIM, seed=1)},
        expected_output_shape=(B, T, 12),
        expected_num_trainable_weights=8,
        call_kwargs={"use_causal_mask": True},
        tmp_path=tmp_path,
    )


def peer_pair(query_dim=DIM, value_dim=DIM, key_dim=None, **kwargs):
    """Ours and Keras's layer, built on the same shapes, with Keras's weights copied."""
    args = dict(num_heads=4, key_dim=6, **kwargs)
    theirs = keras.layers.MultiHeadAttention(**args)
    ours = MultiHeadAttention(**args)
    q, v = random_normal(B, T, query_dim), random_normal(B, S, value_dim, seed=1)
    k = None if key_dim is None else random_normal(B, S, key_dim, seed=2)
    theirs(q, v, key=k)
    ours(q, v, key=k)
    assert [w.shape for w in ours.get_weights()] == [w.shape for w in theirs.get_weights()]
    assert [w.path.split("/", 1)[1] for w in ours.weights] == [
        w.path.split("/", 1)[1] for w in theirs.weights
    ]
    ours.set_weights(theirs.get_weights())
    return ours, theirs


@pytest.mark.parametrize(
    "case",
    ["self", "cross", "cross_with_key", "padding", "causal", "padding_and_causal", "no_bias"],
)
def test_matches_keras_with_copied_weights(case):
    self_attention = case in ("self", "causal", "no_bias")
    value_dim = DIM if self_attention else 10
    key_dim = 3 if case == "cross_with_key" else None
    ours, theirs = peer_pair(DIM, value_dim, key_dim, use_bias=case != "no_bias")
    q = random_normal(B, T, DIM, seed=3)
    v = q if self_attention else random_normal(B, S, value_dim, seed=4)
    length = v.shape[1]
    kwargs = {}
    if key_dim:
        kwargs["key"] = random_normal(B, length, key_dim, seed=5)
    if "padding" in case:
        kwargs["attention_mask"] = (
            padding_mask([T, 3], T)[:, :, None] & padding_mask([length, 4], length)[:, None, :]
        )
    if "causal" in case:
        kwargs["use_causal_mask"] = True
    out, scores = ours(q, v, return_attention_scores=True, **kwargs)
    ref_out, ref_scores = theirs(q, v, return_attention_scores=True, **kwargs)
    np.testing.assert_allclose(out, ref_out, atol=1e-5)
    np.testing.assert_allclose(scores, ref_scores, atol=1e-5)


def test_implicit_masks_match_keras_and_explicit_masks():
    ours, theirs = peer_pair(value_dim=10)
    q_ids = np.array([[3, 4, 5, 0, 0], [6, 7, 8, 9, 1]])
    v_ids = np.array([[1, 2, 3, 4, 5, 6, 0], [7, 8, 0, 0, 0, 0, 0]])
    embed_q = keras.layers.Embedding(50, DIM, mask_zero=True)
    embed_v = keras.layers.Embedding(50, 10, mask_zero=True)

    def embedded():  # fresh tensors: Keras's layer deletes the masks of its inputs
        return embed_q(q_ids), embed_v(v_ids)

    q, v = embedded()
    implicit, scores = ours(q, v, return_attention_scores=True)
    # The output carries the query's padding mask, as in Keras.
    np.testing.assert_array_equal(keras_mask(implicit), q_ids != 0)
    ref, ref_scores = theirs(*embedded(), return_attention_scores=True)
    np.testing.assert_allclose(implicit, ref, atol=1e-5)
    np.testing.assert_allclose(scores, ref_scores, atol=1e-5)
    # Without scores Keras takes a fused path that gives padded queries
    # (rows with no key to attend) uniform weights; ours gives them none.
    # The real queries agree.
    real = q_ids != 0
    np.testing.assert_allclose(
        np.asarray(ours(*embedded()))[real], np.asarray(theirs(*embedded()))[real], atol=1e-5
    )
    explicit = ours(
        np.asarray(q), np.asarray(v), attention_mask=real[:, :, None] & (v_ids != 0)[:, None, :]
    )
    np.testing.assert_allclose(implicit, explicit, atol=1e-6)


def test_implicit_masks_in_a_functional_model():
    ids = keras.Input((None,), dtype="int32")
    x = keras.layers.Embedding(50, DIM, mask_zero=True)(ids)
    y = MultiHeadAttention(num_heads=2, key_dim=8)(x, x, use_causal_mask=True)
    model = keras.Model(ids, y)
    token_ids = np.array([[5, 6, 7, 0, 0], [1, 2, 3, 4, 5]])
    implicit = model(token_ids)
    embedding, mha = model.layers[1], model.layers[2]
    x = np.asarray(embedding(token_ids))
    keep = token_ids != 0
    explicit = mha(x, x, attention_mask=keep[:, :, None] & keep[:, None, :], use_causal_mask=True)
    np.testing.assert_allclose(implicit, explicit, atol=1e-6)


def test_matches_manual_multi_head_computation_with_gqa_and_rotary():
    layer = MultiHeadAttention(num_heads=4, key_dim=6, num_key_value_heads=2, use_rotary_embedding=True)
    q, v = random_normal(B, T, DIM), random_normal(B, T, DIM, seed=1)
    out, scores = layer(q, v, use_causal_mask=True, return_attention_scores=True)
    wq, bq, wk, bk, wv, bv, wo, bo = layer.get_weights()
    assert wk.shape == (DIM, 2, 6)  # two key/value heads
    rope = RotaryEmbedding()
    query = np.asarray(rope(np.einsum("btd,dhk->bthk", q, wq) + bq))
    key = np.asarray(rope(np.einsum("btd,dhk->bthk", v, wk) + bk))
    value = np.einsum("btd,dhk->bthk", v, wv) + bv
    key, value = np.repeat(key, 2, axis=2), np.repeat(value, 2, axis=2)  # head h uses kv head h // 2
    heads, weights = scaled_dot_product_attention(
        query.transpose(0, 2, 1, 3),
        key.transpose(0, 2, 1, 3),
        value.transpose(0, 2, 1, 3),
        mask=np.tril(np.ones((T, T), bool)),
        return_attention_weights=True,
    )
    expected = np.einsum("bhtk,hkd->btd", np.asarray(heads), wo) + bo
    np.testing.assert_allclose(out, expected, atol=1e-5)
    np.testing.assert_allclose(scores, weights, atol=1e-6)


def test_multi_query_attention_shapes():
    layer = MultiHeadAttention(num_heads=8, key_dim=4, num_key_value_heads=1)
    out = layer(random_normal(B, T, DIM), random_normal(B, S, DIM))
    assert out.shape == (B, T, DIM)
    assert layer.key_dense.kernel.shape == (DIM, 1, 4)
    assert layer.get_empty_cache(3, 10).shape == (3, 2, 1, 10, 4)


@pytest.mark.parametrize(
    "kwargs",
    [{}, {"num_key_value_heads": 2}, {"use_rotary_embedding": True}],
    ids=["mha", "gqa", "rotary"],
)
@pytest.mark.parametrize("chunks", [[1] * 6, [3, 1, 2]], ids=["token_by_token", "prefill_then_steps"])
def test_cached_decoding_matches_full_causal_pass(kwargs, chunks):
    layer = MultiHeadAttention(num_heads=4, key_dim=4, **kwargs)
    x = random_normal(B, 6, DIM)
    full = layer(x, x, use_causal_mask=True)
    cache = layer.get_empty_cache(B, max_length=8)
    outputs, index = [], 0
    for size in chunks:
        chunk = x[:, index : index + size]
        out, cache = layer(chunk, chunk, cache=cache, cache_update_index=index,
                           use_causal_mask=True)
        assert cache.shape == (B, 2, layer.num_key_value_heads, 8, 4)
        outputs.append(out)
        index += size
    np.testing.assert_allclose(np.concatenate(outputs, axis=1), full, atol=1e-5)


def test_a_cached_call_returns_no_scores():
    layer = MultiHeadAttention(num_heads=2, key_dim=4)
    x = random_normal(B, 1, DIM)
    with pytest.raises(ValueError, match="`return_attention_scores=True` can't be combined "
                                         "with a `cache`"):
        layer(x, x, cache=layer.get_empty_cache(B, 4), cache_update_index=0,
              return_attention_scores=True)


def test_cached_decoding_in_a_compiled_loop():
    """The cache works inside tf.function/XLA with a tensor cache index."""
    tf = pytest.importorskip("tensorflow")  # absent only when testing another backend

    layer = MultiHeadAttention(num_heads=2, key_dim=8, use_rotary_embedding=True)
    x = random_normal(1, 6, DIM)
    full = layer(x, x, use_causal_mask=True)

    @tf.function(jit_compile=True)
    def decode(x):
        cache = layer.get_empty_cache(1, 6)
        outputs = tf.TensorArray(tf.float32, size=6)
        for i in tf.range(6):
            step = tf.expand_dims(x[:, i], 1)  # (1, 1, DIM)
            out, cache = layer(step, step, cache=cache, cache_update_index=i, use_causal_mask=True)
            outputs = outputs.write(i, out[:, 0])
        return tf.transpose(outputs.stack(), (1, 0, 2))

    np.testing.assert_allclose(decode(x), full, atol=1e-5)


def test_read_only_cache_for_cross_attention():
    layer = MultiHeadAttention(num_heads=2, key_dim=8)
    q, encoder = random_normal(B, T, DIM), random_normal(B, S, DIM, seed=1)
    keep = padding_mask([S, 3], S)
    expected = layer(q, encoder, attention_mask=np.broadcast_to(keep[:, None], (B, T, S)))
    cache = layer.compute_cache(encoder)
    assert cache.shape == (B, 2, 2, S, 8)
    got, same_cache = layer(
        q, None, cache=cache, attention_mask=np.broadcast_to(keep[:, None], (B, T, S))
    )
    np.testing.assert_allclose(got, expected, atol=1e-6)
    np.testing.assert_array_equal(same_cache, cache)


@pytest.mark.parametrize("dtype", ["float32", "mixed_float16"])
def test_fully_masked_query_gives_finite_output(dtype):
    layer = MultiHeadAttention(num_heads=2, key_dim=8, dtype=dtype)
    q = random_normal(B, T, DIM) * 100
    mask = np.ones((B, T, T), bool)
    mask[:, 1] = False  # query 1 may attend nothing
    out, scores = layer(q, q, attention_mask=mask, return_attention_scores=True)
    out = np.asarray(out, "float32")
    assert np.all(np.isfinite(out))
    np.testing.assert_array_equal(np.asarray(scores, "float32")[:, :, 1], 0.0)
    # Attending nothing, the row's output is just the output projection's bias.
    np.testing.assert_allclose(out[:, 1], np.broadcast_to(layer.output_dense.bias, (B, DIM)), atol=1e-3)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"num_heads": 0, "key_dim": 4}, "`num_heads` must be a positive integer. Received: num_heads=0"),
        ({"num_heads": -2, "key_dim": 4}, "Received: num_heads=-2"),
        ({"num_heads": 2, "key_dim": 0}, "Received: key_dim=0"),
        ({"num_heads": 4, "key_dim": 4, "num_key_value_heads": 3}, "`num_key_value_heads` must divide `num_heads`. Received: num_key_value_heads=3, num_heads=4"),
        ({"num_heads": 4, "key_dim": 4, "dropout": 1.0}, r"Received: dropout=1.0"),
        ({"num_heads": 2, "key_dim": 5, "use_rotary_embedding": True}, "`key_dim` must be even with `use_rotary_embedding=True`. Received: key_dim=5"),
    ],
)
def test_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        MultiHeadAttention(**kwargs)


@pytest.mark.parametrize(
    "mask_shape, message",
    [
        ((B, T), r"`attention_mask` must have rank 3, with shape \(batch, query_length, key_length\). Received: attention_mask.shape=\(2, 5\)"),
        ((B, T, S + 1), r"Axis 2 of `attention_mask` must equal the key length \(7\). Received: attention_mask.shape=\(2, 5, 8\)"),
    ],
)
def test_bad_attention_mask(mask_shape, message):
    layer = MultiHeadAttention(num_heads=2, key_dim=4)
    with pytest.raises(ValueError, match=message):
        layer(random_normal(B, T, DIM), random_normal(B, S, DIM), attention_mask=np.ones(mask_shape, bool))


def test_bad_query_rank():
    layer = MultiHeadAttention(num_heads=2, key_dim=4)
    with pytest.raises(ValueError, match=r"Received: query.shape=\(2, 16\)"):
        layer(random_normal(B, DIM), random_normal(B, DIM))


@pytest.mark.parametrize("case", ["causal", "padding_and_causal"])
def test_fused_attention_gradients_match_keras(case):
    # T=130: the causal self-attention runs by blocks of 64, 64 and 2 queries,
    # with the hand-written backward pass (no scores asked for, no dropout).
    import tensorflow as tf

    theirs = keras.layers.MultiHeadAttention(num_heads=4, key_dim=6)
    ours = MultiHeadAttention(num_heads=4, key_dim=6)
    x = tf.constant(random_normal(B, 130, DIM))
    theirs(x, x)
    ours(x, x)
    ours.set_weights(theirs.get_weights())
    kwargs = {"use_causal_mask": True}
    if case == "padding_and_causal":
        kwargs["attention_mask"] = np.broadcast_to(padding_mask([130, 77], 130)[:, None], (B, 130, 130))

    def gradients(layer):
        with tf.GradientTape() as tape:
            tape.watch(x)
            out = layer(x, x, **kwargs)
            loss = tf.reduce_sum(out * random_normal(*out.shape, seed=9))
        return [out] + tape.gradient(loss, [x] + layer.trainable_variables)

    for mine, ref in zip(gradients(ours), gradients(theirs)):
        np.testing.assert_allclose(mine, ref, atol=2e-4 * max(1.0, np.abs(ref).max()))
