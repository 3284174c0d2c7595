"""The prime-rl family (grammar: docs/instrumenting.md): `[weights]`, `[ckpt]`, `[gen]` and `[rollout]` lines.

Recognised anywhere in a line (any prefix; ANSI codes and CR are removed before parsing), with
key=value fields in any order and extra fields ignored. A tag followed by no known event
(`... [weights] is ...`) is a mention, not an event.
"""

import heapq
import operator
import re

from .. import per_step
from .. import records as run_records
from ..correlation import client_queue_ms, client_queue_samples, correlate
from ..criteria import rates_judged
from ..digest import WEIGHT_OPS
from ..findings import (checkpoint_stall, frontend_queue_saturation, generation_contention, incomplete_weight_updates,
                        no_weight_updates, poor_rollout_quality, slow_checkpoint_write, slow_generation, slow_weight_loading)
from ..metrics import per_second
from ..thresholds import CRITERIA_KEY
from ..warmup import Warmup
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
# A [rollout] line is an event when it has one of these; only the sampled ones are parsed.
ROLLOUT_KEYS = ("trunc_pct", "current_step", "ckpt_step", "staleness")


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
    # One dict literal per kind (not a dict then update()): this runs for every event of a run. Only
    # the fields some stage reads are parsed.
    if kind == "batch.start":
        return {"event": kind, "inflight": number(values, "inflight"), "target_batch": number(values, "target_batch")}
    if kind == "batch.done":
        return {"event": kind, "t": number(values, "t"), "completions": number(values, "completions"),
                "tokens": number(values, "tokens"), "dur_ms": number(values, "dur_ms", required=True),
                "inflight": number(values, "inflight"), "ts": match_timestamp(match)}  # batches are timeline entries
    if kind == "wait.start":  # waits carry their line's time: GPU samples are placed in them (gpu_run.py)
        return {"event": kind, "ts": match_timestamp(match)}
    if kind == "wait.done":  # checkpoint waits and writes are timeline entries
        return {"event": kind, "t": number(values, "t"), "wait_ms": number(values, "wait_ms", required=True),
                "ts": match_timestamp(match)}
    if kind == "write.done":
        return {"event": kind, "t": number(values, "t"), "write_ms": number(values, "write_ms", required=True),
                "ts": match_timestamp(match)}
    if not any(key in values for key in ROLLOUT_KEYS):
        return None
    return {"event": kind, "trunc_pct": number(values, "trunc_pct"), "staleness": number(values, "staleness")}


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


# The run-level side of the family interface (families/__init__.py).
Partial = run_records.PrimeRlPartial
FINDINGS = [frontend_queue_saturation, slow_weight_loading, checkpoint_stall, slow_checkpoint_write, generation_contention,
            slow_generation, poor_rollout_quality, no_weight_updates, incomplete_weight_updates]


# Every report has the weight-update sections (report.json's schema), a run without prime-rl too.
ALWAYS_REPORTED = True


def settle(store, files, partials, ids, table):
    """Keeps in the state what of the run's records later bytes cannot change (records.settle)."""
    run_records.settle(store, files, partials, ids, table[CRITERIA_KEY]["warmup_steps"])


def run(store, files, partials, settings):
    """The run's records: the join, the batches, the warm-up and the correlation of the hosts' clocks."""
    warmup = Warmup(settings["thresholds"]["warmup_updates"])
    records = run_records.records(store, files, partials, warmup, settings["file_ids"],
                                  settings["thresholds"][CRITERIA_KEY]["warmup_steps"])
    records["warmup"] = warmup
    records["correlation"], records["offsets"] = correlate(records["updates"].clocks, settings["clocks"])
    return records


def seen(records, store):
    return bool(records["updates"].count or len(records["batches"]) or records["untraced"]["count"]
                or set(store.metrics()) & set(run_records.SAMPLED))


