"""Trainer on one device: both loops agree, resume is step-exact, files and errors.

The tests with several replicas or workers are in test_distribute.py.
"""

import re

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_attn.data import random_windows
from keras_attn.models import build_gpt
from keras_attn.models import build_transformer
from keras_attn.training import AdamW
from keras_attn.training import MaskedAccuracy
from keras_attn.training import MaskedSparseCategoricalCrossentropy
from keras_attn.training import ModelCheckpoint
from keras_attn.training import Trainer
from keras_attn.training import make_strategy
from keras_attn.training import warmup_cosine_decay
from tests.training.helpers import GPT
from tests.training.helpers import LABELS
from tests.training.helpers import TRANSLATOR
from tests.helpers import summary_values
from tests.training.helpers import translator_batch

CORPUS = np.random.default_rng(0).integers(1, GPT.vocabulary_size, size=500).astype("int32")


def windows(batch_size=4):
    """Endless random windows: batch i depends only on i, as in every run."""
    return random_windows(CORPUS, GPT.max_sequence_length, batch_size, seed=0)


def compiled_gpt(trainer, seed=0, jit_compile=False):
    keras.utils.set_random_seed(seed)
    with trainer.scope():
        model = build_gpt(GPT)
        model.compile(optimizer=AdamW(warmup_cosine_decay(1e-2, 2, 12, 1e-3)),
                      loss=MaskedSparseCategoricalCrossentropy(pad_id=None),
                      metrics=[MaskedAccuracy(pad_id=None)], jit_compile=jit_compile)
    return model


def assert_same_weights(model, reference, atol=1e-6, skip_key_bias=False):
    assert len(model.weights) == len(reference.weights)
    for ours, theirs in zip(model.weights, reference.weights):
        if skip_key_bias and ours.path.endswith("key/bias"):
            # Softmax ignores the key bias: its gradient is rounding noise,
            # which Adam scales to full-size steps.
            continue
        np.testing.assert_allclose(ours.numpy(), theirs.numpy(), atol=atol, err_msg=ours.path)


@pytest.mark.parametrize("jit_compile", [False, pytest.param(True, marks=pytest.mark.slow)],
                         ids=["graph", "xla"])
def test_custom_loop_matches_fit_on_gpt(jit_compile):
    """The custom step does what Keras's train_step does: same weights, same logs."""
    histories, models = {}, {}
    for loop in ("fit", "custom"):
        trainer = Trainer("default", loop=loop)
        models[loop] = compiled_gpt(trainer, jit_compile=jit_compile)
        histories[loop] = trainer.fit(
            models[loop], windows(), steps=6, steps_per_epoch=3, verbose=0,
            validation_data=random_windows(CORPUS, GPT.max_sequence_length, 4, seed=1,
                                           num_batches=2),
        ).history
    assert sorted(histories["custom"]) == sorted(histories["fit"]) == [
        "accuracy", "loss", "val_accuracy", "val_loss"]
    for name, values in histories["fit"].items():
        np.testing.assert_allclose(histories["custom"][name], values, rtol=1e-5, err_msg=name)
    assert int(models["custom"].optimizer.iterations) == 6
    # XLA fuses fit's whole step, but only the custom loop's gradients.
    assert_same_weights(models["custom"], models["fit"], atol=1e-5, skip_key_bias=jit_compile)


def test_custom_loop_matches_fit_on_padded_translator():
    """Padding: the custom loop's loss and accuracy skip it, as fit's do."""
    batch = tf.data.Dataset.from_tensors((translator_batch(), LABELS))
    histories = {}
    for loop in ("fit", "custom"):
        trainer = Trainer("default", loop=loop)
        keras.utils.set_random_seed(0)
        with trainer.scope():
            model = build_transformer(TRANSLATOR)
            model.compile(optimizer=AdamW(1e-2), loss=MaskedSparseCategoricalCrossentropy(),
                          metrics=[MaskedAccuracy()])
        histories[loop] = trainer.fit(model, batch, steps=4, steps_per_epoch=1, verbose=0).history
    np.testing.assert_allclose(histories["custom"]["loss"], histories["fit"]["loss"], rtol=1e-5)
    np.testing.assert_allclose(histories["custom"]["accuracy"], histories["fit"]["accuracy"])
    # 11 real tokens of 18: accuracies are multiples of 1/11 (in float32, 7/11 * 11 may
    # be 6.9999995, whose `% 1` is near 1, not 0).
    counts = np.array(histories["custom"]["accuracy"]) * 11
    assert np.allclose(counts, np.round(counts), atol=1e-5)


class Interrupt(Exception):
    pass


class InterruptAfterStep(keras.callbacks.Callback):
    """Raises after global step `step` (from 1): a crash mid-run."""

    def __init__(self, step):
        super().__init__()
        self.step = step

    def on_train_batch_end(self, batch, logs=None):
        if int(self.model.optimizer.iterations) == self.step:
            raise Interrupt()


