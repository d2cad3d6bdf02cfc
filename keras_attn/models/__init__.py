"""Model builders: config dataclasses with presets, `build_gpt()` and `build_transformer()`."""

from keras_attn.models.gpt import GPT_PRESETS
from keras_attn.models.gpt import GPTConfig
from keras_attn.models.gpt import build_gpt
from keras_attn.models.transformer import TRANSFORMER_PRESETS
from keras_attn.models.transformer import TransformerConfig
from keras_attn.models.transformer import build_transformer

__all__ = [
    "GPT_PRESETS",
    "GPTConfig",
    "TRANSFORMER_PRESETS",
    "TransformerConfig",
    "build_gpt",
    "build_transformer",
]
