"""The inference server: vLLM's role in prime-rl, as an ASGI app (Starlette) on uvicorn.

- `POST /v1/chat/completions` streams tokens as server-sent events at `tokens_per_s` per sequence;
  a sequence's length is drawn uniformly from [len_min, len_max] and cut at the request's
  max_tokens (finish_reason "length"). At most `slots` sequences generate at once; the others wait
  for a slot, as in a continuous-batching engine.
- `POST /update_weights {"weight_dir"}` reads every file of the checkpoint from disk, then holds the
  engine for `engine_delay_ms` (vLLM's collective_rpc): generation pauses meanwhile.
  `POST /reload_weights` reloads the last loaded checkpoint the same way. Both answer `{"rpc_ms"}`.
- A middleware logs `server.recv` for every request on arrival, before any routing or body read.
"""

import asyncio
import json
import random
import signal
import socket
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import uvicorn
from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from .errors import SimError
from .layout import STABLE_MARKER
from .. import instrument
from .logs import log

MODEL_NAME = "stallscope-sim-policy"
READ_CHUNK = 1 << 20


@dataclass(frozen=True)
class EngineConfig:
    tokens_per_s: float
    chunk_tokens: int
    len_min: int
    len_max: int
    slots: int
    engine_delay_ms: float
    seed: int


def read_checkpoint(weight_dir: Path) -> int:
    """Read every file of a checkpoint (really, from disk); return the bytes read."""
    total = 0
    for path in sorted(p for p in weight_dir.iterdir() if p.is_file()):
        with open(path, "rb") as f:
            while chunk := f.read(READ_CHUNK):
                total += len(chunk)
    return total


class Engine:
    """The generation engine: slots, a token clock, and weight loads that pause generation."""

    def __init__(self, config: EngineConfig):
        self.config = config
        self.rng = random.Random(config.seed)
        self.slots = asyncio.Semaphore(config.slots)
        self.generating = asyncio.Event()
        self.generating.set()
        self.weights_lock = asyncio.Lock()
        self.loaded_dir: Path | None = None

    def plan_length(self, max_tokens: int) -> tuple[int, str]:
        wanted = self.rng.randint(self.config.len_min, self.config.len_max)
        return (max_tokens, "length") if wanted > max_tokens else (wanted, "stop")

    async def generate(self, n_tokens: int) -> AsyncIterator[int]:
        """Yield token counts chunk by chunk; holds a slot for the whole sequence."""
        async with self.slots:
            sent = 0
            while sent < n_tokens:
                k = min(self.config.chunk_tokens, n_tokens - sent)
                await asyncio.sleep(k / self.config.tokens_per_s)
                await self.generating.wait()
                sent += k
                yield k

    async def load_weights(self, weight_dir: Path | None) -> int:
        """Load a checkpoint (None: the base weights, already in memory, nothing to read)."""
        async with self.weights_lock:
            self.generating.clear()
            try:
                nbytes = await asyncio.to_thread(read_checkpoint, weight_dir) if weight_dir else 0
                await asyncio.sleep(self.config.engine_delay_ms / 1000)
            finally:
                self.generating.set()
            self.loaded_dir = weight_dir
            return nbytes


