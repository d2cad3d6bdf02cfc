import keras_hub
import numpy as np
import pytest

from keras_attn.layers import PositionEmbedding
from tests.helpers import run_layer_test


def test_layer(tmp_path):
    run_layer_test(
        PositionEmbedding,
        {"sequence_length": 10},
        np.random.rand(2, 6, 8).astype("float32"),
        expected_output_shape=(2, 6, 8),
        expected_num_trainable_weights=1,
        tmp_path=tmp_path,
    )


def test_returns_table_rows_from_start_index():
    layer = PositionEmbedding(sequence_length=10)
    x = np.zeros((2, 4, 8), "float32")
    layer(x)
    table = np.asarray(layer.embeddings)
    np.testing.assert_array_equal(layer(x)[1], table[:4])
    np.testing.assert_array_equal(layer(x, start_index=6)[0], table[6:10])


def test_matches_keras_hub_with_copied_weights():
    x = np.zeros((2, 5, 8), "float32")
    ours, theirs = PositionEmbedding(16), keras_hub.layers.PositionEmbedding(16)
    ours(x), theirs(x)
    ours.set_weights(theirs.get_weights())
    np.testing.assert_array_equal(ours(x, start_index=3), theirs(x, start_index=3))


def test_sequence_longer_than_table():
    layer = PositionEmbedding(sequence_length=4)
    with pytest.raises(
        ValueError,
        match=r"longer than the position table: 6 > sequence_length=4. Received: inputs.shape=\(1, 6, 8\)",
    ):
        layer(np.zeros((1, 6, 8), "float32"))


def test_bad_sequence_length():
    with pytest.raises(ValueError, match="Received: sequence_length=0"):
        PositionEmbedding(sequence_length=0)


def test_start_index_is_a_runtime_input_under_xla():
    """A compiled decoding step must not recompile at every position: the
    start index has to reach XLA as an input, not as a folded constant."""
    import tensorflow as tf

    layer = PositionEmbedding(sequence_length=16)
    x = tf.zeros((1, 1, 8))
    layer(x)
    step = tf.function(lambda x, i: layer(x, start_index=i), jit_compile=True)
    hlo = [step.experimental_get_compiler_ir(x, tf.constant(i))(stage="hlo") for i in (3, 11)]
    assert hlo[0] == hlo[1]
    np.testing.assert_allclose(step(x, tf.constant(11))[0, 0], layer.embeddings.numpy()[11])
