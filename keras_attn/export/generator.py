"""Export a GPT and its tokenizer as one SavedModel: text in, text out.

Signatures (all batch-first; `B` prompts, `L` the model's context):

| signature | inputs | outputs |
|---|---|---|
| `generate` | `prompt` string `[B]`, `max_new_tokens` int32 `[]`, `temperature` float32 `[]`, `top_k` int32 `[]`, `top_p` float32 `[]`, `seed` int32 `[]` | `text` string `[B]`, `token_ids` int32 `[B, N]` (-1 after a row's end), `num_tokens` int32 `[B]` |
| `serving_default` | `prompt` string `[B]` | as `generate`, with the export's default settings |
| `logits` | `token_ids` int32 `[B, T]`, `T <= L` | `logits` float32 `[B, T, V]` |
| `tokenize` | `text` string `[B]` | `token_ids` int32 `[B, T]` (-1 padded), `num_tokens` int32 `[B]` |
| `detokenize` | `token_ids` int32 `[B, T]` (-1 ignored) | `text` string `[B]` |
| `prefill` | `prompt` string `[1]`, `max_new_tokens` int32 `[]` | `cache` float32 `[1, layers, 2, kv_heads, L, head_dim]`, `token_ids` int32 `[1, 1]`, `index` int32 `[]` |
| `decode_step` | `cache`, `token_ids` `[1, 1]`, `index` `[]`, `temperature`, `top_k`, `top_p`, `seed` | `cache`, `token_ids` `[1, 1]` (the new token), `index` `[]`, `top_token_ids` int32 `[1, K]`, `top_probabilities` float32 `[1, K]`, `top_tokens` string `[1, K]` |
| `settings` | none | `max_new_tokens`, `temperature`, `top_k`, `top_p`, `seed` (the defaults of `serving_default`), `context_length` (`L`) |

`prefill` and `decode_step` stream one prompt token by token without
recomputing it: `prefill` caches the prompt but its last token, then each
`decode_step` reads the token at `index`, writes its keys and values into
the cache, and returns the next token with the `K` likeliest candidates and
their probabilities (after temperature, top-k and top-p).

Bad input, everywhere (`keras_attn.generation.settings` documents the
sampling settings and their defaults):

* an empty prompt starts from `empty_prompt` (default `"\\n"`), or is the
  start token alone when there is one;
* bytes that are not UTF-8, and characters outside the vocabulary, become
  the tokenizer's unknown token (`[UNK]` for character tokenizers; a byte
  tokenizer, and keras-hub's byte-pair ones, have every byte), and the
  output text is always valid UTF-8;
* a prompt longer than the context is left-truncated: it keeps its last
  `L - max_new_tokens` tokens (after the start token, if any: one fewer),
  so that it and the new tokens fit;
* `max_new_tokens <= 0` generates nothing (`text` is `""`); above `L - 1`
  it is clamped to `L - 1`;
* `temperature == 0` is greedy decoding; `top_k <= 0` is no top-k limit;
* `top_p` outside `(0, 1]`, and a negative, NaN or infinite temperature,
  fail with `InvalidArgumentError` and a message naming the setting;
* token ids outside the vocabulary, given to `logits` or `decode_step`,
  fail with `InvalidArgumentError` naming `token_ids`.

Start and stop tokens: with `start_token_id`, every prompt begins with
that id (keras-hub's GPT-2 and Llama models are trained so, and their
`CausalLM.generate` adds it), and an empty prompt is the start token alone.
A row that ends on one of `stop_token_ids` keeps it in `token_ids`, but
not in `text`.

Tokenizers: keras_attn's `ByteTokenizer`, `CharacterTokenizer` and
`ReversibleWordPieceTokenizer`, and keras-hub's byte-pair (`GPT2Tokenizer`,
any `BytePairTokenizer`) and SentencePiece (`LlamaTokenizer`, any
`SentencePieceTokenizer`) tokenizers. The graph holds only core TensorFlow
ops for the byte and character tokenizers, so `tf.saved_model.load` works
with `import tensorflow` alone; the word-piece, byte-pair and SentencePiece
ones use TensorFlow Text's ops, so load those with `import tensorflow_text`
too. `top_tokens` shows each candidate's text (see `token_texts`).
"""

