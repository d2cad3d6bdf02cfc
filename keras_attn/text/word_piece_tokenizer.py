r"""WordPiece that gives the text back exactly: keras-hub's tokenizer, spaces kept.

keras-hub's `WordPieceTokenizer` splits text on whitespace (dropped) and
punctuation (kept as tokens), and `detokenize` joins the words with one
space. So it cannot give the text back: with the numbers data,

    "seventy-one"                      -> "seventy - one"
    "five thousand, nine hundred"      -> "five thousand , nine hundred"

(and with its `lowercase=True` / `strip_accents=True` options, "Zéro"
would come back as "zero").

`ReversibleWordPieceTokenizer` keeps everything of keras-hub's tokenizer
(and tensorflow-text's `FastWordpieceTokenizer` under it) and adds one
step on each side, as SentencePiece does with its "▁":

- `tokenize` first writes each space as `SPACE_MARKER`, "‿" (U+203F,
  UNDERTIE). It is Unicode punctuation, so keras-hub splits it off and
  keeps it as a token of its own: "five thousand, nine" becomes
  `five ‿ thousand , ‿ nine`.
- `detokenize` lets keras-hub join the pieces (with spaces between words),
  deletes those spaces, and turns the markers back into spaces.

Lowercasing and accent stripping are off. The round trip
`detokenize(tokenize(text)) == text` is then exact for every string that

1. has no whitespace other than " " (tab, newline, carriage return and
   form feed are dropped, as are control and format characters such as
   U+00AD SOFT HYPHEN and U+200D ZERO WIDTH JOINER);
2. does not contain "‿" itself (it would come back as a space);
3. has only characters in the vocabulary (`from_texts` guarantees this
   for the training corpus); a word with any other character becomes one
   `[UNK]`;
4. has no word (a run between spaces and punctuation) longer than 100
   UTF-8 bytes, which tensorflow-text maps to `[UNK]`.

Every string of the numbers EN→FR dataset and of the user's TSV pairs
(one line each, tabs split the sides) meets 1, 2 and 4.

Graph ops (issue 4): `tokenize` and `detokenize` run tensorflow-text ops
(`RegexSplitWithOffsets`, `FastWordpieceTokenizeWithOffsets`,
`FastWordpieceDetokenize`), so a SavedModel that contains this tokenizer
must `import tensorflow_text` before it is loaded.
"""

import unicodedata

import keras
import keras_hub
import tensorflow as tf
from keras_hub.src.utils.tensor_utils import convert_to_ragged_batch
from keras_hub.src.utils.tensor_utils import preprocessing_function

from keras_attn.text.special_tokens import END_ID
from keras_attn.text.special_tokens import RESERVED_TOKENS
from keras_attn.text.special_tokens import UNK_TOKEN
from keras_attn.text.special_tokens import add_special_tokens
from keras_attn.text.special_tokens import check_sequence_length
from keras_attn.text.special_tokens import check_texts
from keras_attn.text.special_tokens import check_vocabulary

SPACE_MARKER = "\u203f"  # "‿", UNDERTIE: Unicode punctuation (Pc), rare in text
# What keras-hub's pretokenizer drops (RE2's \s, control and format
# characters): these characters need no token.
_DROPPED = frozenset("\t\n\f\r ")
_DROPPED_CATEGORIES = ("Cc", "Cf")
# Options of keras-hub's WordPieceTokenizer that this class fixes.
_FIXED = dict(
    lowercase=False,
    strip_accents=False,
    split=True,
    split_on_cjk=True,
    suffix_indicator="##",
    oov_token=UNK_TOKEN,
    special_tokens=None,
    special_tokens_in_strings=False,
)


def _mark_spaces(inputs):
    """Writes every " " of a string tensor (or Python strings) as SPACE_MARKER."""
    if isinstance(inputs, tf.RaggedTensor):
        return tf.ragged.map_flat_values(tf.strings.regex_replace, inputs, " ", SPACE_MARKER)
    return tf.strings.regex_replace(inputs, " ", SPACE_MARKER)


