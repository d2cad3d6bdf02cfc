"""`CausalLM`: a functional language model that also runs one token at a time.

A functional Keras model is a graph of layer calls: `token_ids (B, T) ->
... -> logits (B, T, V)`. That graph is the model's forward pass, written
once, where the model is built. `call_with_cache` runs the *same* graph
on new tokens at positions `index ... index + T - 1`, handing each layer
what a step needs:

```
position layers (TokenAndPositionEmbedding, ...)   start_index=index
TransformerDecoderBlock                            self_attention_cache=cache[i],
                                                   self_attention_cache_update_index=index
MultiHeadAttention (causal self-attention)         cache=cache[i], cache_update_index=index
any other layer (Dense, LayerNormalization, ...)   called as in the graph
```

and collecting the updated caches. Add a layer where the model is built
and training, generation and export change together: there is no second
copy of the forward pass to keep in step. Every other layer must act on
each position alone (as `Dense`, norms, dropout and activations do): a
layer known to mix positions without a cache (Keras's
`MultiHeadAttention`, convolutions, recurrent layers, encoder blocks) is
refused with a `ValueError`.

`GPT` is a `CausalLM` built from a `GPTConfig`. `as_causal_lm(model)` gives
any other functional model of these layers the same methods (a model
composed by hand, or one saved by keras_attn 0.1 as a plain functional
model), sharing its layers and weights.
"""

import inspect

import keras

from keras_attn.layers.multi_head_attention import MultiHeadAttention
from keras_attn.layers.position_embedding import PositionEmbedding
from keras_attn.layers.transformer_decoder_block import TransformerDecoderBlock
from keras_attn.layers.transformer_encoder_block import TransformerEncoderBlock

# Layers that mix positions and hold no cache: a step can't run them.
_MIXES_POSITIONS = (
    keras.layers.MultiHeadAttention,
    keras.layers.Attention,
    keras.layers.AdditiveAttention,
    keras.layers.Conv1D,
    keras.layers.RNN,
    keras.layers.Bidirectional,
    keras.layers.GlobalAveragePooling1D,
    keras.layers.GlobalMaxPooling1D,
    TransformerEncoderBlock,
)


def _is_cached(layer):
    """Whether `layer` keeps a key/value cache in `call_with_cache`."""
    return isinstance(layer, (TransformerDecoderBlock, MultiHeadAttention))


def _parameters(operation):
    return inspect.signature(operation.call).parameters


def _takes_start_index(layer):
    """Our position layers take the position of their first token."""
    return "start_index" in _parameters(layer)


