"""Every docstring example in keras_attn runs, and every public layer has one."""

import doctest
import importlib
import inspect
import pkgutil

import keras
import pytest

import keras_attn
import keras_attn.layers

MODULES = sorted(
    m.name for m in pkgutil.walk_packages(keras_attn.__path__, prefix="keras_attn.")
)


@pytest.mark.parametrize("module_name", MODULES)
def test_docstring_examples_run(module_name):
    module = importlib.import_module(module_name)
    results = doctest.testmod(
        module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE, verbose=False
    )
    assert results.failed == 0, f"{results.failed} docstring example(s) failed in {module_name}"


@pytest.mark.parametrize("name", keras_attn.layers.__all__)
def test_public_api_has_a_runnable_example(name):
    obj = getattr(keras_attn.layers, name)
    examples = doctest.DocTestFinder(recurse=False).find(obj)
    assert examples and examples[0].examples, f"{name}'s docstring has no `>>>` example"
    if inspect.isclass(obj):
        assert keras.saving.get_registered_object(f"keras_attn>{name}") is obj
        assert "get_config" in vars(obj) or any(
            "get_config" in vars(base) for base in obj.__mro__[1:] if base.__module__.startswith("keras_attn")
        ), f"{name} has no get_config of its own"
