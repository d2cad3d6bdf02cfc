"""Decoding: turning a trained model's logits into token sequences.

* `sample_next_token`, `filter_logits`: greedy, temperature, top-k, top-p.
* `decode`, `beam_search`: the loops, over any `next_logits` function;
  `with_matrix_kernels` makes a model's `next_logits` fast in them on a CPU.
* `GPTGenerator`: cached, compiled generation with a GPT (any `CausalLM`).
* `TranslatorGenerator`: cached greedy and beam decoding with a `Translator`.
* `settings`: the sampling defaults and the context clamp, for every entry point.
* `reference`: decoding by full recomputation, the reference the cached
  decoders equal (`decode_by_recomputation`, `greedy_translate`).
"""

from keras_attn.generation import settings
from keras_attn.generation.decoding import beam_search
from keras_attn.generation.decoding import decode
from keras_attn.generation.decoding import with_matrix_kernels
from keras_attn.generation.gpt_generator import GPTGenerator
from keras_attn.generation.reference import decode_by_recomputation
from keras_attn.generation.reference import greedy_translate
from keras_attn.generation.sampling import filter_logits
from keras_attn.generation.sampling import sample_next_token
from keras_attn.generation.translator_generator import TranslatorGenerator

__all__ = [
    "GPTGenerator",
    "TranslatorGenerator",
    "beam_search",
    "decode",
    "decode_by_recomputation",
    "filter_logits",
    "greedy_translate",
    "sample_next_token",
    "settings",
    "with_matrix_kernels",
]
