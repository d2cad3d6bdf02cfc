"""The demo's web server: a chat page, a JSON API and TensorFlow Serving's REST API.

    python -m chatgpt_demo serve                  # http://127.0.0.1:8000
    python -m chatgpt_demo serve --host 0.0.0.0 --port 8080 --cors-origin http://localhost:3000

Routes (every error is `{"error": "<message>"}` with a 4xx status, or 500
without details):

| route | what |
|---|---|
| `GET /` | the chat page (`static/`, nothing from a CDN) |
| `GET /api/models` | the served models, their kinds, chat formats and limits |
| `POST /api/chat` | `{"message", "history"?, "speaker"?, "model"?, "stream"?, "candidates"?, max_new_tokens, temperature, top_k, top_p, seed}` -> the reply; with `"stream": true` server-sent events, one per token |
| `POST /api/complete` | `{"prompt", "stop"?, ...}`: plain continuation (e.g. the base model) |
| `POST /api/translate` | `{"text"}` or `{"texts": [...]}` -> `{"translation", "error"}` / `{"translations", "errors"}` (`error`: "" or why the model refused the text) |
| `GET /v1/models/<name>` | TensorFlow Serving's model status |
| `GET /v1/models/<name>/metadata` | its signatures |
| `POST /v1/models/<name>[/versions/<v>]:predict` | TensorFlow Serving's predict: `instances` or `inputs`, `signature_name` |

Streams go token by token through the SavedModel's `prefill` and
`decode_step` signatures. TensorFlow runs in a small thread pool (its calls
are thread-safe), never on the event loop; each step of a stream is its own
job, so concurrent streams take turns. At most `max_pending` requests are
in the server at once; more get 503.
"""

import asyncio
import concurrent.futures
import contextlib
import dataclasses
import json
import logging
import math
import pathlib
import re
import time
from typing import Literal

import tensorflow as tf
from fastapi import FastAPI
from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import FileResponse
from fastapi.responses import JSONResponse
from fastapi.responses import StreamingResponse
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel
from pydantic import ConfigDict
from starlette.background import BackgroundTask
from starlette.exceptions import HTTPException

from chatgpt_demo import engine
from chatgpt_demo.engine import RequestError

STATIC = pathlib.Path(__file__).resolve().parent / "static"
log = logging.getLogger("chatgpt_demo")
# The page loads its script, style and data from this server only.
PAGE_POLICY = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
               "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'")
SPEAKER = re.compile(r"[A-Z][A-Z .'-]{0,39}")


@dataclasses.dataclass(frozen=True)
class Limits:
    """What one request may ask for."""

    # A chat message, a prompt, each text to translate. Longer than the model's
    # context is fine (a chat prompt keeps the end of the conversation).
    max_prompt_characters: int = 10_000
    max_new_tokens: int = 300  # also at most the model's max_new_tokens_limit
    max_history_turns: int = 20
    max_batch: int = 16  # texts per translation or :predict request
    max_body_bytes: int = 8_000_000  # decode_step's cache as JSON is ~3 MB
    max_pending: int = 64  # requests inside the server at once; more get 503
    workers: int = 2  # threads that call TensorFlow


# -- requests ------------------------------------------------------------------------


