"""A Keras callback that logs attention maps to TensorBoard as images."""

import keras
import tensorflow as tf

from keras_attn.viz.attention_maps import plot_attention_heads
from keras_attn.checks import check_positive_int
from keras_attn.viz.figures import figure_to_image
from keras_attn.viz.scores import attention_scores


class AttentionMapsCallback(keras.callbacks.Callback):
    """Logs the attention maps of a fixed input to TensorBoard, every N epochs.

    After epochs `n - 1, 2n - 1, ...` (0-based, `n = every_n_epochs`) it
    runs `attention_scores(model, inputs)`, draws each selected layer's heads
    for one example with `plot_attention_heads`, and writes the picture with
    `tf.summary.image` under the tag `attention/<layer path>` (e.g.
    `attention/decoder_block_0/cross_attention`) at step `epoch`, the step
    `keras.callbacks.TensorBoard` gives its epoch scalars. TensorBoard's
    Images tab then shows how the heads change as the model trains.

    Args:
        log_dir: directory of the event file, e.g. `out_dir/logs/attention`.
        inputs: a fixed model input, as `model(inputs)` takes it.
        every_n_epochs: int, how often to log.
        layer_names: the layer paths to draw (keys of `attention_scores`);
            None for all of them. Checked when training begins.
        tokens: tick labels. None for positions; a list of tokens for both
            axes of every layer (a GPT's self-attention); or a dict
            `{layer path: (query_tokens, key_tokens)}` (a translator, whose
            cross-attention has target tokens as queries and source tokens as
            keys), positions for the layers it leaves out.
        example: int, which row of the batch to draw.

    Example:

    >>> import tempfile
    >>> import numpy as np
    >>> from keras_attn.models import GPTConfig, build_gpt
    >>> gpt = build_gpt(GPTConfig.preset("baby", num_layers=1, vocabulary_size=20))
    >>> ids = np.arange(1, 9)[None]                         # (1, T)
    >>> maps = AttentionMapsCallback(tempfile.mkdtemp(), ids, tokens=list("abcdefgh"))

    Pass it to `model.fit(..., callbacks=[maps])`; here, what `fit` does
    after its first epoch:

    >>> maps.set_model(gpt)
    >>> maps.on_epoch_end(0)
    >>> maps.logged
    [(0, 'attention/decoder_block_0/self_attention')]
    """

    def __init__(self, log_dir, inputs, every_n_epochs=1, layer_names=None, tokens=None,
                 example=0):
        check_positive_int("every_n_epochs", every_n_epochs)
        if isinstance(example, bool) or not isinstance(example, int) or example < 0:
            raise ValueError(f"`example` must be an integer >= 0. Received: example={example!r}")
        if isinstance(layer_names, str):
            layer_names = [layer_names]
        if tokens is not None and not isinstance(tokens, (list, tuple, dict)):
            raise ValueError(
                "`tokens` must be None, a list of tokens, or a dict "
                f"{{layer path: (query_tokens, key_tokens)}}. Received: tokens={tokens!r}"
            )
        super().__init__()
        self.log_dir = str(log_dir)
        self.inputs = inputs
        self.every_n_epochs = every_n_epochs
        self.layer_names = None if layer_names is None else list(layer_names)
        self.tokens = tokens
        self.example = example
        self.logged = []  # (epoch, tag) of each image written
        self._writer = None

    def on_train_begin(self, logs=None):
        if self.layer_names is None:
            return
        known = attention_scores(self.model, self.inputs)
        unknown = [name for name in self.layer_names if name not in known]
        if unknown:
            raise ValueError(
                f"Unknown attention layer(s) {unknown}. Expected names from "
                f"{list(known)}. Received: layer_names={self.layer_names}"
            )

    def _labels(self, name):
        if isinstance(self.tokens, dict):
            return self.tokens.get(name, (None, None))
        return self.tokens, None  # None keys: the query tokens for self-attention

    def on_epoch_end(self, epoch, logs=None):
        if (epoch + 1) % self.every_n_epochs:
            return
        scores = attention_scores(self.model, self.inputs)
        if self._writer is None:
            self._writer = tf.summary.create_file_writer(self.log_dir)
        with self._writer.as_default():
            for name in self.layer_names or scores:
                query_tokens, key_tokens = self._labels(name)
                fig = plot_attention_heads(
                    scores[name][self.example], query_tokens, key_tokens,
                    title=f"{name}, epoch {epoch + 1}",
                )
                image = figure_to_image(fig)[None]  # (1, height, width, 4) RGBA
                tag = f"attention/{name}"
                tf.summary.image(tag, image, step=epoch)
                self.logged.append((epoch, tag))
        self._writer.flush()

    def on_train_end(self, logs=None):
        if self._writer is not None:
            self._writer.close()
            self._writer = None
