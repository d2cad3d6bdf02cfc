import doctest
import pathlib
import re

import keras_attn.viz


def test_every_public_name_has_a_runnable_example():
    # tests/test_docstrings.py runs the examples; this checks that each one has some.
    for name in keras_attn.viz.__all__:
        examples = doctest.DocTestFinder(recurse=False).find(getattr(keras_attn.viz, name))
        assert examples and examples[0].examples, f"{name}'s docstring has no `>>>` example"


def test_the_library_never_touches_pyplot():
    # Figures are made with matplotlib.figure.Figure on an Agg canvas: no global
    # figure list to leak, no backend switch that would break a notebook's.
    for path in pathlib.Path(keras_attn.viz.__file__).parent.glob("*.py"):
        source = path.read_text(encoding="utf-8")
        assert not re.search(r"import matplotlib\.pyplot|from matplotlib import pyplot|"
                             r"matplotlib\.use\(|\.show\(", source), path.name
