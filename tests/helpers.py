"""The one shared layer test: every public layer goes through `run_layer_test`."""

import os
import warnings

import keras
import numpy as np
from keras import ops


# keras-hub's Transformer blocks name three sublayers differently from ours.
KERAS_HUB_BLOCK_RENAMES = (
    ("self_attention_layer/", "self_attention/"),
    ("feedforward_intermediate_dense", "feed_forward/intermediate_dense"),
    ("feedforward_output_dense", "feed_forward/output_dense"),
    ("feedforward_layer_norm", "feed_forward_layer_norm"),
)


def random_normal(*shape, seed=0):
    """A float32 array of standard normal samples, the same for the same seed."""
    return np.random.default_rng(seed).normal(size=shape).astype("float32")


def padding_mask(lengths, max_length):
    """`(B, max_length)` boolean mask, True for the first `lengths[b]` tokens."""
    return np.arange(max_length)[None, :] < np.array(lengths)[:, None]


def _is_float(x):
    return "float" in keras.backend.standardize_dtype(x.dtype)


def _first_float(outputs):
    return next(x for x in keras.tree.flatten(outputs) if _is_float(x))


def _is_shape(x):
    return isinstance(x, (tuple, list)) and all(d is None or isinstance(d, int) for d in x)


def _map_shapes(fn, structure):
    """Maps `fn` over the shapes in a nest of shapes (tuples of ints are leaves)."""
    if _is_shape(structure):
        return fn(tuple(structure))
    if isinstance(structure, dict):
        return {k: _map_shapes(fn, v) for k, v in structure.items()}
    return tuple(_map_shapes(fn, v) for v in structure)


def _shapes(outputs):
    """The same nest as `outputs`, with each tensor replaced by its shape."""
    if isinstance(outputs, dict):
        return {k: _shapes(v) for k, v in outputs.items()}
    if isinstance(outputs, (tuple, list)):
        return tuple(_shapes(v) for v in outputs)
    return tuple(outputs.shape)


def _inputs(input_data):
    """A dict of call arguments; a bare array is the first positional one."""
    return input_data if isinstance(input_data, dict) else {None: input_data}


def _call(layer, inputs, call_kwargs):
    args = [v for k, v in inputs.items() if k is None]
    kwargs = {k: v for k, v in inputs.items() if k is not None}
    return layer(*args, **kwargs, **call_kwargs)


def _symbolic_inputs(inputs):
    """One `keras.Input` per call argument, keyed by input name."""
    return {
        ("inputs" if k is None else k): keras.Input(
            shape=np.shape(v)[1:],
            dtype=str(np.asarray(v).dtype),
            name="inputs" if k is None else k,
        )
        for k, v in inputs.items()
    }


def _as_model_inputs(inputs):
    return {("inputs" if k is None else k): v for k, v in inputs.items()}


