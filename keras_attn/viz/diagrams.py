"""Diagrams drawn by code: the Transformer, one query worked out, heads, positions, the causal mask.

Each function computes what it draws (with NumPy, or by reading a model's
layers), so the picture can't disagree with the code it explains; the tests
compare every drawn number with a reference.

| function | draws |
|---|---|
| `plot_encoder_decoder(model)` | a `Translator`'s encoder and decoder, boxes named after its layers |
| `plot_attention_steps(query, keys, values)` | one query: scores, ÷√d_k, softmax, weighted sum of the values |
| `plot_heads(inputs, num_heads)` | splitting `(T, D)` into heads of `(T, D/H)`, and concatenating them back |
| `plot_sinusoidal_encoding(sequence_length, depth)` | sines and cosines side by side, and `PE[p]·PE[p+k]` against `k` |
| `plot_causal_average(length)` | the causal mask as "the average of the past", then as a masked softmax |
"""

import numpy as np
from matplotlib.patches import Circle
from matplotlib.patches import FancyBboxPatch
from matplotlib.patches import Rectangle

from keras_attn.checks import check_int
from keras_attn.checks import check_positive_int
from keras_attn.layers.masking import causal_mask
from keras_attn.layers.sinusoidal_position_encoding import SinusoidalPositionEncoding
from keras_attn.viz.figures import as_array
from keras_attn.viz.figures import labels
from keras_attn.viz.figures import new_figure

# Box colors by kind of layer.
_COLORS = {
    "io": "#ffffff",
    "embedding": "#cfe3f7",
    "attention": "#fbd3a8",
    "cross_attention": "#f6b38a",
    "feed_forward": "#cdeccf",
    "norm": "#e4e4ea",
    "head": "#e7d5f3",
    "block": "#f7f7f2",
}
_HEAD_COLORS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
                "#7f7f7f"]


def _softmax(x):
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def _vector_text(vector):
    return "[" + " ".join(f"{v:g}" for v in vector) + "]"


# --- The encoder-decoder architecture ----------------------------------------


class _Column:
    """Boxes stacked bottom to top in one column of the architecture diagram."""

    def __init__(self, ax, x, width):
        self.ax, self.x, self.width, self.y = ax, x, width, 0.0
        self.last = None  # the top edge of the last item, for the next arrow

    def _arrow(self, start, end):
        self.ax.annotate("", xy=end, xytext=start,
                         arrowprops=dict(arrowstyle="-|>", color="#444444", lw=1.0))

    def box(self, name, detail, kind, height=0.6, gap=0.35):
        """A box labelled `name` (a layer name), with a line of `detail` below it."""
        bottom = self.y + (gap if self.last is not None else 0.0)
        if self.last is not None:
            self._arrow((self.x, self.last), (self.x, bottom))
        patch = FancyBboxPatch((self.x - self.width / 2, bottom), self.width, height,
                               boxstyle="round,pad=0.02,rounding_size=0.12",
                               facecolor=_COLORS[kind], edgecolor="#333333", lw=1.0,
                               label=name)
        self.ax.add_patch(patch)
        text = name if not detail else f"{name}\n{detail}"
        self.ax.text(self.x, bottom + height / 2, text, ha="center", va="center", fontsize=8,
                     family="monospace" if not detail else None, linespacing=1.3)
        self.y = self.last = bottom + height
        return patch

    def plus(self, since):
        """A residual ⊕ above the last box, fed by a bypass from height `since`."""
        radius, gap = 0.17, 0.25
        center = self.last + gap + radius
        self._arrow((self.x, self.last), (self.x, center - radius))
        self.ax.add_patch(Circle((self.x, center), radius, facecolor="white",
                                 edgecolor="#333333", lw=1.0, label="residual"))
        self.ax.text(self.x, center, "+", ha="center", va="center", fontsize=10)
        left = self.x - self.width / 2 - 0.3
        self.ax.plot([self.x, left, left], [since, since, center], color="#777777", lw=1.0)
        self.ax.annotate("", xy=(self.x - radius, center), xytext=(left, center),
                         arrowprops=dict(arrowstyle="-|>", color="#777777", lw=1.0))
        self.y = self.last = center + radius

    def frame(self, bottom, title):
        """A frame around the items from `bottom` up: one block, repeated N times.

        The title goes in the frame's top right corner, clear of the arrows."""
        top = self.y + 0.55
        left = self.x - self.width / 2 - 0.55
        self.ax.add_patch(Rectangle((left, bottom - 0.15), self.width + 1.1, top - bottom + 0.15,
                                    facecolor=_COLORS["block"], edgecolor="#888888", lw=1.0,
                                    linestyle="--", zorder=0))
        self.ax.text(left + self.width + 1.0, top - 0.06, title, ha="right", va="top",
                     fontsize=7.5, family="monospace", color="#555555")
        self.y = top  # the next arrow starts at the last item and crosses the frame


