"""What the benchmarks share: the machine's description, timing, result rows.

Timings on a shared 2-core machine are noisy, so every comparison is made
inside one process run: the candidates are timed in alternation, several
repetitions each, and compared by the ratio of their medians.
"""

import contextlib
import datetime
import os
import platform
import statistics
import time

import keras
import numpy as np
import tensorflow as tf


def cpu_description():
    """`{"model": ..., "cores": ..., "flags": [...]}` from /proc/cpuinfo."""
    model, flags = platform.processor() or "unknown", set()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                key, _, value = line.partition(":")
                if key.strip() == "model name":
                    model = value.strip()
                elif key.strip() == "flags":
                    flags = set(value.split())
    except OSError:
        pass
    wanted = ("avx2", "fma", "avx512f", "avx512_vnni", "avx512_bf16", "amx_bf16")
    return {
        "model": model,
        "cores": os.cpu_count(),
        "flags": [flag for flag in wanted if flag in flags],
    }


def environment():
    """The facts that make two result files comparable."""
    import keras_hub

    return {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "cpu": cpu_description(),
        "python": platform.python_version(),
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "keras_hub": keras_hub.__version__,
        "numpy": np.__version__,
    }


def time_alternating(candidates, repetitions):
    """Times each candidate `repetitions` times, in alternation.

    Args:
        candidates: `{name: fn}`; each `fn()` runs one timed block and
            returns its duration in seconds.
        repetitions: how many times each candidate runs.

    Returns:
        `{name: [seconds, ...]}`.
    """
    times = {name: [] for name in candidates}
    for _ in range(repetitions):
        for name, fn in candidates.items():
            times[name].append(fn())
    return times


def timed(fn, calls):
    """A candidate for `time_alternating`: `calls` calls of `fn`, seconds per call."""

    def candidate():
        start = time.perf_counter()
        for _ in range(calls):
            fn()
        return (time.perf_counter() - start) / calls

    return candidate


def median(values):
    return statistics.median(values)


class MatmulPeak:
    """The best matmul throughput TensorFlow reaches here: the MFU's denominator.

    Square matmuls of 1024 and 2048, in a graph and under XLA. On a shared
    machine a single measurement may land in a busy moment, so `sample()`
    is meant to run as one more `time_alternating` candidate, between the
    timings of the models: `best()` is then the best of samples spread over
    the same minutes.
    """

    def __init__(self, dtype, sizes=(1024, 2048)):
        self.dtype = dtype
        self.cases = {}
        for n in sizes:
            a = tf.cast(tf.random.stateless_normal((n, n), seed=(0, 1)), dtype)
            b = tf.cast(tf.random.stateless_normal((n, n), seed=(0, 2)), dtype)
            for jit in (False, True):
                fn = tf.function(tf.matmul, jit_compile=jit)
                fn(a, b)  # compiles
                case = f"{n}x{n} {dtype}, {'XLA' if jit else 'graph'}"
                self.cases[case] = (lambda fn=fn, a=a, b=b: fn(a, b), 2 * n**3)
        self.samples = {case: [] for case in self.cases}

    def sample(self):
        """Times each case once (best of 2 calls); returns the seconds spent."""
        start = time.perf_counter()
        for case, (fn, flops) in self.cases.items():
            seconds = min(timed(fn, 1)() for _ in range(2))
            self.samples[case].append(flops / seconds)
        return time.perf_counter() - start

    def best(self):
        """`(flops_per_second, case)`: the best sample."""
        return max(
            ((max(values), case) for case, values in self.samples.items() if values),
            default=(float("nan"), "not measured"),
        )


def row(benchmark, case, metric, ours, peer=None, peer_name=None, target=None, note=None):
    """One result row.

    `ratio` is `ours / peer`. `target` is `(field, op, value)` with `field`
    in `("ours", "ratio")` and `op` in `("<=", ">=", "within")`, where
    `within` means `|field - 1| <= value`.
    """
    ratio = ours / peer if peer else None
    met = None
    if target is not None:
        field, op, value = target
        x = ours if field == "ours" else ratio
        if x is not None:
            met = {
                "<=": x <= value,
                ">=": x >= value,
                "within": abs(x - 1.0) <= value,
            }[op]
        target = {"field": field, "op": op, "value": value}
    return {
        "benchmark": benchmark,
        "case": case,
        "metric": metric,
        "ours": ours,
        "peer": peer,
        "peer_name": peer_name,
        "ratio": ratio,
        "target": target,
        "met": met,
        "note": note,
    }


@contextlib.contextmanager
def policy_scope(name):
    """Layers built inside take the Keras dtype policy `name`; the global one is restored."""
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(name)
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)
