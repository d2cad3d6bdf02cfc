import io
import re

import keras
import matplotlib.image
import numpy as np
import pytest

import keras_attn.viz.callbacks
from keras_attn.models import TransformerConfig
from keras_attn.models import build_transformer
from keras_attn.viz import AttentionMapsCallback
from keras_attn.viz import attention_scores
from keras_attn.viz import plot_attention_heads
from tests.helpers import summary_values

SOURCE = np.array([[5, 6, 7, 0], [8, 9, 10, 11]], "int32")  # (B, S)
TARGET = np.array([[1, 3, 4, 0, 0], [1, 5, 6, 7, 8]], "int32")  # (B, T)
INPUTS = {"encoder_token_ids": SOURCE, "decoder_token_ids": TARGET}
LABELS = np.roll(TARGET, -1, axis=1)
LAYERS = [
    "encoder_block_0/self_attention",
    "decoder_block_0/self_attention",
    "decoder_block_0/cross_attention",
]


def translator():
    model = build_transformer(TransformerConfig(vocabulary_size=16, max_sequence_length=8,
                                                num_layers=1, num_heads=2, hidden_dim=16))
    model.compile(optimizer="adam",
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  run_eagerly=True)  # a graph would take longer to trace than these steps take
    return model


def run_callback(callback, model, epochs):
    """What `fit` does with a callback, without the training steps."""
    callback.set_model(model)
    callback.on_train_begin()
    for epoch in range(epochs):
        callback.on_epoch_end(epoch)
    callback.on_train_end()


def image_summaries(log_dir):
    """`[(step, tag, image)]` from the event files, each image decoded from its PNG."""
    found = []
    for step, value in summary_values(log_dir):
        if value.metadata.plugin_data.plugin_name == "images":
            width, height, png = value.tensor.string_val  # the images plugin's layout
            image = matplotlib.image.imread(io.BytesIO(png), format="png")
            assert image.shape[:2] == (int(height), int(width))
            found.append((step, value.tag, image))
    return found


def test_maps_are_logged_as_images_every_n_epochs_of_fit(tmp_path, monkeypatch):
    model = translator()
    drawn = {}  # title -> the weights drawn

    def recording_plot(weights, query_tokens, key_tokens, title):
        drawn[title] = np.array(weights)
        return plot_attention_heads(weights, query_tokens, key_tokens, title=title)

    monkeypatch.setattr(keras_attn.viz.callbacks, "plot_attention_heads", recording_plot)
    maps = AttentionMapsCallback(tmp_path, INPUTS, every_n_epochs=2)
    model.fit(INPUTS, LABELS, epochs=4, verbose=0, callbacks=[maps])  # logs after epochs 1, 3
    written = image_summaries(tmp_path)
    expected_tags = [f"attention/{name}" for name in LAYERS]
    assert [(step, tag) for step, tag, _ in written] == [
        (step, tag) for step in (1, 3) for tag in expected_tags
    ]
    assert maps.logged == [(step, tag) for step, tag, _ in written]
    for _, _, image in written:
        assert image.shape[-1] == 4 and image.shape[0] > 100 and image.shape[1] > 100
        assert image[..., :3].std() > 0  # not blank
    # The maps are the model's as it trains: those after the last epoch are the trained
    # model's, and they differ from those after epoch 2. (The images always differ: their
    # titles carry the epoch.)
    cross = "decoder_block_0/cross_attention"
    first, later = drawn[f"{cross}, epoch 2"], drawn[f"{cross}, epoch 4"]
    np.testing.assert_array_equal(later, attention_scores(model, INPUTS)[cross][0])
    assert np.abs(later - first).max() > 1e-3


def test_chosen_layers_with_their_tokens(tmp_path, monkeypatch):
    model = translator()
    drawn = []

    def recording_plot(weights, query_tokens, key_tokens, title):
        drawn.append((weights.shape, query_tokens, key_tokens, title))
        return plot_attention_heads(weights, query_tokens, key_tokens, title=title)

    monkeypatch.setattr(keras_attn.viz.callbacks, "plot_attention_heads", recording_plot)
    french = ["[START]", "dix", "[PAD]", "[PAD]", "[PAD]"]
    english = ["ten", "[PAD]", "[PAD]", "[PAD]"]
    maps = AttentionMapsCallback(
        tmp_path, INPUTS, layer_names=["decoder_block_0/cross_attention"],
        tokens={"decoder_block_0/cross_attention": (french, english)},
    )
    run_callback(maps, model, epochs=1)
    assert [(step, tag) for step, tag, _ in image_summaries(tmp_path)] == [
        (0, "attention/decoder_block_0/cross_attention")
    ]
    assert drawn == [((2, 5, 4), french, english, "decoder_block_0/cross_attention, epoch 1")]


def test_an_unknown_layer_name_stops_training_before_it_starts(tmp_path):
    model = translator()
    maps = AttentionMapsCallback(tmp_path, INPUTS, layer_names="decoder_block_9/self_attention")
    maps.set_model(model)
    message = ("Unknown attention layer(s) ['decoder_block_9/self_attention']. Expected names "
               f"from {LAYERS}. Received: layer_names=['decoder_block_9/self_attention']")
    with pytest.raises(ValueError, match=re.escape(message)):
        maps.on_train_begin()  # Keras calls it before the first step


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(every_n_epochs=0), "`every_n_epochs` must be a positive integer. Received: every_n_epochs=0"),
        (dict(example=-1), "`example` must be an integer >= 0. Received: example=-1"),
        (dict(tokens="abc"), "`tokens` must be None, a list of tokens, or a dict .* Received: tokens='abc'"),
    ],
)
def test_bad_arguments_raise_value_errors_that_name_them(tmp_path, kwargs, message):
    with pytest.raises(ValueError, match=message):
        AttentionMapsCallback(tmp_path, INPUTS, **kwargs)
