"""The notebooks are built from the tutorials, carry no outputs, and run top to bottom.

A notebook is its tutorial's ```python blocks in order (checked below), so
running the notebooks runs the tutorials' code too; it is not run twice.
Each notebook runs in a fresh kernel of this interpreter (a kernel spec made
in a temporary directory, so no global Jupyter install is used; tutorial 10
must configure devices before TensorFlow starts), from an empty directory,
with `KERAS_ATTN_FAST=1`: the training cells take a few steps only.
"""

import json
import re
import sys
import time

import nbformat
import pytest
from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import AsyncKernelManager
from nbclient import NotebookClient

from tests.test_tutorials import NOTEBOOKS
from tests.test_tutorials import TUTORIALS
from tests.test_tutorials import build_notebooks
from tests.test_tutorials import python_blocks
from tests.test_tutorials import tutorial_paths

# Tutorials written by other hands whose notebooks may not be built yet.
PENDING = set()
KERNEL = "keras-attn-test"
NUMBER = r"(-?[\d.]+(?:e[+-]?\d+)?)"
# The figures a tutorial's text quotes, read from its notebook's output. In the
# fast setting tutorials 5-8 and 11 run the checkpoints of tutorials/checkpoints/,
# the models the full setting trains, so their quotes hold here: `(pattern with
# one group, the quoted value, tolerance)`, a string value matched exactly.
# An untrained model fails each of them.
QUOTED = {
    "05_translator": [
        (rf"exact match on \d+ test numbers: {NUMBER}%", 100.0, 0.0),
        (rf"\[START\] -> writes soixante\s+reads seventy {NUMBER}", 0.99, 0.02),
        (rf"-> writes deux\s+reads two {NUMBER}", 1.00, 0.02),
        (rf"-> writes quatre\s+reads eighty {NUMBER}", 1.00, 0.02),
        (rf"-> writes vingts\s+reads eighty {NUMBER}", 0.73, 0.05),
        (rf"writing 'mille': {NUMBER} on 'thousand'", 0.90, 0.05),
        (rf"writing 'cent': {NUMBER} on 'hundred'", 0.92, 0.05),
        (r"\neight\s+-> (.+)", "huit", None),
        (r"\nzero\s+-> (.+)", "treize", None),
    ],
    "06_gpt_shakespeare": [
        (r"811,136 weights each; largest logit difference (\S+)", 0.0, 1e-5),
        (rf"head 0: the previous character gets the largest weight in\s+{NUMBER}%", 100, 3),
        (rf"head 0: [^\n]*, {NUMBER} of the weight on average", 0.89, 0.03),
        (rf"head 2: [^\n]*;\s+{NUMBER}% of the weight on the speaker's name", 42, 4),
    ],
    "07_generation": [
        (rf"' '\s+{NUMBER}", 0.309, 0.01),
        (rf"','\s+{NUMBER}", 0.130, 0.01),
        (r"top_k=0, top_p=0.5: keeps \d+ tokens: (.+)", "[' ', ',', 'n']", None),
    ],
    "08_fine_tuning": [
        (rf"before fine-tuning: validation loss on Romeo {NUMBER}", 1.839, 0.01),
        (rf"before fine-tuning:[^\n]*\n[^\n]*ROMEO {NUMBER} times", 0, 1),
    ],
    "11_chat_fine_tuning": [
        (rf"before fine-tuning: held-out reply loss {NUMBER}", 2.134, 0.01),
        (rf"before fine-tuning: [^\n]*; {NUMBER} of 36 replies end", 9, 3),
        (rf"after fine-tuning: [^\n]*; {NUMBER} of 36 replies end", 34, 4),
    ],
}


def notebook_paths():
    return sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))


def trains(path):
    """Whether a notebook trains a model (it reads the fast switch): a slow test."""
    return "KERAS_ATTN_FAST" in path.read_text(encoding="utf-8").split('"setup"', 1)[-1]


@pytest.mark.parametrize("tutorial", tutorial_paths(), ids=lambda p: p.stem)
def test_each_notebook_is_built_from_its_tutorial(tutorial):
    assert python_blocks(tutorial), f"{tutorial.name} has no ```python block"
    notebook = build_notebooks.notebook_path(tutorial)
    if not notebook.exists() and tutorial.stem in PENDING:
        pytest.skip(f"{notebook.name} is not built yet")
    assert notebook.exists(), f"no {notebook.name}; run: python notebooks/build_notebooks.py"
    expected = build_notebooks.render(build_notebooks.build(tutorial))
    assert notebook.read_text(encoding="utf-8") == expected, (
        f"{notebook.name} differs from {tutorial.name}; run: python notebooks/build_notebooks.py"
    )


