"""keras_attn ("AttentionPlease"): attention and Transformer layers for Keras 3.

>>> import keras_attn
>>> gpt = keras_attn.models.build_gpt(keras_attn.models.GPTConfig.preset("baby"))
>>> type(gpt).__name__, type(gpt.transformer_blocks[0]).__name__
('GPT', 'TransformerDecoderBlock')
"""

from keras_attn import data
from keras_attn import generation
from keras_attn import layers
from keras_attn import models
from keras_attn import text
from keras_attn import training

__version__ = "0.2.0"
__all__ = ["data", "generation", "layers", "models", "text", "training", "__version__"]