@pytest.mark.parametrize(
    "loop, backup_every, resumed_at",
    [("custom", 2, 4),  # a backup every 2 steps, within 3-step epochs
     ("fit", 3, 3)],    # the fit loop backs up at epoch ends
)
def test_an_interrupted_run_resumes_at_the_step_of_its_backup(tmp_path, loop, backup_every,
                                                              resumed_at):
    fit = dict(steps=9, steps_per_epoch=3, backup_every=backup_every, verbose=0)
    uninterrupted = compiled_gpt(Trainer("default", loop=loop))
    Trainer("default", loop=loop).fit(uninterrupted, windows(), **fit)

    trainer = Trainer("default", loop=loop)
    model = compiled_gpt(trainer)
    with pytest.raises(Interrupt):
        trainer.fit(model, windows(), out_dir=tmp_path, callbacks=[InterruptAfterStep(5)], **fit)
    assert tf.train.latest_checkpoint(str(tmp_path / "backup")).endswith(f"ckpt-{resumed_at}")

    # A new process would build a fresh model, with other initial weights.
    trainer = Trainer("default", loop=loop)
    model = compiled_gpt(trainer, seed=1)
    seen = []
    record = keras.callbacks.LambdaCallback(
        on_train_batch_begin=lambda batch, logs: seen.append(int(model.optimizer.iterations)))
    history = trainer.fit(model, windows(), out_dir=tmp_path, callbacks=[record], **fit)
    assert seen == list(range(resumed_at, 9))  # from the backup's step, each step once
    assert len(history.history["loss"]) == 3 - resumed_at // 3  # the epochs it ran
    assert int(model.optimizer.iterations) == 9
    assert_same_weights(model, uninterrupted)
    assert not (tmp_path / "backup").exists()  # deleted once training completes


def test_out_dir_holds_checkpoints_and_tensorboard_logs(tmp_path):
    trainer = Trainer("default", loop="custom")
    model = compiled_gpt(trainer)
    trainer.fit(model, windows(), steps=4, steps_per_epoch=2, out_dir=tmp_path, verbose=0,
                validation_data=random_windows(CORPUS, GPT.max_sequence_length, 4, num_batches=1),
                generate_fn=lambda model: "ROMEO:")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoints", "logs"]
    assert sorted(p.name for p in (tmp_path / "checkpoints").iterdir()) == ["last.keras"]
    assert sorted(p.name for p in (tmp_path / "logs").iterdir()) == [
        "samples", "train", "validation"]
    events = tmp_path / "logs" / "*" / "events.out.tfevents.*"
    tags = {value.tag for _, value in summary_values(events)}
    assert {"epoch_loss", "epoch_accuracy", "epoch_learning_rate", "sample"} <= tags
    restored = keras.saving.load_model(tmp_path / "checkpoints" / "last.keras")
    assert_same_weights(restored, model, atol=0)
    assert type(restored.optimizer) is AdamW


def test_evaluate_matches_keras_evaluate():
    data = random_windows(CORPUS, GPT.max_sequence_length, 4, seed=1, num_batches=3)
    trainer = Trainer("default", loop="custom")
    model = compiled_gpt(trainer)
    expected = model.evaluate(data, return_dict=True, verbose=0)
    results = trainer.evaluate(model, data)
    assert sorted(results) == sorted(expected) == ["accuracy", "loss"]
    for name in expected:
        np.testing.assert_allclose(results[name], expected[name], rtol=1e-6)


class InterruptAtTheEnd(keras.callbacks.Callback):
    def on_train_end(self, logs=None):
        raise Interrupt()


def test_a_run_that_died_after_its_last_step_is_not_trained_again(tmp_path):
    trainer = Trainer("default")
    model = compiled_gpt(trainer)
    with pytest.raises(Interrupt):  # after the last backup, before it is deleted
        trainer.fit(model, windows(), steps=2, out_dir=tmp_path, verbose=0,
                    callbacks=[InterruptAtTheEnd()])
    assert tf.train.latest_checkpoint(str(tmp_path / "backup")).endswith("ckpt-2")
    model = compiled_gpt(trainer, seed=1)
    history = trainer.fit(model, windows(), steps=2, out_dir=tmp_path, verbose=0)
    assert history.history == {} and int(model.optimizer.iterations) == 2
    assert not (tmp_path / "backup").exists()