def _sublayer(column, block, name, detail, kind, normalize_first):
    """One residual sublayer of a block: its norm, the sublayer, the ⊕ (pre- or post-norm)."""
    norm = getattr(block, f"{name}_layer_norm")
    since = column.y + 0.18
    if normalize_first:
        column.box(norm.name, None, "norm", height=0.4, gap=0.35)
        patch = column.box(getattr(block, name).name, detail, kind, height=0.6, gap=0.25)
        column.plus(since)
    else:
        patch = column.box(getattr(block, name).name, detail, kind, height=0.6, gap=0.35)
        column.plus(since)
        column.box(norm.name, None, "norm", height=0.4, gap=0.25)
    return patch


def _stack_title(side, depth):
    if depth == 1:
        return f"{side}_block_0 (× 1)"
    return f"{side}_block_0 …\n{side}_block_{depth - 1} (× {depth})"


def plot_encoder_decoder(model):
    """Draws an encoder-decoder Transformer, each box named after the model's layer.

    Read from `model` (a `Translator`, what `build_transformer` returns):
    the embeddings and their positions, one encoder and one decoder block
    with the sublayers and layer norms in the order the block applies them
    (pre-norm: `norm → sublayer → +`; post-norm: `sublayer → + → norm`),
    the residual connections as bypasses into a `+`, the final layer norms
    of a pre-norm model, the output head, and the arrow that carries the
    encoder's output into every decoder block's cross-attention. The block
    frames say how many blocks are stacked.

    Args:
        model: a `Translator` (`keras_attn.models.build_transformer`).

    Returns:
        A `matplotlib.figure.Figure` with one panel. Each box is a patch whose
        label (`patch.get_label()`) is the layer name it shows.

    Example:

    >>> from keras_attn.models import TransformerConfig, build_transformer
    >>> model = build_transformer(TransformerConfig.preset("tiny", vocabulary_size=50))
    >>> fig = plot_encoder_decoder(model)
    >>> names = [p.get_label() for p in fig.axes[0].patches if p.get_label()]
    >>> [n for n in names if "attention" in n and "norm" not in n]
    ['self_attention', 'self_attention', 'cross_attention']
    >>> plot_encoder_decoder("transformer")
    Traceback (most recent call last):
    ...
    ValueError: `model` must be a Translator (from build_transformer). Received: model='transformer'
    """
    needed = ("encoder_blocks", "decoder_blocks", "encoder_embedding", "decoder_embedding")
    if not all(hasattr(model, name) for name in needed):
        raise ValueError("`model` must be a Translator (from build_transformer). "
                         f"Received: model={model!r}")
    config = model.config
    normalize_first = config.normalize_first
    positions = ("sinusoidal positions" if config.position_encoding == "sinusoidal"
                 else "learned positions")
    depth = len(model.encoder_blocks)

    fig = new_figure(9.0, 11.0)
    ax = fig.add_subplot()
    ax.set_axis_off()
    width = 3.6
    encoder, decoder = _Column(ax, 2.6, width), _Column(ax, 8.3, width)

    def stack(column, side, ids_detail, sublayers):
        """The ids, the embedding, one framed block of `sublayers` and the final norm,
        bottom to top; returns the sublayers' boxes by name."""
        column.box(f"{side}_token_ids", ids_detail, "io")
        column.box(getattr(model, f"{side}_embedding").name, f"tokens · √d + {positions}",
                   "embedding")
        bottom = column.y + 0.35
        block = getattr(model, f"{side}_blocks")[0]
        column.y += 0.25
        boxes = {name: _sublayer(column, block, name, detail, kind, normalize_first)
                 for name, detail, kind in sublayers}
        column.frame(bottom, _stack_title(side, depth))
        final_norm = getattr(model, f"{side}_final_layer_norm")
        if final_norm is not None:
            column.box(final_norm.name, None, "norm", height=0.4, gap=0.35)
        return boxes

    feed_forward = ("feed_forward", "each position alone", "feed_forward")
    stack(encoder, "encoder", "English ids (B, S)",
          [("self_attention", "every token to every token", "attention"), feed_forward])
    output = encoder.box("encoder output", "(B, S, d): keys and values", "io", gap=0.35)
    cross = stack(decoder, "decoder", "[START] + French so far (B, T)", [
        ("self_attention", "causal: tokens up to t", "attention"),
        ("cross_attention", "queries here, keys from the encoder", "cross_attention"),
        feed_forward,
    ])["cross_attention"]
    if model.lm_head is None:
        decoder.box(f"{model.decoder_embedding.name} (reverse)",
                    "the tied head: hidden · embeddingᵀ", "head")
    else:
        decoder.box(model.lm_head.name, "Dense to the vocabulary", "head")
    decoder.box(model.logits_cast.name, "(B, T, vocabulary): the next token", "io")

    # The encoder's output goes into the cross-attention of every decoder block.
    start = (encoder.x + width / 2, output.get_y() + output.get_height() / 2)
    end = (decoder.x - width / 2, cross.get_y() + cross.get_height() / 2)
    ax.annotate("", xy=end, xytext=start, arrowprops=dict(
        arrowstyle="-|>", color="#c0392b", lw=1.6, connectionstyle="arc3,rad=0.0"))
    ax.text(start[0] + 0.15, start[1] + 0.1, "to every\ndecoder block", ha="left",
            va="bottom", fontsize=8, color="#c0392b")
    ax.text(encoder.x, -0.7, "encoder", ha="center", fontsize=11, weight="bold")
    ax.text(decoder.x, -0.7, "decoder", ha="center", fontsize=11, weight="bold")
    ax.set_xlim(0.0, 10.9)
    ax.set_ylim(-1.0, max(encoder.y, decoder.y) + 0.3)
    ax.set_aspect("equal")
    return fig


