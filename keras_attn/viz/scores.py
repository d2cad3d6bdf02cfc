"""The attention weights of every attention layer of a model, for one input."""

import contextlib
import functools

import keras
import numpy as np

from keras_attn.layers.multi_head_attention import MultiHeadAttention

# Layers whose `call` takes `return_attention_scores` and then returns
# `(output, scores)`: ours, and Keras's own, which has the same call.
ATTENTION_LAYERS = (MultiHeadAttention, keras.layers.MultiHeadAttention)


def attention_layers(model):
    """The attention layers inside `model`, at any depth, in tracking order.

    Blocks hold theirs as sublayers (`decoder_block_0/self_attention`), so
    the search goes through every nested layer and model.

    Example:

    >>> from keras_attn.models import GPTConfig, build_gpt
    >>> gpt = build_gpt(GPTConfig.preset("baby", num_layers=2))
    >>> [layer.path for layer in attention_layers(gpt)]
    ['decoder_block_0/self_attention', 'decoder_block_1/self_attention']
    """
    # `_flatten_layers` is how Keras itself lists nested layers (for weights
    # and summaries); there is no public equivalent.
    return [
        layer
        for layer in model._flatten_layers(include_self=False, recursive=True)
        if isinstance(layer, ATTENTION_LAYERS)
    ]


@contextlib.contextmanager
def _recording(layers, recorded):
    """While open, each call of a layer in `layers` appends `(layer, scores)` to `recorded`.

    The layer is called with `return_attention_scores=True`, and its result
    is given back to the caller in the form the caller asked for, so the
    model computes exactly what it computes otherwise.
    """
    patched = []
    try:
        for layer in layers:
            own_call = vars(layer).get("call")  # an instance attribute, rarely
            original = layer.call

            @functools.wraps(original)
            def call(*args, _layer=layer, _original=original, **kwargs):
                asked = kwargs.get("return_attention_scores", False)
                kwargs["return_attention_scores"] = True
                output, scores = _original(*args, **kwargs)
                recorded.append((_layer, scores))
                return (output, scores) if asked else output

            # object.__setattr__: not a tracked attribute, and nothing to save.
            object.__setattr__(layer, "call", call)
            patched.append((layer, own_call))
        yield
    finally:
        for layer, own_call in patched:
            if own_call is None:
                object.__delattr__(layer, "call")
            else:
                object.__setattr__(layer, "call", own_call)


def _name(layer):
    # `path` is set when the layer is built, e.g. "decoder_block_0/cross_attention".
    return layer.path or layer.name


def attention_scores(model, inputs):
    """Runs `model` on `inputs` and returns every attention layer's weights.

    Works with any Keras model that contains attention layers at any depth:
    `build_gpt` and `build_transformer` models, a functional model of your
    own made of `MultiHeadAttention`, `TransformerEncoderBlock` and
    `TransformerDecoderBlock` layers (or `keras.layers.MultiHeadAttention`),
    nested models and subclassed models. Nothing is rebuilt: the model runs
    once, in inference mode (no dropout), and each attention layer is called
    with `return_attention_scores=True`, so the weights are exactly those the
    layer returns when called by hand on the same input, masks included.

    Args:
        model: a built `keras.Model`.
        inputs: what `model(inputs)` takes, e.g. a `(B, T)` int array for a
            GPT or `{"encoder_token_ids": ..., "decoder_token_ids": ...}`
            for a translator.

    Returns:
        A dict from layer path to a float32 NumPy array of shape
        `(B, num_heads, T, S)`: `T` queries, `S` keys, each row a softmax
        that sums to 1 (0 for padded queries, which attend nothing). Paths
        name the block and the sublayer, e.g.
        `"decoder_block_0/self_attention"` and
        `"decoder_block_0/cross_attention"`, in the order the layers ran. A
        layer that runs more than once gets `_1`, `_2`, ... after its path
        for the later calls.

    Example:

    >>> import numpy as np
    >>> from keras_attn.models import GPTConfig, build_gpt
    >>> gpt = build_gpt(GPTConfig.preset("baby", num_layers=2))
    >>> scores = attention_scores(gpt, np.array([[5, 6, 7, 8]]))
    >>> {name: s.shape for name, s in scores.items()}   # doctest: +NORMALIZE_WHITESPACE
    {'decoder_block_0/self_attention': (1, 4, 4, 4),
     'decoder_block_1/self_attention': (1, 4, 4, 4)}
    >>> np.allclose(scores["decoder_block_0/self_attention"].sum(-1), 1.0)
    True
    >>> attention_scores(keras.Sequential([keras.layers.Dense(2)]), np.ones((1, 3)))
    Traceback (most recent call last):
    ...
    ValueError: `model` has no attention layer (MultiHeadAttention, or a block holding one). Received: model=<Sequential name=..., built=False>
    """
    if not isinstance(model, keras.Model):
        raise ValueError(f"`model` must be a keras.Model. Received: model={model!r}")
    layers = attention_layers(model)
    if not layers:
        raise ValueError(
            "`model` has no attention layer (MultiHeadAttention, or a block holding "
            f"one). Received: model={model!r}"
        )
    recorded = []
    with _recording(layers, recorded):
        model(inputs, training=False)
    scores = {}
    for layer, weights in recorded:
        name, n = _name(layer), 0
        while name in scores:
            n += 1
            name = f"{_name(layer)}_{n}"
        scores[name] = np.asarray(keras.ops.convert_to_numpy(weights), dtype="float32")
    return scores
