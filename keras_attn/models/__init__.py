"""Models: config dataclasses with presets, `GPT` and `Translator` (`build_gpt()`,
`build_transformer()`), `CausalLM`, the cached forward pass of any
functional language model, and `from_keras_hub()`, keras-hub's GPT-2 and
Llama backbones as `GPT`s."""

from keras_attn.models.causal_lm import CausalLM
from keras_attn.models.causal_lm import as_causal_lm
from keras_attn.models.gpt import GPT
from keras_attn.models.gpt import GPT_PRESETS
from keras_attn.models.gpt import GPTConfig
from keras_attn.models.gpt import build_gpt
from keras_attn.models.keras_hub import from_keras_hub
from keras_attn.models.transformer import TRANSFORMER_PRESETS
from keras_attn.models.transformer import Translator
from keras_attn.models.transformer import TransformerConfig
from keras_attn.models.transformer import build_transformer

__all__ = [
    "CausalLM",
    "GPT",
    "GPT_PRESETS",
    "GPTConfig",
    "TRANSFORMER_PRESETS",
    "Translator",
    "TransformerConfig",
    "as_causal_lm",
    "build_gpt",
    "build_transformer",
    "from_keras_hub",
]
