"""What evaluating between epochs costs: a fixed validation sample against the whole split.

`keras-attn train gpt --dataset shakespeare --preset baby --steps 300
--steps-per-epoch 100` (the case of the issue that changed it), run twice in
this process through `keras_attn.training.train_gpt`:

* ours: the default, a fixed sample of 128 validation windows after each
  epoch, and the whole split once at the end;
* peer: the whole split after each epoch (what the command did before),
  as a sample of every validation window, and the whole split at the end.

The row is the wall time of the whole run (training, evaluations, the final
evaluation); the note splits it into the time in `fit` (the per-epoch
evaluations included) and the final evaluation of the whole split.
"""

import time

from benchmarks.common import row
from keras_attn import data
from keras_attn import text
from keras_attn.models import GPTConfig
from keras_attn.training import train_gpt

RECIPE = dict(steps=300, steps_per_epoch=100, batch_size=12, precision="float32", verbose=0,
              log=lambda message: None)


def run(quick=False):
    shakespeare = data.load_shakespeare()
    tokenizer = text.CharacterTokenizer.from_texts([shakespeare.train, shakespeare.validation])
    config = GPTConfig.preset("baby", vocabulary_size=tokenizer.vocabulary_size())
    recipe = dict(RECIPE, steps=60, steps_per_epoch=20) if quick else RECIPE
    whole_split = len(shakespeare.validation) // config.max_sequence_length
    seconds, runs = {}, {}
    for name, windows in (("sample", 128), ("whole split", whole_split)):
        start = time.perf_counter()
        runs[name] = train_gpt(shakespeare.train, shakespeare.validation, tokenizer=tokenizer,
                               config=config, evaluation_windows=windows, **recipe)
        seconds[name] = time.perf_counter() - start
    epochs = recipe["steps"] // recipe["steps_per_epoch"]
    notes = []
    for name in seconds:
        figures = runs[name].figures
        notes.append(f"{name}: {seconds[name]:.1f} s in all, of which {figures['training_seconds']:.1f} s "
                     f"in fit (its {epochs} evaluations included) and "
                     f"{figures['final_evaluation_seconds']:.1f} s for the whole split at the end")
    return [row(
        "evaluation cost", f"baby, {recipe['steps']} steps, {epochs} epochs", "run seconds",
        seconds["sample"], peer=seconds["whole split"],
        peer_name="the whole split after each epoch", note="; ".join(notes),
    )]
