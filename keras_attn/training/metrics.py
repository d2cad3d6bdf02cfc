"""Token-level accuracy and perplexity that skip padding, as the loss does.

A position counts when its label is not `pad_id` AND the logits' Keras mask
(if any) keeps it, times the sample weight. Both metrics average over every
counted token seen since the last reset, so an epoch's figure is exact
however the tokens fall into batches.

Why not the peers: `keras.metrics.SparseCategoricalAccuracy` has no pad id,
and `keras_hub.metrics.Perplexity(mask_token_id=...)` drops the logits' Keras
mask from its token count (with `mask_token_id=None` on the translator's
masked logits it divides the masked sum by every token, padding included).
"""

import keras
from keras import ops

from keras_attn.checks import check_int
from keras_attn.layers.masking import keras_mask


def token_weights(y_true, y_pred, pad_id, sample_weight=None):
    """`(B, T)` float32 weights: 0 at padding, else the sample weight (or 1).

    >>> import numpy as np
    >>> np.asarray(token_weights(np.array([[3, 0, 5]]), np.zeros((1, 3, 8)), pad_id=0))
    array([[1., 0., 1.]], dtype=float32)
    """
    weights = ops.ones(ops.shape(y_true), "float32")
    if pad_id is not None:
        weights = weights * ops.cast(ops.not_equal(ops.cast(y_true, "int32"), pad_id), "float32")
    mask = keras_mask(y_pred)
    if mask is not None:
        weights = weights * ops.cast(mask, "float32")
    if sample_weight is not None:
        sample_weight = ops.cast(sample_weight, "float32")
        while len(sample_weight.shape) < len(weights.shape):  # (B,) -> (B, 1)
            sample_weight = ops.expand_dims(sample_weight, -1)
        weights = weights * sample_weight
    return weights


@keras.saving.register_keras_serializable(package="keras_attn")
class MaskedAccuracy(keras.metrics.Mean):
    """The fraction of real tokens whose arg-max logit is the label.

    Args:
        pad_id: int, the label id to ignore, or None to count every label.
        name: the metric's name, and its key in `fit`'s logs.

    Example:

    >>> import numpy as np
    >>> labels = np.array([[1, 2, 0]])                  # the last one is padding
    >>> logits = np.eye(4, dtype="float32")[[[1, 3, 3]]]  # predicts 1, 3, 3
    >>> accuracy = MaskedAccuracy()
    >>> accuracy.update_state(labels, logits)
    >>> float(accuracy.result())                        # 1 right of 2 real tokens
    0.5
    """

    def __init__(self, pad_id=0, name="accuracy", dtype="float32"):
        check_int("pad_id", pad_id, allow_none=True)
        super().__init__(name=name, dtype=dtype)
        self.pad_id = pad_id

    def update_state(self, y_true, y_pred, sample_weight=None):
        weights = token_weights(y_true, y_pred, self.pad_id, sample_weight)  # (B, T)
        predicted = ops.argmax(y_pred, axis=-1)
        matches = ops.cast(ops.equal(predicted, ops.cast(y_true, predicted.dtype)), "float32")
        super().update_state(matches, sample_weight=weights)

    def get_config(self):
        return {**super().get_config(), "pad_id": self.pad_id}


@keras.saving.register_keras_serializable(package="keras_attn")
class Perplexity(keras.metrics.Mean):
    """`exp` of the mean cross-entropy (in nats) over real tokens, from logits.

    It ignores label smoothing: it is the perplexity of the model's
    predictions, not of the training loss. Computed in float32.

    Args:
        pad_id: int, the label id to ignore, or None to count every label.
        name: the metric's name, and its key in `fit`'s logs.

    Example:

    >>> import numpy as np
    >>> perplexity = Perplexity()
    >>> perplexity.update_state(np.array([[1, 2, 0]]), np.zeros((1, 3, 4), "float32"))
    >>> round(float(perplexity.result()), 4)            # uniform over 4 tokens
    4.0
    """

    def __init__(self, pad_id=0, name="perplexity", dtype="float32"):
        check_int("pad_id", pad_id, allow_none=True)
        super().__init__(name=name, dtype=dtype)
        self.pad_id = pad_id

    def update_state(self, y_true, y_pred, sample_weight=None):
        weights = token_weights(y_true, y_pred, self.pad_id, sample_weight)  # (B, T)
        labels = ops.cast(y_true, "int32")
        labels = ops.where(weights > 0, labels, 0)  # a valid class at padding
        logits = ops.cast(y_pred, "float32")
        nll = ops.sparse_categorical_crossentropy(labels, logits, from_logits=True)  # (B, T)
        super().update_state(nll, sample_weight=weights)

    def result(self):
        return ops.exp(super().result())

    def get_config(self):
        return {**super().get_config(), "pad_id": self.pad_id}
