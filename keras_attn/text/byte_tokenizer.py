r"""Byte-level tokenizer for GPT: keras-hub's `ByteTokenizer`, made exact and graph-safe.

`ByteTokenizer` is `keras_hub.tokenizers.ByteTokenizer` with three changes.

Two defaults that lose text are fixed:

- `lowercase=False`: keras-hub's default, `True`, case-folds the text
  before splitting it, so "ROMEO:" comes back as "romeo:".
- `normalization_form=None`: "NFC", "NFKC", ... rewrite characters
  ("ﬁ" becomes "fi" under NFKC, "é" becomes "e" + U+0301 under NFD).

And two faults of keras-hub 0.32's TensorFlow path (the one `tf.data`,
`tf.function` and SavedModel exports run) are fixed:

- `tokenize` fails ("Can not squeeze dim[1]") on a batch with no bytes at
  all: an empty string, an empty batch, an empty line in a `tf.data` map;
- `detokenize` builds its byte table inside the first `tf.function` that
  calls it, so a second trace (another input signature, another exported
  signature) fails with "... is out of scope and cannot be used here".

The ids are the UTF-8 bytes of the text, 0 to 255, so `vocabulary_size()`
is 256, and `detokenize(tokenize(text)) == text` for every string without
a NUL character: non-ASCII text ("—", "é", ...) is split into its 2 to 4
bytes and joined back. Id 0, the NUL byte, is also keras-hub's padding:
`detokenize` drops it, so "\x00" does not survive. Byte sequences that are
not UTF-8 (a model can sample them) detokenize to U+FFFD, "�".

Graph ops (issue 4, export): `tokenize` runs only core TensorFlow ops
(`tf.strings.bytes_split`, `tf.io.decode_raw`) and `detokenize` only
`tf.gather`, `tf.strings.reduce_join` and `tf.strings.unicode_transcode`.
The tensorflow-text ops of keras-hub's class (`case_fold_utf8`,
`normalize_utf8`) belong to the two options turned off here. The tests check
that every op of the traced graphs is in `tf.raw_ops`, so a SavedModel using
this tokenizer loads with `import tensorflow` alone.

Called eagerly, it runs keras-hub's Python path and returns a NumPy array
for one string and a list of lists for a batch; inside `tf.data` or a
`tf.function` it returns `tf.Tensor` / `tf.RaggedTensor`, with the same ids.
"""

import keras
import keras_hub
import tensorflow as tf
from keras_hub.src.utils.tensor_utils import preprocessing_function

from keras_attn.text.special_tokens import check_sequence_length
from keras_attn.text.special_tokens import pad_and_unbatch

# keras-hub options that this class fixes (its get_config still writes them).
_FIXED = dict(lowercase=False, normalization_form=None, errors="replace", replacement_char=0xFFFD)


@keras.saving.register_keras_serializable(package="keras_attn")
class ByteTokenizer(keras_hub.tokenizers.ByteTokenizer):
    """keras-hub's byte tokenizer, exact, and safe on empty text in graphs.

    See the module docstring for what changes from keras-hub's class.

    Args:
        sequence_length: None (the default) for ragged output, or a positive
            int to pad with 0 (or cut) every row to that many bytes.
        dtype: integer dtype of the ids. Defaults to `"int32"`.

    Shapes: a string gives `(num_bytes,)` ids, a batch of N strings N rows
    of ids, or `(N, sequence_length)` when that is set.

    Example:

    >>> tokenizer = ByteTokenizer()
    >>> ids = tokenizer("ROMEO: Ô—")
    >>> ids.tolist()
    [82, 79, 77, 69, 79, 58, 32, 195, 148, 226, 128, 148]
    >>> tokenizer.detokenize(ids)
    'ROMEO: Ô—'
    >>> tokenizer.vocabulary_size()
    256

    A batch, padded with 0 to a fixed length:

    >>> padded = ByteTokenizer(sequence_length=4)(["hi", "hello"])
    >>> padded.tolist()
    [[104, 105, 0, 0], [104, 101, 108, 108]]
    >>> tokenizer.detokenize(padded)
    ['hi', 'hell']
    """

    def __init__(self, sequence_length=None, dtype="int32", **kwargs):
        check_sequence_length(sequence_length)
        for name, value in _FIXED.items():
            if name in kwargs and kwargs[name] != value:
                raise ValueError(
                    f"keras_attn's ByteTokenizer fixes `{name}={value!r}`. "
                    f"Received: {name}={kwargs[name]!r}"
                )
            kwargs.pop(name, None)
        super().__init__(sequence_length=sequence_length, dtype=dtype, **_FIXED, **kwargs)
        # Build the byte table now, eagerly, rather than inside the first
        # tf.function that detokenizes (where it would be that graph's tensor).
        self._maybe_initialized_tf()

    @preprocessing_function
    def _tokenize_tf(self, inputs):
        unbatched = inputs.shape.rank == 0
        if unbatched:
            inputs = tf.expand_dims(inputs, 0)
        # (N,) strings -> (N, None) one-byte strings -> their values. keras-hub
        # squeezes decode_raw's (num_bytes, 1) output, which is (0, 0) when
        # there are no bytes; a reshape works for every size.
        tokens = tf.ragged.map_flat_values(
            lambda flat: tf.reshape(tf.io.decode_raw(flat, tf.uint8), [-1]),
            tf.strings.bytes_split(inputs),
        )
        tokens = tf.cast(tokens, self.compute_dtype)
        return pad_and_unbatch(tokens, self.sequence_length, unbatched)

    def get_config(self):
        config = super().get_config()
        for name in _FIXED:
            config.pop(name)
        return config
