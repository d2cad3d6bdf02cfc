"""Argument checks for the whole package.

Every check raises a `ValueError` that names the argument and the value
received, in Keras's form (`... Received: name=value`). The module imports
nothing from keras_attn, so layers, models, data, training and generation
code all use these same few functions.

>>> check_int("num_layers", 0, minimum=1)
Traceback (most recent call last):
...
ValueError: `num_layers` must be a positive integer. Received: num_layers=0
>>> check_int("number", 1_000_000, minimum=0, maximum=999_999)
Traceback (most recent call last):
...
ValueError: `number` must be an integer from 0 to 999,999. Received: number=1000000
>>> check_number("dropout", 1.0, minimum=0, below=1)
Traceback (most recent call last):
...
ValueError: `dropout` must be a number in [0, 1). Received: dropout=1.0
>>> check_one_of("activation", "tanh", ("relu", "gelu"))
Traceback (most recent call last):
...
ValueError: `activation` must be one of ('relu', 'gelu'). Received: activation='tanh'
"""

import numbers


def is_int(value):
    """Whether `value` is an integer (Python or NumPy), not a bool."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def is_number(value):
    """Whether `value` is a real number (Python or NumPy), not a bool."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def check_int(name, value, minimum=None, maximum=None, allow_none=False):
    """`value` must be an integer in `[minimum, maximum]` (either bound optional)."""
    if allow_none and value is None:
        return
    ok = is_int(value) and (minimum is None or value >= minimum)
    ok = ok and (maximum is None or value <= maximum)
    if ok:
        return
    if maximum is not None:
        kind = f"an integer from {minimum:,} to {maximum:,}"
    elif minimum == 1:
        kind = "a positive integer"
    elif minimum is not None:
        kind = f"an integer >= {minimum}"
    else:
        kind = "an integer"
    if allow_none:
        kind += " or None"
    raise ValueError(f"`{name}` must be {kind}. Received: {name}={value!r}")


def check_positive_int(name, value, allow_none=False):
    """`value` must be an integer >= 1 (or None, with `allow_none`)."""
    check_int(name, value, minimum=1, allow_none=allow_none)


def check_number(name, value, minimum=None, below=None, above=None, maximum=None):
    """`value` must be a real number within the bounds given.

    `minimum`/`maximum` are inclusive, `above`/`below` exclusive; the message
    writes the interval, e.g. `[0, 1)` for `minimum=0, below=1`.
    """
    ok = is_number(value) and value == value  # NaN fails every bound
    ok = ok and (minimum is None or value >= minimum) and (maximum is None or value <= maximum)
    ok = ok and (above is None or value > above) and (below is None or value < below)
    if ok:
        return
    low = f"[{minimum}" if minimum is not None else f"({above}" if above is not None else None
    high = f"{maximum}]" if maximum is not None else f"{below})" if below is not None else None
    if low and high:
        kind = f"a number in {low}, {high}"
    elif above == 0 and high is None:
        kind = "a positive number"
    elif low:
        kind = f"a number >= {minimum}" if minimum is not None else f"a number > {above}"
    elif high:
        kind = f"a number <= {maximum}" if maximum is not None else f"a number < {below}"
    else:
        kind = "a number"
    raise ValueError(f"`{name}` must be {kind}. Received: {name}={value!r}")


def check_bool(name, value):
    if not isinstance(value, bool):
        raise ValueError(f"`{name}` must be True or False. Received: {name}={value!r}")


def check_one_of(name, value, choices):
    if value not in choices:
        raise ValueError(f"`{name}` must be one of {tuple(choices)}. Received: {name}={value!r}")


def check_num_key_value_heads(num_key_value_heads, num_heads):
    """Grouped-query attention: None, or a positive integer that divides `num_heads`."""
    check_positive_int("num_key_value_heads", num_key_value_heads, allow_none=True)
    if num_key_value_heads is not None and num_heads % num_key_value_heads:
        raise ValueError(
            "`num_key_value_heads` must divide `num_heads`. Received: "
            f"num_key_value_heads={num_key_value_heads}, num_heads={num_heads}"
        )


def check_id_matrix(name, ids):
    """`ids` as an int32 NumPy array of shape `(batch, length)`, or a ValueError."""
    import numpy as np  # here: the other checks need no NumPy

    ids = np.asarray(ids, "int32")
    if ids.ndim != 2:
        raise ValueError(
            f"`{name}` must have shape (batch, length). Received: {name}.shape={ids.shape}"
        )
    return ids
