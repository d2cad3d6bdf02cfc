"""Trains the checkpoints that tutorials 5-9 and 11 start from (5-8 in their fast setting).

Each checkpoint is what a tutorial's own code trains in its full setting:
this script runs the tutorial's code cells (as its notebook does, with
`KERAS_ATTN_FAST=0`) in a scratch directory, and right after the cell that
calls `fit` saves the model, without its optimizer state, and its
tokenizers here. The remaining cells run too, so the log holds every figure
the full setting prints (the tutorials quote them).

    .venv/bin/python tutorials/checkpoints/train_checkpoints.py            # all three
    .venv/bin/python tutorials/checkpoints/train_checkpoints.py 07_generation
"""

import argparse
import contextlib
import importlib.util
import os
import pathlib
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parents[2]
HERE = pathlib.Path(__file__).resolve().parent

# tutorial -> (checkpoint folder, {tokenizer folder: the tutorial's variable})
CHECKPOINTS = {
    "05_translator": ("numbers_translator", {"english_tokenizer": "english",
                                             "french_tokenizer": "french"}),
    "06_gpt_shakespeare": ("shakespeare_gpt", {"tokenizer": "tokenizer"}),
    "07_generation": ("shakespeare_gpt_128", {"tokenizer": "tokenizer"}),
}


def _build_notebooks():
    """notebooks/build_notebooks.py, a script rather than a package module: its
    `cells` splits a tutorial into the cells its notebook runs."""
    spec = importlib.util.spec_from_file_location(
        "build_notebooks", ROOT / "notebooks" / "build_notebooks.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _cells(build_notebooks, tutorial):
    text = (ROOT / "tutorials" / f"{tutorial}.md").read_text(encoding="utf-8")
    return [source for kind, _, source in build_notebooks.cells(text) if kind == "code"]


def save(model, namespace, folder, tokenizers):
    import keras

    from keras_attn import text

    # A fresh copy: the trained model's file would also carry the optimizer's
    # two moments, three times the size, which a reader of the tutorial never uses.
    config = keras.saving.serialize_keras_object(model)
    config.pop("compile_config", None)
    fresh = keras.saving.deserialize_keras_object(config)
    fresh.set_weights(model.get_weights())
    folder.mkdir(parents=True, exist_ok=True)
    fresh.save(folder / "model.keras")
    for name, variable in tokenizers.items():
        text.save_tokenizer(namespace[variable], folder / name)
    print(f"saved {folder.relative_to(ROOT)}: {fresh.count_params():,} weights, "
          f"{(folder / 'model.keras').stat().st_size / 1e6:.1f} MB")


def train(build_notebooks, tutorial):
    folder_name, tokenizers = CHECKPOINTS[tutorial]
    os.environ["KERAS_ATTN_FAST"] = "0"
    namespace, saved = {"__name__": "__main__"}, False
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as scratch, contextlib.chdir(scratch):
        for source in _cells(build_notebooks, tutorial):
            print(f"--- cell\n{source}\n---", flush=True)
            exec(compile(source, f"{tutorial}.md", "exec"), namespace)
            if not saved and "model.fit(" in source:
                save(namespace["model"], namespace, HERE / folder_name, tokenizers)
                saved = True
    print(f"{tutorial}: {time.perf_counter() - start:.0f} s in all", flush=True)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("tutorials", nargs="*", default=list(CHECKPOINTS), choices=list(CHECKPOINTS))
    build_notebooks = _build_notebooks()
    for tutorial in parser.parse_args(argv).tutorials:
        train(build_notebooks, tutorial)


if __name__ == "__main__":
    main()
