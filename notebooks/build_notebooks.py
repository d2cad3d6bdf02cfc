"""Builds each notebook in notebooks/ from the tutorial of the same name in tutorials/.

The tutorials are the source: their prose becomes Markdown cells and their
```python blocks code cells, in order, so a notebook runs exactly the code
its tutorial shows (tests/test_notebooks.py checks that the committed
notebooks are what this script builds, then runs them). A `<details>` block
(an exercise's solution) stays whole in the prose, its code included: it is
shown folded and not run. Each notebook starts with its title, a cell that
says how to install the project, and a setup cell: inline plots, and for
the tutorials that train, the KERAS_ATTN_FAST switch. Cells get stable ids
from their section's heading (`masking`, then `masking-code-1`,
`masking-text-1`, ...), which tutorials/README.md cites. Notebooks are
written without outputs.

After editing a tutorial, rebuild its notebook from the repository root:

    .venv/bin/python notebooks/build_notebooks.py                  # every tutorial
    .venv/bin/python notebooks/build_notebooks.py 05_translator    # one
    .venv/bin/python notebooks/build_notebooks.py --check          # exit 1 if one is stale
"""

import argparse
import pathlib
import re
import sys

import nbformat

ROOT = pathlib.Path(__file__).resolve().parents[1]
TUTORIALS = ROOT / "tutorials"
NOTEBOOKS = ROOT / "notebooks"

FENCE_START = re.compile(r"^```(\w*)")
DETAILS_START, DETAILS_END = re.compile(r"^\s*<details>"), re.compile(r"^\s*</details>")
HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*$")
LINK = re.compile(r"\]\(([^)\s]+)\)")
IMAGE_LINE = re.compile(r"^!\[[^\]]*\]\(images/[^)]+\)\s*$")  # drawn inline instead
TUTORIAL_LINK = re.compile(r"^(\d\d_[\w-]+)\.md(#.*)?$")

INSTALL = """**Install.** In a clone of the repository, `make test` (runs the tests) or
`make demo` (serves the chat demo) first creates `.venv` with the pinned versions; then
open the notebooks with `.venv/bin/jupyter lab notebooks/`. In an environment of your
own: `pip install -e .` from the clone."""
SETUP = "%matplotlib inline"
FAST_SETUP = """%matplotlib inline
import os

# The training cells read KERAS_ATTN_FAST: "1" trains for a few steps only (what
# the tests run, a minute or two); anything else runs the tutorial's full setting.
os.environ.setdefault("KERAS_ATTN_FAST", "0")
print("fast setting" if os.environ["KERAS_ATTN_FAST"] == "1" else "full setting")"""


def slug(heading):
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def _notebook_link(target):
    """A tutorial's relative link, as seen from notebooks/."""
    if re.match(r"^(https?:|mailto:|#|\.\./)", target):
        return target  # absolute, in-page, or from the repository root (same depth)
    match = TUTORIAL_LINK.match(target)
    if match:  # another tutorial: its notebook
        return f"{match.group(1)}.ipynb{match.group(2) or ''}"
    return f"../tutorials/{target}"


def _markdown(lines):
    kept = [line for line in lines if not IMAGE_LINE.match(line)]
    text = "\n".join(kept).strip("\n")
    return LINK.sub(lambda m: f"]({_notebook_link(m.group(1))})", text)