@keras.saving.register_keras_serializable(package="keras_attn")
class ReversibleWordPieceTokenizer(keras_hub.tokenizers.WordPieceTokenizer):
    """keras-hub's WordPiece tokenizer with spaces kept as "‿" tokens.

    See the module docstring for how it works and exactly which strings
    round-trip. The vocabulary starts with `RESERVED_TOKENS` (`"[PAD]"`,
    `"[START]"`, `"[END]"`, `"[UNK]"`, ids 0 to 3); `from_texts` trains it
    from a corpus with keras-hub's `compute_word_piece_vocabulary`.
    `detokenize` drops `[PAD]`, `[START]` and `[END]` ids and writes
    `[UNK]` as the text "[UNK]".

    It always runs keras-hub's TensorFlow path, eagerly too, so it gives the
    same ids in eager code, `tf.data` and `tf.function`. Shapes are those of
    keras-hub's tokenizers: eagerly, a string gives a 1-D `tf.Tensor` and
    a batch of N strings a list of N lists; in a graph a batch gives a
    `tf.RaggedTensor` `(N, None)`, or `(N, sequence_length)` if that is set.

    Args:
        vocabulary: list of WordPiece tokens (suffix pieces start with
            "##"), the id of each being its position; the reserved tokens
            come first.
        sequence_length: None (ragged output), or a positive int to pad
            every row with `[PAD]` (id 0) or cut it to that many ids.
        dtype: integer dtype of the ids. Defaults to `"int32"`.

    Example:

    >>> english = ["seventy-one", "five thousand, nine hundred", "one"] * 10
    >>> tokenizer = ReversibleWordPieceTokenizer.from_texts(english)
    >>> ids = tokenizer("seventy-five thousand, one")
    >>> [tokenizer.id_to_token(i) for i in ids.numpy()]
    ['seventy', '-', 'five', '‿', 'thousand', ',', '‿', 'one']
    >>> tokenizer.detokenize(ids)
    'seventy-five thousand, one'

    keras-hub's own tokenizer, with the same vocabulary, loses the spacing:

    >>> import keras_hub
    >>> plain = keras_hub.tokenizers.WordPieceTokenizer(tokenizer.get_vocabulary())
    >>> plain.detokenize(plain("seventy-five thousand, one"))
    'seventy - five thousand , one'
    """

    def __init__(self, vocabulary, sequence_length=None, dtype="int32", **kwargs):
        check_sequence_length(sequence_length)
        for name in _FIXED:
            # get_config of the parent class writes these; they are fixed here.
            if name in kwargs and kwargs[name] != _FIXED[name]:
                raise ValueError(
                    f"ReversibleWordPieceTokenizer fixes `{name}={_FIXED[name]!r}`. "
                    f"Received: {name}={kwargs[name]!r}"
                )
            kwargs.pop(name, None)
        add_special_tokens(self)
        super().__init__(
            vocabulary=check_vocabulary(vocabulary),
            sequence_length=sequence_length,
            dtype=dtype,
            # Always the TensorFlow path: one implementation, the one exported.
            _allow_python_workflow=False,
            **_FIXED,
            **kwargs,
        )
        # The vocabulary is in the config (see get_config), not in an asset
        # file: keras-hub reads vocabulary files with `line.rstrip()`, which
        # would cut tokens that end in a no-break space (French "?" spacing).
        self.file_assets = None

    @classmethod
    def from_texts(cls, texts, vocabulary_size=1000, sequence_length=None, **kwargs):
        """Trains a vocabulary on `texts` and returns the tokenizer.

        The spaces are written as "‿" first, and keras-hub's
        `compute_word_piece_vocabulary` (tensorflow-text's BERT vocabulary
        learner) does the rest, with lowercasing and accent stripping off.
        It is deterministic: the same texts give the same vocabulary.

        Args:
            texts: a string, or a list of strings, e.g. one side of the
                training pairs.
            vocabulary_size: the largest vocabulary to learn, reserved tokens
                included. It must leave room for every character of the
                corpus twice (as a word start and as a "##" suffix), so that
                no word of the corpus becomes `[UNK]`.
            sequence_length: passed to `ReversibleWordPieceTokenizer`.
            **kwargs: passed to `ReversibleWordPieceTokenizer`.

        Example:

        >>> tokenizer = ReversibleWordPieceTokenizer.from_texts(
        ...     ["vingt et un", "vingt-deux"] * 10, vocabulary_size=100)
        >>> tokenizer.get_vocabulary()[4:]
        ['-', 'd', 'e', 'g', 'i', 'n', 't', 'u', 'v', 'x', '‿',
         'vingt', 'deux', 'et', 'un',
         '##-', '##d', '##e', '##g', '##i', '##n', '##t', '##u', '##v', '##x', '##‿']

        The learner keeps words that occur often enough (about 10 times);
        the others are spelled with single characters and "##" pieces.
        With too small a `vocabulary_size`, some characters would have no
        token:

        >>> ReversibleWordPieceTokenizer.from_texts(["vingt et un"], vocabulary_size=10)
        Traceback (most recent call last):
        ...
        ValueError: `vocabulary_size` is too small for this corpus: ... Use at least 20. ...
        """
        texts = check_texts(texts)
        if (
            not isinstance(vocabulary_size, int)
            or isinstance(vocabulary_size, bool)
            or vocabulary_size <= len(RESERVED_TOKENS)
        ):
            raise ValueError(
                f"`vocabulary_size` must be an integer > {len(RESERVED_TOKENS)}. "
                f"Received: vocabulary_size={vocabulary_size!r}"
            )
        marked = [text.replace(" ", SPACE_MARKER) for text in texts]
        vocabulary = keras_hub.tokenizers.compute_word_piece_vocabulary(
            tf.data.Dataset.from_tensor_slices(tf.constant(marked, tf.string)).batch(1024),
            vocabulary_size,
            reserved_tokens=list(RESERVED_TOKENS),
            **{k: _FIXED[k] for k in ("lowercase", "strip_accents", "split", "split_on_cjk")},
        )
        characters = {
            c
            for c in set().union(*map(set, marked))
            if c not in _DROPPED and unicodedata.category(c) not in _DROPPED_CATEGORIES
        }
        tokens = set(vocabulary)
        missing = sorted(c for c in characters if c not in tokens or "##" + c not in tokens)
        if missing:
            # compute_word_piece_vocabulary cuts its list at vocabulary_size,
            # and the "##" suffix characters come last.
            raise ValueError(
                f"`vocabulary_size` is too small for this corpus: {len(missing)} of "
                f"its {len(characters)} characters ({''.join(missing[:20])!r}) "
                "would have no token, so words with them would become [UNK]. Use "
                f"at least {len(RESERVED_TOKENS) + 2 * len(characters)}. Received: "
                f"vocabulary_size={vocabulary_size}"
            )
        return cls(vocabulary, sequence_length, **kwargs)

    def tokenize(self, inputs):
        """Strings to ids: `()` -> `(T,)`, `(N,)` -> `(N, None)` ragged.

        With `sequence_length` set, the output is dense: `(sequence_length,)`
        or `(N, sequence_length)`, padded with 0.
        """
        return super().tokenize(_mark_spaces(inputs))

    @preprocessing_function
    def _detokenize_tf(self, inputs):
        # Ids to strings: `(T,)` -> `()`, `(N, T)` or ragged -> `(N,)`.
        inputs, unbatched, _ = convert_to_ragged_batch(inputs)
        inputs = tf.ragged.boolean_mask(inputs, inputs > END_ID)
        # tensorflow-text joins the pieces of a word and puts " " between
        # words; every space of the text is a marker at this point.
        outputs = self._fast_word_piece.detokenize(inputs)
        outputs = tf.strings.regex_replace(outputs, " ", "")
        outputs = tf.strings.regex_replace(outputs, SPACE_MARKER, " ")
        if unbatched:
            outputs = tf.squeeze(outputs, 0)
        return outputs

    def save_assets(self, dir_path):
        pass  # the vocabulary is in the config

    def load_assets(self, dir_path):
        pass

    def get_config(self):
        config = super().get_config()
        for name in _FIXED:
            config.pop(name, None)
        config["vocabulary"] = self.get_vocabulary()
        return config
