"""Runs every benchmark module in one process, prints a table, writes JSON.

A benchmark module is any module of the `benchmarks` package with a
`run(quick: bool) -> list[dict]` function; its rows are made with
`benchmarks.common.row`. The modules run in `ORDER`, then any others in
name order.
"""

import argparse
import importlib
import json
import os
import pathlib
import pkgutil
import sys
import time
import traceback

ORDER = ("attention", "gpt_training", "bfloat16", "generation", "keras_hub_generation",
         "attention_memory")
NOT_BENCHMARKS = ("common", "runner")


def benchmark_names():
    """The names of the modules of this package that define `run`, in run order."""
    package = pathlib.Path(__file__).parent
    names = [
        m.name
        for m in pkgutil.iter_modules([str(package)])
        if not m.name.startswith("_") and m.name not in NOT_BENCHMARKS
    ]
    ordered = [n for n in ORDER if n in names] + sorted(n for n in names if n not in ORDER)
    return [n for n in ordered if hasattr(importlib.import_module(f"benchmarks.{n}"), "run")]


def _number(value, metric=None):
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (int, float)):
        if metric in ("MFU",):
            return f"{100 * value:.1f}%"
        if abs(value) >= 100:
            return f"{value:,.0f}"
        return f"{value:.3g}" if abs(value) < 10 else f"{value:.1f}"
    return str(value)


def _target(target):
    if not target:
        return ""
    op = {"<=": "≤", ">=": "≥", "within": "±"}[target["op"]]
    value = target["value"]
    if target["op"] == "within":
        return f"{target['field']} 1{op}{value:g}"
    return f"{target['field']} {op} {value:g}"


def format_table(rows):
    """The rows as a fixed-width text table, then their notes."""
    header = ("benchmark", "case", "metric", "ours", "peer", "ours/peer", "target", "met")
    lines = [header]
    for r in rows:
        lines.append(
            (
                r["benchmark"],
                r["case"],
                r["metric"],
                _number(r["ours"], r["metric"]),
                _number(r["peer"], r["metric"]),
                "" if r["ratio"] is None else f"{r['ratio']:.2f}",
                _target(r["target"]),
                _number(r["met"]),
            )
        )
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    text = []
    for i, line in enumerate(lines):
        text.append("  ".join(cell.ljust(w) for cell, w in zip(line, widths)).rstrip())
        if i == 0:
            text.append("  ".join("-" * w for w in widths))
    notes = []
    for r in rows:
        note = r.get("note")
        peer = r.get("peer_name")
        if note or peer:
            what = "; ".join(x for x in (f"peer: {peer}" if peer else "", note) if x)
            notes.append(f"  {r['benchmark']} / {r['case']}: {what}")
    if notes:
        text += ["", "notes:"] + notes
    return "\n".join(text)


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="few steps: a smoke run")
    parser.add_argument(
        "--only", default=None, help="comma-separated benchmark names (default: all)"
    )
    parser.add_argument("--out", default=None, help="JSON file to write the results to")
    args = parser.parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

    from benchmarks.common import environment

    names = benchmark_names()
    if args.only:
        wanted = args.only.split(",")
        unknown = sorted(set(wanted) - set(names))
        if unknown:
            parser.error(f"unknown benchmarks {unknown}; expected some of {names}")
        names = [n for n in names if n in wanted]

    env = environment()
    print(f"CPU: {env['cpu']['model']} ({env['cpu']['cores']} cores, "
          f"{' '.join(env['cpu']['flags'])}); TensorFlow {env['tensorflow']}, "
          f"Keras {env['keras']}, keras-hub {env['keras_hub']}; "
          f"{'quick' if args.quick else 'full'} mode", flush=True)
    rows, failures, durations = [], {}, {}

    def write():
        """The JSON file, rewritten after each module: a run cut short keeps what it measured."""
        if not args.out:
            return
        out = pathlib.Path(args.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        result = {
            "command": "python -m benchmarks " + " ".join(argv if argv is not None else sys.argv[1:]),
            "mode": "quick" if args.quick else "full",
            "environment": env,
            "seconds": durations,
            "failures": failures,
            "rows": rows,
        }
        out.write_text(json.dumps(result, indent=2) + "\n")
        return out

    for name in names:
        print(f"running {name} ...", flush=True)
        start = time.perf_counter()
        try:
            module_rows = importlib.import_module(f"benchmarks.{name}").run(args.quick)
        except Exception:  # one broken benchmark shouldn't lose the others
            failures[name] = traceback.format_exc()
            print(failures[name], file=sys.stderr, flush=True)
            module_rows = []
        durations[name] = round(time.perf_counter() - start, 1)
        rows += module_rows
        print(format_table(module_rows), "\n", flush=True)
        write()

    print("all results:\n" + format_table(rows))
    if args.out:
        print(f"wrote {write()}")
    return 1 if failures else 0