def test_model_checkpoint_replaces_the_file_atomically(tmp_path, monkeypatch):
    model = compiled_gpt(Trainer("default"))
    path = tmp_path / "last.keras"
    checkpoint = ModelCheckpoint(path)
    checkpoint.set_model(model)
    checkpoint.on_epoch_end(0)
    before = path.read_bytes()

    def save_then_die(filepath, overwrite=True):  # a crash halfway through writing
        with open(filepath, "wb") as f:
            f.write(before[:100])
        raise KeyboardInterrupt()

    monkeypatch.setattr(model, "save", save_then_die)
    with pytest.raises(KeyboardInterrupt):
        checkpoint.on_epoch_end(1)
    assert path.read_bytes() == before  # the last whole checkpoint
    assert [p.name for p in tmp_path.iterdir()] == ["last.keras"]  # no temporary file left


def test_model_checkpoint_with_monitor_keeps_the_best_epoch(tmp_path):
    model = compiled_gpt(Trainer("default"))
    checkpoint = ModelCheckpoint(tmp_path / "best.weights.h5", monitor="val_loss",
                                 save_weights_only=True)
    checkpoint.set_model(model)
    saved = []
    for epoch, val_loss in enumerate([3.0, 2.0, 2.5, 1.0]):
        before = (tmp_path / "best.weights.h5").stat().st_mtime_ns if saved else None
        checkpoint.on_epoch_end(epoch, {"val_loss": val_loss})
        if before != (tmp_path / "best.weights.h5").stat().st_mtime_ns:
            saved.append(epoch)
    assert saved == [0, 1, 3] and checkpoint.best == 1.0
    with pytest.warns(UserWarning, match="`val_loss` is not in the epoch logs"):
        checkpoint.on_epoch_end(4, {"loss": 0.5})


def test_bad_arguments():
    trainer = Trainer("default")
    model = compiled_gpt(trainer)
    cases = [
        (dict(steps=0), "`steps` must be a positive integer. Received: steps=0"),
        (dict(steps=10, steps_per_epoch=3),
         "`steps` must be a multiple of `steps_per_epoch`. Received: steps=10, steps_per_epoch=3"),
        (dict(steps=6, steps_per_epoch=3, backup_every=2),
         "`backup_every` must be a multiple of steps_per_epoch=3 (or use loop='custom'). "
         "Received: backup_every=2"),
    ]
    for kwargs, message in cases:
        with pytest.raises(ValueError) as error:
            trainer.fit(model, windows(), **kwargs)
        assert message in str(error.value)
    message = "`dataset` must be a tf.data.Dataset. Received: dataset=ndarray"
    with pytest.raises(ValueError, match=re.escape(message)):
        trainer.fit(model, CORPUS, steps=2)
    uncompiled = build_gpt(GPT)
    message = f"`model` must be a compiled keras.Model. Received: model={uncompiled!r}"
    with pytest.raises(ValueError, match=re.escape(message)):
        trainer.fit(uncompiled, windows(), steps=2)
    message = ("`strategy` must be a name ('default', 'mirrored', 'multi_worker', 'tpu') or a "
               "tf.distribute.Strategy. Received: strategy=2")
    with pytest.raises(ValueError, match=re.escape(message)):
        Trainer(2)
    with pytest.raises(ValueError, match=re.escape(message.replace("=2", "='gpu'"))):
        Trainer("gpu")


def test_custom_loop_needs_a_static_batch_size():
    trainer = Trainer("default", loop="custom")
    model = compiled_gpt(trainer)
    inputs = CORPUS[:90].reshape(10, 9)
    ragged_end = tf.data.Dataset.from_tensor_slices((inputs[:, :-1], inputs[:, 1:])).batch(4)
    message = (f"`dataset` must have a static batch size with loop='custom' on "
               f"{type(trainer.strategy).__name__}: batch it with drop_remainder=True. "
               "Received: dataset with shapes [TensorShape([None, 8]), TensorShape([None, 8])]")
    with pytest.raises(ValueError, match=re.escape(message)):
        trainer.fit(model, ragged_end, steps=2)
    trainer.fit(model, ragged_end.unbatch().batch(4, drop_remainder=True), steps=3, verbose=0)
    assert int(model.optimizer.iterations) == 3


def test_the_model_must_be_built_in_the_trainers_scope():
    model = compiled_gpt(Trainer("default"))
    trainer = Trainer("mirrored")  # one replica on this CPU, but another strategy
    message = ("`model` was built outside this Trainer's strategy: build and compile it inside "
               "`with trainer.scope():`. Received: model.distribute_strategy="
               f"{type(model.distribute_strategy).__name__}, strategy=MirroredStrategy")
    with pytest.raises(ValueError, match=re.escape(message)):
        trainer.fit(model, windows(), steps=2)


def test_tpu_strategy_without_a_tpu_is_a_clear_error():
    with pytest.raises(ValueError) as error:
        make_strategy("tpu")
    message = str(error.value)
    assert message.startswith("No TPU found for name='tpu' (tpu=None): ")
    assert "\n" not in message and "TPU_NAME" in message

