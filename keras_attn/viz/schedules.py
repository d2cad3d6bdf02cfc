"""Learning-rate schedules as curves over the training steps."""

import keras
import numpy as np

from keras_attn.checks import check_positive_int
from keras_attn.viz.figures import new_figure


def learning_rates(schedule, steps):
    """The rate `schedule(step)` at each of `steps`, as a float64 NumPy array.

    Keras schedules branch with `ops.cond`, so they take one step at a time;
    `vectorized_map` runs them over all steps at once. A plain Python
    function that the map can't trace is called step by step instead.
    """
    steps = np.asarray(steps, "int64")
    try:
        rates = keras.ops.convert_to_numpy(keras.ops.vectorized_map(schedule, steps))
    except (TypeError, ValueError):
        rates = [float(schedule(int(step))) for step in steps]
    return np.broadcast_to(np.asarray(rates, "float64"), steps.shape)


def plot_learning_rate(schedules, total_steps, *, title=None, log_scale=False):
    """Plots one or more learning-rate schedules against the training step.

    Each curve is `schedule(step)` for `step = 0 ... total_steps - 1` (the
    optimizer's `iterations`, as Keras passes it), with its peak marked.

    Args:
        schedules: a `keras.optimizers.schedules.LearningRateSchedule` (such
            as `keras_attn.training.TransformerSchedule` or the schedule
            `warmup_cosine_decay` returns) or any `fn(step) -> rate`; or a
            dict `{label: schedule}` to compare several.
        total_steps: int, how many steps to draw.
        title: the figure's title.
        log_scale: a logarithmic rate axis.

    Returns:
        A `matplotlib.figure.Figure` with one panel, one line per schedule.

    Example:

    >>> from keras_attn.training import TransformerSchedule, warmup_cosine_decay
    >>> fig = plot_learning_rate({
    ...     "paper": TransformerSchedule(hidden_dim=128, warmup_steps=400),
    ...     "cosine": warmup_cosine_decay(1e-3, 100, 2000, 1e-4),
    ... }, total_steps=2000)
    >>> [line.get_label() for line in fig.axes[0].get_lines()]
    ['paper', 'cosine']
    >>> round(float(fig.axes[0].get_lines()[1].get_ydata()[100]), 7)   # the cosine peak
    0.001
    >>> plot_learning_rate(1e-3, 100)
    Traceback (most recent call last):
    ...
    ValueError: `schedules` must be a learning-rate schedule, a function of the step, or a dict of them. Received: schedules=0.001
    """
    named = schedules if isinstance(schedules, dict) else {None: schedules}
    if not named or not all(callable(s) for s in named.values()):
        raise ValueError(
            "`schedules` must be a learning-rate schedule, a function of the step, "
            f"or a dict of them. Received: schedules={schedules!r}"
        )
    check_positive_int("total_steps", total_steps)
    steps = np.arange(total_steps)
    fig = new_figure(7.0, 3.5)
    ax = fig.add_subplot()
    for label, schedule in named.items():
        rates = learning_rates(schedule, steps)
        if label is None:
            label = type(schedule).__name__
        (line,) = ax.plot(steps, rates, label=label)
        peak = int(np.argmax(rates))
        ax.scatter([peak], [rates[peak]], color=line.get_color(), zorder=3)  # not a line
        ax.annotate(f"peak {rates[peak]:.2g} at step {peak}", (peak, rates[peak]),
                    textcoords="offset points", xytext=(6, 4), fontsize=8)
    ax.set_xlabel("step")
    ax.set_ylabel("learning rate")
    if log_scale:
        ax.set_yscale("log")
    ax.legend(fontsize=8)
    if title:
        ax.set_title(title)
    return fig
