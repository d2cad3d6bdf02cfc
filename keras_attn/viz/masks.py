"""Pictures of attention masks: which key each query may attend."""

import numpy as np
from matplotlib.colors import ListedColormap

from keras_attn.layers.masking import causal_mask
from keras_attn.layers.masking import merge_masks
from keras_attn.viz.figures import labels
from keras_attn.viz.figures import new_figure
from keras_attn.viz.figures import set_token_ticks

# Masked cells dark, allowed cells light.
_MASK_COLORS = ListedColormap(["#30304a", "#f4d35e"])


def _as_mask(name, value, shape_text):
    array = np.asarray(value)
    if array.ndim != 2 or array.size == 0:
        raise ValueError(
            f"`{name}` must have shape {shape_text}. Received: {name}.shape={array.shape}"
        )
    return array.astype(bool)


def _draw_mask(ax, mask, query_labels, key_labels, title):
    image = ax.imshow(mask.astype("float32"), cmap=_MASK_COLORS, vmin=0.0, vmax=1.0,
                      aspect="equal", interpolation="nearest")
    set_token_ticks(ax, query_labels, key_labels)
    ax.set_xlabel("key")
    ax.set_ylabel("query")
    if title:
        ax.set_title(title, fontsize=10)
    return image


def _legend(fig, image, axes):
    colorbar = fig.colorbar(image, ax=axes, ticks=[0.25, 0.75], shrink=0.6)
    colorbar.ax.set_yticklabels(["masked", "may attend"])


def plot_mask(mask, query_tokens=None, key_tokens=None, *, title=None):
    """Draws one boolean attention mask: light where query `t` may attend key `s`.

    Masks follow the library's convention: `True` means "may attend".

    Args:
        mask: `(T, S)` boolean array, e.g. `causal_mask(5, 5)[0]`.
        query_tokens: `T` labels for the rows; positions if None.
        key_tokens: `S` labels for the columns. Defaults to `query_tokens`
            when `S == T`, else positions.
        title: the panel's title.

    Returns:
        A `matplotlib.figure.Figure` with one panel and a two-color legend.

    Example:

    >>> from keras_attn.layers import causal_mask
    >>> fig = plot_mask(causal_mask(3, 3)[0], ["I", "am", "here"], title="causal")
    >>> fig.axes[0].images[0].get_array().astype(int).tolist()
    [[1, 0, 0], [1, 1, 0], [1, 1, 1]]
    >>> plot_mask(causal_mask(3, 3))
    Traceback (most recent call last):
    ...
    ValueError: `mask` must have shape (query_length, key_length). Received: mask.shape=(1, 3, 3)
    """
    mask = _as_mask("mask", mask, "(query_length, key_length)")
    query_length, key_length = mask.shape
    query_labels = labels("query_tokens", query_tokens, query_length)
    if key_tokens is None and query_tokens is not None and key_length == query_length:
        key_tokens = query_tokens
    key_labels = labels("key_tokens", key_tokens, key_length)
    fig = new_figure(min(2.5 + 0.3 * key_length, 12.0), min(1.5 + 0.3 * query_length, 12.0))
    ax = fig.add_subplot()
    image = _draw_mask(ax, mask, query_labels, key_labels, title)
    _legend(fig, image, [ax])
    return fig


def plot_masks(tokens, padding_mask=None, causal=True):
    """Shows how a padding mask and the causal mask combine, one panel each.

    The masks are computed with `keras_attn.layers.merge_masks`, exactly as
    the attention layers compute them for a sequence whose padding mask
    (`True` for real tokens) is used for both queries and keys, as the
    Transformer blocks do:

    * "padding": nobody attends a padded key, and a padded query attends
      nothing (its whole row is masked);
    * "causal": query `t` attends keys `0 ... t` only;
    * "padding and causal": the two combined with a logical AND, the mask a
      decoder block uses.

    Args:
        tokens: the `T` tokens of the sequence, padding included.
        padding_mask: optional `(T,)` boolean array, `True` for real tokens.
        causal: whether to show the causal mask.

    Returns:
        A `matplotlib.figure.Figure` with one panel per mask that applies
        (1 to 3), titled as above.

    Example:

    >>> fig = plot_masks(["I", "am", "here", "[PAD]"], padding_mask=[1, 1, 1, 0])
    >>> [ax.get_title() for ax in fig.axes[:3]]
    ['padding', 'causal', 'padding and causal']
    >>> fig.axes[2].images[0].get_array().astype(int).tolist()
    [[1, 0, 0, 0], [1, 1, 0, 0], [1, 1, 1, 0], [0, 0, 0, 0]]
    >>> plot_masks(["a", "b"], padding_mask=[1, 1, 0])
    Traceback (most recent call last):
    ...
    ValueError: `padding_mask` must have one entry per token (2). Received: padding_mask.shape=(3,)
    """
    if isinstance(tokens, str):
        raise ValueError(f"`tokens` must be a list of tokens. Received: tokens={tokens!r}")
    token_labels = [str(t) for t in tokens]
    length = len(token_labels)
    if length == 0:
        raise ValueError("`tokens` must hold at least one token. Received: tokens=[]")
    masks = {}
    if padding_mask is not None:
        padding = np.asarray(padding_mask).astype(bool)
        if padding.shape != (length,):
            raise ValueError(
                f"`padding_mask` must have one entry per token ({length}). "
                f"Received: padding_mask.shape={padding.shape}"
            )
        padding = padding[None]  # (1, T)
        masks["padding"] = merge_masks(length, length, query_mask=padding, key_mask=padding)
    if causal:
        masks["causal"] = causal_mask(length, length)
    if padding_mask is not None and causal:
        masks["padding and causal"] = merge_masks(
            length, length, query_mask=padding, key_mask=padding, use_causal_mask=True
        )
    if not masks:
        raise ValueError(
            "Nothing to draw: give a `padding_mask`, or `causal=True`. "
            f"Received: padding_mask=None, causal={causal!r}"
        )
    size = min(1.2 + 0.3 * length, 6.0)
    fig = new_figure(size * len(masks) + 1.2, size + 0.4)
    axes = fig.subplots(1, len(masks), squeeze=False)[0]
    for ax, (title, mask) in zip(axes, masks.items()):
        # (1, T, T) or (1, T, 1) * (1, 1, T) broadcasts -> (T, T)
        mask = np.broadcast_to(np.asarray(mask)[0], (length, length))
        image = _draw_mask(ax, mask, token_labels, token_labels, title)
    _legend(fig, image, list(axes))
    return fig
