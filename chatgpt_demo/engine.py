"""The exported SavedModels and what the demo does with them; TensorFlow only.

Nothing here imports keras_attn (nor Keras): the models are read with
`tf.saved_model.load` and used through their signatures, as any serving
system would (`tensorflow_text` is imported for the translator's WordPiece
ops). The web server (`server.py`) and the terminal chat (`terminal.py`)
both use this module.

    registry = ModelRegistry.load("saved_models")   # every <name>/<version>/saved_model.pb
    model = registry.get("shakespeare_gpt")
    stream = Stream(model, chat_prompt(model, "Who's there?"), max_new_tokens=80)
    stream.start()                                  # `prefill`: the prompt in one pass
    while not stream.finished:
        step = stream.step()                        # `decode_step`: one token + its candidates
        print(step.text, end="")

A model folder holds the TensorFlow Serving layout (numbered versions; the
highest is served) and `demo.json`, written by `chatgpt_demo.build_models`:
the `generate` defaults and, for a chat model, its persona and stop string.
"""

import base64
import dataclasses
import json
import os
import pathlib

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # before TensorFlow loads

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from chatgpt_demo import chat  # noqa: E402

try:  # registers the WordPiece ops of the translator's graph
    import tensorflow_text  # noqa: E402, F401
except ImportError:  # pragma: no cover - only the translator needs it
    tensorflow_text = None

DEFAULT_MODELS_DIR = pathlib.Path(__file__).resolve().parent.parent / "saved_models"
SETTINGS = ("max_new_tokens", "temperature", "top_k", "top_p", "seed")  # of `generate`


class RequestError(ValueError):
    """A request the model cannot serve: its message goes back to the client (4xx)."""

    def __init__(self, message, status=400):
        super().__init__(message)
        self.status = status


@dataclasses.dataclass
class ServedModel:
    """One SavedModel and what the demo knows about it."""

    name: str
    version: int
    path: pathlib.Path
    loaded: object  # what tf.saved_model.load returned
    settings: dict  # demo.json ({} when missing)
    token_texts: list = None  # a generator's text of each token id, set by ModelRegistry
    _defaults: dict = None  # read once from the `settings` signature
    _context: int = None  # read once, by `context`

    @property
    def signatures(self):
        return self.loaded.signatures

    @property
    def kind(self):
        """"generator" (prefill/decode_step), "translator" (translate) or "other"."""
        if {"prefill", "decode_step"} <= set(self.signatures):
            return "generator"
        return "translator" if "translate" in self.signatures else "other"

    @property
    def context(self):
        """The generator's context length `L`: its `settings` signature's, or, for a
        folder exported before that signature, `decode_step`'s cache spec (1, layers,
        2, L, kv_heads, head_dim) of those exports."""
        if self._context is None:
            if "settings" in self.signatures:
                self._context = int(self.signatures["settings"]()["context_length"])
            else:
                self._context = int(self.input_specs("decode_step")["cache"].shape[3])
        return self._context

    @property
    def max_new_tokens_limit(self):
        """The most new tokens a request may ask for: the context minus one prompt token."""
        return self.context - 1

    @property
    def defaults(self):
        """Values for the scalar inputs a request leaves out (max_new_tokens, ...): the
        model's own, from its `settings` signature (those of `serving_default`); for a
        model exported without one, those of its demo.json."""
        if self._defaults is None:
            if "settings" in self.signatures:
                values = self.signatures["settings"]()
                self._defaults = {name: values[name].numpy().item() for name in SETTINGS}
            else:
                self._defaults = dict(self.settings.get("defaults", {}))
        return dict(self._defaults)

    @property
    def chat(self):
        """The chat format ({"persona", "user_speaker", "stop"}), or None."""
        return self.settings.get("chat")

    def input_specs(self, signature):
        """`{name: tf.TensorSpec}` of a signature's inputs."""
        return dict(self.signatures[signature].structured_input_signature[1])

    def output_specs(self, signature):
        return dict(self.signatures[signature].structured_outputs)

    def describe(self):
        """JSON-ready summary for /api/models."""
        info = {"name": self.name, "version": self.version, "kind": self.kind,
                "signatures": sorted(self.signatures)}
        if self.kind == "generator":
            info.update(context=self.context, defaults=self.defaults, chat=self.chat)
        return info


