import numpy as np
import pytest

from keras_attn.layers import causal_mask
from keras_attn.layers import merge_masks


@pytest.mark.parametrize("t, s, start", [(4, 4, 0), (1, 6, 3), (2, 8, 5), (3, 5, 2)])
def test_causal_mask_matches_numpy(t, s, start):
    expected = np.tril(np.ones((s, s), bool))[start : start + t]
    np.testing.assert_array_equal(causal_mask(t, s, start_index=start)[0], expected)


def test_merge_is_logical_and_of_every_mask():
    rng = np.random.default_rng(0)
    query_mask = rng.random((2, 4)) > 0.3
    key_mask = rng.random((2, 5)) > 0.3
    attention_mask = rng.random((2, 4, 5)) > 0.3
    merged = merge_masks(
        4, 5, query_mask, key_mask, attention_mask, use_causal_mask=True, start_index=1
    )
    expected = (
        query_mask[:, :, None]
        & key_mask[:, None, :]
        & attention_mask
        & np.tril(np.ones((5, 5), bool))[1:5][None]
    )
    np.testing.assert_array_equal(np.broadcast_to(merged, (2, 4, 5)), expected)


def test_no_mask_gives_none():
    assert merge_masks(3, 3) is None


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"attention_mask": np.ones((2, 4), bool)}, r"`attention_mask` must have rank 3"),
        ({"attention_mask": np.ones((2, 4, 6), bool)}, r"Axis 2 of `attention_mask` must equal the key length \(5\). Received: attention_mask.shape=\(2, 4, 6\)"),
        ({"attention_mask": np.ones((2, 3, 5), bool)}, r"Axis 1 of `attention_mask` must equal the query length \(4\)"),
        ({"query_mask": np.ones((2, 4, 1), bool)}, r"`query_mask` must have rank 2, with shape \(batch, query_length\). Received: query_mask.shape=\(2, 4, 1\)"),
        ({"key_mask": np.ones((2, 4), bool)}, r"Axis 1 of `key_mask` must equal the key length \(5\). Received: key_mask.shape=\(2, 4\)"),
    ],
)
def test_bad_mask_shapes_name_the_argument(kwargs, message):
    with pytest.raises(ValueError, match=message):
        merge_masks(4, 5, **kwargs)
