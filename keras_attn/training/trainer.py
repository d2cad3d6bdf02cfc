"""`Trainer`: `steps` training steps on one device, several GPUs, several machines or a TPU.

```
trainer = Trainer("mirrored")            # first thing in the program
with trainer.scope():                    # the model's variables live on every replica
    model = build_gpt(config)
    model.compile(optimizer=AdamW(...), loss=MaskedSparseCategoricalCrossentropy(pad_id=None))
trainer.fit(model, random_windows(ids, 64, 12), steps=2000, steps_per_epoch=200, out_dir="runs/gpt")
```

Two training loops, the same callbacks:

    fit      Keras's `model.fit`: the default strategy, MirroredStrategy, TPUStrategy.
    custom   `strategy.run` of a step with `tf.GradientTape`, the model's
             compiled loss, optimizer and metrics, over
             `strategy.experimental_distribute_dataset`. For
             MultiWorkerMirroredStrategy, where `model.fit` fails with Keras 3
             (keras-team/keras#20585: `fit` converts the first distributed
             batch to a tensor and raises "Attempt to convert a value
             (PerReplica:...) with an unsupported type"). Any strategy can use it.

`out_dir` gets the layout of `standard_callbacks`, with the Trainer's own
backup in place of `BackupAndRestore`:

```
out_dir/
  backup/                   model weights, optimizer state and the step
                            (`tf.train.CheckpointManager`, the last 2 kept),
                            every `backup_every` steps; deleted when training ends
  checkpoints/last.keras    the model after each epoch, replaced atomically
  logs/train/, logs/validation/, logs/samples/   TensorBoard
```

Resume: run the same program again. The Trainer restores the backup and
goes on from its step, skipping the batches already trained on, so an
interrupted run ends with the weights of an uninterrupted one when batch
`i` of `dataset` is the same in every run (`random_windows` and the seeded
`translation_batches` are). The fit loop can only restart at an epoch
boundary, so `backup_every` must be a multiple of `steps_per_epoch` there;
the custom loop resumes at any step.

Several workers (MultiWorkerMirroredStrategy): every worker runs the same
program. The chief writes `out_dir`; the others write the same files to a
temporary directory that is deleted at the end (TensorFlow's multi-worker
guide: some saves need every worker). On resume every worker reads the
chief's backup, so `out_dir` must be on storage that all of them can read.
"""

import pathlib
import shutil
import tempfile

import keras
import tensorflow as tf

from keras_attn.checks import check_positive_int
from keras_attn.training.callbacks import standard_callbacks
from keras_attn.training.distribute import is_chief
from keras_attn.training.distribute import STRATEGIES
from keras_attn.training.distribute import make_strategy

LOOPS = ("auto", "fit", "custom")


def _batch_size(x):
    return tf.shape(next(t for t in tf.nest.flatten(x) if t is not None))[0]


class _Backup:
    """Weights, optimizer state and step, saved to `write_dir` and restored from `read_dir`."""

    def __init__(self, model, read_dir, write_dir):
        self.step = tf.Variable(0, dtype=tf.int64, trainable=False, name="backup_step")
        self.checkpoint = tf.train.Checkpoint(
            model=model, optimizer=model.optimizer, step=self.step
        )
        self.read_dir = str(read_dir)
        self.write_dir = str(write_dir)
        # Its `checkpoint` file, which names the latest backup, is replaced atomically after
        # the backup's files are written: a save cut short leaves the previous one.
        self.manager = tf.train.CheckpointManager(self.checkpoint, self.write_dir, max_to_keep=2)

    def restore(self):
        """The step of the latest backup (0 if none), after loading it."""
        path = tf.train.latest_checkpoint(self.read_dir)
        if path is None:
            return 0
        self.checkpoint.restore(path).assert_existing_objects_matched()
        return int(self.step.numpy())

    def save(self, step):
        self.step.assign(step)
        self.manager.save(checkpoint_number=step)

    def delete(self):
        shutil.rmtree(self.write_dir, ignore_errors=True)


class _BackupAtEpochEnd(keras.callbacks.Callback):
    """The fit loop's backup: every `every` steps, at the end of an epoch."""

    def __init__(self, backup, steps_per_epoch, every):
        super().__init__()
        self.backup, self.steps_per_epoch, self.every = backup, steps_per_epoch, every

    def on_epoch_end(self, epoch, logs=None):
        step = (epoch + 1) * self.steps_per_epoch
        if step % self.every == 0:
            self.backup.save(step)