def _versions(folder):
    if not folder.is_dir():
        return []
    return sorted(int(p.name) for p in folder.iterdir()
                  if p.is_dir() and p.name.isdigit() and (p / "saved_model.pb").exists())


class ModelRegistry:
    """The served models by name: `saved_models/<name>/<version>/`."""

    def __init__(self, models):
        self.models = {m.name: m for m in models}
        for model in self.models.values():
            if model.kind == "generator":
                model.token_texts = _token_texts(model)

    @classmethod
    def load(cls, directory=DEFAULT_MODELS_DIR, names=None):
        """Loads the highest version of each model folder (or of `names` only).

        `directory` is a folder of model folders (`<name>/<version>/`, the
        layout of saved_models/ and TensorFlow Serving), one model folder, or a
        SavedModel itself (what `keras-attn export --out DIR` writes), served
        as version 1 under the folder's name.
        """
        directory = pathlib.Path(directory)
        if (directory / "saved_model.pb").exists():
            places = [(directory.name, 1, directory, directory)]
        else:
            folders = [directory] if _versions(directory) else sorted(
                p for p in directory.iterdir() if p.is_dir() and _versions(p))
            places = [(f.name, _versions(f)[-1], f / str(_versions(f)[-1]), f) for f in folders]
        models = []
        for name, version, path, folder in places:
            if names is not None and name not in names:
                continue
            settings_file = folder / "demo.json"
            settings = json.loads(settings_file.read_text()) if settings_file.exists() else {}
            models.append(ServedModel(name, version, path, tf.saved_model.load(str(path)),
                                      settings))
        if not models:
            raise FileNotFoundError(
                f"No SavedModel under {directory} (expected <name>/<version>/saved_model.pb, "
                "or a SavedModel). Build the demo's with: python -m chatgpt_demo.build_models"
            )
        return cls(models)

    def get(self, name):
        if name not in self.models:
            raise RequestError(
                f"Unknown model {name!r}. Served models: {', '.join(sorted(self.models))}", 404
            )
        return self.models[name]

    def first(self, kind, chat=False):
        """The first model of a kind (with a chat format when `chat`), or None."""
        for model in self.models.values():
            if model.kind == kind and (not chat or model.chat):
                return model
        return None

    def warm_up(self):
        """Runs each signature the demo uses once, so that XLA compiles before requests."""
        for model in self.models.values():
            if model.kind == "generator":
                stream = Stream(model, "\n", max_new_tokens=2)
                stream.start()
                while not stream.finished:
                    stream.step()
            elif model.kind == "translator":
                translate(model, ["one"])


def _token_texts(model):
    """The text of each token id (an id per row through `detokenize`), for streaming."""
    vocabulary_size = int(model.output_specs("logits")["logits"].shape[-1])
    ids = tf.range(vocabulary_size, dtype=tf.int32)[:, tf.newaxis]  # (V, 1)
    texts = model.signatures["detokenize"](token_ids=ids)["text"].numpy()
    return [t.decode("utf-8", errors="replace") for t in texts]


# -- chat and streaming -------------------------------------------------------------


