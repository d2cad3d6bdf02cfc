"""What `GPTConfig` and `TransformerConfig` share (field checks, presets), and what the
models built from them share (`ConfigModel`: saving a model as its config).

>>> import dataclasses
>>> @dataclasses.dataclass
... class Config:
...     num_layers: int = 2
>>> config_from_preset(Config, {"small": {"num_layers": 4}}, "large", {})
Traceback (most recent call last):
...
ValueError: `name` must be one of ('small',). Received: name='large'
"""

import dataclasses

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


class ConfigModel:
    """A model built from one config dataclass, `config_class`, and saved as it.

    `GPT` and `Translator` build their layers and graph from the config alone,
    so `get_config` is the config (as a dict) and `from_config` builds the
    model again from it; Keras then loads the weights into it.
    """

    config_class = None

    def _check_config(self, config):
        if not isinstance(config, self.config_class):
            raise TypeError(
                f"`config` must be a {self.config_class.__name__}. Received: config={config!r}"
            )

    def get_config(self):
        return {
            "config": dataclasses.asdict(self.config),
            "name": self.name,
            "trainable": self.trainable,
        }

    @classmethod
    def from_config(cls, config):
        return cls(**{**config, "config": cls.config_class(**config["config"])})