# --- One query, step by step -------------------------------------------------

_QUERY = [1, 2, 0, 1]
_KEYS = [[1, 0, 1, 0], [2, 1, 0, 1], [0, 0, 2, 2]]
_VALUES = [[1, 0], [0, 1], [1, 1]]


def _bars(ax, values, tick_labels, title, fmt):
    positions = np.arange(len(values))
    bars = ax.bar(positions, values, color="#4c72b0")
    for x, value in zip(positions, values):
        ax.text(x, value, format(value, fmt), ha="center",
                va="bottom" if value >= 0 else "top", fontsize=9)
    ax.set_xticks(positions, tick_labels, fontsize=8)
    ax.set_title(title, fontsize=10)
    ax.axhline(0.0, color="#444444", lw=0.8)
    low, high = min(0.0, float(np.min(values))), max(0.0, float(np.max(values)))
    ax.set_ylim(low - 0.15 * (high - low or 1), high + 0.2 * (high - low or 1))
    return bars


def plot_attention_steps(query=None, keys=None, values=None, tokens=None):
    """Works one query through attention: scores, ÷√d_k, softmax, weighted sum of the values.

    Four panels, left to right, each computed with NumPy:

    1. the scores `sᵢ = q·kᵢ`, one per key (with small integers, exact);
    2. the scores divided by `√d_k`;
    3. the softmax: weights `wᵢ`, positive, summing to 1;
    4. the output `Σ wᵢ vᵢ`: each value scaled by its weight, and their sum.

    Args:
        query: `(d_k,)` the query. Defaults to `[1, 2, 0, 1]`.
        keys: `(S, d_k)` one key per token. Defaults to three small keys.
        values: `(S, d_v)` one value per token. Defaults to three 2-vectors.
        tokens: `S` labels of the keys; "token 0", ... if None.

    Returns:
        A `matplotlib.figure.Figure` with four panels: the bars of the first
        three are the numbers of steps 1 to 3, the image of the fourth is
        `wᵢ vᵢ` with the output as its last row.

    Example:

    >>> fig = plot_attention_steps(tokens=["the", "cat", "sat"])
    >>> [float(bar.get_height()) for bar in fig.axes[0].patches]   # q·k: 1, 5, 2
    [1.0, 5.0, 2.0]
    >>> [round(float(bar.get_height()), 2) for bar in fig.axes[2].patches]
    [0.1, 0.74, 0.16]
    >>> fig.axes[3].images[0].get_array()[-1].round(2).tolist()       # the output
    [0.26, 0.9]
    >>> plot_attention_steps([1, 2], [[1, 2, 3]], [[1]])
    Traceback (most recent call last):
    ...
    ValueError: `keys` must have one entry per feature of `query` (2). Received: keys.shape=(1, 3)
    """
    query = as_array("query", _QUERY if query is None else query, (1,), "(d_k,)")
    keys = as_array("keys", _KEYS if keys is None else keys, (2,), "(num_keys, d_k)")
    values = as_array("values", _VALUES if values is None else values, (2,),
                      "(num_keys, d_v)")
    if keys.shape[1] != query.shape[0]:
        raise ValueError(f"`keys` must have one entry per feature of `query` "
                         f"({query.shape[0]}). Received: keys.shape={keys.shape}")
    if values.shape[0] != keys.shape[0]:
        raise ValueError(f"`values` must have one row per key ({keys.shape[0]}). "
                         f"Received: values.shape={values.shape}")
    names = labels("tokens", tokens, keys.shape[0]) if tokens is not None else [
        f"token {i}" for i in range(keys.shape[0])]
    d_k = query.shape[0]
    scores = keys @ query  # (S,)
    scaled = scores / np.sqrt(d_k)
    weights = _softmax(scaled)
    weighted = weights[:, None] * values  # (S, d_v)
    output = weighted.sum(axis=0)  # (d_v,)

    fig = new_figure(13.0, 3.8)
    axes = fig.subplots(1, 4, width_ratios=[1, 1, 1, 1.2])
    with_keys = [f"{name}\nk={_vector_text(k)}" for name, k in zip(names, keys)]
    _bars(axes[0], scores, with_keys, f"1. scores q·kᵢ\nq = {_vector_text(query)}", "g")
    _bars(axes[1], scaled, names, f"2. ÷ √d_k = √{d_k} = {np.sqrt(d_k):.3g}", ".2f")
    _bars(axes[2], weights, names, "3. softmax: weights wᵢ\n(positive, sum 1)", ".2f")
    axes[2].set_ylim(0.0, 1.1)
    table = np.concatenate([weighted, output[None]], axis=0)  # (S + 1, d_v)
    ax = axes[3]
    ax.imshow(table, cmap="Blues", vmin=0.0, vmax=max(float(np.abs(table).max()), 1e-6),
              aspect="auto")
    for (row, column), value in np.ndenumerate(table):
        ax.text(column, row, f"{value:.2f}", ha="center", va="center", fontsize=9,
                weight="bold" if row == len(names) else None)
    ax.axhline(len(names) - 0.5, color="#222222", lw=1.5)
    rows = [f"{w:.2f} × v({name}) = {w:.2f} × {_vector_text(v)}"
            for name, w, v in zip(names, weights, values)] + ["output = sum"]
    ax.set_yticks(range(len(rows)), rows, fontsize=8)
    ax.set_xticks(range(values.shape[1]), [f"feature {j}" for j in range(values.shape[1])],
                  fontsize=8)
    ax.set_title("4. output = Σ wᵢ vᵢ", fontsize=10)
    return fig


