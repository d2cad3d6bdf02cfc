"""Training callbacks: TensorBoard scalars and text samples, checkpoints, resume.

`standard_callbacks(out_dir)` gives the usual set, laid out as:

```
out_dir/
  backup/                     BackupAndRestore's state: weights, optimizer, epoch.
                              Deleted when `fit` ends; a rerun after an
                              interruption resumes from the last completed epoch.
  checkpoints/last.keras      the model after the latest epoch (.weights.h5 with
                              save_weights_only=True), replaced atomically
  checkpoints/best.keras      with `monitor`: the best epoch so far
  logs/train/, logs/validation/   TensorBoard scalars per epoch: loss, metrics,
                              learning_rate
  logs/samples/               TensorBoard text: a generated sample every N epochs
```

`TextSamples` (with `gpt_sampler` to feed it) and `ModelCheckpoint` are
written here: Keras has no callback for text summaries, and its
`ModelCheckpoint` writes the file in place, so a run killed mid-write
leaves a truncated checkpoint. The rest are Keras's own. `TextSamples`
takes any `fn(model) -> str`.

`keras_attn.training.Trainer` uses the same layout, with its own step-exact
backup in place of `BackupAndRestore` (see its docstring).
"""

import os
import pathlib
import warnings

import keras
import tensorflow as tf

from keras_attn.checks import check_number
from keras_attn.checks import check_positive_int
from keras_attn.generation.gpt_generator import GPTGenerator


class TextSamples(keras.callbacks.Callback):
    """Logs `generate_fn(model)` as TensorBoard text every `every_n_epochs` epochs.

    The text is written with `tf.summary.text` under `tag`, at step `epoch`
    (from 0, as `keras.callbacks.TensorBoard` numbers its epoch scalars), and
    indented by four spaces so that TensorBoard's markdown keeps its line
    breaks.

    Args:
        log_dir: directory of the event file (e.g. `out_dir/logs/samples`).
        generate_fn: `fn(model) -> str` (bytes or a scalar string tensor
            also do), e.g. from `gpt_sampler`.
        every_n_epochs: int, log after epochs `n - 1, 2n - 1, ...` (0-based).
        tag: the summary's name in TensorBoard.

    Example:

    >>> import tempfile
    >>> samples = TextSamples(tempfile.mkdtemp(), lambda model: "ROMEO:", every_n_epochs=2)
    >>> samples.every_n_epochs, samples.tag
    (2, 'sample')
    """

    def __init__(self, log_dir, generate_fn, every_n_epochs=1, tag="sample"):
        if not callable(generate_fn):
            raise ValueError(
                "`generate_fn` must be a function `fn(model) -> str`. "
                f"Received: generate_fn={generate_fn!r}"
            )
        check_positive_int("every_n_epochs", every_n_epochs)
        super().__init__()
        self.log_dir = str(log_dir)
        self.generate_fn = generate_fn
        self.every_n_epochs = every_n_epochs
        self.tag = tag
        self._writer = None

    def on_epoch_end(self, epoch, logs=None):
        if (epoch + 1) % self.every_n_epochs:
            return
        text = self.generate_fn(self.model)
        if tf.is_tensor(text):  # a detokenizer's scalar string tensor
            text = text.numpy()
        if isinstance(text, bytes):
            text = text.decode("utf-8", errors="replace")
        markdown = "\n".join("    " + line for line in str(text).split("\n"))
        if self._writer is None:
            self._writer = tf.summary.create_file_writer(self.log_dir)
        with self._writer.as_default():
            tf.summary.text(self.tag, markdown, step=epoch)
        self._writer.flush()

    def on_train_end(self, logs=None):
        if self._writer is not None:
            self._writer.close()
            self._writer = None