class _CustomSteps:
    """The custom loop's compiled train and test steps for one model."""

    def __init__(self, strategy, model):
        with strategy.scope():
            self.loss = keras.metrics.Mean(name="loss")
        self.model = model
        replicas = strategy.num_replicas_in_sync

        # On each replica. Under XLA when the model was compiled with
        # jit_compile=True, but not the gradient all-reduce: XLA can't
        # compile collectives on CPUs.
        @tf.function(jit_compile=model.jit_compile)
        def gradients(data):
            x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
            with tf.GradientTape() as tape:
                y_pred = model(x, training=True)
                # Keras losses (reduction "sum_over_batch_size") divide the
                # replica's mean by the number of replicas, so the summed
                # gradients are those of the mean over the global batch.
                loss = model.compute_loss(x, y, y_pred, sample_weight, training=True)
                scaled_loss = model.optimizer.scale_loss(loss)  # float16's loss scaling
            grads = tape.gradient(scaled_loss, model.trainable_variables)
            self.loss.update_state(loss * replicas, sample_weight=_batch_size(x))
            model.compute_metrics(x, y, y_pred, sample_weight)
            return grads

        def train_step(data):
            grads = gradients(data)
            model.optimizer.apply_gradients(zip(grads, model.trainable_variables))

        @tf.function(jit_compile=model.jit_compile)
        def test_step(data):
            x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
            y_pred = model(x, training=False)
            loss = model.compute_loss(x, y, y_pred, sample_weight, training=False)
            self.loss.update_state(loss * replicas, sample_weight=_batch_size(x))
            model.compute_metrics(x, y, y_pred, sample_weight)

        @tf.function
        def train(iterator):
            strategy.run(train_step, args=(next(iterator),))
            return self.results()  # read across replicas (and workers)

        @tf.function
        def test(data):
            strategy.run(test_step, args=(data,))

        self.train, self.test = train, test

    def results(self):
        metrics = self.model.get_metrics_result()  # its "loss" is fit's, unused here
        return {"loss": self.loss.result(), **{k: v for k, v in metrics.items() if k != "loss"}}

    def reset(self):
        self.model.reset_metrics()
        self.loss.reset_state()


