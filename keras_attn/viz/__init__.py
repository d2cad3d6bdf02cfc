"""Plots of attention, masks, positions and schedules (matplotlib, drawn off screen).

| function | draws |
|---|---|
| `attention_scores(model, inputs)` | not a plot: every attention layer's weights `(B, H, T, S)`, by layer path |
| `plot_attention(weights, query_tokens, key_tokens)` | one head, `(T, S)`, tokens on both axes |
| `plot_attention_heads(weights, query_tokens, key_tokens)` | every head of a layer, `(H, T, S)`, one panel each |
| `plot_mask(mask, ...)`, `plot_masks(tokens, padding_mask)` | boolean masks; padding, causal and both combined |
| `plot_positional_encoding(sequence_length, depth)` | the sinusoidal encoding, as a heatmap and as curves |
| `plot_learning_rate(schedules, total_steps)` | learning-rate schedules over the steps |
| `AttentionMapsCallback(log_dir, inputs)` | a Keras callback: attention maps as TensorBoard images |
| `figure_to_image(fig)` | a figure as a `(height, width, 4)` uint8 RGBA array |
| `plot_encoder_decoder(model)` | a translator's architecture, each box named after its layer |
| `plot_attention_steps(query, keys, values)` | one query: scores, ÷√d_k, softmax, weighted sum |
| `plot_heads(inputs, num_heads)` | splitting into heads and concatenating them back |
| `plot_sinusoidal_encoding(sequence_length, depth)` | sines and cosines apart; `PE[p]·PE[p+k]` against `k` |
| `plot_causal_average(length)` | the causal mask as the average of the past, then a masked softmax |

Each plot returns a `matplotlib.figure.Figure` on an Agg canvas: save it with
`fig.savefig("attention.png")`, or end a notebook cell with it to see it.
Nothing here calls `pyplot` or changes matplotlib's backend.

>>> import numpy as np
>>> from keras_attn import viz
>>> from keras_attn.models import GPTConfig, build_gpt
>>> gpt = build_gpt(GPTConfig.preset("baby", num_layers=1))
>>> scores = viz.attention_scores(gpt, np.array([[72, 105, 33]]))   # "Hi!"
>>> fig = viz.plot_attention_heads(scores["decoder_block_0/self_attention"][0], list("Hi!"))
>>> len(viz.panels(fig))   # one per head
4
"""

from keras_attn.viz.attention_maps import plot_attention
from keras_attn.viz.attention_maps import plot_attention_heads
from keras_attn.viz.callbacks import AttentionMapsCallback
from keras_attn.viz.diagrams import plot_attention_steps
from keras_attn.viz.diagrams import plot_causal_average
from keras_attn.viz.diagrams import plot_encoder_decoder
from keras_attn.viz.diagrams import plot_heads
from keras_attn.viz.diagrams import plot_sinusoidal_encoding
from keras_attn.viz.figures import figure_to_image
from keras_attn.viz.figures import panels
from keras_attn.viz.masks import plot_mask
from keras_attn.viz.masks import plot_masks
from keras_attn.viz.positions import plot_positional_encoding
from keras_attn.viz.schedules import plot_learning_rate
from keras_attn.viz.scores import attention_layers
from keras_attn.viz.scores import attention_scores

__all__ = [
    "AttentionMapsCallback",
    "attention_layers",
    "attention_scores",
    "figure_to_image",
    "panels",
    "plot_attention",
    "plot_attention_heads",
    "plot_attention_steps",
    "plot_causal_average",
    "plot_encoder_decoder",
    "plot_heads",
    "plot_learning_rate",
    "plot_mask",
    "plot_masks",
    "plot_positional_encoding",
    "plot_sinusoidal_encoding",
]
