"""Both model families under XLA and mixed precision.

They train with `jit_compile=True` under mixed_float16 and mixed_bfloat16
for 200 steps without a NaN (float32 with XLA: test_gpt.py and
test_transformer.py); the softmax of every attention and of the loss runs
in float32 (read from the traced graph); padding masks are safe in float16.
XLA's compilation of a training step takes most of each test's time.
"""

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_attn.data import sequence_task_batches
from keras_attn.data.sequence_tasks import load_sequence_task
from keras_attn.models import GPTConfig
from keras_attn.models import TransformerConfig
from keras_attn.models import build_gpt
from keras_attn.models import build_transformer
from keras_attn.training import AdamW
from keras_attn.training import MaskedAccuracy
from keras_attn.training import MaskedSparseCategoricalCrossentropy
from keras_attn.training import Perplexity
from keras_attn.training import warmup_cosine_decay

VOCAB, T = 16, 12
GPT = GPTConfig(vocabulary_size=VOCAB, max_sequence_length=T, num_layers=2, num_heads=2,
                hidden_dim=32)
# One block each: XLA compiles the translator's training step in seconds, not a minute.
TRANSLATOR = TransformerConfig(vocabulary_size=VOCAB, max_sequence_length=T, num_layers=1,
                               num_heads=2, hidden_dim=32, dropout=0.0)
POLICIES = ["mixed_float16", "mixed_bfloat16"]
STEPS = 200


def gpt_setup():
    """A GPT and endless batches of `a b c d e f a b c d e f`: the second half is learnable."""
    first = np.random.default_rng(0).integers(1, VOCAB, size=(256, T // 2))
    windows = np.concatenate([first, first, first[:, :1]], axis=1).astype("int32")  # (N, T + 1)
    data = tf.data.Dataset.from_tensor_slices((windows[:, :-1], windows[:, 1:]))
    data = data.shuffle(256, seed=0).batch(16, drop_remainder=True).repeat()
    return build_gpt(GPT), data, MaskedSparseCategoricalCrossentropy(pad_id=None)


def translator_setup():
    """A translator and endless padded batches of the copy task (lengths 1 to 10)."""
    task = load_sequence_task("copy", vocabulary_size=VOCAB, num_train=512, num_validation=1,
                              num_test=1, max_length=T - 2, seed=0)
    data = sequence_task_batches(task.train, batch_size=16, seed=0).repeat()
    return build_transformer(TRANSLATOR), data, MaskedSparseCategoricalCrossentropy(pad_id=0)




# One policy per family (XLA compiles take seconds on CPU); the ops of all four pairs
# are checked below.
@pytest.mark.slow
@pytest.mark.parametrize("setup, policy", [(gpt_setup, "mixed_bfloat16"),
                                           (translator_setup, "mixed_float16")],
                         ids=["gpt-mixed_bfloat16", "translator-mixed_float16"])
def test_trains_with_xla_for_200_steps(setup, policy):
    keras.config.set_dtype_policy(policy)
    model, data, loss = setup()
    model.compile(optimizer=AdamW(warmup_cosine_decay(3e-3, 20, STEPS, 3e-4)), loss=loss,
                  metrics=[MaskedAccuracy(pad_id=loss.pad_id), Perplexity(pad_id=loss.pad_id)],
                  jit_compile=True)
    assert model.jit_compile
    history = model.fit(data, epochs=STEPS // 25, steps_per_epoch=25, shuffle=False,
                        verbose=0).history
    losses = history["loss"]
    assert np.isfinite(losses).all() and np.isfinite(history["perplexity"]).all(), history
    assert losses[-1] < 0.6 * losses[0], losses
    assert history["accuracy"][-1] > history["accuracy"][0] + 0.2, history["accuracy"]
    for w in model.weights:
        assert w.dtype == "float32" and np.isfinite(w.numpy()).all(), w.path
    if policy == "mixed_float16":  # loss scaling, and the scale is still usable
        assert isinstance(model.optimizer, keras.optimizers.LossScaleOptimizer)
        assert type(model.optimizer.inner_optimizer) is AdamW  # exclusions and all
        assert 1 <= float(model.optimizer.dynamic_scale) < 2**20


def op_dtypes(graph, op_types):
    """`{op type: sorted dtype names}` of the ops in `graph` of the given types."""
    found = {}
    for op in graph.get_operations():
        if op.type in op_types:
            found.setdefault(op.type, []).append(tf.as_dtype(op.get_attr("T")).name)
    return {k: sorted(v) for k, v in found.items()}


@pytest.mark.parametrize("policy", POLICIES)
@pytest.mark.parametrize("setup, num_softmaxes", [
    pytest.param(gpt_setup, GPT.num_layers, id="gpt"),
    # encoder self-attention; decoder self- and cross-attention
    pytest.param(translator_setup, 3 * TRANSLATOR.num_layers, id="translator"),
])
def test_softmax_and_loss_run_in_float32(setup, num_softmaxes, policy):
    keras.config.set_dtype_policy(policy)
    model, data, loss = setup()
    x, y = next(iter(data))

    @tf.function
    def forward(x, y):
        logits = model(x, training=True)
        return logits, loss(y, logits)

    concrete = forward.get_concrete_function(x, y)
    logits, value = concrete.structured_outputs
    assert (logits.dtype, value.dtype) == (tf.float32, tf.float32)
    dtypes = op_dtypes(concrete.graph, {"Softmax", "SparseSoftmaxCrossEntropyWithLogits",
                                        "BatchMatMulV2"})
    compute = policy.split("_")[1]
    assert dtypes["Softmax"] == ["float32"] * num_softmaxes  # every attention's softmax
    assert dtypes["SparseSoftmaxCrossEntropyWithLogits"] == ["float32"]  # the loss
    assert compute in dtypes["BatchMatMulV2"]  # while Q Kᵀ and weights · V are 16-bit


def test_padding_masks_are_safe_in_float16():
    """Padded and empty rows: float16 logits match float32 ones where there are tokens."""
    encoder_ids = np.array([[3, 4, 5, 0, 0, 0], [6, 7, 8, 9, 10, 11], [0, 0, 0, 0, 0, 0]], "int32")
    decoder_ids = np.array([[1, 12, 13, 0, 0], [1, 3, 4, 5, 6], [1, 0, 0, 0, 0]], "int32")
    labels = np.array([[12, 13, 2, 0, 0], [3, 4, 5, 6, 2], [2, 0, 0, 0, 0]], "int32")
    inputs = {"encoder_token_ids": encoder_ids, "decoder_token_ids": decoder_ids}
    reference = build_transformer(TRANSLATOR)
    keras.config.set_dtype_policy("mixed_float16")
    model = build_transformer(TRANSLATOR)
    model.set_weights(reference.get_weights())
    logits = np.asarray(model(inputs))
    assert logits.dtype == np.float32 and np.isfinite(logits).all()
    real = decoder_ids != 0
    np.testing.assert_allclose(logits[real], np.asarray(reference(inputs))[real], atol=3e-2)
    # A training step: finite gradients, the padding and the empty source included.
    model.compile(optimizer=AdamW(1e-3), loss=MaskedSparseCategoricalCrossentropy())
    result = model.train_on_batch(inputs, labels, return_dict=True)
    assert np.isfinite(result["loss"])
    assert all(np.isfinite(w.numpy()).all() for w in model.weights)