def test_every_notebook_has_a_tutorial_and_no_outputs():
    assert len(notebook_paths()) >= 8
    for path in notebook_paths():
        assert (TUTORIALS / f"{path.stem}.md").exists(), f"{path.name} has no tutorial"
        notebook = nbformat.read(path, as_version=4)
        nbformat.validate(notebook)
        for cell in notebook.cells:
            if cell.cell_type == "code":
                assert cell.outputs == [] and cell.execution_count is None, (
                    f"{path.name}, cell {cell.id}: committed with outputs"
                )


def test_a_notebook_runs_the_code_that_the_tutorial_test_runs():
    tutorial = TUTORIALS / "01_attention_from_scratch.md"
    notebook = nbformat.read(build_notebooks.notebook_path(tutorial), as_version=4)
    code = [c.source for c in notebook.cells if c.cell_type == "code"]
    blocks = [source.strip("\n") for _, source in python_blocks(tutorial)]
    assert code == ["%matplotlib inline"] + blocks
    ids = [c.id for c in notebook.cells]
    assert ids[:4] == ["1-attention-from-scratch", "install", "made-from", "setup"]
    assert "make test" in notebook.cells[1].source and "pip install -e ." in notebook.cells[1].source
    assert "the-attention-formula-code-1" in ids and "masking" in ids
    # Image links of the Markdown are left out (the notebook draws the figures),
    # links to other tutorials point at their notebooks.
    markdown = "\n".join(c.source for c in notebook.cells if c.cell_type == "markdown")
    assert "](images/" not in markdown
    assert "](02_multi_head_attention.ipynb)" in markdown
    assert "](../keras_attn/layers/scaled_dot_product_attention.py)" in markdown
    # The exercises' solutions stay folded in the Markdown, their code not run.
    assert markdown.count("<details>") == markdown.count("</details>") >= 3
    solutions = re.findall(r"<details>.*?</details>", markdown, re.DOTALL)
    assert not [c for c in code if any(c and c in solution for solution in solutions)]


@pytest.fixture(scope="module")
def kernel_specs(tmp_path_factory):
    """A kernel spec that runs this interpreter (the project's .venv in CI)."""
    directory = tmp_path_factory.mktemp("kernels")
    (directory / KERNEL).mkdir()
    (directory / KERNEL / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "keras_attn tests",
        "language": "python",
    }))
    return KernelSpecManager(kernel_dirs=[str(directory)])


def run_notebook(path, cwd, kernel_specs, monkeypatch):
    """Executes every cell in order; returns the executed notebook and the seconds taken."""
    notebook = nbformat.read(path, as_version=4)
    monkeypatch.setenv("KERAS_ATTN_FAST", "1")  # inherited by the kernel
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "2")
    manager = AsyncKernelManager(kernel_name=KERNEL, kernel_spec_manager=kernel_specs)
    client = NotebookClient(notebook, km=manager, timeout=600,
                            resources={"metadata": {"path": str(cwd)}})
    start = time.perf_counter()
    client.execute()  # raises CellExecutionError, with the cell and traceback, on an error
    return notebook, time.perf_counter() - start


@pytest.mark.parametrize(
    "path",
    [pytest.param(p, id=p.stem, marks=[pytest.mark.slow] if trains(p) else [])
     for p in notebook_paths()],
)
def test_notebook_runs_top_to_bottom_with_inline_figures(path, tmp_path, kernel_specs,
                                                         monkeypatch):
    notebook, _ = run_notebook(path, tmp_path, kernel_specs, monkeypatch)
    code_cells = [c for c in notebook.cells if c.cell_type == "code"]
    assert all(c.execution_count is not None for c in code_cells)
    assert not [o for c in code_cells for o in c.outputs if o.output_type == "error"]
    # The training notebooks ran in the fast setting.
    setup_output = "".join(o.get("text", "") for o in code_cells[0].outputs)
    if "KERAS_ATTN_FAST" in code_cells[0].source:
        assert setup_output.strip() == "fast setting"
    # Every cell that ends with a figure shows it inline as a PNG.
    for cell in code_cells:
        if cell.source.rstrip().endswith("\nfig"):
            assert any("image/png" in o.get("data", {}) for o in cell.outputs), (
                f"{path.name}, cell {cell.id}: no inline figure"
            )
    # The figures the text quotes.
    printed = "".join(o.get("text", "") for c in code_cells for o in c.outputs)
    for pattern, quoted, tolerance in QUOTED.get(path.stem, []):
        match = re.search(pattern, printed)
        assert match, f"{path.name} printed nothing that matches {pattern!r}"
        got = match.group(1).strip()
        if tolerance is None:
            assert got == quoted, f"{path.name}: {pattern!r} gave {got!r}; the text says {quoted!r}"
        else:
            assert abs(float(got) - quoted) <= tolerance, (
                f"{path.name}: {pattern!r} gave {got}; the text says {quoted}")
    # Each figure the tutorial saves is written, under images/ of the working directory.
    saved = re.findall(r"savefig\(\"(images/[^\"]+)\"\)", "".join(c.source for c in code_cells))
    missing = [name for name in saved if not (tmp_path / name).is_file()]
    assert not missing, f"{path.name} did not write {missing}"
