"""keras_attn ("AttentionPlease"): attention and Transformer layers for Keras 3.

>>> import keras_attn
>>> from keras_attn import layers
>>> layers.MultiHeadAttention.__name__
'MultiHeadAttention'
"""

from keras_attn import layers

__version__ = "0.1.0"
__all__ = ["layers", "__version__"]