import pathlib
import re

import keras
import keras_hub
import numpy as np
import tensorflow as tf
from keras_hub.src.tokenizers.byte_pair_tokenizer import bytes_to_unicode

from keras_attn.checks import check_int
from keras_attn.checks import check_number
from keras_attn.checks import check_positive_int
from keras_attn.generation.decoding import matrix_kernels
from keras_attn.generation.decoding import reading_matrices
from keras_attn.generation.gpt_generator import GPTGenerator
from keras_attn.generation.sampling import check_temperature
from keras_attn.generation.sampling import check_top_p
from keras_attn.generation.sampling import filter_logits
from keras_attn.generation.sampling import sample_next_token
from keras_attn.generation.settings import DEFAULTS
from keras_attn.generation.settings import clamp_new_tokens

_STRINGS = tf.TensorSpec([None], tf.string)
_INT = tf.TensorSpec([], tf.int32)
_FLOAT = tf.TensorSpec([], tf.float32)


# What a tokenizer's graph reads: lookup tables, keras-hub's byte-pair cache
# (a tf.Module holding a MutableHashTable) and TensorFlow Text's
# SentencePiece model (a tf.Module holding the model resource).
_TOKENIZER_RESOURCES = (
    tf.lookup.StaticHashTable,
    tf.lookup.StaticVocabularyTable,
    tf.lookup.experimental.MutableHashTable,
    tf.Module,
)


def write_archive(model, tokenizers, signatures, path):
    """Saves `signatures` (`name -> (fn, input_signature)`) with
    `keras.export.ExportArchive`, and the tokenizers' lookup tables.

    The archive saves the variables its endpoints read, as TF1-style loaders
    (`saved_model_cli run`, TensorFlow Serving) restore them. The model is not
    `track`ed as well: that would save each weight a second time (the Keras
    variable beside the TensorFlow one), and a trained model's optimizer
    moments, which serving never reads."""
    archive = keras.export.ExportArchive()
    for tokenizer in tokenizers:
        for value in vars(tokenizer).values():
            if isinstance(value, _TOKENIZER_RESOURCES):
                archive.track(value)
    for name, (fn, input_signature) in signatures.items():
        archive.add_endpoint(name, fn, input_signature=input_signature)
    archive.write_out(str(path), verbose=False)


def token_texts(tokenizer, vocabulary_size):
    r"""The text of each id `0 ... vocabulary_size - 1`, for the candidates
    `decode_step` shows (`top_tokens`).

    For keras-hub's byte-pair and SentencePiece tokenizers this is the
    token's real text, made visible: a space shows as `␣`, a newline as the
    two characters `\n`, a tab as `\t`, and a byte that is not whole UTF-8
    on its own (part of a character) as `\xe2`. Byte-pair vocabularies
    store bytes in GPT-2's printable alphabet (`Ġ` for a space, `Ċ` for a
    newline); SentencePiece writes `▁` for a space and `<0xE2>` for a byte.
    Ids without a token (a model's vocabulary padded past the tokenizer's)
    are `""`.

    Example:

    >>> import keras_hub
    >>> vocabulary = {"<|endoftext|>": 0, "Ġ": 1, "t": 2, "h": 3, "e": 4, "Ġt": 5,
    ...               "Ġthe": 6, "â": 7, "Ċ": 8, "he": 9}
    >>> tokenizer = keras_hub.models.GPT2Tokenizer(vocabulary, ["Ġ t", "h e", "Ġt he"])
    >>> token_texts(tokenizer, 12)   # doctest: +NORMALIZE_WHITESPACE
    ['<|endoftext|>', '␣', 't', 'h', 'e', '␣t', '␣the', '\\xe2', '\\n', 'he', '', '']
    """
    texts = [""] * vocabulary_size
    if isinstance(tokenizer, keras_hub.tokenizers.BytePairTokenizer):
        byte_of = {char: byte[0] for byte, char in zip(*bytes_to_unicode())}
        for token, i in tokenizer.vocabulary.items():
            if i < vocabulary_size:
                # Special tokens may hold characters outside the byte alphabet.
                known = all(char in byte_of for char in token)
                texts[i] = _visible(bytes(byte_of[c] for c in token)) if known else token
        return texts
    if isinstance(tokenizer, keras_hub.tokenizers.SentencePieceTokenizer):
        for i, piece in enumerate(tokenizer.get_vocabulary()[:vocabulary_size]):
            byte = re.fullmatch(r"<0x([0-9A-Fa-f]{2})>", piece)
            raw = bytes([int(byte.group(1), 16)]) if byte else piece.replace("▁", " ").encode()
            texts[i] = _visible(raw)
        return texts
    if hasattr(tokenizer, "vocabulary") and isinstance(tokenizer.vocabulary, list):
        return list(tokenizer.vocabulary)
    # A byte tokenizer: a byte above 127 alone is not UTF-8 and shows as U+FFFD.
    return [bytes([i]).decode("utf-8", errors="replace") for i in range(vocabulary_size)]