class Trainer:
    """Trains a compiled Keras model for `steps` steps under a `tf.distribute` strategy.

    Create the Trainer first thing in the program (see `make_strategy`),
    build and compile the model inside `trainer.scope()`, then call `fit`.
    `fit` uses Keras's `model.fit` where Keras supports the strategy, and a
    custom loop where it does not (MultiWorkerMirroredStrategy), with the
    same callbacks, checkpoints, TensorBoard logs and step-exact resume;
    see the module docstring.

    The custom loop gives what `fit` would: the model's compiled loss
    (divided by the number of replicas, as Keras does, so the gradients
    are those of the global batch's mean loss), its optimizer (loss
    scaling under `mixed_float16` included), its compiled metrics, XLA
    with `jit_compile=True` (all but the gradient all-reduce), and the
    logs `loss` and metrics, averaged over the epoch so far. With padding,
    the loss is the mean of each replica's mean over its real tokens,
    as under `fit` with MirroredStrategy.

    Args:
        strategy: `"default"`, `"mirrored"`, `"multi_worker"`, `"tpu"` (made
            by `make_strategy`), or a `tf.distribute.Strategy`.
        loop: `"auto"` (custom for MultiWorkerMirroredStrategy, else
            fit), `"fit"` or `"custom"`.
        tpu: the TPU's name or address, for `strategy="tpu"`.

    Example: 4 steps, 2 per epoch, on one device.

    >>> import numpy as np
    >>> from keras_attn import data, models, training
    >>> trainer = Trainer("default")
    >>> trainer.loop, trainer.is_chief
    ('fit', True)
    >>> with trainer.scope():
    ...     model = models.build_gpt(models.GPTConfig(
    ...         vocabulary_size=16, max_sequence_length=8, num_layers=1, num_heads=2,
    ...         hidden_dim=16))
    ...     model.compile(optimizer="adam",
    ...                   loss=training.MaskedSparseCategoricalCrossentropy(pad_id=None))
    >>> windows = data.random_windows(np.arange(100) % 16, sequence_length=8, batch_size=4)
    >>> history = trainer.fit(model, windows, steps=4, steps_per_epoch=2, verbose=0)
    >>> len(history.history["loss"]), int(model.optimizer.iterations)
    (2, 4)
    >>> Trainer("default", loop="keras")
    Traceback (most recent call last):
    ...
    ValueError: `loop` must be one of ('auto', 'fit', 'custom'). Received: loop='keras'
    """

    def __init__(self, strategy="default", *, loop="auto", tpu=None):
        # What run.json records: the name asked for, or the strategy's class.
        self.strategy_name = strategy if isinstance(strategy, str) else type(strategy).__name__
        if isinstance(strategy, str) and strategy in STRATEGIES:
            strategy = make_strategy(strategy, tpu=tpu)
        elif not isinstance(strategy, tf.distribute.Strategy):
            raise ValueError(
                "`strategy` must be a name ('default', 'mirrored', 'multi_worker', 'tpu') "
                f"or a tf.distribute.Strategy. Received: strategy={strategy!r}"
            )
        if loop not in LOOPS:
            raise ValueError(f"`loop` must be one of {LOOPS}. Received: loop={loop!r}")
        multi_worker = isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy)
        if loop == "fit" and multi_worker:
            raise ValueError(
                "`model.fit` fails under MultiWorkerMirroredStrategy with Keras 3 "
                "(keras-team/keras#20585); use the custom loop. Received: loop='fit'"
            )
        self.strategy = strategy
        self.loop = ("custom" if multi_worker else "fit") if loop == "auto" else loop
        self._steps = None  # the _CustomSteps of the last model

    @property
    def is_chief(self):
        """Whether this process writes `out_dir` (False on non-chief workers)."""
        return is_chief(self.strategy)

    def scope(self):
        """`strategy.scope()`: build and compile the model inside it."""
        return self.strategy.scope()

    def fit(self, model, dataset, *, steps, steps_per_epoch=None, validation_data=None,
            out_dir=None, callbacks=None, generate_fn=None, backup_every=None, verbose=1):
        """Trains `model` for `steps` steps (minus those of a backup it resumes).

        Args:
            model: a compiled `keras.Model`, built inside `self.scope()`.
            dataset: a `tf.data.Dataset` of `(x, y)` or `(x, y,
                sample_weight)` global batches (split between replicas);
                repeated if finite. The custom loop and TPUs need a static
                batch size (`drop_remainder=True`, as `keras_attn.data`
                pipelines batch by default).
            steps: positive int, the training steps of the whole run.
            steps_per_epoch: int dividing `steps`, the steps between
                validations, checkpoints and TensorBoard epoch logs.
                Defaults to `steps` (one epoch).
            validation_data: None, or a finite `tf.data.Dataset` evaluated
                after each epoch (`val_` logs).
            out_dir: None (no files), or the run's directory: backup,
                checkpoints and TensorBoard logs (see the module docstring).
            callbacks: more `keras.callbacks.Callback`s.
            generate_fn: with `out_dir`, `fn(model) -> str` for TensorBoard
                text samples each epoch (see `TextSamples`).
            backup_every: steps between backups. Defaults to
                `steps_per_epoch`; a multiple of it with the fit loop.
            verbose: 0, 1 (progress bar) or 2 (a line per epoch); 0 on
                non-chief workers.

        Returns:
            A `keras.callbacks.History` of the epochs run by this call.
        """
        self._check_model(model)
        check_positive_int("steps", steps)
        steps_per_epoch = steps if steps_per_epoch is None else steps_per_epoch
        check_positive_int("steps_per_epoch", steps_per_epoch)
        if steps % steps_per_epoch:
            raise ValueError(
                "`steps` must be a multiple of `steps_per_epoch`. Received: "
                f"steps={steps}, steps_per_epoch={steps_per_epoch}"
            )
        backup_every = steps_per_epoch if backup_every is None else backup_every
        check_positive_int("backup_every", backup_every)
        if self.loop == "fit" and backup_every % steps_per_epoch:
            raise ValueError(
                "With the fit loop, backups happen at the end of epochs: `backup_every` must "
                f"be a multiple of steps_per_epoch={steps_per_epoch} (or use loop='custom'). "
                f"Received: backup_every={backup_every}"
            )
        self._check_dataset(dataset)
        chief = self.is_chief
        verbose = verbose if chief else 0
        if out_dir is not None:
            out_dir = pathlib.Path(out_dir)
            run_dir = out_dir if chief else pathlib.Path(tempfile.mkdtemp(prefix="keras_attn_"))
        with self.strategy.scope():
            model.optimizer.build(model.trainable_variables)  # before restoring its state
        try:
            backup = None
            if out_dir is not None:
                backup = _Backup(model, read_dir=out_dir / "backup", write_dir=run_dir / "backup")
            start = 0 if backup is None else backup.restore()
            if self.loop == "fit" and start % steps_per_epoch:
                raise ValueError(
                    f"The backup in {out_dir / 'backup'} is at step {start}, within an epoch: "
                    "the fit loop can only resume at the end of one. Resume it with loop='custom'. "
                    f"Received: steps_per_epoch={steps_per_epoch}"
                )
            callbacks = list(callbacks or [])
            if out_dir is not None:
                callbacks = standard_callbacks(run_dir, generate_fn, backup=False) + callbacks
            if dataset.cardinality() != tf.data.INFINITE_CARDINALITY:
                dataset = dataset.repeat()
            dataset = dataset.skip(start)  # the batches the backup has seen
            history = keras.callbacks.History()
            if start < steps:
                run = self._fit_with_keras if self.loop == "fit" else self._fit_with_custom_loop
                history = run(model, dataset, start, steps, steps_per_epoch, validation_data,
                              callbacks, backup, backup_every, verbose)
            if backup is not None:
                backup.delete()
        finally:
            if out_dir is not None and not chief:
                shutil.rmtree(run_dir, ignore_errors=True)
        return history

    def evaluate(self, model, dataset):
        """The loss and compiled metrics of `model` over a finite `dataset`, as a dict.

        `model.evaluate` with the fit loop; the custom test step otherwise.
        """
        self._check_model(model)
        if self.loop == "fit":
            return model.evaluate(dataset, return_dict=True, verbose=0)
        steps = self._custom_steps(model)
        steps.reset()
        for batch in self.strategy.experimental_distribute_dataset(dataset):
            steps.test(batch)
        return {name: float(value) for name, value in steps.results().items()}

    def _check_model(self, model):
        if not isinstance(model, keras.Model) or getattr(model, "optimizer", None) is None:
            raise ValueError(f"`model` must be a compiled keras.Model. Received: model={model!r}")
        if model.distribute_strategy is not self.strategy:
            raise ValueError(
                "`model` was built outside this Trainer's strategy: build and compile it inside "
                f"`with trainer.scope():`. Received: model.distribute_strategy="
                f"{type(model.distribute_strategy).__name__}, strategy="
                f"{type(self.strategy).__name__}"
            )

    def _check_dataset(self, dataset):
        if not isinstance(dataset, tf.data.Dataset):
            raise ValueError(
                f"`dataset` must be a tf.data.Dataset. Received: dataset={type(dataset).__name__}"
            )
        static = self.loop == "custom" or isinstance(self.strategy, tf.distribute.TPUStrategy)
        shapes = [spec.shape for spec in tf.nest.flatten(dataset.element_spec)]
        if static and any(s.rank and s[0] is None for s in shapes):
            raise ValueError(
                f"`dataset` must have a static batch size with loop={self.loop!r} on "
                f"{type(self.strategy).__name__}: batch it with drop_remainder=True. "
                f"Received: dataset with shapes {shapes}"
            )

    def _custom_steps(self, model):
        if self._steps is None or self._steps.model is not model:
            self._steps = _CustomSteps(self.strategy, model)
        return self._steps

    def _fit_with_keras(self, model, dataset, start, steps, steps_per_epoch, validation_data,
                        callbacks, backup, backup_every, verbose):
        if backup is not None:
            callbacks = [_BackupAtEpochEnd(backup, steps_per_epoch, backup_every)] + callbacks
        return model.fit(
            dataset,
            epochs=steps // steps_per_epoch,
            initial_epoch=start // steps_per_epoch,
            steps_per_epoch=steps_per_epoch,
            validation_data=validation_data,
            callbacks=callbacks,
            shuffle=False,  # a tf.data.Dataset is shuffled by its pipeline
            verbose=verbose,
        )

    def _fit_with_custom_loop(self, model, dataset, start, steps, steps_per_epoch,
                              validation_data, callbacks, backup, backup_every, verbose):
        custom = self._custom_steps(model)
        iterator = iter(self.strategy.experimental_distribute_dataset(dataset))
        history = keras.callbacks.History()
        callbacks = keras.callbacks.CallbackList(
            callbacks + [history], add_progbar=verbose != 0, model=model, verbose=verbose,
            epochs=steps // steps_per_epoch, steps=steps_per_epoch,
        )
        model.stop_training = False
        step, logs, epoch_logs = start, {}, {}
        callbacks.on_train_begin()
        for epoch in range(start // steps_per_epoch, steps // steps_per_epoch):
            custom.reset()
            callbacks.on_epoch_begin(epoch)
            for batch in range(step - epoch * steps_per_epoch, steps_per_epoch):
                callbacks.on_train_batch_begin(batch)
                logs = {name: float(value) for name, value in custom.train(iterator).items()}
                step += 1
                callbacks.on_train_batch_end(batch, logs)
                if backup is not None and step % backup_every == 0:
                    backup.save(step)
                if model.stop_training:
                    break
            epoch_logs = dict(logs)
            if validation_data is not None:
                results = self.evaluate(model, validation_data)
                epoch_logs.update({f"val_{name}": value for name, value in results.items()})
            callbacks.on_epoch_end(epoch, epoch_logs)
            if model.stop_training:
                break
        callbacks.on_train_end(epoch_logs)
        return history
