import numpy as np
import pytest

from keras_attn.layers import SinusoidalPositionEncoding
from keras_attn.layers import causal_mask
from keras_attn.layers import scaled_dot_product_attention
from keras_attn.models import TransformerConfig
from keras_attn.models import build_transformer
from keras_attn.viz import plot_attention_steps
from keras_attn.viz import plot_causal_average
from keras_attn.viz import plot_encoder_decoder
from keras_attn.viz import plot_heads
from keras_attn.viz import plot_sinusoidal_encoding
from tests.viz.helpers import assert_drawn
from tests.viz.helpers import tick_labels
from tests.viz.test_positions import paper_encoding


# --- The architecture ---------------------------------------------------------


def boxes(fig):
    """`{label: patch}` of the named boxes, and the list of all labels in drawing order."""
    patches = [p for p in fig.axes[0].patches if p.get_label() and p.get_label() != "residual"]
    return patches


def box_named(fig, name, index=0):
    return [p for p in boxes(fig) if p.get_label() == name][index]


def contains(patch, point, margin=0.05):
    x, y = point
    return (patch.get_x() - margin <= x <= patch.get_x() + patch.get_width() + margin
            and patch.get_y() - margin <= y <= patch.get_y() + patch.get_height() + margin)


def tiny_translator(**overrides):
    return build_transformer(TransformerConfig.preset("tiny", vocabulary_size=40, **overrides))


def test_architecture_boxes_are_the_models_layers_in_the_order_they_run():
    model = tiny_translator()
    fig = plot_encoder_decoder(model)
    assert_drawn(fig, num_panels=1)
    labels = [p.get_label() for p in boxes(fig)]
    encoder, decoder = model.encoder_blocks[0], model.decoder_blocks[0]
    # Bottom to top, as drawn: the encoder column, then the decoder column.
    assert labels == [
        "encoder_token_ids", model.encoder_embedding.name,
        encoder.self_attention_layer_norm.name, encoder.self_attention.name,
        encoder.feed_forward_layer_norm.name, encoder.feed_forward.name,
        model.encoder_final_layer_norm.name, "encoder output",
        "decoder_token_ids", model.decoder_embedding.name,
        decoder.self_attention_layer_norm.name, decoder.self_attention.name,
        decoder.cross_attention_layer_norm.name, decoder.cross_attention.name,
        decoder.feed_forward_layer_norm.name, decoder.feed_forward.name,
        model.decoder_final_layer_norm.name, "decoder_embedding (reverse)", "logits",
    ]
    # Every layer name above is one of the model's (the blocks' sublayers by path).
    paths = ["/" + w.path for w in model.weights]
    for name in labels[1:7] + labels[9:17]:
        assert any(f"/{name}/" in path for path in paths), name
    # Each column goes up; three residual "+" per decoder block, two per encoder block.
    heights = [p.get_y() for p in boxes(fig)]
    assert heights[:8] == sorted(heights[:8]) and heights[8:] == sorted(heights[8:])
    assert sum(p.get_label() == "residual" for p in fig.axes[0].patches) == 5
    # The encoder output's arrow ends on the cross-attention box.
    output, cross = box_named(fig, "encoder output"), box_named(fig, "cross_attention")
    arrows = [(a.xyann, a.xy) for a in fig.axes[0].texts if hasattr(a, "xyann")]
    assert any(contains(output, start) and contains(cross, end) for start, end in arrows)
    texts = [t.get_text() for t in fig.axes[0].texts]
    assert "encoder_block_0 …\nencoder_block_1 (× 2)" in texts
    assert "decoder_block_0 …\ndecoder_block_1 (× 2)" in texts


def test_post_norm_and_an_untied_head():
    model = tiny_translator(normalize_first=False, tie_embeddings=False, num_layers=1)
    labels = [p.get_label() for p in boxes(plot_encoder_decoder(model))]
    # Post-norm: the sublayer, its residual, then the norm; no final norms.
    assert labels[2:6] == ["self_attention", "self_attention_layer_norm", "feed_forward",
                           "feed_forward_layer_norm"]
    assert "encoder_final_layer_norm" not in labels and "decoder_final_layer_norm" not in labels
    assert labels[-2:] == [model.lm_head.name, "logits"]


# --- One query ---------------------------------------------------------------


def test_attention_steps_are_the_formula_and_the_library():
    rng = np.random.default_rng(0)
    query, keys, values = rng.integers(-2, 3, 8), rng.integers(-2, 3, (5, 8)), rng.normal(size=(5, 3))
    fig = plot_attention_steps(query, keys, values, tokens=list("abcde"))
    assert_drawn(fig, num_panels=4)
    scores, scaled, weights, table = fig.axes[:4]
    expected = keys @ query
    np.testing.assert_array_equal([b.get_height() for b in scores.patches], expected)
    np.testing.assert_allclose([b.get_height() for b in scaled.patches], expected / np.sqrt(8),
                               rtol=1e-6)
    e = np.exp(expected / np.sqrt(8) - (expected / np.sqrt(8)).max())
    np.testing.assert_allclose([b.get_height() for b in weights.patches], e / e.sum(), rtol=1e-5)
    output, library_weights = scaled_dot_product_attention(
        query[None, None].astype("float32"), keys[None].astype("float32"),
        values[None].astype("float32"), return_attention_weights=True)
    drawn = table.images[0].get_array()
    np.testing.assert_allclose(drawn[-1], np.asarray(output)[0, 0], atol=1e-5)
    np.testing.assert_allclose(drawn[:-1], np.asarray(library_weights)[0, 0][:, None] * values,
                               atol=1e-5)
    assert tick_labels(scaled, "x") == list("abcde")
    assert tick_labels(table, "y")[-1] == "output = sum"


