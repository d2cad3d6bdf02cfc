"""Attention against length: time and peak memory of a training step.

Our `MultiHeadAttention` against `keras.layers.MultiHeadAttention`: B=1, 8
heads of 64 (width 512), causal self-attention, float32, one forward and
backward step (the gradients of the input and of every weight, the step of
`benchmarks.attention`) in graph mode, at T = 1,024 to 16,384.

Each (layer, T) runs in a fresh subprocess whose address space is capped
with `resource.setrlimit(RLIMIT_AS)` (16 GB), so a case that does not fit
fails alone and the machine is never at risk. The subprocess runs one step
(tracing and first run) and one more untimed (on 2 cores the steps just
after the first were up to 30% slower than the rest), then times `STEPS`
more, and reports the median
seconds per step and its peak resident memory (`VmHWM`, which includes
TensorFlow's own, about 0.8-0.9 GB: a row also gives the peak minus the
peak before the first step). If ours fits at the longest length,
longer lengths are tried for ours alone (one step each, untimed), up to 4x
the longest length Keras's layer fits, to check the goal on that.

Goals (issue 16): peak memory at T=8,192 at most 1/8 of Keras's; time at
most 1.0x Keras's at every length both fit; the longest length that trains
in 16 GB at least 4x Keras's. When Keras's layer does not fit at 8,192, its
peak is taken as the cap: the ratio is then an upper bound.

The full run (about 15-30 min on 2 cores; run it on an idle machine):

```
.venv/bin/python -m benchmarks --only attention_memory --out benchmarks/results/attention_memory.json
```

A quick run with a smaller cap, alone (`--help` for the options):

```
.venv/bin/python -m benchmarks.attention_memory --cap-gb 8 --lengths 1024,2048 --no-extend
```
"""

import argparse
import json
import os
import resource
import subprocess
import sys
import time

HEADS, WIDTH = 8, 512
LENGTHS = (1024, 2048, 4096, 8192, 16384)
QUICK_LENGTHS = (1024, 2048)
LONGEST = 65536  # the longest length tried for ours alone
CAP_GB, QUICK_CAP_GB = 16, 8
STEPS, QUICK_STEPS = 7, 1
CASE_TIMEOUT_S = 3600
LAYERS = ("ours", "keras")
PEER = "keras.layers.MultiHeadAttention"
_RESULT = "RESULT "  # a subprocess's last line: this, then its result as JSON


def _peak_mb():
    """This process's peak resident memory since it started (`VmHWM`), in MB.

    Not `ru_maxrss`: Linux carries that across fork and exec, so a child of a
    process that once held 5 GB would report at least 5 GB."""
    with open("/proc/self/status") as status:
        line = next(line for line in status if line.startswith("VmHWM:"))
    return int(line.split()[1]) / 1024  # kB


