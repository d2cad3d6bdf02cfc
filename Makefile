# `make test` and `make demo` create .venv when it is missing (or when the
# dependency files changed), so they are the only setup a fresh machine needs.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: test test-fast demo models install clean bench bench-quick notebooks

$(STAMP): pyproject.toml constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c constraints.txt -e ".[dev]"
	touch $(STAMP)

install: $(STAMP)

# The whole suite, slow tests included.
test: $(STAMP)
	$(PY) -m pytest -n 2 --durations=15

# Skips the tests marked slow.
test-fast: $(STAMP)
	$(PY) -m pytest -n 2 -m "not slow"

# Serves the committed saved_models/: the chat page at http://127.0.0.1:8000.
demo: $(STAMP)
	$(PY) -m chatgpt_demo serve

# Retrains and re-exports every model in saved_models/ (about 25-30 min on 2 CPU cores).
models: $(STAMP)
	$(PY) -m chatgpt_demo.build_models

# JupyterLab on notebooks/; `KERAS_ATTN_FAST=1 make notebooks` trains for a few steps only.
notebooks: $(STAMP)
	$(VENV)/bin/jupyter lab notebooks/

# Benchmarks against Keras and keras-nlp, side by side in one process.
bench: $(STAMP)
	$(PY) -m benchmarks --out benchmarks/results/full.json

bench-quick: $(STAMP)
	$(PY) -m benchmarks --quick --out benchmarks/results/quick.json

clean:
	rm -rf $(VENV) .pytest_cache