@keras.saving.register_keras_serializable(package="keras_attn")
class CausalLM(keras.Model):
    """A functional model `token_ids (B, T) -> logits (B, T, V)` with cached decoding.

    Build it as any functional model, `CausalLM(token_ids, logits)`, from
    `keras_attn` layers; `GPT` builds one from a config, and
    `as_causal_lm(model)` wraps a plain functional model. See the module
    docstring for how `call_with_cache` runs the graph.

    Example: a model composed by hand decodes with caches.

    >>> import numpy as np
    >>> from keras_attn import layers
    >>> ids = keras.Input(shape=(None,), dtype="int32")
    >>> x = layers.TokenAndPositionEmbedding(50, 16, 32)(ids)
    >>> x = layers.TransformerDecoderBlock(num_heads=2, intermediate_dim=64)(x)
    >>> lm = CausalLM(ids, keras.layers.Dense(50)(x))
    >>> lm.context_length, lm.vocabulary_size
    (16, 50)
    >>> tokens = np.array([[3, 4, 5, 6]])
    >>> cache = lm.get_empty_cache(batch_size=1)
    >>> first, cache = lm.call_with_cache(tokens[:, :3], cache, 0)   # the prompt
    >>> last, cache = lm.call_with_cache(tokens[:, 3:], cache, 3)    # one more token
    >>> np.allclose(np.concatenate([first, last], 1), lm(tokens), atol=1e-5)
    True
    """

    def get_config(self):
        # A CausalLM is its graph: Keras's functional config (layers and connections).
        return super().get_config()

    @property
    def vocabulary_size(self):
        """`V`, the last axis of the logits."""
        return self.outputs[0].shape[-1]

    @property
    def context_length(self):
        """The most positions the model can see: its position table's rows.

        A model without a table (sinusoidal or rotary positions) sets
        `_context_length` (`GPT` from its config, `as_causal_lm` from its
        argument).
        """
        length = getattr(self, "_context_length", None)
        if length is not None:
            return length
        for layer in self._flatten_layers(include_self=False, recursive=True):
            if isinstance(layer, PositionEmbedding):
                return layer.sequence_length
        raise ValueError(
            f"Model {self.name!r} has no position table to read its context length "
            "from. Pass it: as_causal_lm(model, context_length=...)."
        )

    def cached_layers(self):
        """The layers that hold a cache, in the order of the cache tuple."""
        return [layer for layer in self.layers if _is_cached(layer)]

    def get_empty_cache(self, batch_size, dtype=None, max_length=None):
        """A tuple of zero caches, one `(B, 2, kv_heads, max_length, head_dim)` per
        cached layer, in the order of `cached_layers()`.

        `max_length` (default: `context_length`, at most that) is how many
        positions the caches hold: a generation that needs fewer reads less
        at each step."""
        if max_length is None:
            max_length = self.context_length
        elif not 1 <= max_length <= self.context_length:
            raise ValueError(
                f"`max_length` must be from 1 to the context length ({self.context_length}). "
                f"Received: max_length={max_length}"
            )
        caches = []
        for layer in self.cached_layers():
            attention = layer.self_attention if isinstance(layer, TransformerDecoderBlock) else layer
            caches.append(attention.get_empty_cache(batch_size, max_length, dtype))
        return tuple(caches)

    def call_with_cache(self, token_ids, cache, index):
        """Logits of `token_ids` `(B, T)` at positions `index ... index + T - 1`.

        Args:
            token_ids: `(B, T)` int32.
            cache: the tuple from `get_empty_cache`, or from the previous call;
                it holds positions `0 ... index - 1`.
            index: int or scalar int tensor.

        Returns:
            `(logits, cache)`: float32 `(B, T, V)` logits (position `t`'s
            predict token `t + 1`), and the cache with positions `index ...
            index + T - 1` written.
        """
        layers = self.cached_layers()
        slots = {id(layer): i for i, layer in enumerate(layers)}
        if len(cache) != len(layers):
            raise ValueError(
                f"`cache` must hold {len(layers)} caches (one per cached layer). "
                f"Received: len(cache)={len(cache)}"
            )
        new_cache = list(cache)
        visited = set()

        def step(layer, *args, **kwargs):
            if "training" in _parameters(layer):
                kwargs["training"] = False
            if isinstance(layer, _MIXES_POSITIONS):
                raise ValueError(
                    f"Layer {layer.name!r} ({type(layer).__name__}) mixes positions and "
                    "has no cache, so the model can't decode one token at a time."
                )
            if _is_cached(layer):
                slot = slots[id(layer)]
                if slot in visited:
                    raise ValueError(
                        f"Layer {layer.name!r} is called twice in the model; each call "
                        "needs a cache of its own, so it can't decode with a cache."
                    )
                visited.add(slot)
                return self._step_cached_layer(layer, args, kwargs, new_cache, slot, index)
            if _takes_start_index(layer) and not kwargs.get("reverse", False):
                kwargs["start_index"] = index
            return layer(*args, **kwargs)

        inputs = self._standardize_inputs(token_ids)
        # Keras's own walk of the graph (Functional.call uses it too), with
        # `step` in place of a plain call of each layer.
        logits = self._run_through_graph(inputs, operation_fn=lambda op: op, call_fn=step)
        if isinstance(logits, (list, tuple)):
            (logits,) = logits
        return keras.ops.cast(logits, "float32"), tuple(new_cache)

    @staticmethod
    def _step_cached_layer(layer, args, kwargs, new_cache, slot, index):
        if isinstance(layer, TransformerDecoderBlock):
            if layer.has_cross_attention:
                raise ValueError(
                    f"Block {layer.name!r} has cross-attention: decode a translator with "
                    "Translator.call_decoder_with_cache, not call_with_cache."
                )
            outputs, new_cache[slot] = layer(
                *args,
                self_attention_cache=new_cache[slot],
                self_attention_cache_update_index=index,
                **kwargs,
            )
            return outputs
        if not kwargs.get("use_causal_mask", False):
            raise ValueError(
                f"Attention layer {layer.name!r} is not causal (use_causal_mask=True), "
                "so the model is not a causal language model."
            )
        outputs, new_cache[slot] = layer(
            *args, cache=new_cache[slot], cache_update_index=index, **kwargs
        )
        return outputs


def as_causal_lm(model, context_length=None):
    """`model` with `call_with_cache`: itself if it has one, else a `CausalLM` over its graph.

    The `CausalLM` shares `model`'s layers and weights (nothing is copied):
    training either trains both.

    Args:
        model: a functional `keras.Model` `token_ids (B, T) -> logits (B, T, V)`
            made of keras_attn layers, or any object with `call_with_cache`,
            `get_empty_cache`, `context_length` and `vocabulary_size`.
        context_length: the most positions, for a model without a position
            table (sinusoidal or rotary positions).

    Returns:
        An object with `call_with_cache(token_ids, cache, index)`,
        `get_empty_cache(batch_size, max_length=None)`, `context_length` and
        `vocabulary_size`.

    Example: positions in the attention (rotary) leave no table to read the
    context from, so it is given.

    >>> from keras_attn import layers
    >>> ids = keras.Input(shape=(None,), dtype="int32")
    >>> x = layers.TokenEmbedding(50, 32)(ids)
    >>> x = layers.TransformerDecoderBlock(2, 64, use_rotary_embedding=True)(x)
    >>> model = keras.Model(ids, keras.layers.Dense(50)(x))
    >>> lm = as_causal_lm(model, context_length=128)
    >>> lm.context_length, lm.count_params() == model.count_params()
    (128, True)
    """
    if hasattr(model, "call_with_cache"):
        return model
    if not isinstance(model, keras.Model) or not getattr(model, "inputs", None):
        raise ValueError(
            "`model` must be a functional keras.Model (token ids -> logits) or have "
            f"`call_with_cache`. Received: model={model!r}"
        )
    inputs, outputs = model.inputs, model.outputs
    if (len(inputs) != 1 or len(outputs) != 1 or len(inputs[0].shape) != 2
            or "int" not in str(inputs[0].dtype) or len(outputs[0].shape) != 3):
        raise ValueError(
            "`model` must map token ids (B, T) to logits (B, T, V). Received: "
            f"model={model.name!r} with inputs {[(tuple(x.shape), str(x.dtype)) for x in inputs]} "
            f"and outputs {[tuple(x.shape) for x in outputs]}"
        )
    lm = CausalLM(model.inputs, model.outputs, name=model.name)
    if context_length is not None:
        lm._context_length = context_length
    return lm
