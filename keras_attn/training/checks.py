"""Argument checks shared by the losses, metrics, schedules and optimizer.

Each raises a `ValueError` that names the argument and the value received:

>>> check_pad_id(1.5)
Traceback (most recent call last):
...
ValueError: `pad_id` must be an integer or None. Received: pad_id=1.5
>>> check_positive_number("learning_rate", 0)
Traceback (most recent call last):
...
ValueError: `learning_rate` must be a positive number. Received: learning_rate=0
"""

import numbers


def _is_number(value):
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def check_pad_id(pad_id):
    if pad_id is not None and (not isinstance(pad_id, numbers.Integral) or isinstance(pad_id, bool)):
        raise ValueError(f"`pad_id` must be an integer or None. Received: pad_id={pad_id!r}")


def check_unit_interval(name, value):
    """`value` must be a number in `[0, 1)`."""
    if not _is_number(value) or not 0 <= value < 1:
        raise ValueError(f"`{name}` must be in [0, 1). Received: {name}={value!r}")


def check_positive_number(name, value):
    if not _is_number(value) or value <= 0:
        raise ValueError(f"`{name}` must be a positive number. Received: {name}={value!r}")


def check_non_negative_number(name, value):
    if not _is_number(value) or value < 0:
        raise ValueError(f"`{name}` must be a number >= 0. Received: {name}={value!r}")


def check_non_negative_int(name, value):
    if not isinstance(value, numbers.Integral) or isinstance(value, bool) or value < 0:
        raise ValueError(f"`{name}` must be an integer >= 0. Received: {name}={value!r}")
