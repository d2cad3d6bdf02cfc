"""Attention heatmaps: one head, or every head of a layer side by side."""

import math

import numpy as np

from keras_attn.viz.figures import as_array
from keras_attn.checks import check_positive_int
from keras_attn.viz.figures import labels
from keras_attn.viz.figures import new_figure
from keras_attn.viz.figures import set_token_ticks


def _draw(ax, weights, query_labels, key_labels, vmax, cmap, annotate):
    """One heatmap: row `t` is query `t`, column `s` is key `s`."""
    image = ax.imshow(weights, cmap=cmap, vmin=0.0, vmax=vmax, aspect="auto",
                      interpolation="nearest")
    set_token_ticks(ax, query_labels, key_labels)
    if annotate:
        for (t, s), weight in np.ndenumerate(weights):
            color = "black" if weight > 0.6 * vmax else "white"
            ax.text(s, t, f"{weight:.2f}", ha="center", va="center", fontsize=7, color=color)
    return image


def plot_attention(weights, query_tokens=None, key_tokens=None, *, title=None,
                   xlabel="key", ylabel="query", annotate=False, cmap="viridis"):
    """Heatmap of one head's attention weights, with the tokens on both axes.

    Row `t` shows how query token `t` spreads its attention over the key
    tokens (each row of softmax weights sums to 1), so for self-attention
    the same tokens label both axes, and for cross-attention the decoder's
    tokens are the rows and the encoder's the columns. The color scale runs
    from 0 to the largest weight.

    Args:
        weights: `(T, S)` array, e.g. `scores["decoder_block_0/cross_attention"][0, head]`
            from `attention_scores`.
        query_tokens: `T` labels for the rows (queries); positions if None.
        key_tokens: `S` labels for the columns (keys). Defaults to
            `query_tokens` when `S == T` (self-attention), else positions.
        title: the figure's title.
        xlabel: label of the key axis.
        ylabel: label of the query axis.
        annotate: write each weight in its cell (for small maps).
        cmap: a matplotlib colormap name.

    Returns:
        A `matplotlib.figure.Figure` with one heatmap and a colorbar.

    Example:

    >>> import numpy as np
    >>> from keras_attn.layers import scaled_dot_product_attention
    >>> x = np.random.default_rng(0).normal(size=(1, 3, 4)).astype("float32")
    >>> _, weights = scaled_dot_product_attention(x, x, x, return_attention_weights=True)
    >>> fig = plot_attention(weights[0], ["the", "cat", "sat"], title="self-attention")
    >>> [label.get_text() for label in fig.axes[0].get_yticklabels()]
    ['the', 'cat', 'sat']
    >>> plot_attention(np.ones((2, 2, 2)))
    Traceback (most recent call last):
    ...
    ValueError: `weights` must have shape (query_length, key_length). Received: weights.shape=(2, 2, 2)
    """
    weights = as_array("weights", weights, (2,), "(query_length, key_length)")
    query_length, key_length = weights.shape
    query_labels = labels("query_tokens", query_tokens, query_length)
    if key_tokens is None and query_tokens is not None and key_length == query_length:
        key_tokens = query_tokens  # self-attention
    key_labels = labels("key_tokens", key_tokens, key_length)
    vmax = max(float(weights.max()), 1e-6)

    width = min(2.0 + 0.3 * key_length, 14.0)
    height = min(1.5 + 0.3 * query_length, 14.0)
    fig = new_figure(width, height)
    ax = fig.add_subplot()
    image = _draw(ax, weights, query_labels, key_labels, vmax, cmap, annotate)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    fig.colorbar(image, ax=ax, label="attention weight")
    if title:
        ax.set_title(title)
    return fig


def plot_attention_heads(weights, query_tokens=None, key_tokens=None, *, title=None,
                         columns=4, xlabel="key", ylabel="query", cmap="viridis"):
    """A grid of heatmaps, one per head of one attention layer.

    Each panel is what `plot_attention` draws for one head, titled
    `head i`; all panels share one color scale (0 to the largest weight of
    any head) and one colorbar, so the heads can be compared.

    Args:
        weights: `(num_heads, T, S)` array, e.g. `scores[name][0]` for the
            first example of `attention_scores`.
        query_tokens: `T` labels for the rows; positions if None.
        key_tokens: `S` labels for the columns. Defaults to `query_tokens`
            when `S == T`, else positions.
        title: the figure's title.
        columns: int, panels per row.
        xlabel: label of the key axis (bottom row).
        ylabel: label of the query axis (left column).
        cmap: a matplotlib colormap name.

    Returns:
        A `matplotlib.figure.Figure` with `num_heads` heatmaps and a colorbar.

    Example:

    >>> import numpy as np
    >>> from keras_attn.layers import MultiHeadAttention
    >>> x = np.random.default_rng(0).normal(size=(1, 4, 8)).astype("float32")
    >>> _, scores = MultiHeadAttention(num_heads=2, key_dim=4)(
    ...     x, x, use_causal_mask=True, return_attention_scores=True)   # (B, H, T, S)
    >>> fig = plot_attention_heads(scores[0], ["a", "b", "c", "d"])
    >>> [ax.get_title() for ax in fig.axes[:2]]
    ['head 0', 'head 1']
    >>> plot_attention_heads(scores[0], columns=0)
    Traceback (most recent call last):
    ...
    ValueError: `columns` must be a positive integer. Received: columns=0
    """
    weights = as_array("weights", weights, (3,), "(num_heads, query_length, key_length)")
    check_positive_int("columns", columns)
    num_heads, query_length, key_length = weights.shape
    query_labels = labels("query_tokens", query_tokens, query_length)
    if key_tokens is None and query_tokens is not None and key_length == query_length:
        key_tokens = query_tokens
    key_labels = labels("key_tokens", key_tokens, key_length)
    vmax = max(float(weights.max()), 1e-6)

    columns = min(columns, num_heads)
    rows = math.ceil(num_heads / columns)
    panel_width = min(1.0 + 0.22 * key_length, 5.5)
    panel_height = min(0.8 + 0.22 * query_length, 5.5)
    fig = new_figure(panel_width * columns + 1.0, panel_height * rows + 0.5)
    axes = fig.subplots(rows, columns, squeeze=False).flat
    for ax in axes[num_heads:]:
        ax.remove()  # the empty slots of the last row
    for head, ax in enumerate(axes[:num_heads]):
        image = _draw(ax, weights[head], query_labels, key_labels, vmax, cmap, annotate=False)
        ax.set_title(f"head {head}", fontsize=9)
        if head % columns == 0:
            ax.set_ylabel(ylabel)
        if head >= num_heads - columns:
            ax.set_xlabel(xlabel)
    fig.colorbar(image, ax=list(axes[:num_heads]), label="attention weight", shrink=0.8)
    if title:
        fig.suptitle(title)
    return fig
