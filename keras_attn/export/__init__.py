"""SavedModel export: string-in, string-out models served with no keras_attn code.

* `export_generator(model, tokenizer, path)`: a GPT with `generate`,
  `serving_default`, `logits`, `tokenize`, `detokenize`, `prefill` and
  `decode_step` signatures.
* `export_translator(model, tokenizers, path)`: a translator with
  `translate`, `serving_default` and `logits` signatures.
"""

from keras_attn.export.generator import export_generator
from keras_attn.export.translator import export_translator

__all__ = ["export_generator", "export_translator"]