def gpt_sampler(prompt_ids, max_new_tokens, detokenize, temperature=0.0, seed=0):
    """A `generate_fn(model) -> str` that continues a prompt with a GPT, for `TextSamples`.

    It runs `keras_attn.generation.GPTGenerator`, the cached decoder, made
    once per model (its compiled loop reads the weights as they train).
    Each call uses the same seed, so samples from different epochs differ
    only through the model.

    Args:
        prompt_ids: the prompt's token ids.
        max_new_tokens: int, tokens to add; with the prompt, at most the
            model's context (checked when called on a model).
        detokenize: `fn(list of ids) -> str`.
        temperature: 0 for greedy decoding, else sample from
            `softmax(logits / temperature)`.
        seed: int, the seed of the draw.

    Example:

    >>> from keras_attn.models import GPTConfig, build_gpt
    >>> model = build_gpt(GPTConfig.preset("baby", vocabulary_size=10, num_layers=1))
    >>> generate = gpt_sampler([1, 2], 4, detokenize=str)
    >>> len(eval(generate(model)))   # the prompt and 4 new tokens
    6
    """
    check_positive_int("max_new_tokens", max_new_tokens)
    check_number("temperature", temperature, minimum=0)
    if not callable(detokenize):
        raise ValueError(
            "`detokenize` must be a function `fn(ids) -> str`. "
            f"Received: detokenize={detokenize!r}"
        )
    prompt_ids = [int(i) for i in prompt_ids]
    if not prompt_ids:
        raise ValueError("`prompt_ids` must hold at least one token. Received: prompt_ids=[]")
    generators = {}  # id(model) -> its GPTGenerator

    def generate(model):
        if id(model) not in generators:
            generators[id(model)] = GPTGenerator(model)
        generator = generators[id(model)]
        if len(prompt_ids) + max_new_tokens > generator.context_length:
            # GPTGenerator would clamp the request; a sample asked for is not cut short.
            raise ValueError(
                f"The prompt's {len(prompt_ids)} tokens and `max_new_tokens` must fit the "
                f"model's context of {generator.context_length} tokens. "
                f"Received: max_new_tokens={max_new_tokens}")
        new = generator.generate([prompt_ids], max_new_tokens, temperature=temperature, seed=seed)
        return detokenize(prompt_ids + new[0])

    return generate


class ModelCheckpoint(keras.callbacks.Callback):
    """Saves the model (or its weights) after each epoch, replacing the file atomically.

    The model is first saved to a temporary file in the same directory
    (`.tmp-<pid>-<name>`), which `os.replace` then renames over `filepath`.
    The rename is atomic within one filesystem, so `filepath` always holds
    a whole checkpoint, the previous one or the new one, even when the
    run is killed while saving. Keras's `ModelCheckpoint` writes in place.

    Args:
        filepath: path ending in `.keras` (the model, optimizer state and
            compile arguments), or in `.weights.h5` with
            `save_weights_only=True`.
        monitor: None to save after every epoch (the default), or a key of
            the epoch logs, e.g. `"val_loss"`, to save only the epochs that
            improve on the best so far.
        mode: `"min"`, `"max"` or `"auto"` (`"max"` when `monitor` names an
            accuracy, i.e. holds `"acc"`; else `"min"`).
        save_weights_only: save `model.save_weights(...)` instead of
            `model.save(...)`.

    Example:

    >>> import tempfile
    >>> checkpoint = ModelCheckpoint(tempfile.mkdtemp() + "/best.keras", monitor="val_accuracy")
    >>> checkpoint.mode
    'max'
    >>> ModelCheckpoint("last.h5")
    Traceback (most recent call last):
    ...
    ValueError: `filepath` must end in .keras (.weights.h5 with save_weights_only=True). Received: filepath='last.h5'
    """

    def __init__(self, filepath, monitor=None, mode="auto", save_weights_only=False):
        suffix = ".weights.h5" if save_weights_only else ".keras"
        if not str(filepath).endswith(suffix):
            raise ValueError(
                f"`filepath` must end in {suffix}"
                + ("" if save_weights_only else " (.weights.h5 with save_weights_only=True)")
                + f". Received: filepath={str(filepath)!r}"
            )
        if mode not in ("auto", "min", "max"):
            raise ValueError(f"`mode` must be 'auto', 'min' or 'max'. Received: mode={mode!r}")
        super().__init__()
        self.filepath = str(filepath)
        self.monitor = monitor
        if mode == "auto":
            mode = "max" if monitor is not None and "acc" in monitor else "min"
        self.mode = mode
        self.save_weights_only = save_weights_only
        self.best = None

    def _improves(self, value):
        if self.best is None:
            return True
        return value < self.best if self.mode == "min" else value > self.best

    def on_epoch_end(self, epoch, logs=None):
        if self.monitor is not None:
            value = (logs or {}).get(self.monitor)
            if value is None:
                warnings.warn(
                    f"ModelCheckpoint: `{self.monitor}` is not in the epoch logs "
                    f"({sorted(logs or {})}); {self.filepath} was not saved."
                )
                return
            if not self._improves(float(value)):
                return
            self.best = float(value)
        self.save(self.filepath)

    def save(self, filepath):
        """Saves the model to `filepath` through a temporary file and `os.replace`."""
        path = pathlib.Path(filepath)
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(f".tmp-{os.getpid()}-{path.name}")
        try:
            if self.save_weights_only:
                self.model.save_weights(str(temporary), overwrite=True)
            else:
                self.model.save(str(temporary), overwrite=True)
            os.replace(temporary, path)
        finally:
            if temporary.exists():  # the save failed
                temporary.unlink()


