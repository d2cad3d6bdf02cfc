"""The training loss: sparse cross-entropy from logits that skips padding.

Which positions count: a position's loss counts when its label is not
`pad_id` AND, if the logits carry a Keras mask (the translator's
`decoder_token_ids != 0`), that mask is True there. Padding is removed once:
the loss returns per-token values with the label mask attached as a Keras
mask, and Keras's own reduction merges it with the logits' mask and divides
by the number of real tokens.
"""

import keras
from keras import ops

# Keras has no public setter for the mask it reads from a tensor; its own
# `SparseCategoricalCrossentropy(ignore_class=...)` uses this one.
from keras.src.backend import set_keras_mask

from keras_attn.checks import check_int
from keras_attn.checks import check_number



@keras.saving.register_keras_serializable(package="keras_attn")
class MaskedSparseCategoricalCrossentropy(keras.losses.Loss):
    """Cross-entropy of integer labels against logits, with padding skipped.

    With the default reduction the value is the mean over real tokens:

    ```
    loss = sum(ce[b, t] * w[b, t]) / count(real tokens)
    ce   = (1 - s) * -log p[label] + s * mean_k(-log p[k])    s: label_smoothing
    ```

    where real tokens are those whose label is not `pad_id` and which the
    logits' Keras mask (if any) keeps, and `w` is the sample weight (1 if
    none). Label smoothing spreads `s` of each target's probability evenly
    over the whole vocabulary, as `keras.losses.CategoricalCrossentropy(
    label_smoothing=s)` does on one-hot labels, but without building the
    one-hot `(B, T, V)` tensor. The loss is always computed in float32, so
    float16 or bfloat16 logits are safe.

    Why not Keras's loss: `keras.losses.SparseCategoricalCrossentropy` has
    `ignore_class` but no label smoothing, and
    `keras.losses.CategoricalCrossentropy` needs one-hot labels.

    Within `fit`, Keras averages the per-batch losses weighted by batch
    size, so the epoch's loss is a mean of per-batch token means; use
    `Perplexity` for an exact per-token figure over many batches.

    Args:
        pad_id: int, the label id to ignore, or None to count every label.
            Defaults to 0, the padding id of `build_transformer`.
        label_smoothing: float in `[0, 1)`. 0.1 in "Attention Is All You Need".
        reduction: `"sum_over_batch_size"` (the mean over real tokens), `"sum"`
            or None (per-token losses, 0 at padding).
        name: the loss's name.

    Example:

    >>> import numpy as np
    >>> labels = np.array([[1, 2, 0]])               # the last position is padding
    >>> logits = np.zeros((1, 3, 4), "float32")      # uniform over 4 tokens
    >>> loss = MaskedSparseCategoricalCrossentropy()
    >>> round(float(loss(labels, logits)), 4)        # ln 4, over 2 real tokens
    1.3863
    >>> per_token = MaskedSparseCategoricalCrossentropy(reduction=None)
    >>> np.round(np.asarray(per_token(labels, logits)), 4)
    array([[1.3863, 1.3863, 0.    ]], dtype=float32)
    >>> MaskedSparseCategoricalCrossentropy(label_smoothing=1.0)
    Traceback (most recent call last):
    ...
    ValueError: `label_smoothing` must be a number in [0, 1). Received: label_smoothing=1.0
    """

    def __init__(
        self,
        pad_id=0,
        label_smoothing=0.0,
        reduction="sum_over_batch_size",
        name="masked_sparse_categorical_crossentropy",
    ):
        check_int("pad_id", pad_id, allow_none=True)
        check_number("label_smoothing", label_smoothing, minimum=0, below=1)
        # dtype="float32": the base class casts the logits to it before `call`.
        super().__init__(name=name, reduction=reduction, dtype="float32")
        self.pad_id = pad_id
        self.label_smoothing = label_smoothing

    def __call__(self, y_true, y_pred, sample_weight=None):
        if sample_weight is not None:
            # Keras cannot merge per-sequence weights (B,) with a (B, T) mask:
            # (B, 1) broadcasts.
            sample_weight = ops.convert_to_tensor(sample_weight)
            if len(sample_weight.shape) == 1 and len(ops.shape(y_true)) == 2:
                sample_weight = ops.expand_dims(sample_weight, -1)
        return super().__call__(y_true, y_pred, sample_weight=sample_weight)

    def call(self, y_true, y_pred):
        labels = ops.cast(y_true, "int32")  # (B, T)
        logits = ops.cast(y_pred, "float32")  # (B, T, V)
        if self.pad_id is not None:
            is_real = ops.not_equal(labels, self.pad_id)  # (B, T)
            # Any valid class will do at padding: its loss is masked out.
            labels = ops.where(is_real, labels, 0)
        loss = ops.sparse_categorical_crossentropy(labels, logits, from_logits=True)
        if self.label_smoothing:
            # mean_k(-log p[k]) = logsumexp(logits) - mean(logits), per token.
            uniform = ops.logsumexp(logits, axis=-1) - ops.mean(logits, axis=-1)
            loss = (1.0 - self.label_smoothing) * loss + self.label_smoothing * uniform
        if self.pad_id is not None:
            # Keras's reduction ANDs this with the logits' mask, zeroes the
            # masked tokens and divides by the number left.
            set_keras_mask(loss, is_real)
        return loss  # (B, T)

    def get_config(self):
        return {
            **super().get_config(),
            "pad_id": self.pad_id,
            "label_smoothing": self.label_smoothing,
        }
