import keras
import numpy as np
import pytest

from keras_attn.generation import decode_by_recomputation
from keras_attn.generation import greedy_translate
from keras_attn.models import TransformerConfig
from keras_attn.models import build_transformer


class FakeTranslator:
    """Logits that say: at position t, emit source[t] + 1, then end."""

    def __init__(self, vocabulary_size=10, end_id=2):
        self.vocabulary_size, self.end_id = vocabulary_size, end_id

    def predict_on_batch(self, inputs):
        source, decoder = inputs["encoder_token_ids"], inputs["decoder_token_ids"]
        batch, length = decoder.shape
        logits = np.zeros((batch, length, self.vocabulary_size), "float32")
        for b in range(batch):
            for t in range(length):
                token = source[b, t] + 1 if t < source.shape[1] and source[b, t] else self.end_id
                logits[b, t, token] = 1.0
        return logits


def test_takes_the_argmax_and_stops_at_end():
    source = np.array([[3, 4, 5, 0], [6, 0, 0, 0]])
    ids = greedy_translate(FakeTranslator(), source, start_id=1, end_id=2, max_length=6)
    np.testing.assert_array_equal(ids, [[4, 5, 6, 0, 0, 0], [7, 0, 0, 0, 0, 0]])


def test_batches_give_the_same_result():
    source = np.random.default_rng(0).integers(3, 8, size=(7, 4))
    model = FakeTranslator()
    np.testing.assert_array_equal(
        greedy_translate(model, source, 1, 2, 5, batch_size=3),
        greedy_translate(model, source, 1, 2, 5),
    )


def test_matches_step_by_step_argmax_of_a_real_model():
    keras.utils.set_random_seed(3)
    model = build_transformer(TransformerConfig.preset(
        "tiny", vocabulary_size=12, max_sequence_length=10, num_layers=1))
    for weight in model.weights:  # no near-ties, and no end id at once
        weight.assign(weight * 3.0)
    source = np.array([[3, 4, 5, 6, 0]])
    ids = greedy_translate(model, source, start_id=1, end_id=2, max_length=8)
    decoder = [1]
    for _ in range(8):
        logits = model({"encoder_token_ids": source, "decoder_token_ids": np.array([decoder])})
        next_id = int(np.argmax(logits[0, -1]))
        if next_id == 2:
            break
        decoder.append(next_id)
    got = [int(i) for i in ids[0] if i]
    assert len(got) >= 3 and got == decoder[1:]


@pytest.mark.parametrize("kwargs, message", [
    ({"max_length": 0}, "Received: max_length=0"),
    ({"encoder_token_ids": np.zeros(3, "int32")}, r"Received: encoder_token_ids.shape=\(3,\)"),
])
def test_bad_arguments(kwargs, message):
    args = {"model": FakeTranslator(), "encoder_token_ids": np.zeros((1, 3), "int32"),
            "start_id": 1, "end_id": 2, "max_length": 4, **kwargs}
    with pytest.raises(ValueError, match=message):
        greedy_translate(**args)


def test_decode_by_recomputation_stops_rows_on_their_own():
    """Row 0 stops at its stop id; row 1 at the buffer's end; row 2 after max_new_tokens."""
    def forward(tokens):  # the next token is the last one plus one
        return np.eye(12)[(tokens + 1) % 12]

    prompts = np.array([[7, 0, 0], [3, 4, 5], [1, 0, 0]])
    tokens, ends = decode_by_recomputation(forward, prompts, np.array([1, 3, 1]), 3, 5,
                                           stop_token_ids=[9])
    assert tokens.tolist() == [[7, 8, 9, 0, 0], [3, 4, 5, 6, 7], [1, 2, 3, 4, 0]]
    assert ends.tolist() == [3, 5, 4]
