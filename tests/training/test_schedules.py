import math

import keras
import numpy as np
import pytest

from keras_attn.training import AdamW
from keras_attn.training import TransformerSchedule
from keras_attn.training import warmup_cosine_decay


def paper_rate(step_num, d_model, warmup):
    """Section 5.3 of "Attention Is All You Need"; `step_num` counts from 1."""
    return d_model**-0.5 * min(step_num**-0.5, step_num * warmup**-1.5)


def nanogpt_rate(step, peak, warmup, total, floor):
    """Linear warmup from 0, cosine decay to `floor` at `total`, then `floor`."""
    if step < warmup:
        return peak * step / warmup
    if step >= total:
        return floor
    ratio = (step - warmup) / (total - warmup)
    return floor + 0.5 * (1 + math.cos(math.pi * ratio)) * (peak - floor)


STEPS = [0, 1, 49, 99, 100, 101, 500, 1049, 1999, 2000, 2500, 10**6]


@pytest.mark.parametrize("hidden_dim, warmup, scale", [(512, 4000, 1.0), (128, 100, 2.0)])
def test_transformer_schedule_follows_the_paper(hidden_dim, warmup, scale):
    schedule = TransformerSchedule(hidden_dim, warmup_steps=warmup, scale=scale)
    steps = STEPS + [warmup - 2, warmup - 1, warmup, 4 * warmup - 1]
    # Keras's step 0 is the first update: the paper's step_num 1.
    expected = [scale * paper_rate(step + 1, hidden_dim, warmup) for step in steps]
    np.testing.assert_allclose([float(schedule(step)) for step in steps], expected, rtol=1e-6)
    assert float(schedule(0)) > 0
    np.testing.assert_allclose(float(schedule(warmup - 1)), scale * (hidden_dim * warmup) ** -0.5,
                               rtol=1e-6)


@pytest.mark.parametrize("peak, warmup, total, floor", [
    (1e-3, 100, 2000, 1e-4),  # the Shakespeare recipe
    (3e-4, 0, 50, 0.0),       # no warmup, decay to 0
    (1e-2, 10, 11, 1e-2),     # a constant after warmup
])
def test_warmup_cosine_decay_follows_the_formula(peak, warmup, total, floor):
    schedule = warmup_cosine_decay(peak, warmup, total, final_learning_rate=floor)
    steps = sorted(set(STEPS + [warmup, total - 1, total]))
    expected = [nanogpt_rate(step, peak, warmup, total, floor) for step in steps]
    np.testing.assert_allclose([float(schedule(step)) for step in steps], expected, rtol=1e-5,
                               atol=1e-10)


def test_schedules_serialize():
    for schedule in (TransformerSchedule(256, warmup_steps=300, scale=0.5),
                     warmup_cosine_decay(1e-3, 100, 2000, final_learning_rate=1e-4)):
        restored = keras.optimizers.schedules.deserialize(
            keras.optimizers.schedules.serialize(schedule))
        assert type(restored) is type(schedule)
        assert restored.get_config() == schedule.get_config()
        assert float(restored(1234)) == float(schedule(1234))
    assert TransformerSchedule(256, 300, 0.5).get_config() == {
        "hidden_dim": 256, "warmup_steps": 300, "scale": 0.5}


def test_the_optimizer_reads_the_schedule_at_its_iteration():
    schedule = TransformerSchedule(64, warmup_steps=10)
    optimizer = AdamW(schedule)
    variable = keras.Variable(np.ones(3, "float32"))
    for step in range(3):
        np.testing.assert_allclose(float(optimizer.learning_rate), float(schedule(step)))
        optimizer.apply([np.ones(3, "float32")], [variable])
    assert int(optimizer.iterations) == 3
    config = optimizer.get_config()
    assert config["learning_rate"]["registered_name"] == "keras_attn>TransformerSchedule"
    restored = AdamW.from_config(config)  # a fresh optimizer, at iteration 0
    np.testing.assert_allclose(float(restored.learning_rate), float(schedule(0)))


@pytest.mark.parametrize("call, message", [
    (lambda: TransformerSchedule(0), "`hidden_dim` must be a positive integer. Received: hidden_dim=0"),
    (lambda: TransformerSchedule(64, warmup_steps=1.5),
     "`warmup_steps` must be a positive integer. Received: warmup_steps=1.5"),
    (lambda: TransformerSchedule(64, scale=-1), "`scale` must be a positive number. Received: scale=-1"),
    (lambda: warmup_cosine_decay(0, 1, 2), "`peak_learning_rate` must be a positive number. "
                                           "Received: peak_learning_rate=0"),
    (lambda: warmup_cosine_decay(1e-3, -1, 2), "`warmup_steps` must be an integer >= 0. "
                                               "Received: warmup_steps=-1"),
    (lambda: warmup_cosine_decay(1e-3, 10, 5), "`total_steps` must be greater than `warmup_steps`. "
                                               "Received: total_steps=5, warmup_steps=10"),
    (lambda: warmup_cosine_decay(1e-3, 1, 5, final_learning_rate=1e-2),
     "`final_learning_rate` must not exceed `peak_learning_rate`. "
     "Received: final_learning_rate=0.01, peak_learning_rate=0.001"),
])
def test_bad_arguments(call, message):
    with pytest.raises(ValueError) as error:
        call()
    assert str(error.value) == message
