"""Dataset loaders: plain-Python text sources for the demos and tests."""

from keras_attn.data.shakespeare import ShakespeareText
from keras_attn.data.shakespeare import Speech
from keras_attn.data.shakespeare import format_speeches
from keras_attn.data.shakespeare import load_shakespeare
from keras_attn.data.shakespeare import load_speeches
from keras_attn.data.shakespeare import play_titles

__all__ = [
    "ShakespeareText",
    "Speech",
    "format_speeches",
    "load_shakespeare",
    "load_speeches",
    "play_titles",
]
