"""Where a cached decoding step spends its time: the TensorFlow profiler, summed.

    .venv/bin/python -m benchmarks.profile_generation --shape baby
    .venv/bin/python -m benchmarks.profile_generation --shape gpt2 --batch 1

It builds the model of a `benchmarks.generation` shape ("baby", "mini") or
a GPT-2 124M-shaped keras-hub `GPT2Backbone` with random weights imported
with `from_keras_hub` ("gpt2", `benchmarks.keras_hub_generation`'s model),
warms `GPTGenerator.generate` up (greedy, a 16-token prompt), then traces
one call with `tf.profiler.experimental` and prints the XLA ops' time per
decoding step, summed by HLO kind (`dot_add_fusion.12` -> `dot_add_fusion`),
with how many run per step. The loop is one XLA program, so the kinds say
what the step does:

* `dot`, `*_dot_fusion`: matrix products; a fusion's prefix says what XLA
  fused into it (`bitcast_` a reshaped operand, `copy_` a transposed one,
  `_add` the bias);
* `*copy*`, `*slice*`, `*transpose*` fusions: data moved, not computed;
* the rest: elementwise work, reductions, the sampler.

Times are those of the ops; the wall time per step is printed too.
"""

import argparse
import tempfile
import time

import numpy as np
import tensorflow as tf

from benchmarks.profile_gpt import summarize

PROMPT_LENGTH = 16


def build(shape):
    """`(model, vocabulary_size)` of a shape name: "baby", "mini" or "gpt2"."""
    if shape == "gpt2":
        import keras_hub

        from benchmarks.keras_hub_generation import GPT2_124M
        from keras_attn.models import from_keras_hub

        backbone = keras_hub.models.GPT2Backbone(**GPT2_124M, dropout=0.0)
        return from_keras_hub(backbone), GPT2_124M["vocabulary_size"]
    from benchmarks.generation import SHAPES
    from benchmarks.generation import build_model

    return build_model(*SHAPES[shape]), 256


def profile(shape, batch, new_tokens):
    """Traces one `generate` call; returns `(wall s/step, {kind: (ms/step, count/step)})`."""
    from keras_attn.generation import GPTGenerator

    model, vocabulary_size = build(shape)
    generator = GPTGenerator(model)
    prompts = np.random.default_rng(0).integers(0, vocabulary_size, (batch, PROMPT_LENGTH))
    prompts = prompts.tolist()
    generator.generate(prompts, new_tokens)  # compiles
    start = time.perf_counter()
    generator.generate(prompts, new_tokens)
    step_seconds = (time.perf_counter() - start) / new_tokens
    logdir = tempfile.mkdtemp(prefix="profile_generation_")
    tf.profiler.experimental.start(logdir)
    try:
        generator.generate(prompts, new_tokens)
    finally:
        tf.profiler.experimental.stop()
    summary = summarize(logdir, new_tokens)
    ms, count = summary["xla"], summary["xla_count"]
    return step_seconds, {kind: (ms[kind], count[kind]) for kind in ms}


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m benchmarks.profile_generation",
                                     description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shape", default="baby", choices=("baby", "mini", "gpt2"))
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--new-tokens", type=int, default=None,
                        help="tokens per call (default: 249 for baby and mini, 128 for gpt2)")
    parser.add_argument("--top", type=int, default=12, help="how many kinds to print")
    args = parser.parse_args(argv)
    new_tokens = args.new_tokens or (128 if args.shape == "gpt2" else 249)
    step_seconds, kinds = profile(args.shape, args.batch, new_tokens)
    total = sum(ms for ms, _ in kinds.values())
    print(f"{args.shape}, batch {args.batch}, {new_tokens} greedy tokens: "
          f"{1e3 * step_seconds:.3f} ms per step (untraced), ops {total:.3f} ms per step")
    print("ms/step   share  ops/step  HLO kind")
    for kind, (ms, count) in sorted(kinds.items(), key=lambda item: -item[1][0])[: args.top]:
        print(f"{ms:8.3f}  {ms / total:5.1%}  {count:8.1f}  {kind}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