def samples(records, store, seen):
    """Every metric of the family (possibly empty: the report always lists them)."""
    digest = records["updates"]
    values = {"queue_ms": digest.samples["queue_ms"],
              "client_queue_ms": client_queue_samples(digest.clocks, records["offsets"])}
    for name in ("server_queue_ms", "wall_ms", "rpc_ms"):
        values[name] = digest.samples[name]
    for op in sorted(digest.rpc_ms_by_op):
        values[f"rpc_ms.{op}"] = digest.rpc_ms_by_op[op]
    for name in run_records.SAMPLED:
        values[name] = store.samples_of(name)
    values["staleness_over_async_level"] = records["staleness_excess"]
    values["untraced_requests_per_s"] = per_second(records["untraced"]["per_second"])
    return values


def report(records, metrics, run_info):
    """The report's weight-update sections, the throughput, the warm-up and the per-step series."""
    counts = records["updates"].counts
    rank_of = records["file_ranks"]
    inputs, table, offsets = run_info["inputs"], run_info["thresholds"], records["offsets"]
    warmup = records["warmup"].updates()
    return {
        "updates": {
            "complete": counts["complete"],
            "incomplete": counts["incomplete"],
            "server_only": counts["server_only"],
            "duplicate_trace_ids": records["duplicate_trace_ids"],
            "by_op": dict(sorted(counts["by_op"].items())),
        },
        "requests": {"untraced": records["untraced"]["count"]},
        "correlation": records["correlation"],
        "slowest_updates": [_update_row(update, inputs, offsets) for update in records["updates"].slowest()],
        "timeline": {"file": "timeline.txt", "updates": counts["client_side"], "batches": len(records["batches"])},
        "throughput": records["batch_summary"].throughput.section(lambda file: inputs[rank_of[file]]["path"]),
        "warmup": {"updates": table["warmup_updates"], "excluded": [_update_row(u, inputs, offsets) for u in warmup]},
        "per_step": per_step.section(records["timeline_updates"].head(per_step.ROWS_IN_REPORT), counts["client_side"],
                                     [entry["path"] for entry in inputs], {u.trace for u in warmup}),
    }


_TIMELINE_BATCH = operator.itemgetter(*(run_records.BATCH_FIELDS.index(column) for column in run_records.TIMELINE_BATCH_COLUMNS))


def timeline(records):
    """The timeline's streams: `entries`, the weight updates (at their client-side line) and the
    generation batches (at batch.done) merged in (file index, line) order as (kind, row), rows of
    TIMELINE_UPDATE_COLUMNS / TIMELINE_BATCH_COLUMNS; `checkpoints`, the checkpoint waits and
    writes (CHECKPOINT_FIELDS) in (file index, line) order."""
    updates = ((row[0], row[1], "update", row) for row in records["timeline_updates"])
    batches = ((row[0], row[1], "batch", _TIMELINE_BATCH(row)) for row in records["batches"].rows())
    merged = heapq.merge(updates, batches, key=lambda item: item[:2])
    return {"entries": ((kind, row) for _, _, kind, row in merged), "checkpoints": records["checkpoints"]}


def _update_row(update, inputs, offsets):
    client = update.events.client_send or update.events.client_done
    return {
        "trace": update.trace,
        "op": update.op,
        "wall_ms": update.wall_ms,
        "queue_ms": update.queue_ms,
        "rpc_ms": update.rpc_ms,
        "client_queue_ms": client_queue_ms(update, offsets),
        "server_queue_ms": update.server_queue_ms,
        "file": inputs[client.file]["path"] if client else None,
        "line": client.line if client else None,
    }


def judged(records, values):
    """The samples the findings judge: the update metrics without the warm-up updates."""
    return records["warmup"].judged(values)


# The compare part of the family interface (compare.py): what applies to any two reports, when no
# other family's section is in both.
SECTION = "throughput"
COMPARED_METRICS = ("queue_ms", "client_queue_ms", "server_queue_ms", "wall_ms", "rpc_ms", "rpc_ms.update_weights",
                    "rpc_ms.reload_weights", "wait_ms", "write_ms", "gen_dur_ms", "inflight",
                    "trunc_pct", "staleness", "untraced_requests_per_s")