def standard_callbacks(out_dir, generate_fn=None, sample_every_n_epochs=1,
                       save_weights_only=False, monitor=None, mode="auto",
                       update_freq="epoch", backup=True):
    """Backup and resume, checkpoints, TensorBoard scalars and text samples.

    Returns, in this order (see the module docstring for the layout):

    1. `keras.callbacks.BackupAndRestore(out_dir/backup, double_checkpoint=True)`:
       saves weights, optimizer state and epoch after each epoch (keeping
       the previous backup in case a write is cut short). When `fit` is
       called again with the same `epochs` after an interruption, it
       reloads them and goes on from the last completed epoch; the steps of
       an unfinished epoch are redone. Keep epochs short (`steps_per_epoch`)
       to lose little. The data iterator starts again too, so an endless
       dataset (`random_windows`) replays its first batches after a resume;
       `Trainer` resumes at the exact batch instead.
    2. `ModelCheckpoint` to `checkpoints/last.keras` (or
       `last.weights.h5`), each epoch, replaced atomically; with `monitor`,
       a second one to `checkpoints/best.keras` that keeps the best epoch.
    3. `keras.callbacks.TensorBoard(out_dir/logs)`: loss, metrics and the
       learning rate.
    4. With `generate_fn`, `TextSamples(out_dir/logs/samples)`.

    Args:
        out_dir: the run's directory; created as needed.
        generate_fn: None, or `fn(model) -> str` (e.g. `gpt_sampler(...)`).
        sample_every_n_epochs: int, how often to log a sample.
        save_weights_only: checkpoints as `.weights.h5` instead of `.keras`.
        monitor: None, or the metric that picks `best` (e.g. `"val_loss"`).
        mode: `"auto"`, `"min"` or `"max"`, for `monitor`.
        update_freq: TensorBoard's: `"epoch"`, `"batch"` or an int.
        backup: False to leave out `BackupAndRestore` (`Trainer` has its own).

    Example:

    >>> import tempfile
    >>> callbacks = standard_callbacks(tempfile.mkdtemp(), monitor="val_loss")
    >>> [type(c).__name__ for c in callbacks]
    ['BackupAndRestore', 'ModelCheckpoint', 'ModelCheckpoint', 'TensorBoard']
    >>> [type(c).__name__ for c in standard_callbacks(tempfile.mkdtemp(), backup=False)]
    ['ModelCheckpoint', 'TensorBoard']
    >>> [pathlib.Path(c.filepath).name for c in callbacks[1:3]]
    ['last.keras', 'best.keras']
    """
    out_dir = pathlib.Path(out_dir)
    suffix = ".weights.h5" if save_weights_only else ".keras"
    callbacks = []
    if backup:
        callbacks.append(
            keras.callbacks.BackupAndRestore(str(out_dir / "backup"), double_checkpoint=True)
        )
    callbacks.append(
        ModelCheckpoint(
            out_dir / "checkpoints" / f"last{suffix}", save_weights_only=save_weights_only
        )
    )
    if monitor is not None:
        callbacks.append(
            ModelCheckpoint(
                out_dir / "checkpoints" / f"best{suffix}",
                monitor=monitor,
                mode=mode,
                save_weights_only=save_weights_only,
            )
        )
    callbacks.append(keras.callbacks.TensorBoard(str(out_dir / "logs"), update_freq=update_freq))
    if generate_fn is not None:
        callbacks.append(
            TextSamples(out_dir / "logs" / "samples", generate_fn, sample_every_n_epochs)
        )
    return callbacks