def cells(tutorial_text):
    """`[(kind, id, source)]` of a tutorial: "markdown" and "code" cells, in order."""
    result = []
    section, code_count, text_count = "intro", 0, 0
    prose = []
    used_ids = set()

    def unique(cell_id):
        base, n = cell_id[:60], 1
        while cell_id in used_ids:
            cell_id = f"{base}-{n}"
            n += 1
        used_ids.add(cell_id)
        return cell_id

    def flush_prose():
        nonlocal text_count
        text = _markdown(prose)
        if text:
            # The section's heading cell is named after it; the prose after a
            # code cell is "<section>-text-<n>".
            cell_id = section if HEADING.match(prose[0]) else f"{section}-text-{text_count}"
            result.append(("markdown", unique(cell_id), text))
            text_count += 1
        prose.clear()

    lines = tutorial_text.split("\n")
    i = 0
    while i < len(lines):
        line = lines[i]
        if DETAILS_START.match(line):  # a solution: shown folded, its code not run
            end = next(j for j in range(i, len(lines)) if DETAILS_END.match(lines[j]))
            prose.extend(lines[i : end + 1])
            i = end + 1
            continue
        fence = FENCE_START.match(line)
        if fence:
            end = next(j for j in range(i + 1, len(lines)) if lines[j].startswith("```"))
            if fence.group(1) == "python":
                flush_prose()
                code_count += 1
                source = "\n".join(lines[i + 1 : end]).strip("\n")
                result.append(("code", unique(f"{section}-code-{code_count}"), source))
            else:  # other languages stay in the prose
                prose.extend(lines[i : end + 1])
            i = end + 1
            continue
        heading = HEADING.match(line)
        if heading:
            flush_prose()
            section, code_count, text_count = slug(heading.group(2)), 0, 0
        prose.append(line)
        i += 1
    flush_prose()
    return result


def build(tutorial_path):
    """The notebook of one tutorial, as an `nbformat` notebook without outputs."""
    text = tutorial_path.read_text(encoding="utf-8")
    setup = FAST_SETUP if "KERAS_ATTN_FAST" in text else SETUP
    notebook = nbformat.v4.new_notebook()
    notebook.metadata = {
        "kernelspec": {"name": "python3", "display_name": "Python 3 (ipykernel)",
                       "language": "python"},
        "language_info": {"name": "python"},
    }
    parts = cells(text)
    # The title first, then the setup cell, then the rest.
    title_kind, title_id, title = parts[0]
    notebook.cells.append(nbformat.v4.new_markdown_cell(title, id=title_id))
    notebook.cells.append(nbformat.v4.new_markdown_cell(INSTALL, id="install"))
    made_by = (f"*Made from [`tutorials/{tutorial_path.name}`](../tutorials/{tutorial_path.name})"
               " by `notebooks/build_notebooks.py`; edit the tutorial, not this notebook.*")
    notebook.cells.append(nbformat.v4.new_markdown_cell(made_by, id="made-from"))
    notebook.cells.append(nbformat.v4.new_code_cell(setup, id="setup"))
    for kind, cell_id, source in parts[1:]:
        new = nbformat.v4.new_code_cell if kind == "code" else nbformat.v4.new_markdown_cell
        notebook.cells.append(new(source, id=cell_id))
    nbformat.validate(notebook)
    return notebook


def notebook_path(tutorial_path):
    return NOTEBOOKS / f"{tutorial_path.stem}.ipynb"


def render(notebook):
    """The file's text, as nbformat writes it."""
    return nbformat.writes(notebook) + "\n"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("names", nargs="*", help="tutorial names, e.g. 05_translator (default: all)")
    parser.add_argument("--check", action="store_true",
                        help="write nothing; exit 1 if a notebook differs from its tutorial")
    args = parser.parse_args(argv)
    paths = sorted(TUTORIALS.glob("[0-9][0-9]_*.md"))
    if args.names:
        paths = [TUTORIALS / f"{name}.md" for name in args.names]
        missing = [str(p) for p in paths if not p.exists()]
        if missing:
            parser.error(f"no such tutorial: {', '.join(missing)}")
    stale = []
    for path in paths:
        text = render(build(path))
        target = notebook_path(path)
        if args.check:
            if not target.exists() or target.read_text(encoding="utf-8") != text:
                stale.append(target.name)
        else:
            target.write_text(text, encoding="utf-8")
            print(f"wrote {target.relative_to(ROOT)}")
    if stale:
        print(f"out of date: {', '.join(stale)}; run python notebooks/build_notebooks.py")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