def run_layer_test(
    layer_cls,
    init_kwargs,
    input_data,
    expected_output_shape,
    expected_num_trainable_weights,
    tmp_path,
    expected_num_non_trainable_weights=0,
    call_kwargs=None,
):
    """Checks what every layer of keras_attn promises.

    1. `get_config` round trip, directly and through Keras serialization
       (so the class is registered).
    2. Weight counts once built.
    3. Eager output shapes, symbolic (functional) output shapes, and
       `compute_output_shape` / `compute_output_spec` agree.
    4. One `fit` step with `jit_compile=True` changes every trainable weight
       and gives a finite loss.
    5. `mixed_float16` and `mixed_bfloat16` policies: float32 variables,
       outputs in the compute dtype, all finite.
    6. A `.keras` save and load reproduces the outputs exactly.

    Args:
        layer_cls: the layer class.
        init_kwargs: dict of constructor arguments.
        input_data: an array for the first positional argument, or a dict
            of call arguments (the key `None` names the first positional).
        expected_output_shape: a shape, or a structure of shapes matching the
            outputs.
        expected_num_trainable_weights: int.
        expected_num_non_trainable_weights: int.
        tmp_path: a folder for the `.keras` file (pytest's `tmp_path`).
        call_kwargs: non-tensor call arguments (e.g. `use_causal_mask=True`).
    """
    call_kwargs = call_kwargs or {}
    inputs = _inputs(input_data)

    # 1. Config round trip and registration.
    layer = layer_cls(**init_kwargs)
    config = layer.get_config()
    for key, value in init_kwargs.items():
        if isinstance(value, (int, float, str, bool, type(None))):
            assert config[key] == value, f"get_config()[{key!r}]: {config[key]!r} != {value!r}"
    revived = layer_cls.from_config(config)
    assert revived.get_config() == config
    serialized = keras.saving.serialize_keras_object(layer)
    assert serialized["registered_name"] == f"keras_attn>{layer_cls.__name__}"
    deserialized = keras.saving.deserialize_keras_object(serialized)
    assert type(deserialized) is layer_cls
    assert deserialized.get_config() == config

    # 2 and 3. Eager call, weight counts, shapes.
    outputs = _call(layer, inputs, call_kwargs)
    assert _shapes(outputs) == _map_shapes(tuple, expected_output_shape), (
        f"eager output shapes {_shapes(outputs)} != {expected_output_shape}"
    )
    assert len(layer.trainable_weights) == expected_num_trainable_weights, [
        w.path for w in layer.trainable_weights
    ]
    assert len(layer.non_trainable_weights) == expected_num_non_trainable_weights, [
        w.path for w in layer.non_trainable_weights
    ]

    symbolic_inputs = _symbolic_inputs(inputs)
    sym_layer = layer_cls.from_config(config)
    symbolic_outputs = _call(
        sym_layer,
        {k: symbolic_inputs["inputs" if k is None else k] for k in inputs},
        call_kwargs,
    )
    batchless = lambda shape: (None,) + tuple(shape[1:])  # noqa: E731
    assert _shapes(symbolic_outputs) == _map_shapes(batchless, _shapes(outputs)), f"symbolic shapes {_shapes(symbolic_outputs)} != eager {_shapes(outputs)}"
    if not isinstance(outputs, (tuple, list, dict)):
        input_shapes = [np.shape(v) for k, v in inputs.items() if k is None]
        if input_shapes:
            assert tuple(layer.compute_output_shape(*input_shapes)) == tuple(outputs.shape)

    # 4. One jit-compiled training step.
    model = keras.Model(symbolic_inputs, symbolic_outputs)
    train_model = keras.Model(symbolic_inputs, _first_float(symbolic_outputs))
    trainable_before = [np.array(w) for w in sym_layer.trainable_weights]
    train_model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse", jit_compile=True)
    target = np.ones(_first_float(outputs).shape, "float32")
    with warnings.catch_warnings():
        if not expected_num_trainable_weights:
            warnings.filterwarnings("ignore", "The model does not have any trainable weights")
        history = train_model.fit(
            _as_model_inputs(inputs), target, batch_size=len(target), epochs=1, verbose=0
        )
    assert np.isfinite(history.history["loss"][0])
    for before, after in zip(trainable_before, sym_layer.trainable_weights):
        assert not np.array_equal(before, np.array(after)), f"{after.path} did not train"

    # 5. Mixed precision.
    for policy in ("mixed_float16", "mixed_bfloat16"):
        mixed = layer_cls(**{**init_kwargs, "dtype": policy})
        mixed_outputs = _call(mixed, inputs, call_kwargs)
        compute_dtype = policy.split("_")[1]
        for w in mixed.weights:
            if w.trainable:
                assert w.dtype == "float32", f"{policy}: {w.path} is {w.dtype}"
        for x in keras.tree.flatten(mixed_outputs):
            if _is_float(x):
                dtype = keras.backend.standardize_dtype(x.dtype)
                assert dtype == compute_dtype, f"{policy}: output is {dtype}"
                assert np.all(np.isfinite(ops.convert_to_numpy(ops.cast(x, "float32"))))

    # 6. .keras round trip.
    expected = model(_as_model_inputs(inputs))
    path = os.path.join(str(tmp_path), "layer.keras")
    model.save(path)
    loaded = keras.saving.load_model(path)
    got = loaded(_as_model_inputs(inputs))
    for a, b in zip(keras.tree.flatten(expected), keras.tree.flatten(got), strict=True):
        np.testing.assert_array_equal(ops.convert_to_numpy(a), ops.convert_to_numpy(b))
    return layer, outputs


def copy_weights_by_path(source, target, renames=()):
    """Copies `source`'s weights into `target`, matching paths below the layer name.

    `renames` are `(source_part, target_part)` substitutions applied to the
    source paths, for peers that name the same sublayer differently.
    """
    def relative(path):
        return path.split("/", 1)[1]

    by_path = {}
    for w in source.weights:
        path = relative(w.path)
        for old, new in renames:
            path = path.replace(old, new)
        by_path[path] = w
    target_paths = [relative(w.path) for w in target.weights]
    assert sorted(by_path) == sorted(target_paths), (sorted(by_path), sorted(target_paths))
    for w in target.weights:
        w.assign(by_path[relative(w.path)])


def assert_fit_trains(model, x, y, epochs=20, batch_size=32):
    """Fits a compiled model: finite losses and weights, every weight moves,
    and the last epoch's loss is under 0.7 times the first's."""
    before = [np.array(w) for w in model.trainable_weights]
    history = model.fit(x, y, batch_size=batch_size, epochs=epochs, verbose=0)
    losses = history.history["loss"]
    assert np.all(np.isfinite(losses))
    for old, w in zip(before, model.trainable_weights):
        assert np.all(np.isfinite(np.array(w))), w.path
        assert not np.array_equal(old, np.array(w)), f"{w.path} did not train"
    assert losses[-1] < 0.7 * losses[0], losses


def sharpen(model, seed=0, scale=0.5):
    """Gives `model` large random kernels and embeddings (norms keep their ones
    and zeros), so its logits have clear winners and float round-off can't
    flip a greedy choice between two ways of decoding. Returns `model`."""
    rng = np.random.default_rng(seed)
    model.set_weights([
        rng.normal(size=w.shape).astype("float32") * scale if w.ndim > 1 else w
        for w in model.get_weights()
    ])
    return model


def summary_values(pattern):
    """`[(step, value)]` of every TensorBoard summary value in the event files matching `pattern`.

    `pattern` is a directory (its `events.out.tfevents.*` files) or a glob of event files.
    """
    import tensorflow as tf

    if "events.out.tfevents" not in str(pattern):
        pattern = f"{pattern}/events.out.tfevents.*"
    return [
        (event.step, value)
        for path in sorted(tf.io.gfile.glob(str(pattern)))
        for event in tf.compat.v1.train.summary_iterator(path)
        for value in event.summary.value
    ]
