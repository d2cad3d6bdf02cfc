"""Greedy decoding by full recomputation: the reference the cached decoders must equal.

It reruns the whole model for each new token, with no cache: the simplest
correct decoder, kept for tests (cached generation equals it token for
token), for teaching, and as the baseline of the cache benchmark.
"""

import numpy as np

from keras_attn.checks import check_id_matrix
from keras_attn.checks import check_positive_int


def decode_by_recomputation(forward, prompts, prompt_lengths, max_new_tokens, buffer_length,
                            stop_token_ids=()):
    """Appends the argmax token to each row, `max_new_tokens` times, rerunning `forward`.

    Args:
        forward: `fn(tokens (B, L)) -> logits (B, L, V)`, the model's full
            forward pass; causal attention makes the padding after a row's
            end irrelevant, so every step runs the same `(B, L)` shape.
        prompts: `(B, P)` int array, right-padded.
        prompt_lengths: `(B,)` ints in `[1, P]`.
        max_new_tokens: int >= 0.
        buffer_length: `L`, the most positions (the model's context).
        stop_token_ids: ids that end a row (the stop id is kept).

    Returns:
        `(tokens, ends)`: the `(B, L)` buffer and the end of each row.

    Example: a fake model whose next token is the last one plus one.

    >>> def forward(tokens):
    ...     return np.eye(10)[(tokens + 1) % 10]
    >>> tokens, ends = decode_by_recomputation(forward, np.array([[3, 0], [5, 6]]),
    ...                                        np.array([1, 2]), 2, 5, stop_token_ids=[5])
    >>> tokens.tolist(), ends.tolist()
    ([[3, 4, 5, 0, 0], [5, 6, 7, 8, 0]], [3, 4])
    """
    prompts = np.asarray(prompts)
    tokens = np.zeros((len(prompts), buffer_length), "int32")
    tokens[:, : prompts.shape[1]] = prompts
    ends = np.asarray(prompt_lengths, "int64").copy()
    stopped = np.zeros(len(prompts), bool)
    rows = np.arange(len(prompts))
    for _ in range(max_new_tokens):
        if (stopped | (ends >= buffer_length)).all():
            break
        logits = np.asarray(forward(tokens))  # (B, L, V)
        new = np.argmax(logits[rows, ends - 1], axis=-1)
        active = ~stopped & (ends < buffer_length)
        tokens[rows[active], ends[active]] = new[active]
        stopped |= active & np.isin(new, list(stop_token_ids))
        ends = ends + active
    return tokens, ends


def greedy_translate(model, encoder_token_ids, start_id, end_id, max_length, batch_size=512):
    """Translates with a `Translator` by full recomputation, taking the likeliest token each step.

    Decoder inputs start as `[start_id, 0, 0, ...]`; each step reruns the
    whole model on them. A row stops at its first `end_id`: that id and
    everything after it become 0, the output of `TranslatorGenerator.translate`.

    Args:
        model: a `keras_attn.models.Translator`.
        encoder_token_ids: `(N, S)` int array, 0-padded source ids.
        start_id: the decoder's start id.
        end_id: the id that ends a translation.
        max_length: the most ids to generate.
        batch_size: rows decoded together.

    Returns:
        `(N, max_length)` int32 array of generated ids, 0-padded after the end.

    Example:

    >>> from keras_attn.models import TransformerConfig, build_transformer
    >>> model = build_transformer(TransformerConfig.preset(
    ...     "tiny", vocabulary_size=12, max_sequence_length=8, num_layers=1))
    >>> greedy_translate(model, np.array([[3, 4, 5, 0]]), start_id=1, end_id=2,
    ...                  max_length=7).shape
    (1, 7)
    """
    check_positive_int("max_length", max_length)
    check_positive_int("batch_size", batch_size)
    encoder_token_ids = check_id_matrix("encoder_token_ids", encoder_token_ids)
    outputs = []
    for first in range(0, len(encoder_token_ids), batch_size):
        source = encoder_token_ids[first : first + batch_size]  # (B, S)
        starts = np.full((len(source), 1), start_id, "int32")

        def forward(tokens, source=source):
            return model.predict_on_batch(
                {"encoder_token_ids": source, "decoder_token_ids": tokens}
            )

        tokens, _ = decode_by_recomputation(
            forward, starts, np.ones(len(source)), max_length, max_length + 1, [end_id]
        )
        tokens = tokens[:, 1:]  # (B, max_length) without the start id
        after_end = np.cumsum(tokens == end_id, axis=1) > 0
        outputs.append(np.where(after_end, 0, tokens))
    return np.concatenate(outputs, axis=0)