def _visible(raw):
    """UTF-8 bytes as text, with spaces and stray bytes made visible."""
    text = raw.decode("utf-8", errors="backslashreplace")
    return text.replace(" ", "␣").replace("\n", "\\n").replace("\t", "\\t")


class _GeneratorEndpoints:
    """The functions behind the signatures; `export_generator` registers them."""

    def __init__(self, model, tokenizer, max_new_tokens, temperature, top_k, top_p, seed,
                 stop_token_ids, start_token_id, empty_prompt, num_candidates):
        self.model = model
        self.tokenizer = tokenizer
        self.generator = GPTGenerator(model)
        self.lm = self.generator.model  # the model's call_with_cache and caches
        self.context_length = self.generator.context_length
        self.defaults = (max_new_tokens, temperature, top_k, top_p, seed)
        self.stop_token_ids = tf.constant(stop_token_ids, tf.int32, shape=[len(stop_token_ids)])
        check_int("start_token_id", start_token_id, minimum=0,
                  maximum=self.generator.vocabulary_size - 1, allow_none=True)
        self.start_token_id = start_token_id
        if start_token_id is None:  # else an empty prompt is the start token alone
            empty_ids = [int(i) for i in np.asarray(tokenizer.tokenize(empty_prompt))] if empty_prompt else []
            if not empty_ids:
                raise ValueError(
                    "`empty_prompt` must tokenize to at least one token. "
                    f"Received: empty_prompt={empty_prompt!r}"
                )
            self.empty_prompt_ids = tf.constant(empty_ids, tf.int32)
        self.num_candidates = min(num_candidates, self.generator.vocabulary_size)
        self.token_texts = tf.constant(token_texts(tokenizer, self.generator.vocabulary_size))
        self.step = tf.function(self._step, jit_compile=True)
        self.kernel_variables = [variable for variable, _ in matrix_kernels(self.lm)]
        caches = self.lm.get_empty_cache(1)  # one (1, 2, kv_heads, L, head_dim) per block
        self.cache_dtype = caches[0].dtype
        cache_spec = tf.TensorSpec([None, len(caches), *caches[0].shape[1:]], tf.float32)
        self.signatures = {
            "generate": (self.generate, [_STRINGS, _INT, _FLOAT, _INT, _FLOAT, _INT]),
            "serving_default": (self.serving_default, [_STRINGS]),
            "logits": (self.logits, [tf.TensorSpec([None, None], tf.int32)]),
            "tokenize": (self.tokenize, [_STRINGS]),
            "detokenize": (self.detokenize, [tf.TensorSpec([None, None], tf.int32)]),
            "prefill": (self.prefill, [_STRINGS, _INT]),
            "decode_step": (self.decode_step, [
                cache_spec, tf.TensorSpec([None, 1], tf.int32), _INT, _FLOAT, _INT, _FLOAT, _INT,
            ]),
            "settings": (self.settings, []),
        }

    # -- text <-> ids ------------------------------------------------------

    def _prompt_ids(self, prompt, max_new_tokens):
        """Strings [B] -> ragged ids (B, None), left-truncated to leave room for
        `max_new_tokens`: after the start token, or with empty rows replaced."""
        ids = tf.cast(self.tokenizer.tokenize(prompt), tf.int32)
        room = self.context_length - max_new_tokens
        if self.start_token_id is None:
            empty = ids.row_lengths() == 0  # (B,)
            # Prepend the empty prompt's ids to the empty rows only.
            filler = tf.RaggedTensor.from_row_lengths(
                tf.tile(self.empty_prompt_ids, [tf.reduce_sum(tf.cast(empty, tf.int32))]),
                tf.where(empty, tf.size(self.empty_prompt_ids, tf.int64), 0),
            )
            ids = tf.concat([filler, ids], axis=1)
        else:
            room -= 1  # the start token's place
        lengths = ids.row_lengths()
        starts = tf.maximum(lengths - tf.cast(room, tf.int64), 0)
        ids = tf.ragged.boolean_mask(ids, tf.ragged.range(lengths) >= starts[:, tf.newaxis])
        if self.start_token_id is not None:
            batch = ids.nrows()
            start = tf.RaggedTensor.from_row_lengths(
                tf.fill([batch], self.start_token_id), tf.ones([batch], tf.int64)
            )
            ids = tf.concat([start, ids], axis=1)
        return ids

    def _clamp(self, max_new_tokens):
        return clamp_new_tokens(max_new_tokens, self.context_length)

    def _text(self, ids, lengths):
        """Padded ids [B, N] and lengths -> valid UTF-8 strings [B]."""
        ragged = tf.RaggedTensor.from_tensor(ids, lengths=lengths)
        text = self.tokenizer.detokenize(ragged)
        return tf.strings.unicode_transcode(text, "UTF-8", "UTF-8", errors="replace")

    # -- signatures -------------------------------------------------------

    def generate(self, prompt, max_new_tokens, temperature, top_k, top_p, seed):
        temperature, top_p = check_temperature(temperature), check_top_p(top_p)
        max_new_tokens = self._clamp(max_new_tokens)
        ids = self._prompt_ids(prompt, max_new_tokens)
        prompt_lengths = tf.cast(ids.row_lengths(), tf.int32)
        longest = tf.reduce_max(prompt_lengths)
        # Pad to a power of two, so XLA compiles few prompt shapes.
        bucket = tf.minimum(
            self.context_length,
            tf.maximum(16, tf.bitwise.left_shift(1, tf.cast(
                tf.math.ceil(tf.math.log(tf.cast(longest, tf.float32)) / tf.math.log(2.0)),
                tf.int32))),
        )
        prompts = ids.to_tensor(0, shape=tf.stack([tf.shape(prompt)[0], bucket]))
        tokens, ends = self.generator.generate_tensors(
            prompts, prompt_lengths, max_new_tokens, temperature, top_k, top_p, seed,
            self.stop_token_ids,
        )
        # New tokens: tokens[r, prompt_lengths[r] : ends[r]] -> (B, max_new_tokens), -1 padded.
        num_tokens = ends - prompt_lengths
        positions = prompt_lengths[:, tf.newaxis] + tf.range(max_new_tokens)[tf.newaxis]
        new = tf.gather(tokens, tf.minimum(positions, self.context_length - 1), batch_dims=1)
        new = tf.where(tf.range(max_new_tokens)[tf.newaxis] < num_tokens[:, tf.newaxis], new, -1)
        # The text leaves out a final stop token (keras-hub's end token has a text).
        last = tf.range(max_new_tokens)[tf.newaxis] == num_tokens[:, tf.newaxis] - 1  # (B, N)
        is_stop = tf.reduce_any(new[:, :, tf.newaxis] == self.stop_token_ids, axis=-1)
        stopped = tf.cast(tf.reduce_any(last & is_stop, axis=-1), tf.int32)  # (B,)
        return {"text": self._text(new, num_tokens - stopped), "token_ids": new,
                "num_tokens": num_tokens}

    def serving_default(self, prompt):
        return self.generate(prompt, *self.defaults)

    def _check_ids(self, token_ids):
        """Ids outside the vocabulary fail here, by name, not in a gather (or as zeros on a GPU)."""
        ok = tf.reduce_all((token_ids >= 0) & (token_ids < self.generator.vocabulary_size))
        check = tf.debugging.Assert(ok, [
            f"`token_ids` must be in [0, {self.generator.vocabulary_size - 1}] (the vocabulary). "
            "Received: token_ids=", token_ids,
        ])
        with tf.control_dependencies([check]):
            return tf.identity(token_ids)

    def logits(self, token_ids):
        token_ids = self._check_ids(token_ids)
        return {"logits": tf.cast(self.model(token_ids, training=False), tf.float32)}

    def settings(self):
        """The defaults of `serving_default` and the context, for servers to read."""
        max_new_tokens, temperature, top_k, top_p, seed = self.defaults
        return {"max_new_tokens": max_new_tokens, "temperature": temperature, "top_k": top_k,
                "top_p": top_p, "seed": seed, "context_length": tf.constant(self.context_length)}

    def tokenize(self, text):
        ids = tf.cast(self.tokenizer.tokenize(text), tf.int32)
        return {"token_ids": ids.to_tensor(-1), "num_tokens": tf.cast(ids.row_lengths(), tf.int32)}

    def detokenize(self, token_ids):
        lengths = tf.reduce_sum(tf.cast(token_ids >= 0, tf.int32), axis=-1)
        return {"text": self._text(tf.maximum(token_ids, 0), lengths)}

    def prefill(self, prompt, max_new_tokens):
        tf.debugging.assert_equal(
            tf.shape(prompt)[0], 1,
            message="`prefill` streams one prompt: `prompt` must have shape [1]",
        )
        ids = self._prompt_ids(prompt, self._clamp(max_new_tokens)).to_tensor()  # (1, P)
        length = tf.shape(ids)[1]
        cache = self.lm.get_empty_cache(1)
        # All tokens but the last: decode_step reads that one.
        _, cache = self.lm.call_with_cache(ids[:, :-1], cache, 0)
        return {
            "cache": tf.cast(tf.stack(cache, axis=1), tf.float32),  # (1, layers, 2, kv_heads, L, head_dim)
            "token_ids": ids[:, -1:],
            "index": length - 1,
        }

    def _step(self, matrices, cache, token_ids, index, temperature, top_k, top_p, seed):
        caches = tuple(tf.unstack(tf.cast(cache, self.cache_dtype), axis=1))
        # The attention kernels as matrices made outside this XLA step (see
        # `with_matrix_kernels`): at the GPT-2 124M shape 34 ms a token, not 48.
        with reading_matrices(zip(self.kernel_variables, matrices)):
            logits, caches = self.generator.next_logits(token_ids, caches, index)  # (1, V)
        next_ids = sample_next_token(logits, temperature, top_k, top_p, tf.stack([seed, index + 1]))
        # The distribution the draw came from (plain softmax when greedy).
        scaled = logits / tf.where(temperature > 0.0, temperature, 1.0)
        filtered = tf.where(temperature > 0.0, filter_logits(scaled, top_k, top_p), scaled)
        probabilities, candidates = tf.math.top_k(tf.nn.softmax(filtered), self.num_candidates)
        cache = tf.cast(tf.stack(caches, axis=1), tf.float32)
        return cache, next_ids[:, tf.newaxis], probabilities, candidates

    def decode_step(self, cache, token_ids, index, temperature, top_k, top_p, seed):
        temperature, top_p = check_temperature(temperature), check_top_p(top_p)
        token_ids = self._check_ids(token_ids)
        tf.debugging.assert_less(
            index, self.context_length - 1,
            message="`decode_step`: the context is full; `index` must be below context - 1",
        )
        matrices = [matrix for _, matrix in matrix_kernels(self.lm)]
        cache, next_ids, probabilities, candidates = self.step(
            matrices, cache, token_ids, index, temperature, top_k, top_p, seed
        )
        return {
            "cache": cache,
            "token_ids": next_ids,
            "index": index + 1,
            "top_token_ids": candidates,
            "top_probabilities": probabilities,
            "top_tokens": tf.gather(self.token_texts, candidates),
        }


