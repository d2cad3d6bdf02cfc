import numpy as np
import pytest

from keras_attn.layers import SinusoidalPositionEncoding
from keras_attn.viz import plot_positional_encoding
from tests.viz.helpers import assert_drawn


def paper_encoding(length, depth, max_wavelength=10000):
    """PE[pos, 2i] = sin(pos / 10000^(2i/d)), PE[pos, 2i+1] = cos(...), section 3.5."""
    pos = np.arange(length)[:, None]
    two_i = (np.arange(depth) // 2 * 2)[None, :]
    angles = pos / max_wavelength ** (two_i / depth)
    return np.where(np.arange(depth) % 2 == 0, np.sin(angles), np.cos(angles))


def test_heatmap_and_curves_show_the_papers_encoding():
    fig = plot_positional_encoding(sequence_length=50, depth=32, features=[0, 1, 10, 11])
    assert_drawn(fig, num_panels=2)
    heatmap, curves = fig.axes[:2]
    table = heatmap.images[0].get_array()
    assert table.shape == (50, 32)
    np.testing.assert_allclose(table, paper_encoding(50, 32), atol=1e-5)
    layer = np.asarray(SinusoidalPositionEncoding()(np.zeros((1, 50, 32), "float32")))[0]
    np.testing.assert_array_equal(table, layer)
    lines = curves.get_lines()
    assert [line.get_label() for line in lines] == [
        "i = 0 (sin)", "i = 1 (cos)", "i = 10 (sin)", "i = 11 (cos)"
    ]
    for line, i in zip(lines, [0, 1, 10, 11]):
        np.testing.assert_array_equal(line.get_xdata(), np.arange(50))
        np.testing.assert_allclose(line.get_ydata(), paper_encoding(50, 32)[:, i], atol=1e-5)
    assert heatmap.get_xlabel() == "feature i" and heatmap.get_ylabel() == "position"


def test_default_curves_and_wavelength():
    fig = plot_positional_encoding(20, 128, max_wavelength=100)
    curves = fig.axes[1]
    assert [line.get_label() for line in curves.get_lines()] == [
        "i = 0 (sin)", "i = 1 (cos)", "i = 32 (sin)", "i = 33 (cos)"
    ]
    np.testing.assert_allclose(fig.axes[0].images[0].get_array(),
                               paper_encoding(20, 128, max_wavelength=100), atol=1e-5)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(sequence_length=0), "`sequence_length` must be a positive integer. Received: sequence_length=0"),
        (dict(depth=8.0), "`depth` must be a positive integer. Received: depth=8.0"),
        (dict(depth=8, features=[]), r"`features` must be feature indices from 0 to depth - 1 = 7. Received: features=\[\]"),
        (dict(depth=8, features=[-1]), r"Received: features=\[-1\]"),
        (dict(max_wavelength=1), "`max_wavelength` must be a number > 1. Received: max_wavelength=1"),
    ],
)
def test_bad_arguments_raise_value_errors_that_name_them(kwargs, message):
    with pytest.raises(ValueError, match=message):
        plot_positional_encoding(**kwargs)
