"""Learning-rate schedules: the paper's warmup, and linear warmup then cosine decay.

Both take the optimizer's `iterations` (the number of updates already
applied) as `step`, as every Keras schedule does.
"""

import keras
from keras import ops

from keras_attn.checks import check_int
from keras_attn.checks import check_number
from keras_attn.checks import check_positive_int


@keras.saving.register_keras_serializable(package="keras_attn")
class TransformerSchedule(keras.optimizers.schedules.LearningRateSchedule):
    """The warmup schedule of "Attention Is All You Need" (section 5.3).

    ```
    lrate = scale * hidden_dim^-0.5 * min(n^-0.5, n * warmup_steps^-1.5),   n = step + 1
    ```

    The rate rises linearly for `warmup_steps` updates, peaks at
    `scale * (hidden_dim * warmup_steps)^-0.5`, then decays as `n^-0.5`.
    The paper's `step_num` counts from 1, so the update that Keras numbers
    `step` (from 0) gets `step_num = step + 1`: the first update has a
    small positive rate rather than 0 (and no `0^-0.5`).

    The paper pairs it with Adam(beta_1=0.9, beta_2=0.98, epsilon=1e-9),
    d_model 512 and 4000 warmup steps.

    Args:
        hidden_dim: int, the model width (`d_model`).
        warmup_steps: int, updates before the peak.
        scale: float, a factor on the whole schedule.

    Example:

    >>> schedule = TransformerSchedule(hidden_dim=512, warmup_steps=4000)
    >>> peak = 512**-0.5 * 4000**-0.5
    >>> round(float(schedule(3999)) / peak, 6)        # n = 4000: the peak
    1.0
    >>> round(float(schedule(15999)) / peak, 6)       # 4x later: half the peak
    0.5
    >>> TransformerSchedule(hidden_dim=512, warmup_steps=0)
    Traceback (most recent call last):
    ...
    ValueError: `warmup_steps` must be a positive integer. Received: warmup_steps=0
    """

    def __init__(self, hidden_dim, warmup_steps=4000, scale=1.0):
        check_positive_int("hidden_dim", hidden_dim)
        check_positive_int("warmup_steps", warmup_steps)
        check_number("scale", scale, above=0)
        super().__init__()
        self.hidden_dim = hidden_dim
        self.warmup_steps = warmup_steps
        self.scale = scale

    def __call__(self, step):
        n = ops.cast(step, "float32") + 1.0
        rate = ops.minimum(ops.rsqrt(n), n * self.warmup_steps**-1.5)
        return self.scale * self.hidden_dim**-0.5 * rate

    def get_config(self):
        return {
            "hidden_dim": self.hidden_dim,
            "warmup_steps": self.warmup_steps,
            "scale": self.scale,
        }


def warmup_cosine_decay(
    peak_learning_rate, warmup_steps, total_steps, final_learning_rate=0.0
):
    """Linear warmup from 0, then cosine decay to a floor, as in nanoGPT.

    ```
    step < warmup_steps:            peak * step / warmup_steps
    warmup_steps <= step < total:   final + (peak - final) * (1 + cos(pi * r)) / 2,
                                    r = (step - warmup_steps) / (total_steps - warmup_steps)
    step >= total_steps:            final
    ```

    This is `keras.optimizers.schedules.CosineDecay` with `warmup_target`
    and `warmup_steps`, set up from the figures one thinks in; it is
    returned as is, so it saves and loads as a Keras schedule.

    Args:
        peak_learning_rate: float, the rate at the end of warmup.
        warmup_steps: int >= 0, updates of linear warmup (0: none).
        total_steps: int, the update at which the decay reaches
            `final_learning_rate`; warmup included.
        final_learning_rate: float in `[0, peak_learning_rate]`, the floor.

    Returns:
        A `keras.optimizers.schedules.CosineDecay`.

    Example: the Shakespeare recipe (warmup 100, cosine from 1e-3 to 1e-4
    over 2000 steps).

    >>> schedule = warmup_cosine_decay(1e-3, 100, 2000, final_learning_rate=1e-4)
    >>> [round(float(schedule(step)), 7) for step in (0, 50, 100, 1050, 2000, 5000)]
    [0.0, 0.0005, 0.001, 0.00055, 0.0001, 0.0001]
    >>> warmup_cosine_decay(1e-3, 100, 100)
    Traceback (most recent call last):
    ...
    ValueError: `total_steps` must be greater than `warmup_steps`. Received: total_steps=100, warmup_steps=100
    """
    check_number("peak_learning_rate", peak_learning_rate, above=0)
    check_int("warmup_steps", warmup_steps, minimum=0)
    check_positive_int("total_steps", total_steps)
    check_number("final_learning_rate", final_learning_rate, minimum=0)
    if total_steps <= warmup_steps:
        raise ValueError(
            "`total_steps` must be greater than `warmup_steps`. "
            f"Received: total_steps={total_steps}, warmup_steps={warmup_steps}"
        )
    if final_learning_rate > peak_learning_rate:
        raise ValueError(
            "`final_learning_rate` must not exceed `peak_learning_rate`. Received: "
            f"final_learning_rate={final_learning_rate}, peak_learning_rate={peak_learning_rate}"
        )
    return keras.optimizers.schedules.CosineDecay(
        initial_learning_rate=0.0,
        decay_steps=total_steps - warmup_steps,
        alpha=final_learning_rate / peak_learning_rate,  # the floor, as a fraction of the peak
        warmup_target=peak_learning_rate,
        warmup_steps=warmup_steps,
        name="warmup_cosine_decay",
    )
