import keras
import numpy as np
import pytest

from keras_attn.layers.masking import keras_mask
from keras_attn.models import build_gpt
from keras_attn.models import build_transformer
from keras_attn.training import MaskedSparseCategoricalCrossentropy
from tests.training.helpers import GPT
from tests.training.helpers import LABELS
from tests.training.helpers import TRANSLATOR
from tests.training.helpers import VOCAB
from tests.training.helpers import log_softmax
from tests.training.helpers import translator_batch


def reference_loss(labels, logits, weights, label_smoothing=0.0):
    """The weighted mean over tokens of the (smoothed) cross-entropy, in float64."""
    log_probs = log_softmax(logits)  # (B, T, V)
    nll = -np.take_along_axis(log_probs, labels[..., None], axis=-1)[..., 0]  # (B, T)
    ce = (1 - label_smoothing) * nll + label_smoothing * -log_probs.mean(-1)
    return (ce * weights).sum() / weights.sum()


@pytest.mark.parametrize("label_smoothing", [0.0, 0.1])
def test_gpt_loss_is_the_mean_over_real_tokens(label_smoothing):
    model = build_gpt(GPT)
    ids = np.where(LABELS > 0, LABELS, 1)  # any inputs: the labels carry the padding
    logits = keras.ops.convert_to_numpy(model(ids))
    assert keras_mask(model(ids)) is None
    expected = reference_loss(LABELS, logits, LABELS != 0, label_smoothing)
    loss = MaskedSparseCategoricalCrossentropy(label_smoothing=label_smoothing)
    np.testing.assert_allclose(float(loss(LABELS, logits)), expected, rtol=1e-5)
    # Through compile/evaluate (Keras's compiled-loss path), one batch.
    model.compile(loss=loss)
    np.testing.assert_allclose(model.evaluate(ids, LABELS, batch_size=3, verbose=0), expected,
                               rtol=1e-5)
    # Not the mean over all 18 positions.
    assert abs(expected - reference_loss(LABELS, logits, np.ones(LABELS.shape))) > 1e-2


@pytest.mark.parametrize("pad_id", [0, None])
def test_translator_loss_ignores_padding_exactly_once(pad_id):
    model = build_transformer(TRANSLATOR)
    inputs = translator_batch()
    out = model(inputs)
    np.testing.assert_array_equal(keras_mask(out), inputs["decoder_token_ids"] != 0)
    expected = reference_loss(LABELS, keras.ops.convert_to_numpy(out), LABELS != 0)
    # The logits' Keras mask alone (pad_id=None), or with the labels' (pad_id=0):
    # the same mean over the 11 real tokens, not scaled by 18 / 11 a second time.
    loss = MaskedSparseCategoricalCrossentropy(pad_id=pad_id)
    np.testing.assert_allclose(float(loss(LABELS, out)), expected, rtol=1e-5)
    model.compile(loss=loss)
    np.testing.assert_allclose(model.evaluate(inputs, LABELS, batch_size=3, verbose=0),
                               expected, rtol=1e-5)


def test_a_position_counts_when_both_masks_keep_it():
    logits = keras.random.normal((2, 3, VOCAB), seed=1)
    logits._keras_mask = keras.ops.convert_to_tensor([[True, True, False], [True, True, True]])
    labels = np.array([[4, 0, 5], [6, 7, 8]])  # (0, 1) is a padded label, (0, 2) masked logits
    weights = np.array([[1, 0, 0], [1, 1, 1]])
    expected = reference_loss(labels, keras.ops.convert_to_numpy(logits), weights)
    loss = MaskedSparseCategoricalCrossentropy()
    np.testing.assert_allclose(float(loss(labels, logits)), expected, rtol=1e-5)


def test_label_smoothing_matches_keras_categorical_crossentropy():
    logits = keras.random.normal((3, 6, VOCAB), seed=2)
    labels = np.where(LABELS > 0, LABELS, 1)  # no padding
    keras_loss = keras.losses.CategoricalCrossentropy(from_logits=True, label_smoothing=0.2)
    ours = MaskedSparseCategoricalCrossentropy(label_smoothing=0.2)
    np.testing.assert_allclose(float(ours(labels, logits)),
                               float(keras_loss(np.eye(VOCAB)[labels], logits)), rtol=1e-5)


