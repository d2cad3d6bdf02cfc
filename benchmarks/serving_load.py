"""Load test of the chat demo's server: 16 concurrent clients on loopback.

    python -m benchmarks.serving_load                  # 16 clients x 8 requests
    python -m benchmarks.serving_load --quick          # 16 clients x 2 requests
    python -m benchmarks.serving_load --clients 32 --requests 4 --out /tmp/load.json

Starts `python -m chatgpt_demo serve` as a subprocess on a free port (with
the committed saved_models/), waits until it answers, sends one request of
each kind to compile the signatures, then has `--clients` clients send
`--requests` requests each, all at once, in a fixed mix:

    chat         POST /api/chat, 32 new tokens (decode_step loop)
    chat_stream  POST /api/chat with "stream": true, read to the last event
    translate    POST /api/translate
    tf_serving   POST /v1/models/shakespeare_gpt:predict, signature generate, 16 new tokens

A request fails when its status is not 200, its body lacks the answer, or
it raises (connection error, 120 s timeout). Prints p50/p95/max latency
and the failures, per kind and overall, and writes them as JSON. As a
module of `benchmarks`, `run(quick)` returns the rows of the benchmark
runner.
"""

import argparse
import asyncio
import json
import os
import pathlib
import socket
import subprocess
import sys
import tempfile
import time

import httpx

ROOT = pathlib.Path(__file__).resolve().parent.parent
KINDS = ("chat", "chat_stream", "translate", "tf_serving")
MESSAGES = ["Who's there?", "My lord, the king is coming.", "What do you read?",
            "How now, my lord?"]
