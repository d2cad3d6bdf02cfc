"""Benchmarks of keras_attn against Keras and keras-nlp, run side by side.

```
.venv/bin/python -m benchmarks --out benchmarks/results/full.json
.venv/bin/python -m benchmarks --quick --out benchmarks/results/quick.json
```
"""