# --- Heads -------------------------------------------------------------------


def test_heads_are_column_blocks_and_concatenation_undoes_the_split():
    x = np.random.default_rng(1).normal(size=(5, 12)).astype("float32")
    outputs = np.random.default_rng(2).normal(size=(3, 5, 4)).astype("float32")
    fig = plot_heads(x, 3, outputs=outputs, tokens=list("abcde"))
    assert_drawn(fig, num_panels=8)
    top, bottom = fig.axes[:4], fig.axes[4:]
    np.testing.assert_array_equal(top[0].images[0].get_array(), x)
    for h in range(3):
        np.testing.assert_array_equal(top[h + 1].images[0].get_array(), x[:, 4 * h:4 * h + 4])
        np.testing.assert_array_equal(bottom[h].images[0].get_array(), outputs[h])
    # The concatenation: head h's output in columns 4h ... 4h + 3.
    concatenated = bottom[-1].images[0].get_array()
    np.testing.assert_array_equal(concatenated, outputs.transpose(1, 0, 2).reshape(5, 12))
    assert tick_labels(top[0], "y") == list("abcde")
    # Without outputs, the bottom row concatenates the split heads: x again.
    fig = plot_heads(x, 3)
    np.testing.assert_array_equal(fig.axes[-1].images[0].get_array(), x)


# --- The sinusoidal encoding -------------------------------------------------


def test_sines_cosines_and_dot_products_follow_the_paper():
    fig = plot_sinusoidal_encoding(50, 32, positions=(0, 7, 20))
    assert_drawn(fig, num_panels=3)
    sines, cosines, dots = fig.axes[:3]
    table = paper_encoding(50, 32)
    np.testing.assert_allclose(sines.images[0].get_array(), table[:, 0::2], atol=1e-5)
    np.testing.assert_allclose(cosines.images[0].get_array(), table[:, 1::2], atol=1e-5)
    layer = np.asarray(SinusoidalPositionEncoding()(np.zeros((1, 50, 32), "float32")))[0]
    lines = dots.get_lines()
    assert [line.get_label() for line in lines] == ["p = 0", "p = 7", "p = 20"]
    for line, p in zip(lines, (0, 7, 20)):
        offsets = np.arange(30)  # 50 - max(positions)
        np.testing.assert_array_equal(line.get_xdata(), offsets)
        np.testing.assert_allclose(line.get_ydata(), layer[p + offsets] @ layer[p], rtol=1e-5)
        # It depends on the offset only: the same curve from every p.
        np.testing.assert_allclose(line.get_ydata(), lines[0].get_ydata(), atol=1e-3)


# --- The causal mask -----------------------------------------------------------


def test_causal_average_is_the_masked_softmax_of_zero_scores_and_of_any_scores():
    fig = plot_causal_average(4, tokens=list("abcd"))
    assert_drawn(fig, num_panels=4)
    ones, average, masked, weights = (ax.images[0].get_array() for ax in fig.axes[:4])
    ones, average = np.ma.getdata(ones), np.ma.getdata(average)  # nothing hidden in these
    np.testing.assert_array_equal(ones, np.tril(np.ones((4, 4))))
    np.testing.assert_allclose(average, np.tril(np.ones((4, 4))) / np.arange(1, 5)[:, None])
    np.testing.assert_array_equal(masked.mask, ~np.tril(np.ones((4, 4), bool)))
    np.testing.assert_allclose(weights.filled(0), average, atol=1e-12)
    # The average of the past: the matrix times the values averages rows 0 ... t.
    values = np.arange(8.0).reshape(4, 2)
    np.testing.assert_allclose(average @ values, [values[:t + 1].mean(0) for t in range(4)])
    assert "−∞" in [t.get_text() for t in fig.axes[2].texts]

    # Learned scores: the weights of the library's attention under its causal mask.
    rng = np.random.default_rng(0)
    q, k, v = (rng.normal(size=(1, 4, 8)).astype("float32") for _ in range(3))
    scores = (q[0] @ k[0].T) / np.sqrt(8)
    fig = plot_causal_average(4, scores=scores)
    _, library = scaled_dot_product_attention(q, k, v, mask=causal_mask(4, 4),
                                              return_attention_weights=True)
    np.testing.assert_allclose(fig.axes[3].images[0].get_array().filled(0),
                               np.asarray(library)[0], atol=1e-5)


# --- Arguments -----------------------------------------------------------------


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: plot_encoder_decoder(None), "`model` must be a Translator"),
        (lambda: plot_attention_steps([1, 2], [[1, 2]], [[1], [2]]),
         r"`values` must have one row per key \(1\). Received: values.shape=\(2, 1\)"),
        (lambda: plot_attention_steps(tokens=["a"]),
         r"`tokens` must hold one token per position \(3\). Received: len\(tokens\)=1"),
        (lambda: plot_heads(np.ones((2, 6)), 0), "`num_heads` must be a positive integer"),
        (lambda: plot_heads(np.ones(6), 2), r"`inputs` must have shape \(sequence_length, width\)"),
        (lambda: plot_heads(np.ones((2, 6)), 2, outputs=np.ones((3, 2, 3))),
         r"`outputs` must have shape \(num_heads, sequence_length, head_dim\) = \(2, 2, ...\)"),
        (lambda: plot_sinusoidal_encoding(10, 7), "`depth` must be even"),
        (lambda: plot_sinusoidal_encoding(10, 8, positions=()), "`positions` must be positions"),
        (lambda: plot_causal_average(0), "`length` must be a positive integer. Received: length=0"),
    ],
)
def test_bad_arguments_raise_value_errors_that_name_them(call, message):
    with pytest.raises(ValueError, match=message):
        call()
