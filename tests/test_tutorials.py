"""The tutorials' links resolve, and every seed concept has a section and a cell.

The tutorials' code runs in tests/test_notebooks.py, once: each notebook is
checked to be exactly its tutorial's ```python blocks (plus a setup cell),
then executed top to bottom in a fresh kernel, and the figures the tutorial
saves are checked there. Running the blocks a second time outside Jupyter
would only repeat that (it cost about 5 minutes of the suite's CPU time).
"""

import importlib.util
import pathlib
import re

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
TUTORIALS = ROOT / "tutorials"
NOTEBOOKS = ROOT / "notebooks"
# Written by other hands; the concept table already points at them.
PENDING = set()

FENCE = re.compile(r"^```(\w*)[^\n]*\n(.*?)^```[ \t]*$", re.MULTILINE | re.DOTALL)
# An exercise's solution: folded, and not run with the tutorial.
DETAILS = re.compile(r"^\s*<details>.*?^\s*</details>[ \t]*$", re.MULTILINE | re.DOTALL)
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")


def _builder():
    """notebooks/build_notebooks.py, a script rather than a package module."""
    spec = importlib.util.spec_from_file_location("build_notebooks", NOTEBOOKS / "build_notebooks.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


build_notebooks = _builder()


def tutorial_paths():
    return sorted(TUTORIALS.glob("[0-9][0-9]_*.md"))


def without_details(text):
    """`text` with each `<details>` block blanked out, line numbers kept."""
    return DETAILS.sub(lambda m: "\n" * m.group(0).count("\n"), text)


def python_blocks(path):
    """`[(line, source)]` of the ```python blocks that run (outside `<details>`), `line`
    the 1-based line of the fence."""
    text = without_details(path.read_text(encoding="utf-8"))
    return [
        (text.count("\n", 0, match.start()) + 1, match.group(2))
        for match in FENCE.finditer(text)
        if match.group(1) == "python"
    ]


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


def anchors(path):
    text = FENCE.sub("", path.read_text(encoding="utf-8"))  # no headings inside code
    headings = re.finditer(r"^#{1,6}\s+(.*)$", text, re.MULTILINE)
    return {build_notebooks.slug(m.group(1)) for m in headings}


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
    """`{concept: (tutorial links, [(notebook, cell id)])}` from the table of tutorials/README.md
    (its first three columns; the diagram and exercise columns are links, checked below)."""
    text = (TUTORIALS / "README.md").read_text(encoding="utf-8")
    table = text.split("## Where each idea is explained", 1)[1].split("\n## ", 1)[0]
    rows = {}
    for line in table.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) != 5 or cells[0] in ("concept", "---"):
            continue
        rows[cells[0]] = (LINK.findall(cells[1]) + LINK.findall(cells[3]) + LINK.findall(cells[4]),
                          NOTEBOOK_CELL.findall(cells[2]))
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