# --- Heads: split and concatenate ----------------------------------------------


def _heatmap(ax, array, title, vmax, color=None):
    ax.imshow(array, cmap="RdBu", vmin=-vmax, vmax=vmax, aspect="auto",
              interpolation="nearest")
    ax.set_title(title, fontsize=9, color=color or "black")
    ax.set_xticks([])
    if color is not None:
        for spine in ax.spines.values():
            spine.set_edgecolor(color)
            spine.set_linewidth(2.0)


def plot_heads(inputs, num_heads, outputs=None, tokens=None, *, label="inputs"):
    """Draws multi-head attention's reshapes: split `(T, D)` into heads, concatenate them back.

    Top row: `inputs` (say the queries `x W^Q`, `(T, D)`) with each head's
    columns framed in its color, then the heads: head `h` is columns
    `h·D/H ... (h+1)·D/H - 1`, a `(T, D/H)` matrix that attention reads on
    its own. Bottom row: each head's output `(T, D/H)`, and their
    concatenation along the features, `(T, D)`, which `W^O` then mixes.

    Args:
        inputs: `(T, D)` array, `D` divisible by `num_heads`.
        num_heads: int, the number of heads `H`.
        outputs: optional `(H, T, D/H)` head outputs. Defaults to the split
            heads of `inputs`, so the bottom row shows that concatenating
            undoes the split.
        tokens: `T` labels of the rows; positions if None.
        label: what `inputs` are, for the first panel's title.

    Returns:
        A `matplotlib.figure.Figure` with two subfigures: `1 + H` panels on
        top (the input, then the heads) and `H + 1` below (the head outputs,
        then the concatenation).

    Example:

    >>> import numpy as np
    >>> x = np.arange(12.0).reshape(2, 6)            # (T, D) = (2, 6)
    >>> fig = plot_heads(x, num_heads=3)
    >>> fig.axes[1].images[0].get_array().tolist()   # head 0: columns 0 and 1
    [[0.0, 1.0], [6.0, 7.0]]
    >>> bool(np.array_equal(fig.axes[-1].images[0].get_array(), x))   # concat undoes split
    True
    >>> plot_heads(x, num_heads=4)
    Traceback (most recent call last):
    ...
    ValueError: `num_heads` must divide the width of `inputs` (6). Received: num_heads=4
    """
    inputs = as_array("inputs", inputs, (2,), "(sequence_length, width)")
    check_positive_int("num_heads", num_heads)
    length, width = inputs.shape
    if width % num_heads:
        raise ValueError(f"`num_heads` must divide the width of `inputs` ({width}). "
                         f"Received: num_heads={num_heads}")
    head_dim = width // num_heads
    heads = np.stack(np.split(inputs, num_heads, axis=1))  # (H, T, D/H)
    if outputs is None:
        outputs = heads
    outputs = as_array("outputs", outputs, (3,), "(num_heads, sequence_length, head_dim)")
    if outputs.shape[0] != num_heads or outputs.shape[1] != length:
        raise ValueError(f"`outputs` must have shape (num_heads, sequence_length, head_dim) = "
                         f"({num_heads}, {length}, ...). Received: outputs.shape={outputs.shape}")
    concatenated = np.concatenate(list(outputs), axis=1)  # (T, H * head_dim)
    row_labels = labels("tokens", tokens, length)
    colors = [_HEAD_COLORS[h % len(_HEAD_COLORS)] for h in range(num_heads)]
    vmax = max(float(np.abs(inputs).max()), float(np.abs(outputs).max()), 1e-6)

    fig = new_figure(2.2 + 1.1 * num_heads + 0.08 * width, 6.0)
    split, concat = fig.subfigures(2, 1)
    top = split.subplots(1, num_heads + 1, width_ratios=[width] + [head_dim] * num_heads)
    _heatmap(top[0], inputs, f"{label} (T, D) = ({length}, {width})", vmax)
    top[0].set_yticks(range(length), row_labels, fontsize=7)
    for h in range(num_heads):
        top[0].add_patch(Rectangle((h * head_dim - 0.5, -0.5), head_dim, length, fill=False,
                                   edgecolor=colors[h], lw=2.0))
        _heatmap(top[h + 1], heads[h], f"head {h}\n({length}, {head_dim})", vmax, colors[h])
        top[h + 1].set_yticks([])
    split.suptitle(f"split: the features of each token, cut into {num_heads} heads "
                   f"of {head_dim}", fontsize=10)
    bottom = concat.subplots(1, num_heads + 1,
                             width_ratios=[outputs.shape[2]] * num_heads + [concatenated.shape[1]])
    for h in range(num_heads):
        _heatmap(bottom[h], outputs[h], f"head {h} output", vmax, colors[h])
        bottom[h].set_yticks([])
    bottom[0].set_yticks(range(length), row_labels, fontsize=7)
    _heatmap(bottom[-1], concatenated, f"concatenated ({length}, {concatenated.shape[1]})",
             vmax)
    bottom[-1].set_yticks([])
    for h in range(num_heads):
        bottom[-1].add_patch(Rectangle((h * outputs.shape[2] - 0.5, -0.5), outputs.shape[2],
                                       length, fill=False, edgecolor=colors[h], lw=2.0))
    concat.suptitle("concatenate: the heads' outputs side by side, then W^O mixes them",
                    fontsize=10)
    return fig


