"""Export a translator and its two tokenizers as one SavedModel: text in, text out.

Signatures (`B` texts):

| signature | inputs | outputs |
|---|---|---|
| `translate` | `text` string `[B]` | `translation` string `[B]`, `token_ids` int32 `[B, max_length]` (-1 after the end), `error` string `[B]` (`""`, or why `preprocess` refused the text) |
| `serving_default` | `text` string `[B]` | as `translate` |
| `logits` | `encoder_token_ids` int32 `[B, S]`, `decoder_token_ids` int32 `[B, T]` (0 = padding) | `logits` float32 `[B, T, V]` |

Decoding is greedy, or beam search with `num_beams > 1`, fixed when the
model is exported, with the cached, XLA-compiled loop of
`TranslatorGenerator`.

Bad input: an empty text translates to `""`; bytes that are not UTF-8 and
unknown characters become the source tokenizer's `[UNK]`; a text longer
than `max_source_length` tokens keeps its first `max_source_length` tokens
(a translation reads its source from the start); a translation stops at
`max_length` tokens. The output is always valid UTF-8.

With a `ReversibleWordPieceTokenizer` the graph holds tensorflow-text ops:
load it after `import tensorflow_text`. Character tokenizers need only
`import tensorflow`.
"""

import pathlib

import tensorflow as tf

from keras_attn.checks import check_positive_int
from keras_attn.export.generator import write_archive
from keras_attn.generation.translator_generator import TranslatorGenerator
from keras_attn.models.transformer import Translator


class _TranslatorEndpoints:
    """The functions behind the signatures; `export_translator` registers them."""

    def __init__(self, model, source_tokenizer, target_tokenizer, max_source_length, max_length,
                 num_beams, length_penalty, preprocess):
        self.model = model
        self.source_tokenizer = source_tokenizer
        self.target_tokenizer = target_tokenizer
        self.generator = TranslatorGenerator(model)
        self.max_source_length = max_source_length
        self.max_length = max_length
        self.num_beams = num_beams
        self.length_penalty = length_penalty
        self.preprocess = preprocess
        self.start_id = target_tokenizer.start_token_id
        self.end_id = target_tokenizer.end_token_id
        strings = [tf.TensorSpec([None], tf.string)]
        ids = tf.TensorSpec([None, None], tf.int32)
        self.signatures = {
            "translate": (self.translate, strings),
            "serving_default": (self.serving_default, strings),
            "logits": (self.logits, [ids, ids]),
        }

    def translate(self, text):
        error = tf.fill(tf.shape(text), "")
        if self.preprocess is not None:
            text, error = self.preprocess(text)  # refused texts become ""
        ids = tf.cast(self.source_tokenizer.tokenize(text), tf.int32)  # ragged (B, None)
        ids = ids[:, : self.max_source_length]
        # Always max_source_length wide: the compiled loop then compiles once
        # per batch size, not once per source length. Padding is masked.
        source = ids.to_tensor(0, shape=[None, self.max_source_length])  # (B, S)
        tokens, lengths = self.generator.translate_tensors(
            source, self.start_id, self.end_id, self.max_length, self.num_beams,
            self.length_penalty,
        )
        # Drop the start id, and the end id when there is one: (B, max_length).
        new = tokens[:, 1:]
        ended = tf.gather(tokens, lengths - 1, batch_dims=1) == self.end_id
        num_tokens = lengths - 1 - tf.cast(ended & (lengths > 1), tf.int32)
        empty = ids.row_lengths() == 0
        num_tokens = tf.where(empty, 0, num_tokens)
        columns = tf.range(self.max_length)[tf.newaxis]
        new = tf.where(columns < num_tokens[:, tf.newaxis], new, -1)
        ragged = tf.RaggedTensor.from_tensor(new, lengths=num_tokens)
        translation = self.target_tokenizer.detokenize(ragged)
        translation = tf.strings.unicode_transcode(translation, "UTF-8", "UTF-8", errors="replace")
        return {"translation": translation, "token_ids": new, "error": error}

    def serving_default(self, text):
        return self.translate(text)

    def logits(self, encoder_token_ids, decoder_token_ids):
        logits = self.model(
            {"encoder_token_ids": encoder_token_ids, "decoder_token_ids": decoder_token_ids},
            training=False,
        )
        return {"logits": tf.cast(logits, tf.float32)}


