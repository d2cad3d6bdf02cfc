"""Looking at rendered figures: pixels, panels, ticks and cell colors."""

import numpy as np

from keras_attn.viz import panels


def render(fig):
    """The figure as drawn by Agg: a `(height, width, 4)` uint8 RGBA array."""
    fig.canvas.draw()
    return np.asarray(fig.canvas.buffer_rgba())


def assert_drawn(fig, num_panels):
    """The figure renders at its size, is not blank, and has `num_panels` plots."""
    image = render(fig)
    width, height = fig.get_size_inches() * fig.dpi
    assert image.shape == (round(height), round(width), 4)
    assert image[..., :3].std() > 0
    assert len(panels(fig)) == num_panels
    return image


def tick_labels(ax, axis):
    ticks = ax.get_xticklabels() if axis == "x" else ax.get_yticklabels()
    return [t.get_text() for t in ticks]


def cell_color(fig, image, ax, row, column):
    """The RGB color (0-1) drawn at the center of heatmap cell `(row, column)`."""
    x, y = ax.transData.transform((column, row))  # display pixels, origin bottom left
    return image[int(round(image.shape[0] - y)), int(round(x)), :3] / 255.0