def export_generator(
    model,
    tokenizer,
    path,
    *,
    max_new_tokens=DEFAULTS["max_new_tokens"],
    temperature=DEFAULTS["temperature"],
    top_k=DEFAULTS["top_k"],
    top_p=DEFAULTS["top_p"],
    seed=DEFAULTS["seed"],
    stop_token_ids=(),
    start_token_id=None,
    empty_prompt="\n",
    num_candidates=10,
):
    """Writes a GPT and its tokenizer as a SavedModel that generates text.

    See the module docstring for the signatures and what they do with bad
    input. The keyword arguments are the settings of `serving_default`
    (and the cache's dtype is the model's compute dtype, cast to float32).

    Args:
        model: a `keras_attn.models.build_gpt` model (or one of
            `keras_attn.models.from_keras_hub`).
        tokenizer: its tokenizer (`ByteTokenizer`, `CharacterTokenizer`,
            `ReversibleWordPieceTokenizer`, or keras-hub's byte-pair and
            SentencePiece tokenizers such as `GPT2Tokenizer` and
            `LlamaTokenizer`).
        path: the SavedModel directory (created; overwritten if it exists).
        max_new_tokens, temperature, top_k, top_p, seed: the defaults of
            `serving_default`.
        stop_token_ids: ids that end a row in `generate` (kept in
            `token_ids`, left out of `text`).
        start_token_id: an id put before every prompt (keras-hub models'
            `tokenizer.start_token_id`), or None.
        empty_prompt: the text an empty prompt is replaced with, when there
            is no `start_token_id`.
        num_candidates: `K`, the candidates `decode_step` returns.

    Returns:
        The path, as a `pathlib.Path`.

    Example:

    >>> import tempfile
    >>> from keras_attn.models import GPTConfig, build_gpt
    >>> from keras_attn.text import ByteTokenizer
    >>> model = build_gpt(GPTConfig.preset("baby", num_layers=1, max_sequence_length=32))
    >>> path = export_generator(model, ByteTokenizer(), tempfile.mkdtemp() + "/gpt")
    >>> served = tf.saved_model.load(str(path))
    >>> sorted(served.signatures)   # doctest: +NORMALIZE_WHITESPACE
    ['decode_step', 'detokenize', 'generate', 'logits', 'prefill', 'serving_default',
     'settings', 'tokenize']
    >>> out = served.signatures["generate"](
    ...     prompt=tf.constant(["ROMEO:", ""]), max_new_tokens=tf.constant(5),
    ...     temperature=tf.constant(0.0), top_k=tf.constant(0), top_p=tf.constant(1.0),
    ...     seed=tf.constant(0))
    >>> out["token_ids"].shape, out["text"].dtype
    (TensorShape([2, 5]), tf.string)
    """
    for name, value in (("max_new_tokens", max_new_tokens), ("num_candidates", num_candidates)):
        check_positive_int(name, value)
    check_number("temperature", temperature, minimum=0)
    check_int("top_k", top_k)
    check_number("top_p", top_p, above=0, maximum=1)
    check_int("seed", seed)
    endpoints = _GeneratorEndpoints(
        model, tokenizer,
        tf.constant(max_new_tokens, tf.int32), tf.constant(float(temperature), tf.float32),
        tf.constant(top_k, tf.int32), tf.constant(float(top_p), tf.float32),
        tf.constant(seed, tf.int32), list(stop_token_ids), start_token_id, empty_prompt,
        num_candidates,
    )
    path = pathlib.Path(path)
    write_archive(model, [tokenizer], endpoints.signatures, path)
    return path
