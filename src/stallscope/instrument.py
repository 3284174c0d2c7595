"""The log lines stallscope reads, emitted from inside the instrumented processes (docs/instrumenting.md).

Standard library only, so it can be copied into or imported by prime-rl's orchestrator, inference
server and trainer. Every helper takes the caller's logger: anything with an `info(str)` method
(`logging.Logger`, loguru's `logger`); the line is passed preformatted, with no arguments, so neither
logging library formats it again. `t=` values are `time.monotonic()` seconds (comparable only between
processes of one host); durations are milliseconds. Each helper keeps the figures it logged, rounded
as logged, on the object it returns (e.g. `update.wall_ms`), so a caller can also return them (the
server's `rpc_ms` goes back to the client in its JSON response).

The context managers log their closing line only when the block ends without an exception: an update
that failed is reported by the engine as incomplete, which is the truth.
"""

import re
import secrets
import time

TRACE_HEADER = "x-trace-id"
UNTRACED = "-"
# A trace id is written into a log line between brackets: anything else (spaces, brackets, newlines)
# could forge or break lines, so such a header counts as no trace id.
TRACE_ID = re.compile(r"[0-9A-Za-z_.-]{1,64}")
_WHITESPACE = re.compile(r"\s")


def new_trace_id():
    """16 hex characters: the id of one weight update, sent as the `x-trace-id` header."""
    return secrets.token_hex(8)


def clock():
    """The `t=` clock: monotonic seconds."""
    return time.monotonic()


def trace_of(headers):
    """The trace id of a request's headers (a mapping, or (name, value) pairs, str or bytes, as an
    ASGI scope's), or `-` when it has none or an unusable one."""
    pairs = headers.items() if hasattr(headers, "items") else headers
    for name, value in pairs:
        if isinstance(name, bytes):
            name = name.decode("latin-1")
        if name.lower() == TRACE_HEADER:
            if isinstance(value, bytes):
                value = value.decode("latin-1")
            return value if TRACE_ID.fullmatch(value) else UNTRACED
    return UNTRACED


def _token(value):
    """A field value as one `key=value` token: whitespace percent-encoded."""
    return _WHITESPACE.sub(lambda match: f"%{ord(match.group()):02X}", str(value))


def _ms(seconds):
    return round(seconds * 1000.0, 3)


def _t(value):
    return f"{value:.6f}"


class _Span:
    """A timed block: `opening()` logged on entry (if any), `closing()` on a clean exit."""

    def __init__(self, logger):
        self.logger = logger
        self.started = None

    def __enter__(self):
        self.started = clock()
        line = self.opening()
        if line:
            self.logger.info(line)
        return self

    def __exit__(self, kind, value, traceback):
        if kind is None:
            self.logger.info(self.closing(clock()))
        return False

    def opening(self):
        return None

    def closing(self, now):
        raise NotImplementedError


class WeightUpdate(_Span):
    """Orchestrator: one update_weights / reload_weights request, `client.send` to `client.done`.

    Send the request with `headers` (the trace id) and, before the block ends, set `rpc_ms` from the
    server's response; left None, client.done carries wall_ms only and the engine takes rpc_ms from
    the server's `rpc.done` line.
    """

    def __init__(self, logger, op, url, weight_dir=None, trace=None):
        super().__init__(logger)
        self.op, self.url, self.weight_dir = op, url, weight_dir
        self.trace = trace or new_trace_id()
        self.headers = {TRACE_HEADER: self.trace}
        self.rpc_ms = self.wall_ms = self.queue_ms = None

    def opening(self):
        # The engine reads the op from `path` (or `url`); the checkpoint directory is extra context.
        line = f"[weights][{self.trace}] client.send url={_token(self.url)} path=/{_token(self.op)}"
        if self.weight_dir is not None:
            line += f" weight_dir={_token(self.weight_dir)}"
        return line + f" t={_t(self.started)}"

    def closing(self, now):
        self.wall_ms = _ms(now - self.started)
        line = f"[weights][{self.trace}] client.done wall_ms={self.wall_ms:.3f}"
        if self.rpc_ms is not None:
            self.rpc_ms = round(float(self.rpc_ms), 3)
            self.queue_ms = round(self.wall_ms - self.rpc_ms, 3)
            line += f" rpc_ms={self.rpc_ms:.3f} queue_ms={self.queue_ms:.3f}"
        return line + f" t={_t(now)}"


