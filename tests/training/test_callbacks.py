import json

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_attn.models import GPTConfig
from keras_attn.models import build_gpt
from keras_attn.training import AdamW
from keras_attn.training import MaskedAccuracy
from keras_attn.training import MaskedSparseCategoricalCrossentropy
from keras_attn.training import TextSamples
from keras_attn.training import gpt_sampler
from keras_attn.training import standard_callbacks
from keras_attn.training import warmup_cosine_decay
from tests.helpers import summary_values

VOCAB, T = 12, 8
TINY = GPTConfig(vocabulary_size=VOCAB, max_sequence_length=T, num_layers=1, num_heads=2,
                 hidden_dim=16)
# 16 windows of a repeating sequence: 2 batches of 8 per epoch.
WINDOWS = np.array([[(i + j) % (VOCAB - 1) + 1 for j in range(T + 1)] for i in range(16)], "int32")
X, Y = WINDOWS[:, :-1], WINDOWS[:, 1:]


def compiled_gpt(seed=0):
    keras.utils.set_random_seed(seed)
    model = build_gpt(TINY)
    model.compile(optimizer=AdamW(warmup_cosine_decay(1e-2, 2, 8, 1e-3)),
                  loss=MaskedSparseCategoricalCrossentropy(), metrics=[MaskedAccuracy()])
    return model


def text_summaries(log_dir):
    """`[(step, tag, text)]` from the event files in `log_dir`."""
    return [(step, value.tag, value.tensor.string_val[0].decode())
            for step, value in summary_values(log_dir)
            if value.metadata.plugin_data.plugin_name == "text"]


def scalar_tags(log_dir):
    return {value.tag for _, value in summary_values(log_dir)}


def test_text_samples_are_written_as_tensorboard_text(tmp_path):
    model = compiled_gpt()
    generate = gpt_sampler([1, 2, 3], 5, detokenize=lambda ids: " ".join(map(str, ids)))
    samples = TextSamples(tmp_path, generate, every_n_epochs=2, tag="gpt_sample")
    model.fit(X, Y, batch_size=8, epochs=5, shuffle=False, verbose=0, callbacks=[samples])
    written = text_summaries(tmp_path)
    assert [(step, tag) for step, tag, _ in written] == [(1, "gpt_sample"), (3, "gpt_sample")]
    # The last one is the final model's greedy continuation, indented for markdown.
    assert written[-1][2] == "    " + generate(model)
    assert written[-1][2].startswith("    1 2 3 ") and len(written[-1][2].split()) == 8


@pytest.mark.parametrize("text", ["ROMEO:\nHa!", b"ROMEO:\nHa!", tf.constant("ROMEO:\nHa!")],
                         ids=["str", "bytes", "tensor"])
def test_text_samples_take_strings_bytes_or_string_tensors(tmp_path, text):
    samples = TextSamples(tmp_path, lambda model: text)
    samples.on_epoch_end(4)
    samples.on_train_end()
    assert text_summaries(tmp_path) == [(4, "sample", "    ROMEO:\n    Ha!")]


def test_gpt_sampler_continues_with_the_cached_generator():
    model = compiled_gpt()
    ids = [1, 2, 3]
    for _ in range(4):  # greedy decoding, by hand
        ids.append(int(np.argmax(model(np.array([ids]))[0, -1])))
    assert gpt_sampler([1, 2, 3], 4, detokenize=list)(model) == ids
    # Sampling is seeded: the same seed gives the same text, another seed another.
    hot = gpt_sampler([1], 7, detokenize=list, temperature=10.0, seed=7)
    assert hot(model) == hot(model) != gpt_sampler(
        [1], 7, detokenize=list, temperature=10.0, seed=8)(model)
    # A sample longer than the context is refused, not cut short.
    context = model.context_length
    assert len(gpt_sampler([1, 2], context - 2, detokenize=list)(model)) == context
    with pytest.raises(ValueError, match=rf"context of {context} tokens\. Received: "
                                         rf"max_new_tokens={context - 1}$"):
        gpt_sampler([1, 2], context - 1, detokenize=list)(model)


def test_standard_callbacks_layout(tmp_path):
    model = compiled_gpt()
    generate = gpt_sampler([1, 2], 3, detokenize=str)
    callbacks = standard_callbacks(tmp_path, generate_fn=generate, monitor="val_loss")
    model.fit(X, Y, validation_data=(X[:8], Y[:8]), batch_size=8, epochs=2, verbose=0,
              callbacks=callbacks)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoints", "logs"]  # backup deleted
    assert sorted(p.name for p in (tmp_path / "checkpoints").iterdir()) == ["best.keras", "last.keras"]
    assert sorted(p.name for p in (tmp_path / "logs").iterdir()) == ["samples", "train", "validation"]
    assert {"epoch_loss", "epoch_accuracy", "epoch_learning_rate"} <= scalar_tags(tmp_path / "logs" / "train")
    assert [step for step, _, _ in text_summaries(tmp_path / "logs" / "samples")] == [0, 1]
    # The last checkpoint is the trained model, with its training setup.
    restored = keras.models.load_model(tmp_path / "checkpoints" / "last.keras")
    np.testing.assert_allclose(restored(X), model(X), atol=1e-6)
    assert type(restored.optimizer) is AdamW and type(restored.loss) is MaskedSparseCategoricalCrossentropy


def test_standard_callbacks_weights_only(tmp_path):
    callbacks = standard_callbacks(tmp_path, save_weights_only=True)
    assert [type(c).__name__ for c in callbacks] == ["BackupAndRestore", "ModelCheckpoint", "TensorBoard"]
    assert callbacks[1].filepath == str(tmp_path / "checkpoints" / "last.weights.h5")


class Interrupt(Exception):
    pass


class InterruptInEpoch(keras.callbacks.Callback):
    """Raises after the first batch of epoch `epoch` (0-based): a crash mid-epoch."""

    def __init__(self, epoch):
        super().__init__()
        self.epoch, self.current = epoch, None

    def on_epoch_begin(self, epoch, logs=None):
        self.current = epoch

    def on_train_batch_end(self, batch, logs=None):
        if self.current == self.epoch:
            raise Interrupt()


class RecordEpochs(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.epochs = []

    def on_epoch_begin(self, epoch, logs=None):
        self.epochs.append(epoch)


def test_an_interrupted_run_resumes_where_it_stopped(tmp_path):
    fit = dict(x=X, y=Y, batch_size=8, epochs=4, shuffle=False, verbose=0)
    uninterrupted = compiled_gpt()
    uninterrupted.fit(**fit)

    # Run 1 dies after one step of the third epoch (epochs 1 and 2 done).
    model = compiled_gpt()
    with pytest.raises(Interrupt):
        model.fit(**fit, callbacks=standard_callbacks(tmp_path) + [InterruptInEpoch(2)])
    backup = tmp_path / "backup"
    assert json.loads((backup / "training_metadata.json").read_text())["epoch"] == 2

    # Run 2: a new process would build a fresh model (other initial weights).
    model = compiled_gpt(seed=1)
    epochs = RecordEpochs()
    model.fit(**fit, callbacks=standard_callbacks(tmp_path) + [epochs])
    assert epochs.epochs == [2, 3]  # the third and fourth epochs, not from the first
    assert int(model.optimizer.iterations) == int(uninterrupted.optimizer.iterations) == 8
    for ours, reference in zip(model.weights, uninterrupted.weights):
        np.testing.assert_allclose(ours.numpy(), reference.numpy(), atol=1e-6, err_msg=ours.path)
    assert not backup.exists()  # deleted once training completes
