"""Tiny models and one padded batch that the training tests share."""

import numpy as np

from keras_attn.models import GPTConfig
from keras_attn.models import TransformerConfig

VOCAB = 16
GPT = GPTConfig(vocabulary_size=VOCAB, max_sequence_length=8, num_layers=1, num_heads=2,
                hidden_dim=16)
TRANSLATOR = TransformerConfig(vocabulary_size=VOCAB, max_sequence_length=8, num_layers=1,
                               num_heads=2, hidden_dim=16, dropout=0.0)
# Three target sequences of 3, 6 and 2 tokens, padded with 0 to 6 (7 of 18 are padding).
LABELS = np.array([[5, 6, 7, 0, 0, 0], [3, 9, 9, 4, 2, 8], [11, 2, 0, 0, 0, 0]], "int32")


def translator_batch():
    """Translator inputs for `LABELS`: decoder ids are the labels shifted right
    behind a start id 1, so that both are padded at the same positions."""
    decoder_ids = np.zeros_like(LABELS)
    decoder_ids[:, 0] = 1
    decoder_ids[:, 1:] = LABELS[:, :-1]
    decoder_ids[LABELS == 0] = 0
    encoder_ids = np.array([[4, 5, 0], [6, 7, 8], [9, 0, 0]], "int32")
    return {"encoder_token_ids": encoder_ids, "decoder_token_ids": decoder_ids}


def log_softmax(logits):
    """`log(softmax(logits))` over the last axis, in float64."""
    x = np.asarray(logits, "float64")
    x = x - x.max(-1, keepdims=True)
    return x - np.log(np.exp(x).sum(-1, keepdims=True))
