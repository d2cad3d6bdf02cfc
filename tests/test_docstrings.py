"""Every docstring example in keras_attn runs, and every public layer has one."""

import doctest
import importlib
import inspect
import pkgutil

import keras
import pytest

import keras_attn
import keras_attn.layers
import keras_attn.models
import keras_attn.text
import keras_attn.export
import keras_attn.generation
import keras_attn.training
import keras_attn.viz

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


PUBLIC = [
    (module, name)
    for module in (keras_attn.layers, keras_attn.models, keras_attn.training, keras_attn.text,
                   keras_attn.viz, keras_attn.generation, keras_attn.export)
    for name in module.__all__
    if not name.isupper()  # constants
]


@pytest.mark.parametrize(
    "module, name", PUBLIC, ids=[f"{m.__name__}.{n}" for m, n in PUBLIC]
)
def test_public_api_has_a_runnable_example(module, name):
    obj = getattr(module, name)
    if isinstance(obj, dict):  # the preset tables
        assert obj, name
        return
    examples = doctest.DocTestFinder(recurse=False).find(obj)
    assert examples and examples[0].examples, f"{name}'s docstring has no `>>>` example"
    if inspect.isclass(obj) and issubclass(obj, keras.layers.Layer):
        assert keras.saving.get_registered_object(f"keras_attn>{name}") is obj
        assert any(
            "get_config" in vars(cls) for cls in obj.__mro__ if cls.__module__.startswith("keras_attn")
        ), f"{name} has no get_config of its own"
