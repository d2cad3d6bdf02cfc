import keras
import numpy as np
import pytest

from keras_attn.models import build_gpt
from keras_attn.models import build_transformer
from keras_attn.training import AdamW
from keras_attn.training import MaskedSparseCategoricalCrossentropy
from keras_attn.training import warmup_cosine_decay
from keras_attn.training.optimizers import NO_DECAY_NAMES
from tests.training.helpers import GPT
from tests.training.helpers import TRANSLATOR

LR, WD = 0.1, 0.5


def decayed_paths(model, optimizer):
    """Paths of the variables that one update with zero gradients changed.

    With zero gradients Adam's step is 0, so only weight decay moves a
    variable, by the factor (1 - learning_rate * weight_decay).
    """
    before = [v.numpy() for v in model.trainable_variables]
    grads = [np.zeros(v.shape, "float32") for v in model.trainable_variables]
    optimizer.apply(grads, model.trainable_variables)
    decayed = []
    for variable, old in zip(model.trainable_variables, before):
        if not np.array_equal(variable.numpy(), old):
            np.testing.assert_allclose(variable.numpy(), old * (1 - LR * WD), rtol=1e-6)
            decayed.append(variable.path)
    return set(decayed)


@pytest.mark.parametrize("build", [lambda: build_gpt(GPT), lambda: build_transformer(TRANSLATOR)],
                         ids=["gpt", "translator"])
def test_biases_and_norms_are_not_decayed(build):
    model = build()
    decayed = decayed_paths(model, AdamW(LR, weight_decay=WD))
    paths = {v.path: v for v in model.trainable_variables}
    kept = set(paths) - decayed
    assert kept == {p for p in paths if p.rsplit("/", 1)[-1] in ("bias", "gamma", "beta")}
    assert decayed == {p for p in paths if p.rsplit("/", 1)[-1] in ("kernel", "embeddings")}
    # Attention biases are 2-D (heads, head_dim): excluded by name, not by rank.
    assert any(len(paths[p].shape) == 2 for p in kept)
    assert any(p.endswith("layer_norm/gamma") for p in kept)


def test_embeddings_can_be_excluded_too():
    model = build_gpt(GPT)
    optimizer = AdamW(LR, weight_decay=WD, no_decay_names=NO_DECAY_NAMES + ("embeddings",))
    decayed = decayed_paths(model, optimizer)
    assert decayed and all(p.endswith("/kernel") for p in decayed)


def test_exclusions_survive_a_keras_save_and_load(tmp_path):
    model = build_gpt(GPT)
    optimizer = AdamW(warmup_cosine_decay(1e-3, 10, 100, 1e-4), beta_2=0.99,
                      no_decay_names=("bias", "gamma", "beta", "embeddings"))
    model.compile(optimizer=optimizer, loss=MaskedSparseCategoricalCrossentropy())
    optimizer.build(model.trainable_variables)
    model.save(tmp_path / "model.keras")
    restored = keras.models.load_model(tmp_path / "model.keras").optimizer
    assert type(restored) is AdamW
    assert restored.no_decay_names == ("bias", "gamma", "beta", "embeddings")
    assert (restored.beta_2, restored.weight_decay, restored.global_clipnorm) == (0.99, 0.1, 1.0)
    # ... and act: a fresh model, one zero-gradient step with the reloaded optimizer.
    config = restored.get_config() | {"learning_rate": LR, "weight_decay": WD}
    decayed = decayed_paths(build_gpt(GPT), AdamW.from_config(config))
    assert decayed and all(p.endswith("/kernel") for p in decayed)


def test_global_clipnorm_rescales_all_gradients_together():
    a, b = keras.Variable(np.zeros(2, "float32")), keras.Variable(np.zeros(1, "float32"))
    grads = [np.array([3.0, 0.0], "float32"), np.array([4.0], "float32")]  # global norm 5
    optimizer = AdamW(1.0, weight_decay=0.0, epsilon=1e3, global_clipnorm=1.0)
    optimizer.apply(grads, [a, b])

    def first_adam_step(g, beta_2=0.95, epsilon=1e3):
        # lr * (m / (1 - beta_1)) / (sqrt(v / (1 - beta_2)) + epsilon) in Keras's form:
        # with a large epsilon it is nearly linear in g, so clipping shows.
        return -np.sqrt(1 - beta_2) * g / (np.sqrt(1 - beta_2) * np.abs(g) + epsilon)

    np.testing.assert_allclose(a.numpy(), first_adam_step(grads[0] / 5), rtol=1e-5)
    np.testing.assert_allclose(b.numpy(), first_adam_step(grads[1] / 5), rtol=1e-5)
    assert not np.allclose(b.numpy(), first_adam_step(grads[1]), rtol=1e-2)


def test_defaults_and_config():
    optimizer = AdamW()
    config = optimizer.get_config()
    assert (config["weight_decay"], config["beta_1"], config["beta_2"], config["epsilon"],
            config["global_clipnorm"], config["clipnorm"]) == (0.1, 0.9, 0.95, 1e-8, 1.0, None)
    assert config["no_decay_names"] == ["bias", "gamma", "beta"]
    per_variable = AdamW(global_clipnorm=None, clipnorm=0.5, beta_2=0.99)
    assert (per_variable.clipnorm, per_variable.global_clipnorm, per_variable.beta_2) == (0.5, None, 0.99)


@pytest.mark.parametrize("kwargs, message", [
    ({"weight_decay": -0.1}, "`weight_decay` must be a number >= 0. Received: weight_decay=-0.1"),
    ({"global_clipnorm": 0}, "`global_clipnorm` must be a positive number. Received: global_clipnorm=0"),
    ({"no_decay_names": "bias"},
     "`no_decay_names` must be a list of variable names. Received: no_decay_names='bias'"),
])
def test_bad_arguments(kwargs, message):
    with pytest.raises(ValueError) as error:
        AdamW(**kwargs)
    assert str(error.value) == message
