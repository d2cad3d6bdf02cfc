"""Writes small Numbers EN→FR samples next to this script and prints the figures.

The dataset is never stored: `load_numbers_en_fr()` generates it with the
`num2words` package in a couple of seconds. This script times that, writes
the first pairs of each split as "english<TAB>french" lines (the format that
`load_tsv_pairs` reads, so they double as an example of a user file), and
prints the sizes quoted in datasets/README.md.

Run from the repository root (PYTHONPATH=. is not needed once keras_attn is
installed with `pip install -e .`):

    PYTHONPATH=. python datasets/numbers_en_fr/prepare.py
"""

import pathlib
import time

from keras_attn.data import load_numbers_en_fr

SAMPLE_PAIRS = {"train": 200, "valid": 50, "test": 50}
out_dir = pathlib.Path(__file__).parent

start = time.perf_counter()
splits = load_numbers_en_fr()  # defaults: 50,000 / 2,000 / 2,000, seed 0
seconds = time.perf_counter() - start

parts = {"train": splits.train, "valid": splits.validation, "test": splits.test}
for name, pairs in parts.items():
    lines = "".join(f"{p.english}\t{p.french}\n" for p in pairs[: SAMPLE_PAIRS[name]])
    path = out_dir / f"sample_{name}.tsv"
    path.write_text(lines, encoding="utf-8")
    print(f"wrote {path} ({len(lines.encode()):,} bytes)")

every = [p for pairs in parts.values() for p in pairs]
print(f"generated {len(every):,} pairs in {seconds:.1f} s")
for name, pairs in parts.items():
    print(f"{name + ':':7} {len(pairs):,} pairs")
for lang in ["english", "french"]:
    texts = [getattr(p, lang) for p in every]
    # Words split at spaces and hyphens, without the English comma.
    words = [t.replace("-", " ").replace(",", "").split() for t in texts]
    print(
        f"{lang}: {len({w for ws in words for w in ws})} distinct words, "
        f"{len(set(''.join(texts)))} distinct characters, "
        f"longest {max(map(len, texts))} chars / {max(map(len, words))} words, "
        f"mean {sum(map(len, texts)) / len(texts):.1f} chars"
    )
print(f"training numbers below 1,000: {sum(p.number < 1_000 for p in splits.train)}")
