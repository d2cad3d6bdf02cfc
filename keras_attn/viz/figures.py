"""Figures drawn off screen with Agg, turned into images, and the checks they share.

Every plot in `keras_attn.viz` returns a `matplotlib.figure.Figure` attached
to an Agg canvas. It is made with the object-oriented API, not `pyplot`, so
the library never touches the global backend or the list of open figures:
a script saves it with `fig.savefig(path)`, a notebook shows it inline when
it is a cell's last expression, and nothing has to be closed.
"""


import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure


COLORBAR_LABEL = "<colorbar>"  # the label matplotlib gives a colorbar's axes


def new_figure(width, height):
    """A constrained-layout `Figure` of `width` x `height` inches on an Agg canvas."""
    figure = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def figure_to_image(figure):
    """Renders a figure to an RGBA image: a `(height, width, 4)` uint8 array.

    This is what `AttentionMapsCallback` writes to TensorBoard, and what the
    tests inspect.

    Args:
        figure: a `matplotlib.figure.Figure`, e.g. from `plot_attention`.

    Returns:
        A `(height, width, 4)` uint8 NumPy array, `height` and `width` in
        pixels (`figsize * dpi`).

    Example:

    >>> from keras_attn.viz import plot_attention
    >>> fig = plot_attention([[1.0, 0.0], [0.5, 0.5]], ["a", "b"])
    >>> image = figure_to_image(fig)
    >>> image.dtype, image.shape[-1]
    (dtype('uint8'), 4)
    >>> figure_to_image("fig")
    Traceback (most recent call last):
    ...
    ValueError: `figure` must be a matplotlib Figure. Received: figure='fig'
    """
    if not isinstance(figure, Figure):
        raise ValueError(f"`figure` must be a matplotlib Figure. Received: figure={figure!r}")
    if not isinstance(figure.canvas, FigureCanvasAgg):
        FigureCanvasAgg(figure)
    figure.canvas.draw()
    return np.array(figure.canvas.buffer_rgba())  # a copy: the buffer is reused


def panels(figure):
    """The axes of `figure` that hold a plot, without colorbars.

    Example:

    >>> from keras_attn.viz import plot_attention
    >>> fig = plot_attention([[1.0, 0.0], [0.5, 0.5]])
    >>> len(fig.axes), len(panels(fig))     # the colorbar is an axes too
    (2, 1)
    """
    return [ax for ax in figure.axes if ax.get_label() != COLORBAR_LABEL]


def as_array(name, value, ranks, shape_text):
    """`value` as a float NumPy array of one of `ranks`, or a ValueError naming it."""
    try:
        array = np.asarray(value, dtype="float32")
    except (TypeError, ValueError):
        raise ValueError(
            f"`{name}` must be an array of shape {shape_text}. Received: {name}={value!r}"
        ) from None
    if array.ndim not in ranks:
        raise ValueError(
            f"`{name}` must have shape {shape_text}. Received: {name}.shape={array.shape}"
        )
    if array.size == 0:
        raise ValueError(
            f"`{name}` must not be empty. Received: {name}.shape={array.shape}"
        )
    return array


def labels(name, tokens, length):
    """The tick labels for `length` rows or columns: `tokens` as strings, or positions."""
    if tokens is None:
        return [str(i) for i in range(length)]
    if isinstance(tokens, str):
        raise ValueError(
            f"`{name}` must be a list of tokens, one per position, not one string. "
            f"Received: {name}={tokens!r}"
        )
    tokens = [str(t) for t in tokens]
    if len(tokens) != length:
        raise ValueError(
            f"`{name}` must hold one token per position ({length}). "
            f"Received: len({name})={len(tokens)}"
        )
    return tokens


def set_token_ticks(ax, query_labels, key_labels):
    """Puts one tick per token: keys along x, queries along y."""
    long = max(len(query_labels), len(key_labels)) > 24
    fontsize = 6 if long else 8
    ax.set_yticks(range(len(query_labels)), labels=query_labels, fontsize=fontsize)
    if long:  # upright columns of characters
        ax.set_xticks(range(len(key_labels)), labels=key_labels, rotation=90, fontsize=fontsize)
    else:  # slanted words, anchored at their tick
        ax.set_xticks(range(len(key_labels)), labels=key_labels, rotation=45, ha="right",
                      rotation_mode="anchor", fontsize=fontsize)
