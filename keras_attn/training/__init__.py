"""Training: the masked loss and metrics, schedules, AdamW, callbacks, `Trainer` and the recipes.

>>> import keras_attn
>>> from keras_attn import training
>>> model = keras_attn.models.build_gpt(keras_attn.models.GPTConfig.preset("baby", num_layers=1))
>>> model.compile(
...     optimizer=training.AdamW(training.warmup_cosine_decay(1e-3, 100, 2000, 1e-4), beta_2=0.99),
...     loss=training.MaskedSparseCategoricalCrossentropy(),
...     metrics=[training.MaskedAccuracy(), training.Perplexity()],
... )
"""

from keras_attn.training.callbacks import ModelCheckpoint
from keras_attn.training.callbacks import TextSamples
from keras_attn.training.callbacks import gpt_sampler
from keras_attn.training.callbacks import standard_callbacks
from keras_attn.training.distribute import STRATEGIES
from keras_attn.training.distribute import is_chief
from keras_attn.training.distribute import make_strategy
from keras_attn.training.losses import MaskedSparseCategoricalCrossentropy
from keras_attn.training.metrics import MaskedAccuracy
from keras_attn.training.metrics import Perplexity
from keras_attn.training.optimizers import AdamW
from keras_attn.training.recipes import TrainingRun
from keras_attn.training.recipes import choose_precision
from keras_attn.training.recipes import read_run
from keras_attn.training.recipes import reply_examples
from keras_attn.training.recipes import train_gpt
from keras_attn.training.recipes import train_replies
from keras_attn.training.recipes import train_translator
from keras_attn.training.schedules import TransformerSchedule
from keras_attn.training.schedules import warmup_cosine_decay
from keras_attn.training.trainer import Trainer

__all__ = [
    "AdamW",
    "MaskedAccuracy",
    "MaskedSparseCategoricalCrossentropy",
    "ModelCheckpoint",
    "Perplexity",
    "STRATEGIES",
    "TextSamples",
    "Trainer",
    "TrainingRun",
    "TransformerSchedule",
    "choose_precision",
    "gpt_sampler",
    "is_chief",
    "make_strategy",
    "read_run",
    "reply_examples",
    "standard_callbacks",
    "train_gpt",
    "train_replies",
    "train_translator",
    "warmup_cosine_decay",
]
