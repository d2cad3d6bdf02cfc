"""What `GPTConfig` and `TransformerConfig` share: their common fields' checks and presets.

>>> import dataclasses
>>> @dataclasses.dataclass
... class Config:
...     num_layers: int = 2
>>> config_from_preset(Config, {"small": {"num_layers": 4}}, "large", {})
Traceback (most recent call last):
...
ValueError: `name` must be one of ('small',). Received: name='large'
"""

from keras_attn.checks import check_bool
from keras_attn.checks import check_num_key_value_heads
from keras_attn.checks import check_number
from keras_attn.checks import check_one_of
from keras_attn.checks import check_positive_int
from keras_attn.layers.feed_forward import ACTIVATIONS
from keras_attn.layers.transformer_block import NORMALIZATIONS


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
    check_num_key_value_heads(config.num_key_value_heads, config.num_heads)
    check_number("dropout", config.dropout, minimum=0, below=1)
    check_one_of("activation", config.activation, ACTIVATIONS)
    check_number("layer_norm_epsilon", config.layer_norm_epsilon, above=0)
    for name in ("normalize_first", "tie_embeddings"):
        check_bool(name, getattr(config, name))
    if hasattr(config, "normalization"):
        check_one_of("normalization", config.normalization, NORMALIZATIONS)
        check_bool("use_bias", config.use_bias)
        check_number("rotary_max_wavelength", config.rotary_max_wavelength, above=1)


def config_from_preset(config_class, presets, name, overrides):
    """`config_class(**presets[name], **overrides)`, or a ValueError listing the presets."""
    check_one_of("name", name, tuple(presets))
    return config_class(**{**presets[name], **overrides})