def export_translator(model, tokenizers, path, *, max_length=None, max_source_length=None,
                      num_beams=1, length_penalty=1.0, preprocess=None):
    """Writes a translator and its tokenizers as a SavedModel that translates text.

    See the module docstring for the signatures and their behaviour on bad
    input.

    Args:
        model: a `keras_attn.models.Translator` (from `build_transformer`).
        tokenizers: `(source_tokenizer, target_tokenizer)`; the target's
            `start_token_id` and `end_token_id` frame the decoder's output.
        path: the SavedModel directory.
        max_length: the most target tokens. Defaults to the decoder's
            context (`max_sequence_length`) minus one.
        max_source_length: the most source tokens. Defaults to
            `max_sequence_length`.
        num_beams: 1 for greedy decoding, more for beam search.
        length_penalty: beam search's, see `keras_attn.generation.beam_search`.
        preprocess: None, or a function of TensorFlow ops `text [B] -> (text [B],
            error [B])` run on the input first: it rewrites a text the way the
            training data spell it, or refuses it with a message (and `""` as
            text). E.g. `keras_attn.data.normalize_english_number`.

    Returns:
        The path, as a `pathlib.Path`.

    Example:

    >>> import tempfile
    >>> from keras_attn.models import TransformerConfig, build_transformer
    >>> from keras_attn.text import CharacterTokenizer
    >>> tokenizer = CharacterTokenizer.from_texts(["un deux trois", "one two three"])
    >>> model = build_transformer(TransformerConfig.preset(
    ...     "tiny", vocabulary_size=tokenizer.vocabulary_size(), num_layers=1))
    >>> path = export_translator(model, (tokenizer, tokenizer), tempfile.mkdtemp() + "/t",
    ...                          max_length=8)
    >>> served = tf.saved_model.load(str(path))
    >>> out = served.signatures["translate"](text=tf.constant(["one two", ""]))
    >>> out["translation"].shape, out["token_ids"].shape, out["translation"][1].numpy()
    (TensorShape([2]), TensorShape([2, 8]), b'')
    """
    if not isinstance(tokenizers, (tuple, list)) or len(tokenizers) != 2:
        raise ValueError(
            "`tokenizers` must be a pair (source_tokenizer, target_tokenizer). "
            f"Received: tokenizers={tokenizers!r}"
        )
    if not isinstance(model, Translator):
        raise ValueError(
            "`model` must be a keras_attn.models.Translator (from build_transformer). "
            f"Received: model={model!r}"
        )
    context = model.config.max_sequence_length
    max_length = max_length or context - 1
    max_source_length = max_source_length or context
    for name, value in (("max_length", max_length), ("max_source_length", max_source_length),
                        ("num_beams", num_beams)):
        check_positive_int(name, value)
    if max_length + 1 > context:
        raise ValueError(
            f"`max_length` + 1 must be at most the decoder's context ({context}). "
            f"Received: max_length={max_length}"
        )
    if model.config.position_encoding == "learned" and max_source_length > context:
        raise ValueError(
            f"`max_source_length` must be at most the encoder's context ({context}). "
            f"Received: max_source_length={max_source_length}"
        )
    if preprocess is not None and not callable(preprocess):
        raise ValueError(
            "`preprocess` must be a function `text -> (text, error)`. "
            f"Received: preprocess={preprocess!r}"
        )
    endpoints = _TranslatorEndpoints(model, *tokenizers, max_source_length, max_length,
                                     num_beams, float(length_penalty), preprocess)
    path = pathlib.Path(path)
    write_archive(model, tokenizers, endpoints.signatures, path)
    return path