COMPARED_FIGURES = (("completions/s", "throughput.completions_per_s"), ("tokens/s", "throughput.tokens_per_s"),
                    ("step time (s)", "throughput.step_time_s"), ("steady-state steps", "throughput.steps"),
                    ("steady-state span (s)", "throughput.span_s"))
COMPARED_TITLE = "Run-level throughput (steady state, warm-up excluded)"
# A run without tokens= has no tokens/s: a row of two dashes would say nothing.
COMPARED_EMPTY_ROWS = False
RUN_FIGURES = (("queue_ms p50", "queue_ms.p50"), ("queue_ms p95", "queue_ms.p95"), ("rpc_ms p95", "rpc_ms.p95"),
               ("batch dur_ms p95", "gen_dur_ms.p95"), ("completions/s", "throughput.completions_per_s"),
               ("step time s", "throughput.step_time_s"))


def criteria(before, after, table):
    """docs/analysis.md's success criteria: queue_ms p95 after, and generation throughput not worse."""
    return [_queue_criterion(after, table[CRITERIA_KEY]), _throughput_criterion(before, after, table[CRITERIA_KEY])]


THROUGHPUT_CRITERION = "generation throughput not worse"


def guards(criterion):
    """Whether `criterion` guards against a fix that slows the run: its verdict shows it, pass or fail."""
    return criterion["name"].startswith(THROUGHPUT_CRITERION)


def _queue_criterion(after, success_criteria):
    limit = success_criteria["queue_ms_p95_below"]
    p95 = (after["metrics"].get("queue_ms") or {}).get("p95")
    criterion = {"name": f"queue_ms p95 < {limit:g} ms (after)", "after": p95, "figure": "queue_ms.p95"}
    if p95 is None:
        return dict(criterion, result="not measured")
    return dict(criterion, result="pass" if p95 < limit else "fail")


def _throughput_criterion(before, after, success_criteria):
    """The success criterion "no regression in generation throughput", judged on run-level throughput
    (throughput.py): completions/s, and tokens/s when both runs carry tokens, after >= before *
    (1 - tolerance). Inconclusive when a run is too short or the runs' batch sizes or warm-ups
    differ."""
    tolerance = success_criteria["gen_throughput_tolerance"]
    old, new = before.get("throughput"), after.get("throughput")
    criterion = {
        "name": f"{THROUGHPUT_CRITERION} (run-level completions/s after >= {1 - tolerance:.0%} of before)",
        "before": (old or {}).get("completions_per_s"),
        "after": (new or {}).get("completions_per_s"),
        "step_time_s": {"before": (old or {}).get("step_time_s"), "after": (new or {}).get("step_time_s")},
    }
    for side, section in (("before", old), ("after", new)):
        if section is None:
            return dict(criterion, result="not measured",
                        reason=f"{side}: the report has no run-level throughput (made by an older stallscope): analyse its logs again")
        if section["reason"] is not None:
            return dict(criterion, result="not measured", reason=f"{side}: {section['reason']}")
    for side, section in (("before", old), ("after", new)):
        if section["steps"] < success_criteria["min_steps"]:
            return dict(criterion, result="inconclusive",
                        reason=f"{side}: {section['steps']} steady-state step(s), fewer than min_steps {success_criteria['min_steps']}")
    if old["batch_sizes"] != new["batch_sizes"]:
        return dict(criterion, result="inconclusive",
                    reason=f"batch sizes differ ({_sizes(old)} before, {_sizes(new)} after): equal work per step is needed")
    if old["warmup_steps"] != new["warmup_steps"]:
        return dict(criterion, result="inconclusive",
                    reason=f"analysed with different warm-ups ({old['warmup_steps']} and {new['warmup_steps']} steps): "
                           "analyse both with the same thresholds")
    return rates_judged(criterion, old, new, ("completions/s", "completions_per_s"), tolerance)


def _sizes(section):
    return "/".join(f"{size:g}" for size in section["batch_sizes"]) or "unknown"
