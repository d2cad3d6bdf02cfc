"""Writes small copy and reverse samples next to this script.

The tasks are never stored: `load_sequence_task()` draws them in a few
milliseconds. This script writes the first training sequences of each task
as "source<TAB>target" lines of space-separated token ids (padding dropped)
and prints the figures quoted in datasets/README.md.

Run from the repository root (PYTHONPATH=. is not needed once keras_attn is
installed with `pip install -e .`):

    PYTHONPATH=. python datasets/copy_reverse/prepare.py
"""

import pathlib
import time

import numpy as np

from keras_attn.data import load_sequence_task

SAMPLE_SEQUENCES = 100
out_dir = pathlib.Path(__file__).parent

for task in ["copy", "reverse"]:
    start = time.perf_counter()
    splits = load_sequence_task(task)  # defaults: 10,000 / 1,000 / 1,000, seed 0
    seconds = time.perf_counter() - start
    lines = [
        " ".join(map(str, source[:n])) + "\t" + " ".join(map(str, target[:n])) + "\n"
        for source, target, n in zip(*(a[:SAMPLE_SEQUENCES] for a in splits.train))
    ]
    path = out_dir / f"sample_{task}.tsv"
    path.write_text("".join(lines), encoding="utf-8")
    print(f"wrote {path} ({len(''.join(lines)):,} bytes)")
    print(f"{task}: generated in {seconds * 1000:.0f} ms")
    for name, part in zip(["train", "valid", "test"], splits):
        counts = np.bincount(part.lengths, minlength=11)[1:]
        print(f"  {name + ':':7} {len(part.lengths):>6,} sequences, lengths 1..10: {counts.tolist()}")
