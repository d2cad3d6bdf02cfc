r"""Character-level tokenizer with a vocabulary built from the corpus.

keras-hub has no character tokenizer with a vocabulary of its own:
`UnicodeCodepointTokenizer` returns code points ("é" is 233, "—" 8212) and
has no padding, start or end tokens, and `PARSeqTokenizer` (OCR) strips
whitespace and accents. `CharacterTokenizer` is a keras-hub `Tokenizer`
built the way `PARSeqTokenizer` is: `tf.strings.unicode_split` into
characters, then a `tf.lookup.StaticHashTable` from character to id.
Both are core TensorFlow ops, so an exported model that uses it needs no
tensorflow-text.
"""

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
from keras_attn.text.special_tokens import pad_and_unbatch


@keras.saving.register_keras_serializable(package="keras_attn")
class CharacterTokenizer(keras_hub.tokenizers.Tokenizer):
    r"""Splits text into Unicode characters and maps them to vocabulary ids.

    The vocabulary is `RESERVED_TOKENS` (`"[PAD]"`, `"[START]"`, `"[END]"`,
    `"[UNK]"`, ids 0 to 3) followed by single characters; `from_texts`
    builds it from a corpus. A character that is not in the vocabulary
    (or bytes that are not UTF-8) becomes `"[UNK]"`, id 3.

    Round trip: `detokenize(tokenize(text)) == text` for every string whose
    characters are all in the vocabulary; nothing is normalised, case
    and whitespace included. `detokenize` drops `[PAD]`, `[START]` and
    `[END]` ids and writes `[UNK]` as the text "[UNK]".

    It runs TensorFlow ops eagerly too (there is no separate Python path),
    so it gives the same ids in eager code, `tf.data` and `tf.function`.
    Eagerly, one string gives a 1-D `tf.Tensor` and a batch a list of
    lists (as keras-hub's tokenizers do); in a graph, a batch gives a
    `tf.RaggedTensor` `(N, None)`, or a `(N, sequence_length)` tensor.

    Args:
        vocabulary: list of tokens, the id of each being its position: the
            four reserved tokens first, then single characters.
        sequence_length: None (ragged output), or a positive int to pad
            every row with `[PAD]` (id 0) or cut it to that many ids.
        dtype: integer dtype of the ids. Defaults to `"int32"`.

    Example:

    >>> tokenizer = CharacterTokenizer.from_texts(["zéro", "deux cent un"])
    >>> tokenizer.get_vocabulary()[4:]
    [' ', 'c', 'd', 'e', 'n', 'o', 'r', 't', 'u', 'x', 'z', 'é']
    >>> ids = tokenizer("un zéro")
    >>> ids.numpy().tolist()
    [12, 8, 4, 14, 15, 10, 9]
    >>> tokenizer.detokenize(ids)
    'un zéro'
    >>> tokenizer.pad_token_id, tokenizer.start_token_id, tokenizer.end_token_id
    (0, 1, 2)

    A batch; unknown characters become `[UNK]` (id 3):

    >>> tokenizer(["deux", "dix!"])
    [[6, 7, 12, 13], [6, 3, 13, 3]]
    >>> tokenizer.detokenize([[1, 6, 7, 12, 13, 2, 0], [6, 3, 13, 3]])
    ['deux', 'd[UNK]x[UNK]']
    """

    def __init__(self, vocabulary, sequence_length=None, dtype="int32", **kwargs):
        vocabulary = check_vocabulary(vocabulary)
        for i, token in enumerate(vocabulary):
            if i >= len(RESERVED_TOKENS) and len(token) != 1:
                raise ValueError(
                    "After the reserved tokens, `vocabulary` must hold single "
                    f"characters. Received: vocabulary[{i}]={token!r}"
                )
        check_sequence_length(sequence_length)
        super().__init__(dtype=dtype, **kwargs)
        if "int" not in self.compute_dtype:
            raise ValueError(
                f"`dtype` must be an integer dtype. Received: dtype={dtype!r}"
            )
        self.vocabulary = vocabulary
        self.sequence_length = sequence_length
        self._token_to_id_map = {token: i for i, token in enumerate(vocabulary)}
        # Built here, eagerly, so that tf.data pipelines can capture them.
        characters = vocabulary[len(RESERVED_TOKENS) :]
        self._char_to_id = tf.lookup.StaticHashTable(
            tf.lookup.KeyValueTensorInitializer(
                keys=tf.constant(characters, tf.string),
                values=tf.range(len(RESERVED_TOKENS), len(vocabulary), dtype=tf.int32),
            ),
            default_value=vocabulary.index(UNK_TOKEN),
        )
        self._id_to_token = tf.constant(vocabulary, tf.string)
        add_special_tokens(self)

    @classmethod
    def from_texts(cls, texts, sequence_length=None, **kwargs):
        """Builds the vocabulary from a corpus and returns the tokenizer.

        The vocabulary is `RESERVED_TOKENS` followed by every distinct
        character of `texts`, in code-point order, so the same corpus always
        gives the same ids.

        Args:
            texts: a string, or a list of strings (e.g. the training side
                of a translation corpus).
            sequence_length: passed to `CharacterTokenizer`.
            **kwargs: passed to `CharacterTokenizer` (e.g. `dtype`, `name`).

        Example:

        >>> CharacterTokenizer.from_texts("ROMEO:\\nO").get_vocabulary()
        ['[PAD]', '[START]', '[END]', '[UNK]', '\\n', ':', 'E', 'M', 'O', 'R']
        """
        texts = check_texts(texts)
        characters = sorted(set().union(*map(set, texts)))
        if not characters:
            raise ValueError(
                "`texts` has no characters to build a vocabulary from. "
                f"Received: texts={texts[:3]!r}"
            )
        return cls(list(RESERVED_TOKENS) + characters, sequence_length, **kwargs)

    def get_vocabulary(self):
        """Returns the vocabulary, a list of tokens whose positions are ids."""
        return list(self.vocabulary)

    def vocabulary_size(self):
        """Returns the number of ids, reserved tokens included."""
        return len(self.vocabulary)

    def id_to_token(self, id):
        """Returns the token of an integer id."""
        if not 0 <= id < len(self.vocabulary):
            raise ValueError(
                f"`id` must be in range [0, {len(self.vocabulary) - 1}]. Received: id={id}"
            )
        return self.vocabulary[id]

    def token_to_id(self, token):
        """Returns the id of a token (a character or a reserved token)."""
        if token not in self._token_to_id_map:
            raise ValueError(
                f"Token {token!r} is not in the vocabulary. Received: token={token!r}"
            )
        return self._token_to_id_map[token]

    @preprocessing_function
    def tokenize(self, inputs):
        """Strings to ids: `()` -> `(T,)`, `(N,)` -> `(N, None)` ragged.

        With `sequence_length` set, the output is dense: `(sequence_length,)`
        or `(N, sequence_length)`, padded with 0.
        """
        if not isinstance(inputs, (tf.Tensor, tf.RaggedTensor)):
            inputs = tf.convert_to_tensor(inputs)
        unbatched = inputs.shape.rank == 0
        if unbatched:
            inputs = inputs[tf.newaxis]
        # Invalid UTF-8 becomes U+FFFD, then [UNK] unless it is in the vocabulary.
        characters = tf.strings.unicode_split(inputs, "UTF-8", errors="replace")
        ids = tf.ragged.map_flat_values(self._char_to_id.lookup, characters)
        ids = tf.cast(ids, self.compute_dtype)
        return pad_and_unbatch(ids, self.sequence_length, unbatched)

    @preprocessing_function
    def detokenize(self, inputs):
        """Ids to strings: `(T,)` -> `()`, `(N, T)` or ragged -> `(N,)`.

        `[PAD]`, `[START]` and `[END]` ids are dropped; `[UNK]` is written
        as "[UNK]".
        """
        inputs, unbatched, _ = convert_to_ragged_batch(inputs)
        inputs = tf.ragged.boolean_mask(inputs, inputs > END_ID)
        tokens = tf.gather(self._id_to_token, inputs)
        outputs = tf.strings.reduce_join(tokens, axis=-1)
        if unbatched:
            outputs = tf.squeeze(outputs, 0)
        return outputs

    def call(self, inputs, training=None):
        return self.tokenize(inputs)

    def get_config(self):
        # The vocabulary is small (one entry per character), so it is kept
        # in the config: serialize_keras_object gives the whole tokenizer.
        config = super().get_config()
        config.update(
            {"vocabulary": self.get_vocabulary(), "sequence_length": self.sequence_length}
        )
        return config
