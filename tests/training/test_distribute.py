"""Trainer with several replicas (MirroredStrategy on two logical CPUs) and two workers
(MultiWorkerMirroredStrategy on 127.0.0.1).

Each run is a subprocess with a timeout: logical devices and TF_CONFIG must be
set before TensorFlow starts, and a worker whose peer died would wait for it.
The subprocesses run `python -c "from tests.training.test_distribute import ..."`,
so importing this module must run no TensorFlow op.
"""

import json
import os
import pathlib
import socket
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_attn import data
from keras_attn import models
from keras_attn import training

ROOT = pathlib.Path(__file__).resolve().parents[2]
STEPS = 6


def run_python(code, timeout, env=None, count=1):
    """Runs `count` copies of `python -c code` (with `env[i]` added); their outputs."""
    processes = []
    for i in range(count):
        process_env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "KERAS_BACKEND": "tensorflow",
                       "PYTHONPATH": str(ROOT), **(env[i] if env else {})}
        processes.append(subprocess.Popen(
            [sys.executable, "-c", code], cwd=ROOT, env=process_env, text=True,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT))
    outputs = []
    try:
        for process in processes:
            outputs.append(process.communicate(timeout=timeout)[0])
    finally:
        for process in processes:
            if process.poll() is None:  # timed out, or its peer failed
                process.kill()
                process.communicate()
    for process, output in zip(processes, outputs):
        assert process.returncode == 0, output[-3000:]
    return outputs


def tiny_gpt_run(trainer, out_dir=None, steps=STEPS, steps_per_epoch=1):
    """Builds, compiles and trains the same tiny GPT; returns (model, history)."""
    keras.utils.set_random_seed(0)
    with trainer.scope():
        model = models.build_gpt(models.GPTConfig(
            vocabulary_size=16, max_sequence_length=8, num_layers=1, num_heads=2, hidden_dim=16))
        model.compile(optimizer=training.AdamW(1e-2),
                      loss=training.MaskedSparseCategoricalCrossentropy(pad_id=None),
                      metrics=[training.MaskedAccuracy(pad_id=None)])
    corpus = np.random.default_rng(0).integers(1, 16, size=400)
    windows = data.random_windows(corpus, 8, batch_size=8, seed=0)  # global batch 8
    history = trainer.fit(model, windows, steps=steps, steps_per_epoch=steps_per_epoch,
                          out_dir=out_dir, verbose=0,
                          validation_data=data.random_windows(corpus, 8, 8, seed=1, num_batches=1))
    return model, history.history


def weights(model):
    """`{path: weights as lists}`, JSON-ready."""
    return {w.path: np.asarray(w.numpy()).tolist() for w in model.weights}


def mirrored_worker(result_dir):
    """One device, then MirroredStrategy over 2 logical CPUs with both loops."""
    (cpu,) = tf.config.list_physical_devices("CPU")
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    result_dir = pathlib.Path(result_dir)
    results = {}
    for name, strategy, loop in [
        ("one_device", "default", "fit"),
        ("mirrored_fit", tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"]), "fit"),
        ("mirrored_custom", tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"]), "custom"),
    ]:
        trainer = training.Trainer(strategy, loop=loop)
        out_dir = None if name == "one_device" else result_dir / name  # backups too
        model, history = tiny_gpt_run(trainer, out_dir=out_dir)
        results[name] = {"replicas": trainer.strategy.num_replicas_in_sync, "history": history,
                         "weights": weights(model)}
    (result_dir / "results.json").write_text(json.dumps(results))


@pytest.mark.slow
def test_mirrored_on_two_cpus_follows_the_one_device_loss_curve(tmp_path):
    run_python("from tests.training.test_distribute import mirrored_worker; "
               f"mirrored_worker({str(tmp_path)!r})", timeout=240)
    results = json.loads((tmp_path / "results.json").read_text())
    reference = results["one_device"]
    assert reference["replicas"] == 1
    losses = reference["history"]["loss"]
    assert len(losses) == STEPS and losses[-1] < losses[0]
    for name in ("mirrored_fit", "mirrored_custom"):
        run = results[name]
        assert run["replicas"] == 2
        # Two half batches, each loss divided by 2, the gradients summed:
        # the gradient of the whole batch's mean, up to float32 rounding.
        for metric in ("loss", "accuracy", "val_loss", "val_accuracy"):
            np.testing.assert_allclose(run["history"][metric], reference["history"][metric],
                                       rtol=1e-4, atol=1e-5, err_msg=f"{name} {metric}")
        assert run["weights"].keys() == reference["weights"].keys()
        for path, value in reference["weights"].items():
            if not path.endswith("key/bias"):  # softmax ignores it: its gradient is noise
                np.testing.assert_allclose(run["weights"][path], value, atol=1e-4,
                                           err_msg=f"{name} {path}")
        restored = keras.saving.load_model(tmp_path / name / "checkpoints" / "last.keras")
        assert weights(restored) == run["weights"]
        assert not (tmp_path / name / "backup").exists()  # written, then deleted at the end


def multi_worker(result_dir, out_dir):
    """One worker of MultiWorkerMirroredStrategy (TF_CONFIG set by the test); writes
    `result_dir/worker{task}.json`."""
    trainer = training.Trainer("multi_worker")  # before any other TensorFlow work
    model, history = tiny_gpt_run(trainer, out_dir=out_dir, steps=4, steps_per_epoch=2)
    task = trainer.strategy.cluster_resolver.task_id
    (pathlib.Path(result_dir) / f"worker{task}.json").write_text(json.dumps({
        "task": task, "is_chief": trainer.is_chief, "loop": trainer.loop,
        "replicas": trainer.strategy.num_replicas_in_sync, "history": history,
        "weights": weights(model)}))


def free_ports(count):
    sockets = [socket.socket() for _ in range(count)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


@pytest.mark.slow
def test_two_workers_on_loopback_end_with_the_same_weights(tmp_path):
    cluster = {"worker": [f"127.0.0.1:{port}" for port in free_ports(2)]}
    out_dir, scratch = tmp_path / "run", tmp_path / "scratch"
    scratch.mkdir()
    env = [{"TF_CONFIG": json.dumps({"cluster": cluster, "task": {"type": "worker", "index": i}}),
            "TMPDIR": str(scratch)} for i in range(2)]
    run_python("from tests.training.test_distribute import multi_worker; "
               f"multi_worker({str(tmp_path)!r}, {str(out_dir)!r})", timeout=240, env=env, count=2)
    chief, other = (json.loads((tmp_path / f"worker{i}.json").read_text()) for i in range(2))
    assert (chief["task"], chief["is_chief"]) == (0, True)
    assert (other["task"], other["is_chief"]) == (1, False)
    assert chief["loop"] == "custom" and chief["replicas"] == 2
    assert chief["history"] == other["history"]  # logs are reduced over both workers
    assert len(chief["history"]["loss"]) == 2 and np.isfinite(chief["history"]["val_loss"]).all()
    assert chief["weights"] == other["weights"]  # bit for bit
    # Only the chief wrote the run directory; the other worker's copies are gone.
    assert sorted(p.name for p in out_dir.iterdir()) == ["checkpoints", "logs"]  # backup deleted
    assert list(scratch.iterdir()) == []
    # The chief's checkpoint is the trained model.
    restored = keras.saving.load_model(out_dir / "checkpoints" / "last.keras")
    assert weights(restored) == chief["weights"]
