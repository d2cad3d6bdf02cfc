"""Decoding: turning a trained model's logits into token sequences."""

from keras_attn.generation.greedy import greedy_translate

__all__ = ["greedy_translate"]
