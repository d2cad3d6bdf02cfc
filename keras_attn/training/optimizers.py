"""AdamW that leaves biases and normalization weights undecayed, with clipping."""

import re

import keras

from keras_attn.checks import check_number


# Variable names (`variable.name`, the last part of its path) that weight
# decay skips: Dense and attention biases ("bias"), LayerNormalization's
# "gamma" and "beta". Matched by name, not by rank: attention biases are 2-D
# (heads, head_dim), so nanoGPT's "decay only tensors of rank >= 2" would
# decay them.
NO_DECAY_NAMES = ("bias", "gamma", "beta")


@keras.saving.register_keras_serializable(package="keras_attn")
class AdamW(keras.optimizers.AdamW):
    """`keras.optimizers.AdamW` with no weight decay on biases and norms.

    Decoupled weight decay (`w -= learning_rate * weight_decay * w` each
    update) applies to kernels and embeddings only. Embeddings are decayed,
    as in nanoGPT and GPT-2: with tied embeddings the token table is also the
    output projection, a matrix like any other. To skip them too, pass
    `no_decay_names=("bias", "gamma", "beta", "embeddings")`.

    It is Keras's optimizer with two changes:

    * `no_decay_names` calls `exclude_from_weight_decay(var_names=...)` and,
      unlike it, is saved in `get_config`, so a model reloaded from
      `.keras` keeps training with the same exclusions;
    * GPT-style defaults: `weight_decay=0.1`, `beta_2=0.95` and
      `global_clipnorm=1.0` (the gradients of all variables are rescaled
      together so that their global norm is at most 1).

    For the Shakespeare recipe pass `beta_2=0.99`; for the paper's
    translator `beta_2=0.98, epsilon=1e-9`.

    Args:
        learning_rate: float or a `keras.optimizers.schedules.LearningRateSchedule`.
        weight_decay: float >= 0.
        beta_1, beta_2, epsilon: Adam's.
        global_clipnorm: float or None, the largest global gradient norm.
        no_decay_names: variable names (exact, e.g. "bias") never decayed.
        **kwargs: other `keras.optimizers.AdamW` arguments (`clipnorm`,
            `clipvalue`, `name`, `use_ema`, ...). Set `global_clipnorm=None`
            to use `clipnorm`, which clips each gradient on its own.

    Example: one update with zero gradients changes only the decayed weights.

    >>> dense = keras.layers.Dense(2, kernel_initializer="ones", bias_initializer="ones")
    >>> dense.build((None, 2))
    >>> optimizer = AdamW(learning_rate=0.1, weight_decay=0.5)
    >>> optimizer.apply([keras.ops.zeros((2, 2)), keras.ops.zeros((2,))], dense.weights)
    >>> print(dense.kernel.numpy())   # decayed: 1 - 0.1 * 0.5
    [[0.95 0.95]
     [0.95 0.95]]
    >>> print(dense.bias.numpy())     # not decayed
    [1. 1.]
    """

    def __init__(
        self,
        learning_rate=1e-3,
        weight_decay=0.1,
        beta_1=0.9,
        beta_2=0.95,
        epsilon=1e-8,
        global_clipnorm=1.0,
        no_decay_names=NO_DECAY_NAMES,
        **kwargs,
    ):
        check_number("weight_decay", weight_decay, minimum=0)
        if global_clipnorm is not None:
            check_number("global_clipnorm", global_clipnorm, above=0)
        if isinstance(no_decay_names, str) or not all(
            isinstance(name, str) and name for name in no_decay_names
        ):
            raise ValueError(
                "`no_decay_names` must be a list of variable names. "
                f"Received: no_decay_names={no_decay_names!r}"
            )
        super().__init__(
            learning_rate=learning_rate,
            weight_decay=weight_decay,
            beta_1=beta_1,
            beta_2=beta_2,
            epsilon=epsilon,
            global_clipnorm=global_clipnorm,
            **kwargs,
        )
        self.no_decay_names = tuple(no_decay_names)
        # Keras searches these in the variable's name: "bias" on most
        # backends, but the tf.Variable's "path/to/bias:0" on TensorFlow.
        self.exclude_from_weight_decay(
            var_names=[rf"(?:^|/){re.escape(name)}(?::\d+)?$" for name in self.no_decay_names]
        )

    def get_config(self):
        return {**super().get_config(), "no_decay_names": list(self.no_decay_names)}
