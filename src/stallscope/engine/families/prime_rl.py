"""The prime-rl family (grammar: docs/instrumenting.md): `[weights]`, `[ckpt]`, `[gen]` and `[rollout]` lines.

Recognised anywhere in a line (any prefix; ANSI codes and CR are removed before parsing), with
key=value fields in any order and extra fields ignored. A tag followed by no known event
(`... [weights] is ...`) is a mention, not an event.
"""

import re

from .base import MalformedLine, fields, match_timestamp, number

NAME = "prime-rl"
TAGS = (b"[weights]", b"[ckpt]", b"[gen]", b"[rollout]")
LOOKED_FOR = "prime-rl [weights] [ckpt] [gen] [rollout] lines (docs/instrumenting.md)"

# The first event of a line; `rest` runs to the end of that line (`.` stops at a newline), so one
# pass over many lines finds at most one event per line.
EVENT = re.compile(
    r"\[(?:"
    r"weights\]\[(?P<trace>[^\]\s]+)\]\s*(?P<weights>client\.send|server\.recv|rpc\.start|rpc\.done|client\.done)"
    r"|ckpt\]\s*(?P<ckpt>write\.done|wait\.start|wait\.done)"
    r"|gen\]\s*(?P<gen>batch\.start|batch\.done)"
    r"|(?P<rollout>rollout)\]"
    r")(?=\s|$)(?P<rest>.*)"
)
# Each event kind's name as it is reported, keyed by the matched group (str, or bytes from the
# ASCII fast path): one dict lookup instead of decoding.
EVENT_KINDS = {kind: kind for kind in ("client.send", "server.recv", "rpc.start", "rpc.done", "client.done", "write.done",
                                       "wait.start", "wait.done", "batch.start", "batch.done", "rollout")}
EVENT_KINDS.update({kind.encode("ascii"): kind for kind in list(EVENT_KINDS)})
ROLLOUT_KEYS = ("trunc_pct", "current_step", "ckpt_step", "staleness")
WEIGHT_OPS = ("update_weights", "reload_weights")


def parse(text):
    """The event of one line as a flat dict, or None when the line only mentions a tag.

    Raises MalformedLine when the line has an event's shape but unreadable fields.
    """
    match = EVENT.search(text)
    return None if match is None else event(match)


def event(match):
    """The event of one EVENT match as a flat dict, or None. Raises MalformedLine.

    The match may be over many lines joined by newlines, and over ASCII bytes (EVENT compiled as a
    bytes pattern), whose groups are then decoded.
    """
    trace, weights, ckpt, gen, _, rest = match.groups()
    if type(rest) is bytes:
        rest = rest.decode("ascii")
        if trace is not None:
            trace = trace.decode("ascii")
    values = fields(rest)
    if weights:
        return _weights(match, EVENT_KINDS[weights], trace, values)
    kind = EVENT_KINDS[ckpt or gen or "rollout"]
    # One dict literal per kind (not a dict then update()): this runs for every event of a run.
    if kind == "batch.start":
        return {"event": kind, "t": number(values, "t"), "inflight": number(values, "inflight"),
                "target_batch": number(values, "target_batch")}
    if kind == "batch.done":
        return {"event": kind, "t": number(values, "t"), "completions": number(values, "completions"),
                "tokens": number(values, "tokens"), "dur_ms": number(values, "dur_ms", required=True),
                "inflight": number(values, "inflight"), "ts": match_timestamp(match)}  # batches are timeline entries
    if kind == "wait.start":  # waits carry their line's time: GPU samples are placed in them (gpu_run.py)
        return {"event": kind, "t": number(values, "t"), "target_step": number(values, "target_step"),
                "ts": match_timestamp(match)}
    if kind == "wait.done":
        return {"event": kind, "t": number(values, "t"), "target_step": number(values, "target_step"),
                "wait_ms": number(values, "wait_ms", required=True), "ts": match_timestamp(match)}
    if kind == "write.done":
        return {"event": kind, "t": number(values, "t"), "step": number(values, "step"),
                "write_ms": number(values, "write_ms", required=True)}
    if not any(key in values for key in ROLLOUT_KEYS):
        return None
    parsed = {"event": kind, "t": number(values, "t")}
    for key in ROLLOUT_KEYS:
        parsed[key] = number(values, key)
    return parsed


def _weights(match, kind, trace, values):
    parsed = {"event": kind, "trace": trace, "t": number(values, "t")}
    if kind == "client.send":
        parsed["op"] = _op_of(values.get("path"), values.get("url"))
        parsed["ts"] = match_timestamp(match)
    elif kind == "server.recv":
        parsed["op"] = _op_of(values.get("path"))
    elif kind in ("rpc.start", "rpc.done"):
        parsed["op"] = values.get("op") or None
        if kind == "rpc.done":
            parsed["rpc_ms"] = number(values, "rpc_ms")
    else:
        parsed["wall_ms"] = wall_ms = number(values, "wall_ms")
        parsed["rpc_ms"] = number(values, "rpc_ms")
        parsed["queue_ms"] = queue_ms = number(values, "queue_ms")
        if wall_ms is None and queue_ms is None:
            raise MalformedLine("client.done without wall_ms= or queue_ms=")
        parsed["ts"] = match_timestamp(match)
    return parsed


def _op_of(*locations):
    for location in locations:
        for op in WEIGHT_OPS:
            if location and op in location:
                return op
    return None