def _case(layer, length, steps):
    """Runs in the capped subprocess: `{"fit": True, "seconds": ..., ...}`."""
    import keras
    import numpy as np
    import tensorflow as tf

    from benchmarks.attention import _steps
    from keras_attn.layers import MultiHeadAttention

    keras.utils.set_random_seed(0)
    x = tf.constant(np.random.default_rng(0).normal(size=(1, length, WIDTH)), "float32")
    kind = MultiHeadAttention if layer == "ours" else keras.layers.MultiHeadAttention
    mha = kind(num_heads=HEADS, key_dim=WIDTH // HEADS)
    mha(x[:, :8], x[:, :8])  # builds the weights
    step = _steps(mha, jit_compile=False)["fwd+bwd"]
    baseline_mb = _peak_mb()

    start = time.perf_counter()
    step(x)[0].numpy()  # traces, then runs
    first = time.perf_counter() - start
    if steps:
        step(x)[0].numpy()  # warms up, untimed
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        step(x)[0].numpy()
        times.append(time.perf_counter() - start)
    return {
        "fit": True,
        "seconds": float(np.median(times)) if times else None,
        "first_step_seconds": first,
        "peak_mb": _peak_mb(),
        "baseline_mb": baseline_mb,
    }


def _child(layer, length, cap_bytes, steps):
    """The subprocess: caps its address space, then prints `_RESULT` and the case's JSON."""
    resource.setrlimit(resource.RLIMIT_AS, (cap_bytes, cap_bytes))
    try:
        result = _case(layer, length, steps)
    except Exception as error:  # out of memory: tf.errors.ResourceExhaustedError, MemoryError
        first_line = str(error).strip().split("\n")[0]
        result = {"fit": False, "error": f"{type(error).__name__}: {first_line[:200]}"}
    print(_RESULT + json.dumps(result), flush=True)


def measure(layer, length, cap_gb, steps):
    """Runs one case in a fresh subprocess capped at `cap_gb`; returns its result dict."""
    command = [
        sys.executable, "-m", "benchmarks.attention_memory", "--child",
        layer, str(length), str(int(cap_gb * 2**30)), str(steps),
    ]
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    try:
        done = subprocess.run(
            command, capture_output=True, text=True, env=env, cwd=root, timeout=CASE_TIMEOUT_S
        )
    except subprocess.TimeoutExpired:
        return {"fit": False, "error": f"timed out after {CASE_TIMEOUT_S} s"}
    lines = [line for line in done.stdout.splitlines() if line.startswith(_RESULT)]
    if lines:
        result = json.loads(lines[-1][len(_RESULT):])
    elif done.returncode < 0:  # killed, e.g. by an allocation failure outside Python
        result = {"fit": False, "error": f"killed by signal {-done.returncode}"}
    else:
        tail = " | ".join(done.stderr.strip().splitlines()[-2:])
        result = {"fit": False, "error": f"exit status {done.returncode}: {tail[-200:]}"}
    result.update(layer=layer, length=length, cap_gb=cap_gb)
    return result


def _note(result, cap_gb):
    if not result["fit"]:
        return f"did not fit in {cap_gb:g} GB ({result['error'][:120]})"
    return (
        f"peak {result['peak_mb']:,.0f} MB (before the step {result['baseline_mb']:,.0f} MB), "
        f"first step {result['first_step_seconds']:.1f} s"
    )


def rows_from(results, cap_gb):
    """The benchmark rows from `measure`'s results."""
    from benchmarks.common import row

    by_case = {(r["layer"], r["length"]): r for r in results}
    cap_mb = cap_gb * 1024
    rows = []
    for length in sorted({r["length"] for r in results if r["layer"] == "keras"}):
        ours, keras = by_case[("ours", length)], by_case[("keras", length)]
        both = ours["fit"] and keras["fit"]
        rows.append(
            row(
                "attention_memory",
                f"T={length:,} fwd+bwd, graph",
                "s/step",
                ours["seconds"] if ours["fit"] else None,
                keras["seconds"] if both else None,
                PEER,
                target=("ratio", "<=", 1.0) if both else None,
                note=f"ours: {_note(ours, cap_gb)}; keras: {_note(keras, cap_gb)}",
            )
        )
        # A peer that did not fit used more than the cap: the ratio is an upper bound.
        peer_mb = keras["peak_mb"] if keras["fit"] else cap_mb
        rows.append(
            row(
                "attention_memory",
                f"T={length:,} peak memory",
                "MB",
                ours["peak_mb"] if ours["fit"] else None,
                peer_mb if ours["fit"] else None,
                PEER if keras["fit"] else f"{PEER} (did not fit: the cap)",
                target=("ratio", "<=", 1 / 8) if length == 8192 and ours["fit"] else None,
            )
        )
        # The peaks include TensorFlow's own memory; the step's own is the rest.
        if ours["fit"] and keras["fit"]:
            rows.append(
                row(
                    "attention_memory",
                    f"T={length:,} memory added by the step",
                    "MB",
                    ours["peak_mb"] - ours["baseline_mb"],
                    keras["peak_mb"] - keras["baseline_mb"],
                    PEER,
                    note="peak minus the peak before the first step",
                )
            )

    def longest(layer):
        return max((r["length"] for r in results if r["layer"] == layer and r["fit"]), default=0)

    tried = max(r["length"] for r in results if r["layer"] == "ours")
    note = f"B=1 heads={HEADS} width={WIDTH} causal, fwd+bwd, address space capped at {cap_gb:g} GB"
    # Inconclusive while ours fit every length tried, all below 4x Keras's longest.
    conclusive = longest("keras") and (
        longest("ours") < tried or longest("ours") >= 4 * longest("keras"))
    if longest("ours") == tried:
        note += f"; ours fit the longest length tried ({tried:,})"
    rows.append(
        row(
            "attention_memory",
            f"longest T that trains in {cap_gb:g} GB",
            "tokens",
            longest("ours"),
            longest("keras") or None,
            PEER,
            target=("ratio", ">=", 4.0) if conclusive else None,
            note=note,
        )
    )
    return rows


def measure_all(lengths, cap_gb, steps, extend=True, log=print):
    """Both layers at every length, then (`extend`) ours alone at longer lengths.

    The longer lengths double from the longest, while ours fits, up to 4x
    the longest Keras's layer fits (at most `LONGEST`); one untimed step each.
    """
    results = []
    for length in lengths:
        for layer in LAYERS:
            results.append(measure(layer, length, cap_gb, steps))
            log(f"  {layer} T={length}: {json.dumps(results[-1])}", flush=True)
    fits = {(r["layer"], r["length"]): r["fit"] for r in results}
    keras_longest = max((n for (layer, n), fit in fits.items() if layer == "keras" and fit),
                        default=0)
    length, fit = max(lengths), fits[("ours", max(lengths))]
    while extend and fit and length < min(4 * keras_longest, LONGEST):
        length *= 2
        results.append(measure("ours", length, cap_gb, 0))
        fit = results[-1]["fit"]
        log(f"  ours T={length}: {json.dumps(results[-1])}", flush=True)
    return results


def run(quick):
    lengths, cap_gb = (QUICK_LENGTHS, QUICK_CAP_GB) if quick else (LENGTHS, CAP_GB)
    results = measure_all(lengths, cap_gb, QUICK_STEPS if quick else STEPS, extend=not quick)
    return rows_from(results, cap_gb)


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m benchmarks.attention_memory",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--lengths", default=",".join(map(str, LENGTHS)),
                        help="comma-separated sequence lengths")
    parser.add_argument("--cap-gb", type=float, default=CAP_GB,
                        help="address-space cap of each case's process, in GB")
    parser.add_argument("--steps", type=int, default=STEPS, help="timed steps per case")
    parser.add_argument("--no-extend", action="store_true",
                        help="don't try ours at lengths past the longest of --lengths")
    parser.add_argument("--out", default=None, help="JSON file for the cases and the rows")
    parser.add_argument("--child", nargs=4, metavar=("LAYER", "T", "CAP_BYTES", "STEPS"),
                        help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        layer, length, cap_bytes, steps = args.child
        _child(layer, int(length), int(cap_bytes), int(steps))
        return 0

    from benchmarks.common import environment
    from benchmarks.runner import format_table

    lengths = tuple(int(n) for n in args.lengths.split(","))
    results = measure_all(lengths, args.cap_gb, args.steps, extend=not args.no_extend)
    rows = rows_from(results, args.cap_gb)
    print(format_table(rows))
    if args.out:
        result = {
            "command": "python -m benchmarks.attention_memory " + " ".join(
                argv if argv is not None else sys.argv[1:]),
            "environment": environment(),
            "cases": results,
            "rows": rows,
        }
        with open(args.out, "w") as f:
            f.write(json.dumps(result, indent=2) + "\n")
        print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
