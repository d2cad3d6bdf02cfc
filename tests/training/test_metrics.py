import keras
import keras_hub
import numpy as np
import pytest

from keras_attn.models import build_gpt
from keras_attn.models import build_transformer
from keras_attn.training import MaskedAccuracy
from keras_attn.training import MaskedSparseCategoricalCrossentropy
from keras_attn.training import Perplexity
from tests.training.helpers import GPT
from tests.training.helpers import LABELS
from tests.training.helpers import TRANSLATOR
from tests.training.helpers import log_softmax
from tests.training.helpers import translator_batch


def reference_metrics(labels, logits, weights):
    """Token-weighted accuracy and exp(mean cross-entropy), in float64."""
    log_probs = log_softmax(logits)
    nll = -np.take_along_axis(log_probs, labels[..., None], axis=-1)[..., 0]
    correct = log_probs.argmax(-1) == labels
    return (correct * weights).sum() / weights.sum(), np.exp((nll * weights).sum() / weights.sum())


def compile_and_evaluate(model, inputs, pad_id, batch_size):
    model.compile(loss=MaskedSparseCategoricalCrossentropy(pad_id=pad_id),
                  metrics=[MaskedAccuracy(pad_id=pad_id), Perplexity(pad_id=pad_id)])
    return model.evaluate(inputs, LABELS, batch_size=batch_size, verbose=0, return_dict=True)


def test_gpt_metrics_average_over_real_tokens_across_batches():
    model = build_gpt(GPT)
    ids = np.where(LABELS > 0, LABELS, 1)
    accuracy, perplexity = reference_metrics(LABELS, model(ids), LABELS != 0)
    # Batches of 2 and 1 sequences with 9 and 2 real tokens: weighted by tokens.
    logs = compile_and_evaluate(model, ids, pad_id=0, batch_size=2)
    np.testing.assert_allclose(logs["accuracy"], accuracy, rtol=1e-6)
    np.testing.assert_allclose(logs["perplexity"], perplexity, rtol=1e-5)


@pytest.mark.parametrize("pad_id", [0, None])
def test_translator_metrics_use_the_keras_mask(pad_id):
    model = build_transformer(TRANSLATOR)
    inputs = translator_batch()
    accuracy, perplexity = reference_metrics(LABELS, model(inputs), LABELS != 0)
    logs = compile_and_evaluate(model, inputs, pad_id=pad_id, batch_size=2)
    np.testing.assert_allclose(logs["accuracy"], accuracy, rtol=1e-6)
    np.testing.assert_allclose(logs["perplexity"], perplexity, rtol=1e-5)
    # One batch and no label smoothing: perplexity = exp(loss).
    logs = compile_and_evaluate(model, inputs, pad_id=pad_id, batch_size=3)
    np.testing.assert_allclose(logs["perplexity"], np.exp(logs["loss"]), rtol=1e-5)


def test_perplexity_equals_keras_hub_with_a_mask_token():
    logits = keras.random.normal((3, 6, 16), seed=0)
    peer = keras_hub.metrics.Perplexity(from_logits=True, mask_token_id=0)
    ours = Perplexity(pad_id=0)
    for metric in (peer, ours):
        metric.update_state(LABELS, logits)
        metric.update_state(LABELS[:1], logits[:1])
    np.testing.assert_allclose(float(ours.result()), float(peer.result()), rtol=1e-5)


def test_sample_weights_and_half_precision():
    logits = keras.random.normal((3, 6, 16), seed=1)
    sample_weight = np.array([1.0, 0.0, 2.0])  # per sequence
    weights = (LABELS != 0) * sample_weight[:, None]
    for dtype in ("float32", "float16", "bfloat16"):
        logits = keras.ops.cast(logits, dtype)
        upcast = keras.ops.convert_to_numpy(keras.ops.cast(logits, "float32"))
        accuracy, perplexity = reference_metrics(LABELS, upcast, weights)
        acc, ppl = MaskedAccuracy(), Perplexity()
        acc.update_state(LABELS, logits, sample_weight=sample_weight)
        ppl.update_state(LABELS, logits, sample_weight=sample_weight)
        np.testing.assert_allclose(float(acc.result()), accuracy, rtol=1e-6)
        np.testing.assert_allclose(float(ppl.result()), perplexity, rtol=1e-5)


@pytest.mark.parametrize("cls", [MaskedAccuracy, Perplexity])
def test_config_round_trip_and_bad_pad_id(cls):
    metric = cls(pad_id=None, name="m")
    restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(metric))
    assert type(restored) is cls and restored.get_config() == metric.get_config()
    assert restored.pad_id is None and restored.name == "m"
    with pytest.raises(ValueError, match="`pad_id` must be an integer or None. Received: pad_id='x'"):
        cls(pad_id="x")