# --- The sinusoidal encoding ----------------------------------------------------


def plot_sinusoidal_encoding(sequence_length=64, depth=64, *, positions=(0, 10, 30),
                             max_wavelength=10000):
    """Draws the sines and the cosines of the sinusoidal encoding apart, and `PE[p]·PE[p+k]`.

    Left, `PE[pos, 2i] = sin(pos / 10000^(2i/d))`; middle, the cosines
    `PE[pos, 2i+1]` of the same angles: column `i` of each is one clock, the
    first ones fast, the last ones slow. Right, the dot product of the
    encodings of `p` and `p + k` against the offset `k`, one line per `p`:
    the lines coincide, because it depends on `k` only (each sine-cosine
    pair turns by the same angle for the same `k`, wherever it starts).
    `plot_positional_encoding` draws the interleaved table instead.

    Args:
        sequence_length: int, positions to draw.
        depth: int, the model width `d` (even).
        positions: the starting positions `p` of the dot-product lines; the
            offsets go from 0 to `sequence_length - 1 - max(positions)`.
        max_wavelength: the encoding's longest wavelength (10000 in the paper).

    Returns:
        A `matplotlib.figure.Figure` with three panels (and a colorbar).

    Example:

    >>> fig = plot_sinusoidal_encoding(sequence_length=40, depth=16, positions=(0, 5))
    >>> sines, cosines, dots = fig.axes[:3]
    >>> sines.images[0].get_array().shape, cosines.images[0].get_array().shape
    ((40, 8), (40, 8))
    >>> first, second = dots.get_lines()
    >>> bool(np.allclose(first.get_ydata(), second.get_ydata(), atol=1e-4))   # k alone
    True
    >>> plot_sinusoidal_encoding(10, 16, positions=(12,))
    Traceback (most recent call last):
    ...
    ValueError: `positions` must be positions from 0 to sequence_length - 2 = 8. Received: positions=(12,)
    """
    check_positive_int("sequence_length", sequence_length)
    check_positive_int("depth", depth)
    if depth % 2:
        raise ValueError(f"`depth` must be even: sines and cosines come in pairs. "
                         f"Received: depth={depth}")
    positions = tuple(positions)
    if not positions or not all(isinstance(p, (int, np.integer)) and 0 <= p <= sequence_length - 2
                                for p in positions):
        raise ValueError(f"`positions` must be positions from 0 to sequence_length - 2 = "
                         f"{sequence_length - 2}. Received: positions={positions!r}")
    layer = SinusoidalPositionEncoding(max_wavelength=max_wavelength)
    encoding = np.asarray(layer(np.zeros((1, sequence_length, depth), "float32")))[0]  # (T, d)
    offsets = np.arange(sequence_length - max(positions))

    fig = new_figure(13.0, 4.0)
    sines, cosines, dots = fig.subplots(1, 3, width_ratios=[1.0, 1.0, 1.3])
    for ax, table, title in [(sines, encoding[:, 0::2], "sin: PE[pos, 2i]"),
                             (cosines, encoding[:, 1::2], "cos: PE[pos, 2i + 1]")]:
        image = ax.imshow(table, cmap="RdBu", vmin=-1.0, vmax=1.0, aspect="auto",
                          interpolation="nearest")
        ax.set_xlabel("pair i (fast → slow)")
        ax.set_ylabel("position")
        ax.set_title(title)
    fig.colorbar(image, ax=[sines, cosines], shrink=0.8)
    styles = ["-", "--", ":", "-."]
    for n, p in enumerate(positions):
        values = encoding[p + offsets] @ encoding[p]  # (K,): PE[p]·PE[p+k]
        dots.plot(offsets, values, styles[n % len(styles)], lw=2.0 - 0.4 * (n % 3),
                  label=f"p = {p}")
    dots.set_xlabel("offset k")
    dots.set_ylabel("PE[p] · PE[p + k]")
    dots.set_title("the same curve from every p")
    dots.legend(fontsize=8)
    return fig


