"""Greedy decoding of the translator by full recomputation.

It reruns the whole model for each new token, the simplest correct decoder:
the reference that faster, cached decoders must reproduce exactly.
"""

import numpy as np


def greedy_translate(model, encoder_token_ids, start_id, end_id, max_length, batch_size=512):
    """Translates with a `build_transformer` model, taking the likeliest token each step.

    Decoder inputs start as `[start_id, 0, 0, ...]`, `max_length` long; at
    step `t` the model reads them and the token at `t + 1` becomes the argmax
    of the logits at `t`. Causal attention makes the zeros after `t`
    irrelevant. A row stops at its first `end_id`: that id and everything
    after it become 0.

    Args:
        model: a model from `keras_attn.models.build_transformer`.
        encoder_token_ids: `(N, S)` int array, 0-padded source ids.
        start_id: the decoder's start id.
        end_id: the id that ends a translation.
        max_length: the most ids to generate, at most the decoder's
            context (`max_sequence_length`).
        batch_size: rows decoded together.

    Returns:
        `(N, max_length)` int32 array of generated ids, 0-padded after the
        end.

    Example:

    >>> import numpy as np
    >>> from keras_attn.models import TransformerConfig, build_transformer
    >>> model = build_transformer(TransformerConfig.preset(
    ...     "tiny", vocabulary_size=12, max_sequence_length=8, num_layers=1))
    >>> ids = greedy_translate(model, np.array([[3, 4, 5, 0]]), start_id=1,
    ...                        end_id=2, max_length=7)
    >>> ids.shape
    (1, 7)
    """
    if not isinstance(max_length, int) or max_length <= 0:
        raise ValueError(
            f"`max_length` must be a positive integer. Received: max_length={max_length!r}"
        )
    encoder_token_ids = np.asarray(encoder_token_ids, "int32")
    if encoder_token_ids.ndim != 2:
        raise ValueError(
            "`encoder_token_ids` must have shape (batch, source_length). "
            f"Received: encoder_token_ids.shape={encoder_token_ids.shape}"
        )
    outputs = []
    for first in range(0, len(encoder_token_ids), batch_size):
        source = encoder_token_ids[first : first + batch_size]  # (B, S)
        decoder = np.zeros((len(source), max_length + 1), "int32")  # (B, T + 1)
        decoder[:, 0] = start_id
        finished = np.zeros(len(source), bool)
        for t in range(max_length):
            # The full, fixed-shape decoder input each step: one compiled
            # function, and causal attention ignores what lies after t.
            logits = model.predict_on_batch(
                {"encoder_token_ids": source, "decoder_token_ids": decoder[:, :-1]}
            )  # (B, T, V)
            next_ids = np.argmax(logits[:, t], axis=-1).astype("int32")
            next_ids[finished] = 0
            finished |= next_ids == end_id
            next_ids[next_ids == end_id] = 0
            decoder[:, t + 1] = next_ids
            if finished.all():
                break
        outputs.append(decoder[:, 1:])
    return np.concatenate(outputs, axis=0)
