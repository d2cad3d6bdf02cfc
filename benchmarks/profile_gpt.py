"""Where a GPT training step spends its time: the TensorFlow profiler, summed.

    .venv/bin/python -m benchmarks.profile_gpt --shape 6/384
    .venv/bin/python -m benchmarks.profile_gpt --shape "baby 4/128" --model keras-nlp --jit
    .venv/bin/python -m benchmarks.profile_gpt --dtype-policy mixed_bfloat16

It warms a model of `benchmarks.gpt_training` up (ours, or keras-nlp's
GPT2 with `--model keras-nlp`), traces `--steps` steps of `model.fit` with
`tf.profiler.experimental`, and prints the op time per step:

* graph mode: summed by op type, and by part of the step (forward, backward
  under `gradient_tape/`, optimizer), matmuls apart from the rest;
* XLA (`--jit`): summed by HLO kind (dot, fusion, ...).

Times are summed over TensorFlow's executor threads, so with two threads
they add up to about twice the step's wall time. The trace stays in
`--logdir` for TensorBoard's profile tab (`pip install xprof`, not a
dependency of this project). This is how the feed-forward GELU was found:
differentiating the erf formula and Dense's 3D Tensordot were ~15% of a
6/384 step.
"""

import argparse
import collections
import glob
import re
import tempfile

import tensorflow as tf
from tensorflow.tsl.profiler.protobuf import xplane_pb2

from benchmarks import gpt_training

MATMUL = re.compile(r"MatMul|Einsum|Conv")


def _events(logdir):
    """`(thread name, event name, milliseconds)` of the newest trace in `logdir`.

    XLA ops that ran on the calling thread get the thread name "Eigen (XLA,
    inline)", so that they are summed with those that ran on Eigen threads."""
    paths = sorted(glob.glob(f"{logdir}/**/*.xplane.pb", recursive=True))
    if not paths:
        raise FileNotFoundError(f"no *.xplane.pb under {logdir!r}")
    space = xplane_pb2.XSpace()
    with open(paths[-1], "rb") as f:
        space.ParseFromString(f.read())
    for plane in space.planes:
        for line in plane.lines:
            # An XLA program's ops run on Eigen threads, or, when it is small, on the
            # calling thread, inside the program's `CpuExecutable::ExecuteAsyncOnStream`.
            programs = [
                (event.offset_ps, event.offset_ps + event.duration_ps) for event in line.events
                if plane.event_metadata[event.metadata_id].name.startswith("CpuExecutable::")
            ]
            for event in line.events:
                name = plane.event_metadata[event.metadata_id].name
                inside = any(start < event.offset_ps and event.offset_ps + event.duration_ps <= end
                             for start, end in programs)
                thread = "Eigen (XLA, inline)" if inside and "::" not in name else line.name
                yield thread, name, event.duration_ps / 1e9


# XLA events that enclose other ops' events (a loop, a branch, a call) and the
# executor's own: not counted, or their ops would count twice.
_XLA_CONTAINERS = re.compile(
    r"^(ThunkExecutor|Slinky|Threadpool|BlockUntilReady|end: |while|conditional|call)")


def summarize(logdir, steps):
    """Op milliseconds per step: `{"by_type": Counter, "by_part": Counter, "xla": Counter,
    "xla_count": Counter}` (the last: XLA ops per step by kind).

    Graph-mode ops are the executor threads' events named `scope/name:Type`;
    XLA's are the events of its thunk threads (`MatMul.12`, `loop_fusion.3`),
    summed by kind (`MatMul`, `loop_fusion`).
    """
    by_type, by_part, xla, xla_count = (collections.Counter() for _ in range(4))
    for thread, name, ms in _events(logdir):
        if thread.startswith("tf_Compute") and ":" in name and "::" not in name:
            scope, op_type = name.rsplit(":", 1)
            by_type[op_type] += ms / steps
            if re.search(r"adam|optimizer|Variable", scope + op_type, re.IGNORECASE):
                part = "optimizer"
            else:
                part = "backward" if "gradient_tape" in scope else "forward"
            kind = "matmul" if MATMUL.search(op_type) else "other"
            by_part[f"{part}, {kind}"] += ms / steps
        elif "Eigen" in thread and not _XLA_CONTAINERS.match(name):
            kind = re.sub(r"[.\d]+$", "", name)
            xla[kind] += ms / steps
            xla_count[kind] += 1 / steps
    return {"by_type": by_type, "by_part": by_part, "xla": xla, "xla_count": xla_count}


def profile(shape, model_name="ours", jit_compile=False, steps=4, logdir=None,
            dtype_policy="float32"):
    """Traces `steps` fit steps after a warm-up; returns (s/step, summary, logdir)."""
    model = gpt_training.build(shape, model_name, dtype_policy)
    gpt_training.compile_model(model, jit_compile=jit_compile)
    data = gpt_training.dataset(shape)
    gpt_training.warm_up(model, data, 2)  # compiles
    seconds = gpt_training.warm_up(model, data, steps) / steps
    logdir = logdir or tempfile.mkdtemp(prefix="profile_gpt_")
    tf.profiler.experimental.start(logdir)
    try:
        model.fit(data, epochs=1, steps_per_epoch=steps, verbose=0)
    finally:
        tf.profiler.experimental.stop()
    return seconds, summarize(logdir, steps), logdir


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m benchmarks.profile_gpt", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shape", default="6/384", choices=list(gpt_training.SHAPES))
    parser.add_argument("--model", default="ours", choices=("ours", "keras-nlp"))
    parser.add_argument("--jit", action="store_true", help="compile with jit_compile=True")
    parser.add_argument("--steps", type=int, default=4, help="traced steps")
    parser.add_argument("--logdir", default=None, help="where the trace is written")
    parser.add_argument("--dtype-policy", default="float32",
                        help="Keras dtype policy, e.g. mixed_bfloat16")
    args = parser.parse_args(argv)
    seconds, summary, logdir = profile(args.shape, args.model, args.jit, args.steps, args.logdir,
                                       args.dtype_policy)
    print(f"{args.model}, {args.shape}, {args.dtype_policy}, jit_compile={args.jit}: "
          f"{seconds:.3f} s/step "
          f"untraced; trace in {logdir}")
    print("ms per step, summed over threads")
    for title, key, count in (("by part of the step", "by_part", 8), ("by op type", "by_type", 15),
                              ("XLA, by HLO kind", "xla", 12)):
        if summary[key]:
            print(f"-- {title}")
            for name, ms in summary[key].most_common(count):
                print(f"{ms:9.1f}  {name}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
