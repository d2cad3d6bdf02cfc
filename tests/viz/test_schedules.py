import numpy as np
import pytest

from keras_attn.training import TransformerSchedule
from keras_attn.training import warmup_cosine_decay
from keras_attn.viz import plot_learning_rate
from tests.viz.helpers import assert_drawn


def test_each_schedule_is_a_line_of_its_rates_with_its_peak_marked():
    paper = TransformerSchedule(hidden_dim=128, warmup_steps=400)
    cosine = warmup_cosine_decay(1e-3, 100, 1000, 1e-4)
    fig = plot_learning_rate({"paper": paper, "cosine": cosine}, total_steps=1000,
                             title="two schedules")
    assert_drawn(fig, num_panels=1)
    ax = fig.axes[0]
    assert ax.get_title() == "two schedules"
    paper_line, cosine_line = ax.get_lines()
    assert (paper_line.get_label(), cosine_line.get_label()) == ("paper", "cosine")
    steps = np.arange(1000)
    np.testing.assert_array_equal(paper_line.get_xdata(), steps)
    # The paper's formula, n = step + 1: 128^-0.5 * min(n^-0.5, n * 400^-1.5).
    n = steps + 1.0
    np.testing.assert_allclose(paper_line.get_ydata(),
                               128**-0.5 * np.minimum(n**-0.5, n * 400**-1.5), rtol=1e-5)
    for step in (0, 50, 100, 550, 999):  # one call each, as the optimizer makes them
        assert cosine_line.get_ydata()[step] == pytest.approx(float(cosine(step)), rel=1e-5)
    notes = [text.get_text() for text in ax.texts]
    assert notes == ["peak 0.0044 at step 399", "peak 0.001 at step 100"]


def test_a_plain_function_of_the_step():
    fig = plot_learning_rate(lambda step: 1e-3 * 0.99**step, total_steps=50, log_scale=True)
    (line,) = fig.axes[0].get_lines()
    assert line.get_label() == "function"
    np.testing.assert_allclose(line.get_ydata(), 1e-3 * 0.99 ** np.arange(50))
    assert fig.axes[0].get_yscale() == "log"


@pytest.mark.parametrize(
    "schedules, total_steps, message",
    [
        (1e-3, 10, "`schedules` must be a learning-rate schedule, a function of the step, or a dict of them. Received: schedules=0.001"),
        ({}, 10, r"Received: schedules=\{\}"),
        (lambda step: 1.0, 0, "`total_steps` must be a positive integer. Received: total_steps=0"),
    ],
)
def test_bad_arguments_raise_value_errors_that_name_them(schedules, total_steps, message):
    with pytest.raises(ValueError, match=message):
        plot_learning_rate(schedules, total_steps)