# --- The causal mask as an average of the past -----------------------------------


def _matrix(ax, array, row_labels, title, fmt, hidden=None, cmap="Greens"):
    """A `(T, T)` matrix with its numbers; `hidden` cells (masked) dark, shown as `fmt(value)`."""
    hidden = np.zeros(array.shape, bool) if hidden is None else hidden
    shown = np.ma.masked_array(np.where(hidden, 0.0, array), mask=hidden)
    vmax = max(float(shown.max()), 1e-6)
    ax.imshow(shown, cmap=cmap, vmin=min(0.0, float(shown.min())), vmax=vmax, aspect="equal",
              interpolation="nearest")
    ax.set_facecolor("#30304a")  # the hidden cells
    for (row, column), value in np.ndenumerate(array):
        dark = hidden[row, column] or value > 0.6 * vmax
        ax.text(column, row, fmt(value), ha="center", va="center", fontsize=8,
                color="white" if dark else "black")
    ax.set_xticks(range(len(row_labels)), row_labels, fontsize=8)
    ax.set_yticks(range(len(row_labels)), row_labels, fontsize=8)
    ax.set_xlabel("key", fontsize=8)
    ax.set_title(title, fontsize=10)


def _fraction(value):
    for denominator in range(1, 13):
        numerator = value * denominator
        if abs(numerator - round(numerator)) < 1e-6:
            return f"{round(numerator)}/{denominator}" if denominator > 1 else f"{round(numerator)}"
    return f"{value:.2f}"


