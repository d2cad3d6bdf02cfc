"""Generation of an imported keras-hub model: ours against keras-hub, and against memory bandwidth.

A keras-hub `GPT2Backbone` at the GPT-2 124M shape (12 layers, 12 heads,
width 768, 50,257 tokens, 1,024 positions) with random weights, and the
same weights imported with `keras_attn.models.from_keras_hub`. Greedy, a
16-token prompt, 128 new tokens (stop tokens off, so every run makes them
all), batch 1 and batch 8, timed in alternation in one process:

* **ours**: `GPTGenerator(model).generate`, the compiled cached loop. Its
  caches and token buffer span the power of two that holds the prompt and
  the new tokens (256 positions), and it reads the attention kernels as
  matrices (`keras_attn.generation.with_matrix_kernels`).
* **keras-hub**: `GPT2CausalLM(backbone, preprocessor=None).generate` on
  the same ids, with its greedy sampler and its own compiled cached loop,
  over a buffer of prompt + new tokens (144 positions).

The bandwidth bound: a cached step reads every weight once (the tied head
reads the whole token table; of the position table, one row), so a step
can't take less than those bytes divided by the memory bandwidth, and
`batch` new tokens per step can't come faster than `batch * bandwidth /
bytes`. The bandwidth is NumPy copying a 512 MB array (bytes read plus
bytes written per second, best of 5), a stand-in for streaming the weights
(it leaves out the reads of the key/value caches).

```
.venv/bin/python -m benchmarks --only keras_hub_generation --out benchmarks/results/keras_hub_generation.json
.venv/bin/python -m benchmarks --only keras_hub_generation --quick   # a tiny shape: a smoke run
```
"""

import keras_hub
import numpy as np

from benchmarks.common import median
from benchmarks.common import row
from benchmarks.common import time_alternating
from benchmarks.common import timed
from keras_attn.generation import GPTGenerator
from keras_attn.models import from_keras_hub

GPT2_124M = dict(vocabulary_size=50257, num_layers=12, num_heads=12, hidden_dim=768,
                 intermediate_dim=3072, max_sequence_length=1024)
TINY = dict(vocabulary_size=1000, num_layers=2, num_heads=2, hidden_dim=64,
            intermediate_dim=256, max_sequence_length=128)
BATCHES = (1, 8)


def copy_bandwidth(megabytes, repetitions=5):
    """Bytes read plus bytes written per second by `np.copyto` on `megabytes` arrays."""
    source = np.ones(megabytes * 2**20 // 8, "float64")
    target = np.empty_like(source)
    np.copyto(target, source)  # pages the target in
    seconds = min(timed(lambda: np.copyto(target, source), 1)() for _ in range(repetitions))
    return 2 * source.nbytes / seconds


def weight_bytes_per_step(model):
    """Bytes of weights one cached step reads: all, but one row of the position table."""
    total = sum(int(np.prod(w.shape)) * np.dtype(w.dtype).itemsize for w in model.weights)
    table = model.embedding.position_embedding.embeddings
    row_bytes = table.shape[1] * np.dtype(table.dtype).itemsize
    return total - table.shape[0] * row_bytes + row_bytes


def run(quick):
    shape = TINY if quick else GPT2_124M
    prompt_length, new_tokens = (8, 16) if quick else (16, 128)
    repetitions = 2 if quick else 3
    backbone = keras_hub.models.GPT2Backbone(**shape, dropout=0.0)
    model = from_keras_hub(backbone)
    ours = GPTGenerator(model)
    causal_lm = keras_hub.models.GPT2CausalLM(backbone=backbone, preprocessor=None)
    causal_lm.compile(sampler="greedy")
    total = prompt_length + new_tokens
    rng = np.random.default_rng(0)

    candidates, same_tokens = {}, {}
    for batch in BATCHES:
        prompts = rng.integers(0, shape["vocabulary_size"], (batch, prompt_length)).tolist()
        # keras-hub generates until `total` tokens in all: the prompt padded to it.
        peer_inputs = {
            "token_ids": np.pad(np.array(prompts, "int32"), [(0, 0), (0, new_tokens)]),
            "padding_mask": np.arange(total)[None].repeat(batch, 0) < prompt_length,
        }

        def ours_fn(prompts=prompts):
            return ours.generate(prompts, new_tokens)

        def peer_fn(peer_inputs=peer_inputs):
            return causal_lm.generate(peer_inputs, stop_token_ids=None)

        # Random weights give near-ties, so the tokens may part ways: reported, not required.
        ours_ids = np.array(ours_fn())  # compiles
        peer_ids = np.asarray(peer_fn()["token_ids"])[:, prompt_length:]  # compiles
        same_tokens[batch] = bool((ours_ids == peer_ids).all())
        candidates[f"ours, batch {batch}"] = timed(ours_fn, 1)
        candidates[f"keras-hub, batch {batch}"] = timed(peer_fn, 1)
    times = time_alternating(candidates, repetitions)
    bandwidth = copy_bandwidth(64 if quick else 512)
    step_bytes = weight_bytes_per_step(model)

    name = "tiny" if quick else "gpt2 124M"
    rows = []
    for batch in BATCHES:
        rate = {who: batch * new_tokens / median(times[f"{who}, batch {batch}"])
                for who in ("ours", "keras-hub")}
        case = f"{name}, batch {batch}, {new_tokens} new tokens, greedy"
        rows.append(row(
            "keras_hub_generation", case, "new tokens/s", rate["ours"], rate["keras-hub"],
            "keras_hub GPT2CausalLM.generate, same weights",
            target=("ratio", ">=", 2.0) if batch == 1 else None,
            note=f"same greedy tokens: {'yes' if same_tokens[batch] else 'no'}",
        ))
        bound = batch * bandwidth / step_bytes
        rows.append(row(
            "keras_hub_generation", case + ", vs bandwidth", "new tokens/s", rate["ours"],
            bound, "memory-bandwidth bound",
            note=f"{step_bytes / 1e6:,.0f} MB of weights per step, "
                 f"{bandwidth / 1e9:.1f} GB/s NumPy copy bandwidth",
        ))
    return rows
