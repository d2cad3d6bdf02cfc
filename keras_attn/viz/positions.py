"""A picture of the sinusoidal position encoding."""

import numpy as np

from keras_attn.layers.sinusoidal_position_encoding import SinusoidalPositionEncoding
from keras_attn.checks import check_positive_int
from keras_attn.viz.figures import new_figure


def plot_positional_encoding(sequence_length=64, depth=128, *, features=None,
                             max_wavelength=10000):
    """Draws the sinusoidal encoding `PE[pos, i]` as a heatmap and as curves.

    The encoding is computed by `keras_attn.layers.SinusoidalPositionEncoding`.
    Left: the whole `(sequence_length, depth)` table, one row per position;
    the first features (fast sines and cosines) stripe quickly, the last
    ones hardly change. Right: a few features as curves over the positions,
    a sine and its cosine per pair, each pair slower than the one before.

    Args:
        sequence_length: int, positions to draw.
        depth: int, the model width `d`.
        features: feature indices for the curves. Defaults to the first
            pair `(0, 1)` and the pair starting at `depth // 4`.
        max_wavelength: the encoding's longest wavelength (10000 in the paper).

    Returns:
        A `matplotlib.figure.Figure` with two panels (and a colorbar).

    Example:

    >>> fig = plot_positional_encoding(sequence_length=16, depth=8)
    >>> heatmap, curves = fig.axes[:2]
    >>> heatmap.images[0].get_array().shape          # (positions, depth)
    (16, 8)
    >>> [line.get_label() for line in curves.get_lines()]
    ['i = 0 (sin)', 'i = 1 (cos)', 'i = 2 (sin)', 'i = 3 (cos)']
    >>> plot_positional_encoding(16, 8, features=[8])
    Traceback (most recent call last):
    ...
    ValueError: `features` must be feature indices from 0 to depth - 1 = 7. Received: features=[8]
    """
    check_positive_int("sequence_length", sequence_length)
    check_positive_int("depth", depth)
    if features is None:
        slow = 2 * (depth // 8)  # the pair that starts at depth // 4, even
        features = sorted({0, min(1, depth - 1), slow, min(slow + 1, depth - 1)})
    features = list(features)
    if not features or not all(isinstance(i, (int, np.integer)) and 0 <= i < depth
                                for i in features):
        raise ValueError(
            f"`features` must be feature indices from 0 to depth - 1 = {depth - 1}. "
            f"Received: features={features!r}"
        )
    layer = SinusoidalPositionEncoding(max_wavelength=max_wavelength)
    encoding = np.asarray(layer(np.zeros((1, sequence_length, depth), "float32")))[0]  # (T, d)

    fig = new_figure(11.0, 4.0)
    heatmap, curves = fig.subplots(1, 2, width_ratios=[1.0, 1.3])
    image = heatmap.imshow(encoding, cmap="RdBu", vmin=-1.0, vmax=1.0, aspect="auto",
                           interpolation="nearest")
    heatmap.set_xlabel("feature i")
    heatmap.set_ylabel("position")
    heatmap.set_title("PE[position, i]")
    fig.colorbar(image, ax=heatmap)
    positions = np.arange(sequence_length)
    for i in features:
        kind = "sin" if i % 2 == 0 else "cos"
        curves.plot(positions, encoding[:, i], label=f"i = {i} ({kind})")
    curves.set_xlabel("position")
    curves.set_ylabel("PE[position, i]")
    curves.set_title("a few features")
    curves.legend(fontsize=8, loc="lower left")
    return fig