NUMBERS = ["seventy-one", "two hundred and one", "eighty", "twenty-one thousand"]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(port, models=None, workers=2, only=()):
    """The server subprocess; returns once /healthz answers (or raises)."""
    command = [sys.executable, "-m", "chatgpt_demo"]
    if models:
        command += ["--models", str(models)]
    command += ["serve", "--port", str(port), "--log-level", "warning", "--workers", str(workers)]
    for name in only:
        command += ["--only", name]
    log = tempfile.TemporaryFile("w+")  # a pipe nobody reads could fill up and block it
    process = subprocess.Popen(command, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, text=True,
                               env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        if process.poll() is not None:
            log.seek(0)
            raise RuntimeError(f"the server exited:\n{log.read()[-5000:]}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200:
                return process
        except httpx.TransportError:
            pass
        time.sleep(1)
    process.kill()
    raise RuntimeError("the server did not answer in 600 s")


def stop_server(process):
    process.terminate()
    try:
        process.wait(30)
    except subprocess.TimeoutExpired:
        process.kill()


async def one_request(client, kind, i):
    """Sends request `i` of `kind`; returns (seconds, error or None)."""
    start = time.perf_counter()
    try:
        if kind in ("chat", "chat_stream"):
            body = {"message": MESSAGES[i % len(MESSAGES)], "max_new_tokens": 32,
                    "temperature": 0.8, "seed": i, "stream": kind == "chat_stream"}
            if kind == "chat":
                response = await client.post("/api/chat", json=body)
                ok = response.status_code == 200 and "reply" in response.json()
            else:
                events = []
                async with client.stream("POST", "/api/chat", json=body) as response:
                    async for line in response.aiter_lines():
                        if line.startswith("event:"):
                            events.append(line[6:].strip())
                ok = (response.status_code == 200 and events[:1] == ["start"]
                      and events[-1] == "done")
        elif kind == "translate":
            response = await client.post("/api/translate", json={"text": NUMBERS[i % len(NUMBERS)]})
            ok = response.status_code == 200 and response.json()["translation"]
        else:
            response = await client.post("/v1/models/shakespeare_gpt:predict", json={
                "signature_name": "generate",
                "inputs": {"prompt": [MESSAGES[i % len(MESSAGES)][:15]], "max_new_tokens": 16,
                           "seed": i},
            })
            ok = response.status_code == 200 and "text" in response.json()["outputs"]
        error = None if ok else f"{kind}: status {response.status_code}"
    except Exception as exception:  # noqa: BLE001 - every failure counts
        error = f"{kind}: {type(exception).__name__}: {exception}"
    return time.perf_counter() - start, error


async def load(base_url, clients, requests):
    results = {kind: [] for kind in KINDS}
    errors = []
    limits = httpx.Limits(max_connections=clients + 4)
    async with httpx.AsyncClient(base_url=base_url, timeout=120, limits=limits) as client:
        for i, kind in enumerate(KINDS):  # compile each signature before timing
            _, error = await one_request(client, kind, i)
            if error:
                raise RuntimeError(f"warm-up failed: {error}")

        async def client_loop(c):
            for r in range(requests):
                kind = KINDS[(c + r) % len(KINDS)]
                seconds, error = await one_request(client, kind, c * requests + r)
                results[kind].append(seconds)
                if error:
                    errors.append(error)

        start = time.perf_counter()
        await asyncio.gather(*(client_loop(c) for c in range(clients)))
        wall = time.perf_counter() - start
    return results, errors, wall


def percentile(values, q):
    values = sorted(values)
    if not values:
        return None
    return values[min(len(values) - 1, max(0, round(q / 100 * len(values) + 0.5) - 1))]


def summarize(results, errors, wall, clients, requests):
    every = [s for seconds in results.values() for s in seconds]
    summary = {
        "clients": clients,
        "requests_per_client": requests,
        "requests": len(every),
        "failures": len(errors),
        "errors": errors[:10],
        "wall_seconds": round(wall, 2),
        "requests_per_second": round(len(every) / wall, 2),
        "p50_seconds": round(percentile(every, 50), 3),
        "p95_seconds": round(percentile(every, 95), 3),
        "max_seconds": round(max(every), 3),
        "by_kind": {
            kind: {"requests": len(s), "p50_seconds": round(percentile(s, 50), 3),
                   "p95_seconds": round(percentile(s, 95), 3)}
            for kind, s in results.items() if s
        },
        "cpu_cores": os.cpu_count(),
    }
    return summary


async def streamed_characters_per_second(base_url, replies=3, max_new_tokens=200):
    """What one chat user sees: characters per second of a streamed reply, from the
    first token to the last, with no other client (the median of `replies` replies)."""
    rates = []
    async with httpx.AsyncClient(base_url=base_url, timeout=120) as client:
        for i in range(replies + 1):  # the first compiles
            body = {"message": MESSAGES[i % len(MESSAGES)], "max_new_tokens": max_new_tokens,
                    "temperature": 0.8, "seed": i, "stream": True}
            characters, first = 0, None
            async with client.stream("POST", "/api/chat", json=body) as response:
                async for line in response.aiter_lines():
                    if line.startswith("data:") and '"candidates"' in line:
                        first = first or time.perf_counter()
                        characters += len(json.loads(line[5:])["text"])
            if i and characters > 1:
                rates.append(characters / (time.perf_counter() - first))
    return sorted(rates)[len(rates) // 2]


def measure(clients=16, requests=8, models=None, workers=2):
    port = free_port()
    server = start_server(port, models, workers)
    try:
        base_url = f"http://127.0.0.1:{port}"
        alone = asyncio.run(streamed_characters_per_second(base_url))
        results, errors, wall = asyncio.run(load(base_url, clients, requests))
    finally:
        stop_server(server)
    summary = summarize(results, errors, wall, clients, requests)
    summary["streamed_characters_per_second"] = round(alone, 1)
    return summary


def _row(case, metric, value, target=None, note=None):
    """A row in the layout of benchmarks.common.row (no peer)."""
    met = None
    if target is not None:
        field, op, bound = target
        met = value <= bound if op == "<=" else value >= bound
        target = {"field": field, "op": op, "value": bound}
    return {"benchmark": "serving_load", "case": case, "metric": metric, "ours": value,
            "peer": None, "peer_name": None, "ratio": None, "target": target, "met": met,
            "note": note}


def run(quick):
    """The benchmark runner's entry point."""
    summary = measure(16, 2 if quick else 8)
    case = f"{summary['clients']} clients x {summary['requests_per_client']} requests"
    note = "chat/stream 32 tokens, translate, :predict generate 16 tokens; loopback"
    return [
        _row(case, "p50 latency (s)", summary["p50_seconds"], note=note),
        _row(case, "p95 latency (s)", summary["p95_seconds"]),
        _row(case, "requests/s", summary["requests_per_second"]),
        _row(case, "failures", summary["failures"], target=("ours", "<=", 0)),
        _row("one streamed chat reply, no other client", "characters/s",
             summary["streamed_characters_per_second"], target=("ours", ">=", 60),
             note="from the first token to the last, median of 3 replies of up to 200"),
    ]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--requests", type=int, default=8, help="requests per client")
    parser.add_argument("--quick", action="store_true", help="2 requests per client")
    parser.add_argument("--workers", type=int, default=2, help="the server's TensorFlow threads")
    parser.add_argument("--models", type=pathlib.Path, default=None)
    parser.add_argument("--out", type=pathlib.Path, default=pathlib.Path("serving_load.json"))
    args = parser.parse_args(argv)
    summary = measure(args.clients, 2 if args.quick else args.requests, args.models, args.workers)
    print(f"{summary['requests']} requests from {summary['clients']} concurrent clients in "
          f"{summary['wall_seconds']} s ({summary['requests_per_second']} requests/s)")
    print(f"latency p50 {summary['p50_seconds']} s, p95 {summary['p95_seconds']} s, "
          f"max {summary['max_seconds']} s; failures: {summary['failures']}")
    print(f"one streamed reply alone: {summary['streamed_characters_per_second']} characters/s")
    for kind, figures in summary["by_kind"].items():
        print(f"  {kind:12} {figures['requests']:4} requests  p50 {figures['p50_seconds']:.3f} s  "
              f"p95 {figures['p95_seconds']:.3f} s")
    for error in summary["errors"]:
        print("  error:", error)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(summary, indent=2) + "\n")
    print(f"wrote {args.out}")
    return 1 if summary["failures"] else 0


if __name__ == "__main__":
    sys.exit(main())
