"""The whole training setup trains both model families, in float32 and mixed precision, with XLA."""

import keras
import numpy as np
import pytest

from keras_attn.models import build_gpt
from keras_attn.models import build_transformer
from keras_attn.training import AdamW
from keras_attn.training import MaskedAccuracy
from keras_attn.training import MaskedSparseCategoricalCrossentropy
from keras_attn.training import Perplexity
from keras_attn.training import TransformerSchedule
from keras_attn.training import warmup_cosine_decay
from tests.training.helpers import GPT
from tests.training.helpers import LABELS
from tests.training.helpers import TRANSLATOR
from tests.training.helpers import translator_batch


def gpt_setup():
    ids = np.where(LABELS > 0, LABELS, 1)
    return build_gpt(GPT), ids, LABELS, AdamW(warmup_cosine_decay(1e-2, 2, 20, 1e-3), beta_2=0.99)


def translator_setup():
    # Peak rate 0.08 * (16 * 4)^-0.5 = 0.01, at the fourth update.
    optimizer = AdamW(TransformerSchedule(TRANSLATOR.hidden_dim, warmup_steps=4, scale=0.08),
                      beta_2=0.98, epsilon=1e-9)
    return build_transformer(TRANSLATOR), translator_batch(), LABELS, optimizer


# XLA compiles take seconds on CPU: one policy per model family.
@pytest.mark.slow
@pytest.mark.parametrize("setup, policy", [(gpt_setup, "mixed_bfloat16"),
                                           (translator_setup, "mixed_float16")],
                         ids=["gpt-mixed_bfloat16", "translator-mixed_float16"])
def test_loss_falls_with_xla_and_mixed_precision(setup, policy):
    keras.config.set_dtype_policy(policy)
    model, x, y, optimizer = setup()
    model.compile(optimizer=optimizer,
                  loss=MaskedSparseCategoricalCrossentropy(label_smoothing=0.1),
                  metrics=[MaskedAccuracy(), Perplexity()], jit_compile=True)
    history = model.fit(x, y, batch_size=3, epochs=20, shuffle=False, verbose=0).history
    losses = history["loss"]
    assert np.isfinite(losses).all() and np.isfinite(history["perplexity"]).all()
    assert losses[-1] < 0.75 * losses[0], losses
    assert history["accuracy"][-1] > history["accuracy"][0]
    if policy == "mixed_float16":  # Keras wraps our AdamW, exclusions and all
        assert type(model.optimizer.inner_optimizer) is AdamW
