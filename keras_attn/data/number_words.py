"""English number words as a user types them, made into the dataset's spelling, or refused.

`load_numbers_en_fr` spells 0 ... 999,999 as `num2words` does: lowercase,
"seventy-one", "two hundred and one", "one thousand, nine hundred and
eighty-four". A user types "Seventy One", "two hundred one" or "one
thousand nine hundred eighty four". `normalize_english_number` maps those
to the dataset's spelling, and refuses what is not an English number from
0 to 999,999 ("one million", "banana", "", 10,000 characters), naming the
first word it does not know. It is made of TensorFlow string ops, so an
exported translator runs it inside its graph (`export_translator(...,
preprocess=normalize_english_number)`), and every server gets it.

Rules, in order: lowercase; hyphens, commas and "and" become spaces and
spaces are squeezed; a tens word and a unit word join with a hyphen; "and"
goes back after "hundred" (unless "thousand" follows) and after "thousand"
when a number below 100 follows; a comma after "thousand" when hundreds
follow. The result must then match the grammar of the dataset's spellings
(`GRAMMAR`).
"""

import tensorflow as tf

UNITS = ("one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
TEENS = ("ten", "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen",
         "eighteen", "nineteen")
TENS = ("twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety")
WORDS = ("zero",) + UNITS + TEENS + TENS + ("hundred", "thousand", "and")
MAX_CHARACTERS = 200  # the longest spelling, 999,999's, has 68

_UNIT = "(?:" + "|".join(UNITS) + ")"
_BELOW_100 = f"(?:(?:{'|'.join(TENS)})(?:-{_UNIT})?|{'|'.join(TEENS)}|{_UNIT})"
_BELOW_1000 = f"(?:{_UNIT} hundred(?: and {_BELOW_100})?|{_BELOW_100})"
# Every spelling of 0 ... 999,999 by num2words, and nothing else.
GRAMMAR = (f"zero|{_BELOW_1000}"
           f"|{_BELOW_1000} thousand(?:, {_UNIT} hundred(?: and {_BELOW_100})?| and {_BELOW_100})?")


def normalize_english_number(text):
    """Spells each string of `text` as the numbers dataset does, or refuses it.

    Args:
        text: string tensor `[B]` (or a list of strings).

    Returns:
        `(normalized, error)`, string tensors `[B]`: the dataset's spelling
        and `""`, or `""` and a message saying why the text is refused.

    >>> normalized, error = normalize_english_number(
    ...     ["Seventy One", " two hundred one ", "one thousand nine hundred eighty four",
    ...      "one million", "", "forty forty"])
    >>> [s.decode() for s in normalized.numpy()]   # doctest: +NORMALIZE_WHITESPACE
    ['seventy-one', 'two hundred and one', 'one thousand, nine hundred and eighty-four',
     '', '', '']
    >>> [s.decode() for s in error.numpy()]   # doctest: +NORMALIZE_WHITESPACE
    ['', '', '', 'Not an English number from 0 to 999,999: unknown word "million".',
     'Not an English number from 0 to 999,999: the text is empty.',
     'Not an English number from 0 to 999,999: "forty forty".']
    """
    text = tf.convert_to_tensor(text, tf.string)
    too_long = tf.strings.length(text, unit="UTF8_CHAR") > MAX_CHARACTERS
    text = tf.strings.substr(text, 0, MAX_CHARACTERS)  # what is refused needn't be read whole
    words = tf.strings.lower(text, encoding="utf-8")
    words = tf.strings.regex_replace(words, r"[-,\s]+|\band\b", " ")
    words = tf.strings.strip(tf.strings.regex_replace(words, r" +", " "))
    spelled = tf.strings.regex_replace(
        words, rf"\b({'|'.join(TENS)}) ({'|'.join(UNITS)})\b", r"\1-\2")
    spelled = tf.strings.regex_replace(spelled, r"\bhundred ", "hundred and ")
    spelled = tf.strings.regex_replace(spelled, "hundred and thousand", "hundred thousand")
    spelled = tf.strings.regex_replace(spelled, rf"\bthousand ({_UNIT}) hundred\b",
                                       r"thousand, \1 hundred")
    spelled = tf.strings.regex_replace(spelled, r"\bthousand ([a-z])", r"thousand and \1")
    valid = tf.strings.regex_full_match(spelled, GRAMMAR) & tf.logical_not(too_long)

    # Why a text is refused: too long, empty, an unknown word (the first), or the order.
    tokens = tf.strings.split(words).to_tensor("")  # [B, W], "" after a row's words
    tokens = tf.concat([tokens, tf.fill([tf.shape(tokens)[0], 1], "")], axis=1)  # W >= 1
    unknown = ~tf.reduce_any(tokens[..., tf.newaxis] == tf.constant(WORDS), axis=-1)
    unknown &= tf.not_equal(tokens, "")  # [B, W + 1]
    has_unknown = tf.reduce_any(unknown, axis=1)
    unknown_word = tf.gather(tokens, tf.argmax(tf.cast(unknown, tf.int32), axis=1),
                             batch_dims=1)
    prefix = "Not an English number from 0 to 999,999: "
    reason = tf.where(
        too_long, f"the text is longer than {MAX_CHARACTERS} characters.",
        tf.where(tf.equal(words, ""), "the text is empty.",
                 tf.where(has_unknown,
                          tf.strings.join(['unknown word "', unknown_word, '".']),
                          tf.strings.join(['"', words, '".']))))
    error = tf.where(valid, "", tf.strings.join([prefix, reason]))
    return tf.where(valid, spelled, ""), error
