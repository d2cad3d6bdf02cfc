import matplotlib
import numpy as np
import pytest

from keras_attn.layers import MultiHeadAttention
from keras_attn.layers import scaled_dot_product_attention
from keras_attn.viz import figure_to_image
from keras_attn.viz import plot_attention
from keras_attn.viz import plot_attention_heads
from tests.helpers import random_normal
from tests.viz.helpers import assert_drawn
from tests.viz.helpers import cell_color
from tests.viz.helpers import tick_labels

FRENCH = ["[START]", "soixante", "et", "onze"]  # queries (decoder)
ENGLISH = ["seventy", "-", "one", "[PAD]", "[PAD]"]  # keys (encoder)


def cross_weights():
    """(T, S) = (4, 5) softmax weights of 4 queries over 5 keys, the padding masked."""
    keys_mask = np.array([True, True, True, False, False])[None, None]  # (1, 1, S)
    _, weights = scaled_dot_product_attention(
        random_normal(1, 4, 8), random_normal(1, 5, 8, seed=1), random_normal(1, 5, 8, seed=2),
        mask=keys_mask, return_attention_weights=True,
    )
    return np.asarray(weights[0])


def test_one_head_puts_queries_on_y_keys_on_x_and_draws_the_weights():
    weights = cross_weights()
    fig = plot_attention(weights, FRENCH, ENGLISH, title="cross-attention")
    image = assert_drawn(fig, num_panels=1)
    ax = fig.axes[0]
    assert tick_labels(ax, "y") == FRENCH
    assert tick_labels(ax, "x") == ENGLISH
    assert ax.get_title() == "cross-attention"
    np.testing.assert_array_equal(ax.images[0].get_array(), weights)
    # Every cell has the color of its weight on a 0..max scale.
    colormap = matplotlib.colormaps["viridis"]
    for (t, s), weight in np.ndenumerate(weights):
        expected = colormap(weight / weights.max())[:3]
        np.testing.assert_allclose(cell_color(fig, image, ax, t, s), expected, atol=2 / 255)
    # The padded keys got no weight, so their column is the color of 0.
    np.testing.assert_allclose(cell_color(fig, image, ax, 2, 4), colormap(0.0)[:3], atol=2 / 255)


def test_self_attention_labels_both_axes_with_the_same_tokens():
    tokens = ["The", "cat", "sat"]
    fig = plot_attention(np.full((3, 3), 1 / 3), tokens)
    assert tick_labels(fig.axes[0], "x") == tick_labels(fig.axes[0], "y") == tokens


def test_without_tokens_the_ticks_are_positions_and_annotate_writes_each_weight():
    weights = np.array([[1.0, 0.0], [0.25, 0.75]])
    fig = plot_attention(weights, annotate=True)
    ax = fig.axes[0]
    assert tick_labels(ax, "y") == tick_labels(ax, "x") == ["0", "1"]
    assert [t.get_text() for t in ax.texts] == ["1.00", "0.00", "0.25", "0.75"]


def test_figure_to_image_is_the_rendered_canvas():
    fig = plot_attention(cross_weights(), FRENCH, ENGLISH)
    image = figure_to_image(fig)
    assert image.dtype == np.uint8
    width, height = fig.get_size_inches() * fig.dpi
    assert image.shape == (round(height), round(width), 4)
    # What the canvas holds after that draw (drawing again may move the
    # constrained layout by a pixel, so compare without redrawing).
    np.testing.assert_array_equal(image, np.asarray(fig.canvas.buffer_rgba()))
    assert image[..., :3].std() > 0


def test_heads_grid_has_one_panel_per_head_on_one_color_scale():
    mha = MultiHeadAttention(num_heads=3, key_dim=4)
    x = random_normal(1, 4, 12)
    _, scores = mha(x, x, use_causal_mask=True, return_attention_scores=True)  # (1, 3, 4, 4)
    weights = np.asarray(scores[0])
    tokens = ["To", "be", "or", "not"]
    fig = plot_attention_heads(weights, tokens, columns=2, title="self-attention")
    assert_drawn(fig, num_panels=3)  # a 2 x 2 grid with its empty slot removed
    heads = fig.axes[:3]
    assert [ax.get_title() for ax in heads] == ["head 0", "head 1", "head 2"]
    assert fig.get_suptitle() == "self-attention"
    for head, ax in enumerate(heads):
        assert tick_labels(ax, "y") == tick_labels(ax, "x") == tokens
        np.testing.assert_array_equal(ax.images[0].get_array(), weights[head])
        assert ax.images[0].get_clim() == (0.0, pytest.approx(weights.max()))
        # Causal: nothing above the diagonal.
        assert np.all(np.triu(ax.images[0].get_array(), k=1) == 0)
    assert len(fig.axes) == 4  # the three heads and one shared colorbar


def test_heads_grid_for_cross_attention():
    weights = np.stack([cross_weights()] * 2)  # (H, T, S)
    fig = plot_attention_heads(weights, FRENCH, ENGLISH)
    assert_drawn(fig, num_panels=2)
    for ax in fig.axes[:2]:
        assert tick_labels(ax, "y") == FRENCH
        assert tick_labels(ax, "x") == ENGLISH


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: plot_attention(np.ones(3)), r"`weights` must have shape \(query_length, key_length\). Received: weights.shape=\(3,\)"),
        (lambda: plot_attention("weights"), "`weights` must be an array of shape"),
        (lambda: plot_attention(np.ones((0, 2))), r"`weights` must not be empty. Received: weights.shape=\(0, 2\)"),
        (lambda: plot_attention(np.ones((2, 3)), ["a", "b"], ["x", "y"]), r"`key_tokens` must hold one token per position \(3\). Received: len\(key_tokens\)=2"),
        (lambda: plot_attention(np.ones((2, 2)), "ab"), "`query_tokens` must be a list of tokens, one per position, not one string. Received: query_tokens='ab'"),
        (lambda: plot_attention_heads(np.ones((2, 2))), r"`weights` must have shape \(num_heads, query_length, key_length\). Received: weights.shape=\(2, 2\)"),
        (lambda: plot_attention_heads(np.ones((2, 2, 2)), columns=1.5), "`columns` must be a positive integer. Received: columns=1.5"),
    ],
)
def test_bad_arguments_raise_value_errors_that_name_them(call, message):
    with pytest.raises(ValueError, match=message):
        call()
