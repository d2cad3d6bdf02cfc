"""Decoding: turning a trained model's logits into token sequences.

* `sample_next_token`, `filter_logits`: greedy, temperature, top-k, top-p.
* `decode`, `beam_search`: the loops, over any `next_logits` function.
* `GPTGenerator`: cached, compiled generation with a `build_gpt` model.
* `TranslatorGenerator`: cached greedy and beam decoding with a
  `build_transformer` model.
* `greedy_translate`: the translator by full recomputation (the reference).
"""

from keras_attn.generation.decoding import beam_search
from keras_attn.generation.decoding import decode
from keras_attn.generation.gpt_generator import GPTGenerator
from keras_attn.generation.greedy import greedy_translate
from keras_attn.generation.sampling import filter_logits
from keras_attn.generation.sampling import sample_next_token
from keras_attn.generation.translator_generator import TranslatorGenerator

__all__ = [
    "GPTGenerator",
    "TranslatorGenerator",
    "beam_search",
    "decode",
    "filter_logits",
    "greedy_translate",
    "sample_next_token",
]
