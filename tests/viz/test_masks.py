import numpy as np
import pytest

from keras_attn.layers import causal_mask
from keras_attn.layers import merge_masks
from keras_attn.viz import plot_mask
from keras_attn.viz import plot_masks
from tests.viz.helpers import assert_drawn
from tests.viz.helpers import cell_color
from tests.viz.helpers import tick_labels

TOKENS = ["The", "cat", "sat", "[PAD]", "[PAD]"]
PADDING = np.array([True, True, True, False, False])


def test_padding_causal_and_both_are_drawn_as_the_attention_layers_merge_them():
    fig = plot_masks(TOKENS, padding_mask=PADDING)
    image = assert_drawn(fig, num_panels=3)
    axes = fig.axes[:3]
    assert [ax.get_title() for ax in axes] == ["padding", "causal", "padding and causal"]
    padding = np.outer(PADDING, PADDING)  # padded queries and keys are out
    causal = np.tril(np.ones((5, 5), bool))
    for ax, expected in zip(axes, [padding, causal, padding & causal]):
        assert tick_labels(ax, "y") == tick_labels(ax, "x") == TOKENS
        np.testing.assert_array_equal(ax.images[0].get_array().astype(bool), expected)
    # The same as merge_masks, which the layers call.
    merged = merge_masks(5, 5, query_mask=PADDING[None], key_mask=PADDING[None],
                         use_causal_mask=True)
    np.testing.assert_array_equal(axes[2].images[0].get_array().astype(bool), merged[0])
    # Two colors: "sat" may attend "cat" (light), "cat" may not attend "sat" (dark).
    light = cell_color(fig, image, axes[2], 2, 1)
    dark = cell_color(fig, image, axes[2], 1, 2)
    assert light.mean() > 0.6 and dark.mean() < 0.3
    np.testing.assert_allclose(cell_color(fig, image, axes[2], 4, 0), dark, atol=1 / 255)


def test_only_the_masks_that_apply():
    fig = plot_masks(["a", "b", "c"])
    assert_drawn(fig, num_panels=1)
    assert fig.axes[0].get_title() == "causal"
    np.testing.assert_array_equal(fig.axes[0].images[0].get_array(), np.tril(np.ones((3, 3))))
    fig = plot_masks(["a", "b", "c"], padding_mask=[1, 1, 0], causal=False)
    assert [ax.get_title() for ax in fig.axes[:-1]] == ["padding"]


def test_one_mask_with_its_tokens():
    mask = causal_mask(3, 5, start_index=2)[0]  # (T, S): three new tokens after two cached
    fig = plot_mask(mask, ["c", "d", "e"], ["a", "b", "c", "d", "e"], title="with a cache")
    assert_drawn(fig, num_panels=1)
    ax = fig.axes[0]
    assert tick_labels(ax, "y") == ["c", "d", "e"]
    assert tick_labels(ax, "x") == ["a", "b", "c", "d", "e"]
    assert ax.get_title() == "with a cache"
    np.testing.assert_array_equal(ax.images[0].get_array(), np.tril(np.ones((3, 5)), k=2))
    legend = fig.axes[1]
    assert [t.get_text() for t in legend.get_yticklabels()] == ["masked", "may attend"]


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: plot_mask(np.ones((1, 2, 2))), r"`mask` must have shape \(query_length, key_length\). Received: mask.shape=\(1, 2, 2\)"),
        (lambda: plot_mask(np.ones((2, 2)), ["a"]), r"`query_tokens` must hold one token per position \(2\). Received: len\(query_tokens\)=1"),
        (lambda: plot_masks("abc"), "`tokens` must be a list of tokens. Received: tokens='abc'"),
        (lambda: plot_masks([]), r"`tokens` must hold at least one token. Received: tokens=\[\]"),
        (lambda: plot_masks(["a"], padding_mask=[[1]]), r"`padding_mask` must have one entry per token \(1\). Received: padding_mask.shape=\(1, 1\)"),
        (lambda: plot_masks(["a"], causal=False), "Nothing to draw: give a `padding_mask`, or `causal=True`. Received: padding_mask=None, causal=False"),
    ],
)
def test_bad_arguments_raise_value_errors_that_name_them(call, message):
    with pytest.raises(ValueError, match=message):
        call()