def server_recv(logger, headers, path):
    """Inference server, first thing for EVERY request (an HTTP middleware): `server.recv`.

    Returns the request's trace id (`-` when untraced: inference traffic, counted per second)."""
    trace = trace_of(headers)
    logger.info(f"[weights][{trace}] server.recv path={_token(path)} t={_t(clock())}")
    return trace


class WeightRpc(_Span):
    """Inference server: the weight-loading call itself (the engine's collective RPC), `rpc.start`
    to `rpc.done`; return `rpc_ms` to the client in the response."""

    def __init__(self, logger, trace, op):
        super().__init__(logger)
        self.trace = trace if TRACE_ID.fullmatch(trace or "") else UNTRACED
        self.op = op
        self.rpc_ms = None

    def opening(self):
        return f"[weights][{self.trace}] rpc.start op={_token(self.op)} t={_t(self.started)}"

    def closing(self, now):
        self.rpc_ms = _ms(now - self.started)
        return f"[weights][{self.trace}] rpc.done op={_token(self.op)} t={_t(now)} rpc_ms={self.rpc_ms:.3f}"


class CheckpointWrite(_Span):
    """Trainer: writing the weight checkpoint of `step` (until it is complete and marked stable)."""

    def __init__(self, logger, step):
        super().__init__(logger)
        self.step = int(step)
        self.write_ms = None

    def closing(self, now):
        self.write_ms = _ms(now - self.started)
        return f"[ckpt] write.done step={self.step} write_ms={self.write_ms:.3f} t={_t(now)}"


class CheckpointWait(_Span):
    """Orchestrator: waiting for the trainer's checkpoint of `target_step` (the async barrier)."""

    def __init__(self, logger, target_step):
        super().__init__(logger)
        self.target_step = int(target_step)
        self.wait_ms = None

    def opening(self):
        return f"[ckpt] wait.start target_step={self.target_step} t={_t(self.started)}"

    def closing(self, now):
        self.wait_ms = _ms(now - self.started)
        return f"[ckpt] wait.done target_step={self.target_step} wait_ms={self.wait_ms:.3f} t={_t(now)}"


class GenerationBatch(_Span):
    """Orchestrator: collecting one batch of rollouts. `inflight` is the number of generation requests
    in flight at the start; before the block ends set `completions` (rollouts collected), `tokens`
    (completion tokens they hold, optional) and `inflight` (in flight at the end)."""

    def __init__(self, logger, target_batch, inflight):
        super().__init__(logger)
        self.target_batch = int(target_batch)
        self.inflight = int(inflight)
        self.completions = self.tokens = None
        self.dur_ms = None

    def opening(self):
        return f"[gen] batch.start inflight={self.inflight} target_batch={self.target_batch} t={_t(self.started)}"

    def closing(self, now):
        self.dur_ms = _ms(now - self.started)
        counts = "".join(f"{name}={int(value)} " for name, value in (("completions", self.completions), ("tokens", self.tokens))
                         if value is not None)
        return f"[gen] batch.done {counts}dur_ms={self.dur_ms:.3f} inflight={int(self.inflight)} t={_t(now)}"


def rollout(logger, trunc_pct, current_step, ckpt_step):
    """Orchestrator, once per step's batch: truncation (% of rollouts cut at the length limit) and
    staleness (current_step - ckpt_step: how many steps behind the policy that generated them is)."""
    trunc_pct = round(float(trunc_pct), 3)
    current_step, ckpt_step = int(current_step), int(ckpt_step)
    logger.info(f"[rollout] trunc_pct={trunc_pct:.3f} current_step={current_step} ckpt_step={ckpt_step} "
                f"staleness={current_step - ckpt_step} t={_t(clock())}")
    return current_step - ckpt_step
