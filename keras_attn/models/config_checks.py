"""The checks that `GPTConfig` and `TransformerConfig` share.

Each raises a `ValueError` that names the field and the value received:

>>> check_positive_int("num_layers", 0)
Traceback (most recent call last):
...
ValueError: `num_layers` must be a positive integer. Received: num_layers=0
"""

from keras_attn.layers.feed_forward import ACTIVATIONS


def check_positive_int(name, value):
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        raise ValueError(f"`{name}` must be a positive integer. Received: {name}={value!r}")


def check_model_fields(config):
    """Checks the fields every model config has; see `GPTConfig` for their meaning."""
    for name in (
        "vocabulary_size",
        "max_sequence_length",
        "num_layers",
        "num_heads",
        "hidden_dim",
        "intermediate_dim",
    ):
        check_positive_int(name, getattr(config, name))
    if config.hidden_dim % config.num_heads:
        raise ValueError(
            "`hidden_dim` must be divisible by `num_heads`. Received: "
            f"hidden_dim={config.hidden_dim}, num_heads={config.num_heads}"
        )
    kv_heads = config.num_key_value_heads
    if kv_heads is not None:
        check_positive_int("num_key_value_heads", kv_heads)
        if config.num_heads % kv_heads:
            raise ValueError(
                "`num_key_value_heads` must divide `num_heads`. Received: "
                f"num_key_value_heads={kv_heads}, num_heads={config.num_heads}"
            )
    dropout = config.dropout
    if not isinstance(dropout, (int, float)) or isinstance(dropout, bool) or not 0 <= dropout < 1:
        raise ValueError(f"`dropout` must be a number in [0, 1). Received: dropout={dropout!r}")
    if config.activation not in ACTIVATIONS:
        raise ValueError(
            f"`activation` must be one of {ACTIVATIONS}. "
            f"Received: activation={config.activation!r}"
        )
    epsilon = config.layer_norm_epsilon
    if not isinstance(epsilon, (int, float)) or isinstance(epsilon, bool) or epsilon <= 0:
        raise ValueError(
            "`layer_norm_epsilon` must be a positive number. "
            f"Received: layer_norm_epsilon={epsilon!r}"
        )
    for name in ("normalize_first", "tie_embeddings"):
        if not isinstance(getattr(config, name), bool):
            raise ValueError(
                f"`{name}` must be True or False. Received: {name}={getattr(config, name)!r}"
            )


def config_from_preset(config_class, presets, name, overrides):
    """`config_class(**presets[name], **overrides)`, or a ValueError listing the presets."""
    if name not in presets:
        raise ValueError(
            f"Unknown {config_class.__name__} preset. Expected one of "
            f"{tuple(presets)}. Received: name={name!r}"
        )
    return config_class(**{**presets[name], **overrides})
