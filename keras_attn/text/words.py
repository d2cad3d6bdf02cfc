"""Words in generated text, and how many of them are real: a measure of a character model.

A character-level model that has learnt the words of its corpus writes
mostly words that occur in it; one that has not writes "pragive" and
"incemery". `real_word_rate` counts the share of generated words found in a
reference text (the training corpus, say).

A word is a run of letters, with apostrophes inside it ("o'er", "'tis"
counts as "tis", "ne'er-do-well" as three words), lowercased. Letters are
Unicode letters, so accented words count as words.
"""

import re

_WORD = re.compile(r"[^\W\d_]+(?:'[^\W\d_]+)*")


def words(text):
    """The lowercased words of `text`, in order.

    >>> words("O'er the hill, 'tis ROMEO's -- ne'er-do-well 2 x2!")
    ["o'er", 'the', 'hill', 'tis', "romeo's", "ne'er", 'do', 'well', 'x']
    """
    return [w.lower() for w in _WORD.findall(text)]


def real_word_rate(texts, reference):
    """The share of the words of `texts` that occur in `reference`.

    Args:
        texts: a string or a list of strings (e.g. generated samples).
        reference: the reference text (a string), or a set of lowercased
            words (`set(words(corpus))`, to reuse it).

    Returns:
        `(rate, num_words)`: a float in `[0, 1]` (0 when there are no words)
        and the number of words counted.

    >>> real_word_rate(["To be or nto to be"], "to be, or not to be")
    (0.8333333333333334, 6)
    >>> real_word_rate("", "anything")
    (0.0, 0)
    """
    if isinstance(texts, str):
        texts = [texts]
    known = reference if isinstance(reference, (set, frozenset)) else set(words(reference))
    found = [w for text in texts for w in words(text)]
    if not found:
        return 0.0, 0
    return sum(w in known for w in found) / len(found), len(found)