class FirstByteMiddleware:
    """Log `server.recv` the moment a request reaches the app (every request, untraced ones as -)."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http":
            instrument.server_recv(log, scope["headers"], scope["path"])
        await self.app(scope, receive, send)


async def client_gone(request: Request, exc: ClientDisconnect) -> Response:
    """The client went away before sending its whole body (e.g. the orchestrator stopped)."""
    log.info("client disconnected before sending its request body: %s", request.url.path)
    return Response(status_code=499)  # never delivered; nginx's "client closed request"


def _error(status: int, message: str) -> JSONResponse:
    log.warning("request refused (%d): %s", status, message)
    return JSONResponse({"error": message}, status_code=status)


async def _json_body(request: Request) -> dict | None:
    try:
        body = await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None
    return body if isinstance(body, dict) else None


def _sse(payload: dict) -> bytes:
    return b"data: " + json.dumps(payload, separators=(",", ":")).encode() + b"\n\n"


def build_app(engine: Engine) -> Starlette:
    counter = iter(range(1, 1 << 62))

    async def health(request: Request) -> Response:
        return Response(status_code=200)

    async def chat_completions(request: Request) -> Response:
        body = await _json_body(request)
        if body is None or not isinstance(body.get("messages"), list):
            return _error(400, "body must be a JSON object with a messages list")
        max_tokens = body.get("max_tokens", 1 << 30)
        if not isinstance(max_tokens, int) or max_tokens < 1:
            return _error(400, "max_tokens must be a positive integer")
        prompt_tokens = sum(len(str(m.get("content", "")).split()) for m in body["messages"])
        n_tokens, finish_reason = engine.plan_length(max_tokens)
        completion_id = f"chatcmpl-{next(counter)}"
        created = int(time.time())
        usage = {"prompt_tokens": prompt_tokens, "completion_tokens": n_tokens,
                 "total_tokens": prompt_tokens + n_tokens}

        def chunk(delta: dict, finish: str | None) -> dict:
            return {"id": completion_id, "object": "chat.completion.chunk", "created": created,
                    "model": MODEL_NAME,
                    "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}

        if not body.get("stream"):
            async for _ in engine.generate(n_tokens):
                pass
            return JSONResponse({
                "id": completion_id, "object": "chat.completion", "created": created,
                "model": MODEL_NAME, "usage": usage,
                "choices": [{"index": 0, "finish_reason": finish_reason,
                             "message": {"role": "assistant", "content": "tok " * n_tokens}}],
            })

        async def events() -> AsyncIterator[bytes]:
            yield _sse(chunk({"role": "assistant", "content": ""}, None))
            async for k in engine.generate(n_tokens):
                yield _sse(chunk({"content": "tok " * k}, None))
            yield _sse(chunk({}, finish_reason))
            yield _sse({"id": completion_id, "object": "chat.completion.chunk",
                        "created": created, "model": MODEL_NAME, "choices": [], "usage": usage})
            yield b"data: [DONE]\n\n"

        return StreamingResponse(events(), media_type="text/event-stream")

    async def weights_rpc(request: Request, op: str, weight_dir: Path | None) -> Response:
        with instrument.WeightRpc(log, instrument.trace_of(request.headers), op) as rpc:
            nbytes = await engine.load_weights(weight_dir)
        log.info("%s: read %.1f MB from %s", op, nbytes / 1e6, weight_dir or "base weights")
        return JSONResponse({"rpc_ms": rpc.rpc_ms, "bytes": nbytes})

    async def update_weights(request: Request) -> Response:
        body = await _json_body(request)
        if body is None or not isinstance(body.get("weight_dir"), str):
            return _error(400, 'body must be {"weight_dir": "<checkpoint dir>"}')
        weight_dir = Path(body["weight_dir"])
        if not (weight_dir / STABLE_MARKER).is_file():
            return _error(404, f"{weight_dir} is not a complete checkpoint (no {STABLE_MARKER})")
        return await weights_rpc(request, "update_weights", weight_dir)

    async def reload_weights(request: Request) -> Response:
        return await weights_rpc(request, "reload_weights", engine.loaded_dir)

    app = Starlette(exception_handlers={ClientDisconnect: client_gone}, routes=[
        Route("/health", health, methods=["GET"]),
        Route("/v1/chat/completions", chat_completions, methods=["POST"]),
        Route("/update_weights", update_weights, methods=["POST"]),
        Route("/reload_weights", reload_weights, methods=["POST"]),
    ])
    app.add_middleware(FirstByteMiddleware)
    return app


def listen(host: str, port: int) -> socket.socket:
    try:
        sock = socket.create_server((host, port), reuse_port=False)
    except OSError as exc:
        raise SimError(f"cannot listen on {host}:{port} ({exc.strerror or exc}); "
                       f"pick another --port or --host", exit_code=2) from None
    return sock


def serve(host: str, port: int, config: EngineConfig) -> int:
    """Serve until SIGTERM (a normal stop: exit 0) or SIGINT (exit 130)."""
    sock = listen(host, port)
    bound_port = sock.getsockname()[1]
    received: list[int] = []
    # uvicorn catches both signals while serving, shuts down, then re-raises them: record them here.
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda signum, frame: received.append(signum))

    async def run() -> None:
        engine = Engine(config)
        server = uvicorn.Server(uvicorn.Config(
            build_app(engine), log_config=None, lifespan="off", timeout_graceful_shutdown=2))
        if received:
            return
        log.info("inference server listening on http://%s:%d (slots=%d tokens_per_s=%g "
                 "len=%d..%d engine_delay_ms=%g)", host, bound_port, config.slots,
                 config.tokens_per_s, config.len_min, config.len_max, config.engine_delay_ms)
        await server.serve(sockets=[sock])

    asyncio.run(run())
    if not received:
        return 0
    name = signal.Signals(received[0]).name
    log.info("inference server stopped on %s", name)
    return 130 if received[0] == signal.SIGINT else 0
