"""The sampling settings' defaults, and the one rule that fits new tokens in the context.

Every user-facing entry point takes its defaults from here: the
`keras-attn generate` command, `export_generator` (the settings of
`serving_default`, which the SavedModel also returns from its `settings`
signature) and, through the SavedModel, the demo server. The Python API,
`GPTGenerator.generate`, decodes greedily unless given a temperature, so
that a call without settings has one right answer (what tests and the
tutorials check).

| setting | default | meaning | out of range |
|---|---|---|---|
| `max_new_tokens` | 200 | tokens to add | `<= 0`: none; above `context - 1`: `context - 1` |
| `temperature` | 0.8 | divides the logits; `0` is greedy (argmax) | negative, NaN or infinite: an error |
| `top_k` | 40 | keep the `k` likeliest tokens | `<= 0` or `>= V`: no limit |
| `top_p` | 1.0 | keep the smallest set reaching `p` | outside `(0, 1]`: an error |
| `seed` | 0 | the same seed, the same tokens | any int32 |

>>> DEFAULTS
{'max_new_tokens': 200, 'temperature': 0.8, 'top_k': 40, 'top_p': 1.0, 'seed': 0}
"""

import tensorflow as tf

DEFAULTS = dict(max_new_tokens=200, temperature=0.8, top_k=40, top_p=1.0, seed=0)


def clamp_new_tokens(max_new_tokens, context_length):
    """`max_new_tokens` within `[0, context_length - 1]`: the prompt keeps at least one token.

    Works on Python ints (returns an int) and on tensors (returns a tensor),
    so the Python API and the exported graph clamp alike.

    >>> clamp_new_tokens(500, 256), clamp_new_tokens(-3, 256)
    (255, 0)
    >>> int(clamp_new_tokens(tf.constant(500), 256))
    255
    """
    clamped = tf.clip_by_value(max_new_tokens, 0, context_length - 1)
    return int(clamped) if isinstance(max_new_tokens, int) else clamped