class _Strict(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid")


class Sampling(_Strict):
    model: str | None = None
    max_new_tokens: int | None = None
    temperature: float | None = None
    top_k: int | None = None
    top_p: float | None = None
    seed: int | None = None
    stream: bool = False
    candidates: bool = False  # non-streaming: include each token's candidates


class Turn(_Strict):
    role: Literal["user", "assistant"]
    content: str


class ChatRequest(Sampling):
    message: str
    history: list[Turn] = []
    speaker: str | None = None


class CompleteRequest(Sampling):
    prompt: str
    stop: str | None = None


class TranslateRequest(_Strict):
    model: str | None = None
    text: str | None = None
    texts: list[str] | None = None


# -- the thread pool -------------------------------------------------------------------


class Pool:
    """Runs TensorFlow calls off the event loop, and admits a bounded number of requests."""

    def __init__(self, workers, max_pending):
        self.executor = concurrent.futures.ThreadPoolExecutor(workers, thread_name_prefix="tf")
        self.max_pending = max_pending
        self.pending = 0

    async def run(self, fn, *args):
        return await asyncio.get_running_loop().run_in_executor(self.executor, fn, *args)

    def admit(self):
        """Counts a request in, or raises 503; returns its `release()`, safe to call twice."""
        if self.pending >= self.max_pending:
            raise RequestError("The server is busy; try again in a moment", 503)
        self.pending += 1
        released = []

        def release():
            if not released:
                released.append(True)
                self.pending -= 1
        return release

    @contextlib.asynccontextmanager
    async def slot(self):
        release = self.admit()
        try:
            yield
        finally:
            release()


# -- checks --------------------------------------------------------------------------


def _check_text(name, text, limits, allow_empty=False):
    if not allow_empty and not text.strip():
        raise RequestError(f"`{name}` must not be empty", 422)
    if len(text) > limits.max_prompt_characters:
        raise RequestError(
            f"`{name}` has {len(text)} characters; the limit is {limits.max_prompt_characters}", 413
        )


def _check_sampling(request, model, limits):
    most = min(limits.max_new_tokens, model.max_new_tokens_limit)
    checks = [
        ("max_new_tokens", request.max_new_tokens, lambda v: 1 <= v <= most, f"from 1 to {most}"),
        ("temperature", request.temperature, lambda v: math.isfinite(v) and 0 <= v <= 5,
         "from 0 (greedy) to 5"),
        ("top_k", request.top_k, lambda v: 0 <= v <= 100_000, "from 0 (no limit) to 100000"),
        ("top_p", request.top_p, lambda v: 0 < v <= 1, "in (0, 1]"),
        ("seed", request.seed, lambda v: 0 <= v < 2**31, "from 0 to 2**31 - 1"),
    ]
    for name, value, ok, expected in checks:
        if value is not None and not ok(value):
            raise RequestError(f"`{name}` must be {expected}. Received: {value!r}",
                               413 if name == "max_new_tokens" and value > most else 422)


def _generator(registry, name, chat=False):
    if name is None:
        model = registry.first("generator", chat=chat)
        if model is None:
            raise RequestError("No text generator is served", 404)
        return model
    model = registry.get(name)
    if model.kind != "generator":
        raise RequestError(f"Model {name!r} is a {model.kind}, not a text generator", 400)
    return model


# -- the app -------------------------------------------------------------------------


def _sse(event, data):
    return f"event: {event}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"


def create_app(registry, limits=Limits(), cors_origins=()):
    """The FastAPI app serving `registry` (an `engine.ModelRegistry`)."""
    app = FastAPI(title="AttentionPlease chat demo", docs_url=None, redoc_url=None,
                  openapi_url=None)
    pool = Pool(limits.workers, limits.max_pending)
    app.state.registry, app.state.limits, app.state.pool = registry, limits, pool
    if cors_origins:
        app.add_middleware(CORSMiddleware, allow_origins=list(cors_origins),
                           allow_methods=["GET", "POST"], allow_headers=["Content-Type"])

    @app.middleware("http")
    async def guard(request, call_next):
        length = request.headers.get("content-length", "0")
        if not length.isdigit():
            return JSONResponse({"error": "Bad Content-Length header"}, 400)
        if int(length) > limits.max_body_bytes:
            return JSONResponse({"error": f"The request body is over {limits.max_body_bytes} "
                                 "bytes"}, 413)
        response = await call_next(request)
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "no-referrer"
        return response

    # -- errors: a message, never a stack trace --

    @app.exception_handler(RequestError)
    async def request_error(request, error):
        return JSONResponse({"error": str(error)}, error.status)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request, error):
        errors = error.errors()
        if any(e["type"] == "json_invalid" for e in errors):
            return JSONResponse({"error": "The request body is not valid JSON"}, 400)
        if any(tuple(e["loc"]) == ("body",) for e in errors):
            return JSONResponse({"error": "The request body must be a JSON object (and "
                                 "Content-Type: application/json)"}, 400)
        messages = []
        for e in errors[:5]:
            where = ".".join(str(p) for p in e["loc"] if p != "body") or "body"
            messages.append(f"`{where}`: {e['msg']}")
        return JSONResponse({"error": "; ".join(messages)}, 422)

    @app.exception_handler(HTTPException)
    async def http_error(request, error):
        return JSONResponse({"error": str(error.detail)}, error.status_code)

    @app.exception_handler(tf.errors.InvalidArgumentError)
    async def tensorflow_error(request, error):
        # The signatures' own checks ("`top_p` must be in (0, 1]", shapes, ...).
        return JSONResponse({"error": _tensorflow_message(error)}, 400)

    @app.exception_handler(Exception)
    async def internal_error(request, error):
        log.exception("internal error on %s", request.url.path)
        return JSONResponse({"error": "Internal server error"}, 500)

    # -- the page --

    @app.get("/", include_in_schema=False)
    async def page():
        return FileResponse(STATIC / "index.html",
                            headers={"Content-Security-Policy": PAGE_POLICY,
                                     "Cache-Control": "no-cache"})

    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.get("/healthz")
    async def health():
        return {"status": "ok", "models": sorted(registry.models)}

    @app.get("/api/models")
    async def models():
        return {"models": [m.describe() for m in registry.models.values()],
                "limits": dataclasses.asdict(limits)}

    # -- chat and completion --

    async def generate(request, model, prompt, stop, keep_prompt=False):
        _check_sampling(request, model, limits)
        stream = engine.Stream(model, prompt, request.max_new_tokens, request.temperature,
                               request.top_k, request.top_p, request.seed, stop, keep_prompt)
        if request.stream:
            release = pool.admit()
            # Released when the stream ends, or after the response if it never started.
            return StreamingResponse(
                _events(stream, release), media_type="text/event-stream",
                headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
                background=BackgroundTask(release),
            )
        async with pool.slot():
            start = time.perf_counter()
            await pool.run(stream.run)
            seconds = time.perf_counter() - start
        return _summary(stream, seconds, request.candidates)

    async def _events(stream, release):
        try:
            start = time.perf_counter()
            await pool.run(stream.start)
            yield _sse("start", {"model": stream.model.name, "prompt": stream.prompt,
                                 "max_new_tokens": stream.max_new_tokens})
            while not stream.finished:
                step = await pool.run(stream.step)
                yield _sse("token", step.as_json())
            yield _sse("done", _summary(stream, time.perf_counter() - start, False))
        except Exception:
            log.exception("stream failed")
            yield _sse("error", {"error": "Generation failed"})
        finally:
            release()

    @app.post("/api/chat")
    async def chat(request: ChatRequest):
        model = _generator(registry, request.model, chat=True)
        _check_text("message", request.message, limits, allow_empty=True)  # "..." then
        if len(request.history) > limits.max_history_turns:
            raise RequestError(f"`history` has {len(request.history)} turns; the limit is "
                               f"{limits.max_history_turns}", 413)
        for i, turn in enumerate(request.history):
            _check_text(f"history[{i}].content", turn.content, limits, allow_empty=True)
        speaker = request.speaker
        if speaker is not None:
            speaker = " ".join(speaker.upper().split())
            if not SPEAKER.fullmatch(speaker):
                raise RequestError("`speaker` must be a name of 1 to 40 letters (spaces, '.-' "
                                   f"allowed). Received: {request.speaker!r}", 422)
        prompt = engine.chat_prompt(model, request.message.strip("\n"),
                                    [(t.role, t.content) for t in request.history], speaker)
        return await generate(request, model, prompt, model.chat["stop"], keep_prompt=True)

    @app.post("/api/complete")
    async def complete(request: CompleteRequest):
        model = _generator(registry, request.model)
        _check_text("prompt", request.prompt, limits, allow_empty=True)
        if request.stop is not None and not 0 < len(request.stop) <= 16:
            raise RequestError("`stop` must have 1 to 16 characters", 422)
        return await generate(request, model, request.prompt, request.stop)

    # -- translation --

    @app.post("/api/translate")
    async def translate(request: TranslateRequest):
        if (request.text is None) == (request.texts is None):
            raise RequestError('Give exactly one of "text" or "texts"', 422)
        texts = [request.text] if request.text is not None else request.texts
        if not 1 <= len(texts) <= limits.max_batch:
            raise RequestError(f"`texts` must hold 1 to {limits.max_batch} texts", 413)
        for i, text in enumerate(texts):
            _check_text(f"texts[{i}]" if request.texts else "text", text, limits, allow_empty=True)
        model = registry.get(request.model) if request.model else registry.first("translator")
        if model is None or model.kind != "translator":
            raise RequestError("No translator of that name is served", 404)
        async with pool.slot():
            results = await pool.run(engine.translate, model, texts)
        if request.text is not None:
            translation, error = results[0]
            return {"model": model.name, "translation": translation, "error": error}
        return {"model": model.name, "translations": [t for t, _ in results],
                "errors": [e for _, e in results]}

    # -- TensorFlow Serving's REST API --

    @app.get("/v1/models/{name}")
    async def model_status(name: str):
        return engine.status(registry.get(name))

    @app.get("/v1/models/{name}/metadata")
    async def model_metadata(name: str):
        return engine.metadata(registry.get(name))

    def check_input(model):
        def check(name, tensor):
            if tensor.shape.rank and tensor.shape[0] > limits.max_batch:
                raise RequestError(f"`{name}` has a batch of {tensor.shape[0]}; the limit is "
                                   f"{limits.max_batch}", 413)
            if tensor.dtype == tf.string:
                longest = max((len(s) for s in tensor.numpy().reshape(-1)), default=0)
                if longest > 4 * limits.max_prompt_characters:  # bytes: up to 4 per character
                    raise RequestError(f"`{name}` holds a string of {longest} bytes; the limit "
                                       f"is {4 * limits.max_prompt_characters}", 413)
            if name == "max_new_tokens" and model.kind == "generator":
                most = min(limits.max_new_tokens, model.max_new_tokens_limit)
                if int(tensor) > most:
                    raise RequestError(f"`max_new_tokens` must be at most {most}. "
                                       f"Received: {int(tensor)}", 413)
        return check

    async def predict(name, request, version=None):
        model = registry.get(name)
        if version is not None and version != str(model.version):
            raise RequestError(f"Servable not found for request: Specific({name}, {version})",
                               404)
        try:
            body = json.loads(await request.body())
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise RequestError("The request body is not valid JSON") from None
        async with pool.slot():
            _, response = await pool.run(engine.predict_request, model, body, check_input(model))
        return response

    @app.post("/v1/models/{name}:predict")
    async def tf_serving_predict(name: str, request: Request):
        return await predict(name, request)

    @app.post("/v1/models/{name}/versions/{version}:predict")
    async def tf_serving_predict_version(name: str, version: str, request: Request):
        return await predict(name, request, version)

    return app


def _tensorflow_message(error):
    """The useful line of an InvalidArgumentError: no graph node names, no op names."""
    skip = ("Graph execution error", "Detected at node", "<stack traces", "[[", "[Op:")
    lines = [line.strip() for line in error.message.splitlines()]
    text = " ".join(line for line in lines if line and not line.startswith(skip))
    # tf.debugging.Assert's "assertion failed: [message] [value]" -> "message value"
    text = re.sub(r"assertion failed: \[(.*?)\] \[(.*?)\]", r"\1\2", text)
    text = re.sub(r"\s*\[\[\{\{node .*", "", text)
    return text[:500] or "Invalid argument"


def _summary(stream, seconds, candidates):
    summary = {
        "model": stream.model.name,
        "prompt": stream.prompt,  # what the model continued, chat template included
        "reply": stream.reply,
        "finish_reason": stream.reason,
        "num_tokens": len(stream.steps),
        "seconds": round(seconds, 3),
    }
    if candidates:
        summary["tokens"] = [s.as_json() for s in stream.steps]
    return summary
