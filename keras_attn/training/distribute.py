"""`tf.distribute` strategies by name, for `Trainer` and `keras-attn train --strategy`.

    default        no distribution: the one default device (a GPU if there is one)
    mirrored       MirroredStrategy: one replica per local GPU (or the CPU)
    multi_worker   MultiWorkerMirroredStrategy: the cluster and this process's
                   task come from the TF_CONFIG environment variable
    tpu            TPUStrategy, after TPUClusterResolver finds the TPU,
                   connects to it and initializes it

This module is TensorFlow-only; the layers and models don't depend on it.

>>> make_strategy("default").num_replicas_in_sync
1
"""

import tensorflow as tf

STRATEGIES = ("default", "mirrored", "multi_worker", "tpu")


def make_strategy(name="default", tpu=None):
    """Creates the `tf.distribute.Strategy` called `name` (see `STRATEGIES`).

    Create it first thing in the program: `"multi_worker"` configures
    TensorFlow's collective ops, which must happen before TensorFlow runs
    any op, and `"tpu"` initializes the TPU system. Then build and compile
    the model inside `strategy.scope()`.

    `"multi_worker"` reads `TF_CONFIG`, e.g. for the first of two workers

        {"cluster": {"worker": ["host1:12345", "host2:12345"]},
         "task": {"type": "worker", "index": 0}}

    Every worker runs the same program; worker 0 (or the task of type
    `"chief"`) is the chief (`is_chief`). Without `TF_CONFIG` it is a
    cluster of one worker.

    Args:
        name: one of `"default"`, `"mirrored"`, `"multi_worker"`, `"tpu"`.
        tpu: for `"tpu"`: the TPU's name or `grpc://` address, passed to
            `tf.distribute.cluster_resolver.TPUClusterResolver`. Defaults to
            None: the local TPU VM's TPU, or the `TPU_NAME` environment
            variable.

    Returns:
        A `tf.distribute.Strategy`.

    Raises:
        ValueError: for an unknown `name`, or `"tpu"` when no TPU is found.

    Example:

    >>> strategy = make_strategy("mirrored")   # every local GPU, or the CPU
    >>> type(strategy).__name__, strategy.num_replicas_in_sync >= 1
    ('MirroredStrategy', True)
    >>> make_strategy("horovod")
    Traceback (most recent call last):
    ...
    ValueError: `name` must be one of ('default', 'mirrored', 'multi_worker', 'tpu'). Received: name='horovod'
    """
    if name not in STRATEGIES:
        raise ValueError(f"`name` must be one of {STRATEGIES}. Received: name={name!r}")
    if name == "default":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        return tf.distribute.MirroredStrategy()
    if name == "multi_worker":
        return tf.distribute.MultiWorkerMirroredStrategy()
    try:
        resolver = tf.distribute.cluster_resolver.TPUClusterResolver(tpu=tpu)
        tf.config.experimental_connect_to_cluster(resolver)
        tf.tpu.experimental.initialize_tpu_system(resolver)
    except (ValueError, RuntimeError, tf.errors.OpError) as error:
        raise ValueError(
            f"No TPU found for name='tpu' (tpu={tpu!r}): {type(error).__name__}: "
            f"{str(error).strip().rstrip('.') or 'not found'}. Run on a TPU VM, or give the TPU's "
            "name or grpc:// address (the TPU_NAME environment variable or `tpu`)."
        ) from error
    return tf.distribute.TPUStrategy(resolver)


def is_chief(strategy):
    """Whether this process writes the run's files: True except on non-chief workers.

    Under `MultiWorkerMirroredStrategy` the chief is the task of type
    `"chief"`, or worker 0 when there is none; the other workers save to
    temporary directories, as TensorFlow's multi-worker guide recommends.

    >>> is_chief(make_strategy("default"))
    True
    """
    return bool(strategy.extended.should_checkpoint)