def chat_prompt(model, message, history=(), speaker=None):
    """The prompt for `message` in `model`'s chat format (`chatgpt_demo.chat`, the
    template it was fine-tuned on), with the last turns of `history` that fit.

    `history` holds `(role, text)` pairs, role "user" or "assistant". The
    prompt takes at most half the context, leaving the rest to the reply:
    earlier turns are dropped first, then the message keeps its end.
    """
    if model.chat is None:
        raise RequestError(f"Model {model.name!r} has no chat format; use /api/complete")
    return chat.chat_prompt(model.chat["persona"], message, speaker or model.chat["user_speaker"],
                            history, max_characters=model.context // 2)


@dataclasses.dataclass
class Step:
    """One generated token and the candidates it was drawn from."""

    token_id: int
    text: str
    candidates: list  # [(text, probability)], likeliest first

    def as_json(self):
        return {"id": self.token_id, "text": self.text,
                "candidates": [{"text": t, "p": round(p, 5)} for t, p in self.candidates]}


class Stream:
    """Generates one prompt token by token with `prefill` and `decode_step`.

    `start()` caches the prompt; each `step()` returns the next `Step`. It is
    `finished` after `max_new_tokens` tokens (with `keep_prompt`, at most as many as
    fit after the whole prompt), when the reply ends with `stop`,
    or when the context is full. Each call is one TensorFlow call, so a server
    can interleave the steps of many streams.
    """

    def __init__(self, model, prompt, max_new_tokens=None, temperature=None, top_k=None,
                 top_p=None, seed=None, stop=None, keep_prompt=False):
        defaults = model.defaults

        def pick(value, name):  # the request's, else the model's own default
            if value is not None:
                return value
            if name not in defaults:
                raise RequestError(f"Model {model.name!r} has no default `{name}`; give one")
            return defaults[name]

        self.model = model
        self.prompt = prompt
        # `prefill` clamps to the context the way the export does; the steps follow it.
        self.max_new_tokens = int(pick(max_new_tokens, "max_new_tokens"))
        if keep_prompt and "tokenize" in model.signatures:
            # A chat prompt must stay whole: the export keeps the last context -
            # max_new_tokens prompt tokens, so fewer new tokens fit after a long one.
            tokens = int(model.signatures["tokenize"](text=tf.constant([prompt]))["num_tokens"][0])
            self.max_new_tokens = min(self.max_new_tokens, max(1, model.context - tokens))
        self.settings = {
            "temperature": tf.constant(float(pick(temperature, "temperature")), tf.float32),
            "top_k": tf.constant(int(pick(top_k, "top_k")), tf.int32),
            "top_p": tf.constant(float(pick(top_p, "top_p")), tf.float32),
            "seed": tf.constant(int(pick(seed, "seed")), tf.int32),
        }
        self.stop = stop
        self.steps = []
        self._ids = []  # the new tokens
        self.text = ""
        self.reason = None  # "length", "stop" or "context" once finished
        self._state = None

    @property
    def finished(self):
        return self.reason is not None

    def start(self):
        out = self.model.signatures["prefill"](
            prompt=tf.constant([self.prompt]), max_new_tokens=tf.constant(self.max_new_tokens)
        )
        self._state = (out["cache"], out["token_ids"], out["index"])
        if self.max_new_tokens <= 0:
            self.reason = "length"

    def step(self):
        cache, token_ids, index = self._state
        out = self.model.signatures["decode_step"](
            cache=cache, token_ids=token_ids, index=index, **self.settings
        )
        self._state = (out["cache"], out["token_ids"], out["index"])
        token_id = int(out["token_ids"][0, 0])
        self._ids.append(token_id)
        if self.stop and self._text_of_ids().endswith(self.stop):
            self.reason = "stop"
        elif len(self._ids) >= self.max_new_tokens:
            self.reason = "length"
        elif int(out["index"]) >= self.model.context - 1:
            self.reason = "context"
        step = Step(
            token_id,
            self._new_text(),
            [(t.decode("utf-8", errors="replace"), float(p)) for t, p in
             zip(out["top_tokens"].numpy()[0], out["top_probabilities"].numpy()[0])],
        )
        self.steps.append(step)
        return step

    def _text_of_ids(self):
        """The text of the new tokens so far, decoded together: a character that byte-pair
        tokens split across two tokens comes out whole, not as two replacement marks."""
        if "detokenize" not in self.model.signatures:  # a model without one: token by token
            return "".join(self.model.token_texts[i] for i in self._ids)
        ids = tf.constant([self._ids], tf.int32)
        return self.model.signatures["detokenize"](token_ids=ids)["text"].numpy()[0].decode()

    def _new_text(self):
        """What this step adds to `text`. A trailing U+FFFD may be a character whose
        bytes are not all here yet: it waits for the next step, unless the stream ends."""
        text = self._text_of_ids()
        if not self.finished:
            text = text.rstrip("\ufffd")
        new = text[len(self.text):]
        self.text = text if len(text) >= len(self.text) else self.text
        return new

    @property
    def reply(self):
        """The text so far, without the stop string and surrounding blank space."""
        text = self.text[: -len(self.stop)] if self.reason == "stop" else self.text
        return text.strip("\n")

    def run(self):
        """All the steps at once; returns self."""
        if self._state is None:
            self.start()
        while not self.finished:
            self.step()
        return self


def translate(model, texts):
    """`[(translation, error)]`: `error` is "" or why the model refused the text (a
    translator exported with a `preprocess`; older exports refuse nothing)."""
    out = model.signatures["translate"](text=tf.constant(texts, tf.string))
    errors = out["error"].numpy() if "error" in out else [b""] * len(texts)
    return [(t.decode("utf-8"), e.decode("utf-8")) for t, e in zip(out["translation"].numpy(), errors)]


# -- TensorFlow Serving's REST format ----------------------------------------------


def _strings(value, path):
    """Nested lists of JSON strings or {"b64": ...} -> nested lists of bytes."""
    if isinstance(value, list):
        return [_strings(v, f"{path}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, str):
        return value.encode("utf-8")
    if isinstance(value, dict) and set(value) == {"b64"} and isinstance(value["b64"], str):
        try:
            return base64.b64decode(value["b64"], validate=True)
        except ValueError:
            raise RequestError(f"{path}: invalid base64 in {{'b64': ...}}") from None
    raise RequestError(f"{path}: expected a string (or {{'b64': ...}}), got {type(value).__name__}")


def _numbers(value, path, integer):
    """Nested lists of JSON numbers, checked: no bools, no strings, ints for int inputs."""
    if isinstance(value, list):
        return [_numbers(v, f"{path}[{i}]", integer) for i, v in enumerate(value)]
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise RequestError(f"{path}: expected a number, got {type(value).__name__}")
    if integer and not isinstance(value, int):
        raise RequestError(f"{path}: expected an integer, got {value!r}")
    return value


def to_tensor(value, spec, name):
    """One JSON input -> a tensor of the signature's dtype, shape-checked."""
    if spec.dtype == tf.string:
        array = np.array(_strings(value, name), dtype=object)
    else:
        numbers = _numbers(value, name, spec.dtype.is_integer)
        try:
            array = np.array(numbers, dtype=spec.dtype.as_numpy_dtype)
        except (ValueError, OverflowError) as error:
            raise RequestError(f"{name}: {error} (is the list ragged?)") from None
    if array.dtype == object and array.shape and any(isinstance(v, list) for v in array.flat):
        raise RequestError(f"{name}: ragged lists are not tensors")
    if not spec.shape.is_compatible_with(array.shape):
        raise RequestError(
            f"{name}: shape {list(array.shape)} does not fit the signature's "
            f"{spec.shape.as_list()} (None: any size)"
        )
    return tf.constant(array, dtype=spec.dtype)


def _jsonable(value, name):
    """A numpy output -> JSON lists; strings as text, or {"b64": ...} (names ending _bytes,
    or bytes that are not UTF-8), as TensorFlow Serving writes them."""
    def text(b):
        if not name.endswith("_bytes"):
            try:
                return b.decode("utf-8")
            except UnicodeDecodeError:
                pass
        return {"b64": base64.b64encode(b).decode("ascii")}

    if isinstance(value, bytes):
        return text(value)
    if value.dtype == object:
        return np.vectorize(text, otypes=[object])(value).tolist() if value.size else value.tolist()
    return value.tolist()


def predict_request(model, body, check_input=None):
    """Answers a TensorFlow Serving `:predict` body: `(signature, response)`.

    Row format `{"instances": [...]}` -> `{"predictions": [...]}`; columnar
    `{"inputs": ...}` -> `{"outputs": ...}`; `signature_name` picks the
    signature (default `serving_default`). Inputs that a request leaves out
    take the model's defaults (`demo.json`) when it has one for that name.
    Scalar inputs (`max_new_tokens`, ...) are not batched: in the row format
    each instance may repeat the same value. `check_input(name, tensor)` may
    raise `RequestError` (the server's limits).
    """
    if not isinstance(body, dict):
        raise RequestError("The request body must be a JSON object")
    unknown = set(body) - {"signature_name", "instances", "inputs"}
    if unknown:
        raise RequestError(f"Unknown field(s) {sorted(unknown)}: expected signature_name, "
                           "and instances or inputs")
    signature = body.get("signature_name", "serving_default")
    if not isinstance(signature, str) or signature not in model.signatures:
        raise RequestError(
            f"Serving signature name: {signature!r} not found in signature def; the model "
            f"has {', '.join(sorted(model.signatures))}"
        )
    if ("instances" in body) == ("inputs" in body):
        raise RequestError('Provide exactly one of "instances" (row format) or "inputs" '
                           "(columnar format)")
    specs = model.input_specs(signature)
    rows = "instances" in body
    if rows:
        named = _row_inputs(body["instances"], specs)
    else:
        named = _columnar_inputs(body["inputs"], specs)
    inputs = {}
    for name, spec in specs.items():
        if name not in named:
            if spec.shape.rank == 0 and name in model.defaults:
                named[name] = model.defaults[name]
            else:
                raise RequestError(f"Missing input {name!r} of signature {signature!r}")
        inputs[name] = to_tensor(named[name], spec, name)
        if check_input is not None:
            check_input(name, inputs[name])
    outputs = {k: v.numpy() for k, v in model.signatures[signature](**inputs).items()}
    if not rows:
        if len(outputs) == 1:
            (name, value), = outputs.items()
            return signature, {"outputs": _jsonable(value, name)}
        return signature, {"outputs": {k: _jsonable(v, k) for k, v in outputs.items()}}
    count = len(body["instances"])
    predictions = []
    for i in range(count):
        # A scalar output (prefill's `index`) belongs to every instance.
        row = {k: _jsonable(v[i] if v.ndim else v, k) for k, v in outputs.items()}
        predictions.append(next(iter(row.values())) if len(row) == 1 else row)
    return signature, {"predictions": predictions}


def _row_inputs(instances, specs):
    if not isinstance(instances, list) or not instances:
        raise RequestError('"instances" must be a non-empty list')
    named_form = [isinstance(i, dict) and set(i) != {"b64"} for i in instances]
    if not all(named_form):
        if any(named_form):
            raise RequestError("Instances must be all objects {input: value} or all values")
        if len(_batched(specs)) != 1:
            raise RequestError("Bare instances need a signature with one batched input; "
                               'name the inputs: [{"input": value, ...}, ...]')
        return {_batched(specs)[0]: instances}
    named = {}
    names = set().union(*instances)
    for name in names:
        if name not in specs:
            raise RequestError(f"Unknown input {name!r}; the signature takes {sorted(specs)}")
        if specs[name].shape.rank == 0:
            values = [i[name] for i in instances if name in i]
            if any(v != values[0] for v in values):
                raise RequestError(f"{name!r} is a scalar input: every instance must give the "
                                   "same value (or leave it out)")
            named[name] = values[0]
        else:
            if any(name not in i for i in instances):
                raise RequestError(f"Every instance must give {name!r}")
            named[name] = [i[name] for i in instances]
    return named


def _columnar_inputs(inputs, specs):
    if isinstance(inputs, dict) and not (set(inputs) == {"b64"}):
        for name in inputs:
            if name not in specs:
                raise RequestError(f"Unknown input {name!r}; the signature takes {sorted(specs)}")
        return dict(inputs)
    if len(_batched(specs)) != 1:
        raise RequestError('A bare "inputs" value needs a signature with one batched input; '
                           'name them: {"inputs": {"input": value, ...}}')
    return {_batched(specs)[0]: inputs}


def _batched(specs):
    """The inputs with a batch dimension (not scalars), in name order."""
    return sorted(n for n, s in specs.items() if s.shape.rank)


_DTYPE_NAMES = {tf.string: "DT_STRING", tf.int32: "DT_INT32", tf.int64: "DT_INT64",
                tf.float32: "DT_FLOAT", tf.float64: "DT_DOUBLE", tf.bool: "DT_BOOL"}


def _tensor_info(spec, name):
    info = {"dtype": _DTYPE_NAMES.get(spec.dtype, spec.dtype.name), "name": name}
    if spec.shape.rank is None:
        info["tensor_shape"] = {"unknown_rank": True}
    else:
        info["tensor_shape"] = {"dim": [{"size": str(-1 if d is None else d), "name": ""}
                                        for d in spec.shape.as_list()], "unknown_rank": False}
    return info


def metadata(model):
    """`GET /v1/models/<name>/metadata`, in TensorFlow Serving's layout."""
    signature_def = {}
    for name in sorted(model.signatures):
        signature_def[name] = {
            "inputs": {n: _tensor_info(s, n) for n, s in model.input_specs(name).items()},
            "outputs": {n: _tensor_info(s, n) for n, s in model.output_specs(name).items()},
            "method_name": "tensorflow/serving/predict",
        }
    return {
        "model_spec": {"name": model.name, "signature_name": "", "version": str(model.version)},
        "metadata": {"signature_def": {"signature_def": signature_def}},
    }


def status(model):
    """`GET /v1/models/<name>`, in TensorFlow Serving's layout."""
    return {"model_version_status": [{
        "version": str(model.version), "state": "AVAILABLE",
        "status": {"error_code": "OK", "error_message": ""},
    }]}