def test_pad_id_is_configurable():
    logits = keras.random.normal((3, 6, VOCAB), seed=3)
    labels = np.where(LABELS > 0, LABELS, 15)  # 15 pads; 0 is a real token
    labels[0, 0] = 0
    expected = reference_loss(labels, keras.ops.convert_to_numpy(logits), labels != 15)
    loss = MaskedSparseCategoricalCrossentropy(pad_id=15)
    np.testing.assert_allclose(float(loss(labels, logits)), expected, rtol=1e-5)
    # An id outside the vocabulary works too.
    labels = np.where(LABELS > 0, LABELS, -1)
    loss = MaskedSparseCategoricalCrossentropy(pad_id=-1)
    expected = reference_loss(np.maximum(labels, 0), keras.ops.convert_to_numpy(logits), labels != -1)
    np.testing.assert_allclose(float(loss(labels, logits)), expected, rtol=1e-5)


def test_sample_weights_and_reductions():
    logits = keras.ops.convert_to_numpy(keras.random.normal((3, 6, VOCAB), seed=4))
    per_token = keras.ops.convert_to_numpy(
        MaskedSparseCategoricalCrossentropy(reduction=None)(LABELS, logits))
    assert per_token.dtype == "float32" and per_token.shape == (3, 6)
    assert (per_token[LABELS == 0] == 0).all() and (per_token[LABELS != 0] > 0).all()
    total = MaskedSparseCategoricalCrossentropy(reduction="sum")(LABELS, logits)
    np.testing.assert_allclose(float(total), per_token.sum(), rtol=1e-5)
    # Keras's convention: weighted sum over real tokens / number of real tokens.
    sample_weight = np.array([1.0, 0.5, 2.0])
    loss = MaskedSparseCategoricalCrossentropy()(LABELS, logits, sample_weight=sample_weight)
    np.testing.assert_allclose(float(loss), (per_token * sample_weight[:, None]).sum() / 11,
                               rtol=1e-5)
    # The same through `evaluate` on the translator, whose logits carry a mask.
    model = build_transformer(TRANSLATOR)
    model.compile(loss=MaskedSparseCategoricalCrossentropy())
    inputs = translator_batch()
    per_token = keras.ops.convert_to_numpy(
        MaskedSparseCategoricalCrossentropy(reduction=None)(LABELS, model(inputs)))
    np.testing.assert_allclose(
        model.evaluate(inputs, LABELS, sample_weight=sample_weight, batch_size=3, verbose=0),
        (per_token * sample_weight[:, None]).sum() / 11, rtol=1e-5)


def test_all_padding_gives_zero_not_nan():
    loss = MaskedSparseCategoricalCrossentropy()(np.zeros((2, 3)), np.ones((2, 3, VOCAB)))
    assert float(loss) == 0.0


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_half_precision_logits_are_computed_in_float32(dtype):
    # Large logits, whose exp overflows in float16 (max 65504).
    logits = keras.ops.cast(keras.random.normal((3, 6, VOCAB), stddev=30.0, seed=5), dtype)
    loss = MaskedSparseCategoricalCrossentropy(label_smoothing=0.1)(LABELS, logits)
    assert keras.backend.standardize_dtype(loss.dtype) == "float32"
    upcast = keras.ops.convert_to_numpy(keras.ops.cast(logits, "float32"))
    np.testing.assert_allclose(float(loss), reference_loss(LABELS, upcast, LABELS != 0, 0.1),
                               rtol=1e-5)


def test_config_round_trip():
    loss = MaskedSparseCategoricalCrossentropy(pad_id=3, label_smoothing=0.1, reduction="sum",
                                               name="ce")
    restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(loss))
    assert type(restored) is MaskedSparseCategoricalCrossentropy
    assert restored.get_config() == loss.get_config() == {
        "name": "ce", "reduction": "sum", "pad_id": 3, "label_smoothing": 0.1}


@pytest.mark.parametrize("kwargs, message", [
    ({"pad_id": "0"}, "`pad_id` must be an integer or None. Received: pad_id='0'"),
    ({"pad_id": 1.0}, "`pad_id` must be an integer or None. Received: pad_id=1.0"),
    ({"label_smoothing": -0.1}, "`label_smoothing` must be a number in [0, 1). Received: label_smoothing=-0.1"),
    ({"label_smoothing": 1}, "`label_smoothing` must be a number in [0, 1). Received: label_smoothing=1"),
    ({"reduction": "avg"}, "Invalid value for argument `reduction`"),
])
def test_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message.replace("[", r"\[").replace("(", r"\(")
                       .replace(")", r"\)")):
        MaskedSparseCategoricalCrossentropy(**kwargs)
