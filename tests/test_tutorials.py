"""The tutorials run, their links resolve, and every seed concept has a section.

Each tutorial's ```python blocks run in order, in one namespace, in a fresh
Python process (tutorial 10 must configure devices before TensorFlow starts),
from an empty directory, with `KERAS_ATTN_FAST=1`, which the tutorials read to
train for a few steps only.
"""

import json
import os
import pathlib
import re
import subprocess
import sys
import time

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
TUTORIALS = ROOT / "tutorials"
NOTEBOOKS = ROOT / "notebooks"
# Written by other hands; the concept table already points at them.
PENDING = set()

FENCE = re.compile(r"^```(\w*)[^\n]*\n(.*?)^```[ \t]*$", re.MULTILINE | re.DOTALL)
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")

# Runs the blocks of one tutorial; each is compiled with its Markdown line
# numbers, so a traceback points into the .md file.
RUNNER = """
import json, sys
path, blocks = json.load(open(sys.argv[1]))
namespace = {"__name__": "__main__"}
for line, source in blocks:
    exec(compile("\\n" * line + source, path, "exec"), namespace)
"""


def tutorial_paths():
    return sorted(TUTORIALS.glob("[0-9][0-9]_*.md"))


def python_blocks(path):
    """`[(line, source)]` of the ```python blocks, `line` the 1-based line of the fence."""
    text = path.read_text(encoding="utf-8")
    return [
        (text.count("\n", 0, match.start()) + 1, match.group(2))
        for match in FENCE.finditer(text)
        if match.group(1) == "python"
    ]


def run_tutorial(path, cwd, fast=True, timeout=900):
    """Runs the tutorial's blocks in a fresh interpreter; returns (seconds, output)."""
    blocks_file = cwd / "blocks.json"
    blocks_file.write_text(json.dumps([str(path.relative_to(ROOT)), python_blocks(path)]))
    env = dict(os.environ, KERAS_ATTN_FAST="1" if fast else "0", MPLBACKEND="Agg",
               TF_CPP_MIN_LOG_LEVEL="2")
    start = time.perf_counter()
    result = subprocess.run([sys.executable, "-c", RUNNER, str(blocks_file)], cwd=cwd,
                            env=env, capture_output=True, text=True, timeout=timeout)
    seconds = time.perf_counter() - start
    output = result.stdout + result.stderr
    assert result.returncode == 0, f"{path.name} failed after {seconds:.0f} s:\n{output[-6000:]}"
    return seconds, output


def trains(path):
    """Whether a tutorial trains a model (it reads the fast switch): a slow test."""
    return "KERAS_ATTN_FAST" in path.read_text(encoding="utf-8")


@pytest.mark.parametrize(
    "path",
    [pytest.param(p, id=p.stem, marks=[pytest.mark.slow] if trains(p) else [])
     for p in tutorial_paths()],
)
def test_tutorial_runs(path, tmp_path):
    blocks = python_blocks(path)
    assert blocks, f"{path.name} has no ```python block"
    run_tutorial(path, tmp_path)
    # Each figure it saves is written, under images/ of the working directory.
    saved = re.findall(r"savefig\(\"(images/[^\"]+)\"\)", "".join(source for _, source in blocks))
    missing = [name for name in saved if not (tmp_path / name).is_file()]
    assert not missing, f"{path.name} did not write {missing}"


# --- Links, and the concept table of tutorials/README.md ---------------------

SEED_CONCEPTS = [  # the starting document's concepts, in tutorials/README.md's words
    "The attention formula (QKV)",
    "Self-attention and cross-attention",
    "Multi-head attention",
    "Positional encoding",
    "Feed-forward layers",
    "Encoder-decoder structure",
    "Transformer workflow",
    "GPT: a stack of decoders",
    "Pre-training",
    "Fine-tuning",
    "Generating one token at a time",
]
NOTEBOOK_CELL = re.compile(r"\]\(\.\./notebooks/([\w-]+\.ipynb)\) cell `([\w-]+)`")


def slug(heading):
    """GitHub's anchor for a heading."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def anchors(path):
    text = FENCE.sub("", path.read_text(encoding="utf-8"))  # no headings inside code
    return {slug(m.group(1)) for m in re.finditer(r"^#{1,6}\s+(.*)$", text, re.MULTILINE)}


def check_link(source, target):
    """`None` if the relative link `target` in file `source` resolves, else why not."""
    if re.match(r"^(https?:|mailto:)", target):
        return None
    file_part, _, anchor = target.partition("#")
    path = (source.parent / file_part).resolve() if file_part else source
    if not path.exists():
        if path.stem in PENDING:
            return None  # not written yet
        return f"{target}: no such file"
    if anchor and path.suffix == ".md" and anchor not in anchors(path):
        return f"{target}: no heading #{anchor} in {path.name}"
    return None


@pytest.mark.parametrize(
    "path", tutorial_paths() + [TUTORIALS / "README.md", NOTEBOOKS / "README.md"],
    ids=lambda p: f"{p.parent.name}/{p.name}",
)
def test_links_resolve(path):
    text = FENCE.sub("", path.read_text(encoding="utf-8"))
    broken = [why for target in LINK.findall(text) if (why := check_link(path, target))]
    assert not broken, f"{path.name}: " + "; ".join(broken)


@pytest.mark.parametrize("path", tutorial_paths(), ids=lambda p: p.stem)
def test_each_tutorial_links_the_library_files_it_explains(path):
    library = [t for t in LINK.findall(path.read_text(encoding="utf-8"))
               if t.startswith("../keras_attn/")]
    assert library, f"{path.name} links no file of keras_attn/"


def concept_rows():
    """`{concept: (tutorial links, [(notebook, cell id)])}` from the table of tutorials/README.md."""
    text = (TUTORIALS / "README.md").read_text(encoding="utf-8")
    table = text.split("## Where each idea is explained", 1)[1].split("\n## ", 1)[0]
    rows = {}
    for line in table.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) != 3 or cells[0] in ("concept", "---"):
            continue
        rows[cells[0]] = (LINK.findall(cells[1]), NOTEBOOK_CELL.findall(cells[2]))
    return rows


def test_every_seed_concept_has_a_tutorial_section_and_a_notebook_cell_that_runs():
    rows = concept_rows()
    for concept in SEED_CONCEPTS:
        row = [name for name in rows if name.startswith(concept)]
        assert row, f"no row for {concept!r} in tutorials/README.md"
        sections, cells = rows[row[0]]
        # A section of a tutorial that exists, or of a pending one.
        assert any("#" in link and (TUTORIALS / link.split("#")[0]).exists() for link in sections), (
            f"{concept!r}: no link to a section of a tutorial"
        )
        assert cells, f"{concept!r}: no notebook cell"
    import nbformat

    for concept, (sections, cells) in rows.items():
        for link in sections:
            assert check_link(TUTORIALS / "README.md", link) is None, f"{concept!r}: {link}"
        for notebook, cell_id in cells:
            path = NOTEBOOKS / notebook
            if not path.exists() and path.stem in PENDING:
                continue
            found = [c for c in nbformat.read(path, as_version=4).cells if c.id == cell_id]
            assert found, f"{concept!r}: {notebook} has no cell {cell_id!r}"
            assert found[0].cell_type == "code", f"{concept!r}: cell {cell_id!r} is not code"
