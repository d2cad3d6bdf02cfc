r"""Tokenizers for the GPT and the translator, from keras-hub and tensorflow-text.

Which one to use:

| job | tokenizer | ids | graph ops |
|---|---|---|---|
| GPT | `ByteTokenizer()` | 256 UTF-8 bytes | core TF |
| GPT, an id per character | `CharacterTokenizer.from_texts(text)` | corpus characters | core TF |
| translator (default) | `ReversibleWordPieceTokenizer.from_texts(side)` | trained WordPiece | tf-text |
| translator, no tf-text | `CharacterTokenizer.from_texts(side)` | corpus characters | core TF |

For the translator, `ReversibleWordPieceTokenizer` is the default: on the
numbers EN→FR data (2,000 training pairs) it learns 76 tokens per language,
every number word is one token, and a string is 19.8 ids on average in
English and 16.2 in French, against 60.7 and 48.7 characters, with the
same exact round trip (keras-hub's plain WordPiece gets 1,983 of 2,000
English strings wrong: "thirty - four thousand , seven"). Its one cost is
tensorflow-text ops in the graph; `CharacterTokenizer` avoids them.

The copy/reverse task needs no tokenizer: its data are already ids, with the
same padding, start and end ids (0, 1, 2) as the two translator tokenizers,
whose vocabularies start with `RESERVED_TOKENS` ("[PAD]", "[START]",
"[END]", "[UNK]"). Their `detokenize` drops padding, start and end ids.

Every tokenizer here is a `keras_hub.tokenizers.Tokenizer`: `tokenizer(text)`
or `tokenize`, `detokenize`, `vocabulary_size()`, `get_vocabulary()`,
`token_to_id`, `id_to_token`, and for the translator ones `pad_token_id`,
`start_token_id`, `end_token_id` and `unk_token_id`. Each gives the text
back exactly (`detokenize(tokenize(s)) == s`) on the strings its docstring
lists, which include every string of the Shakespeare and numbers data.
Tokenize lists in one call: `tokenizer(list_of_strings)` gives a list of
lists (about 0.1 s for 2,000 strings), while one eager call per string costs
3 to 20 ms of TensorFlow overhead each (minutes for 50,000 strings).
`tokenize_batch` turns a list of strings into one padded id array, and
`save_tokenizer(tokenizer, out_dir)` / `load_tokenizer(out_dir)` keep a
tokenizer, vocabulary included, next to its model (`out_dir/tokenizer.json`).

>>> from keras_attn import text
>>> english = ["seventy-one", "seventy thousand, one hundred"] * 10
>>> tokenizer = text.ReversibleWordPieceTokenizer.from_texts(english)
>>> batch = text.tokenize_batch(tokenizer, english[:2], add_start_end=True)
>>> batch.shape  # [START] seventy ‿ thousand , ‿ one ‿ hundred [END]
(2, 10)
>>> tokenizer.detokenize(batch)
['seventy-one', 'seventy thousand, one hundred']
"""

from keras_attn.text.batching import tokenize_batch
from keras_attn.text.byte_tokenizer import ByteTokenizer
from keras_attn.text.character_tokenizer import CharacterTokenizer
from keras_attn.text.saving import TOKENIZER_FILE
from keras_attn.text.saving import load_tokenizer
from keras_attn.text.saving import save_tokenizer
from keras_attn.text.special_tokens import RESERVED_TOKENS
from keras_attn.text.word_piece_tokenizer import SPACE_MARKER
from keras_attn.text.word_piece_tokenizer import ReversibleWordPieceTokenizer
from keras_attn.text.words import real_word_rate
from keras_attn.text.words import words

__all__ = [
    "real_word_rate",
    "words",
    "ByteTokenizer",
    "CharacterTokenizer",
    "RESERVED_TOKENS",
    "ReversibleWordPieceTokenizer",
    "SPACE_MARKER",
    "TOKENIZER_FILE",
    "load_tokenizer",
    "save_tokenizer",
    "tokenize_batch",
]