def plot_causal_average(length=5, scores=None, tokens=None):
    """Shows the causal mask as "the average of the past", then as a masked softmax.

    Four `(T, T)` matrices, row `t` the query at position `t`:

    1. `tril(ones)`: which keys each query may see, itself and the past;
    2. each row divided by its sum: multiplying the values by this matrix
       replaces each token by the average of the tokens up to it;
    3. the scores (all 0 by default) with `-∞` above the diagonal, where
       `keras_attn.layers.causal_mask` forbids attending;
    4. the softmax of 3: zero scores give exactly matrix 2, and learned
       scores give a weighted average of the past instead of a plain one.

    Args:
        length: int, the number of tokens `T`.
        scores: optional `(T, T)` attention scores. Defaults to zeros.
        tokens: `T` labels; positions if None.

    Returns:
        A `matplotlib.figure.Figure` with four panels; each panel's image is
        its matrix (masked cells hidden).

    Example:

    >>> fig = plot_causal_average(3)
    >>> fig.axes[1].images[0].get_array().round(2).tolist()
    [[1.0, 0.0, 0.0], [0.5, 0.5, 0.0], [0.33, 0.33, 0.33]]
    >>> bool(np.allclose(fig.axes[3].images[0].get_array().filled(0),
    ...                  fig.axes[1].images[0].get_array()))   # softmax of zeros: the same
    True
    >>> plot_causal_average(3, scores=np.zeros((2, 2)))
    Traceback (most recent call last):
    ...
    ValueError: `scores` must have shape (length, length) = (3, 3). Received: scores.shape=(2, 2)
    """
    check_int("length", length, minimum=1)
    if scores is None:
        scores = np.zeros((length, length))
    scores = as_array("scores", scores, (2,), "(length, length)")
    if scores.shape != (length, length):
        raise ValueError(f"`scores` must have shape (length, length) = ({length}, {length}). "
                         f"Received: scores.shape={scores.shape}")
    names = labels("tokens", tokens, length)
    allowed = np.asarray(causal_mask(length, length))[0]  # (T, T), True below the diagonal
    ones = allowed.astype("float64")
    average = ones / ones.sum(axis=1, keepdims=True)
    masked = np.where(allowed, scores, -np.inf)
    weights = _softmax(masked)

    fig = new_figure(4.0 + 2.3 * 4 * min(1.0, 0.25 + length / 8), 4.0)
    axes = fig.subplots(1, 4)
    _matrix(axes[0], ones, names, "1. tril(ones)", lambda v: f"{v:g}")
    _matrix(axes[1], average, names, "2. ÷ row sums:\nthe average of the past", _fraction)
    _matrix(axes[2], masked, names, "3. scores, −∞ above\nthe diagonal",
            lambda v: "−∞" if v == -np.inf else f"{v:.2g}", hidden=~allowed, cmap="Oranges")
    _matrix(axes[3], weights, names, "4. softmax(3):\nthe weights", lambda v: f"{v:.2f}",
            hidden=~allowed)
    axes[0].set_ylabel("query (token t)", fontsize=8)
    return fig
