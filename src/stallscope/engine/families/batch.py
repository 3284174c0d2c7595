"""The batch-inference family (docs/ray.md, "The analysis"): a Ray Data + vLLM batch job's log.

Lines read, wherever they are in a line (Ray prefixes an actor's forwarded lines with
`(MapWorker(MapBatches(...)) pid=N, ip=A)`; vLLM's own server with `(APIServer pid=N)`):

- the job driver's: `Progress: P% | Completed: c/t | Throughput: r req/s | Tokens/sec: n | ETA: Xh
  | Failed: f`, `Latency: p50 X s | p95 Y s | p99 Z s`, `SLA AT RISK! ETA Xh > Remaining Yh`, `SLA
  APPROACHING: Xh/Nh used. ...`, `SLA VIOLATED: Job exceeded N-hour window. Elapsed: Xh`, and
  stallscope's `job start: ... batch_size=... sla_hours=...` and `job done: ...`;
- vLLM's: the V1 engine's periodic `Engine 000: Avg prompt throughput: ... GPU KV cache usage: x%`,
  the preemption warning `Sequence group ... is preempted by PreemptionMode...` and `GPU KV cache
  size: N tokens`;
- Ray Data's: `Execution plan of Dataset ...` (which operators are actor pools: the engine stages)
  and `Dataset.stats()`'s `Operator N <name>: T tasks executed, ...` with the `* Remote wall time:
  ... total` line under it;
- the gateway's `job <id> queued: dataset=... (position P)` and `job <id> completed|failed (exit code
  N); log ...`, whatever the logger's prefix (under uvicorn: `HH:MM:SS    INFO job ...`).
"""

import re

from .. import batch_run
from ..criteria import rates_judged
from ..findings import (high_error_rate, high_latency, kv_cache_pressure, low_throughput, preprocessing_bound,
                        queue_backlog, sla_at_risk, sla_violated, straggler_worker)
from ..thresholds import CRITERIA_KEY
from .base import MAX_VALUE, MalformedLine, match_timestamp

NAME = "batch"
TAGS = (b"| Completed: ", b"Latency: p50 ", b"SLA AT RISK!", b"SLA APPROACHING:", b"SLA VIOLATED:",
        b"stallscope.batch.job: job ", b"Avg prompt throughput:", b"is preempted by PreemptionMode",
        b"GPU KV cache size:", b"Execution plan of Dataset", b" tasks executed, ", b"* Remote wall time:",
        b" queued: dataset=", b"(exit code ")
# A chunk holds one of these whenever it holds an event (cheaper than testing every tag).
PRESENT = (b"| Completed: ", b"Latency: p50", b"SLA ", b"stallscope.batch.", b"queued: ", b"exit code",
           b"Avg prompt throughput", b"PreemptionMode", b"KV cache size", b"Execution plan", b"tasks executed", b"Remote wall time")
LOOKED_FOR = "batch-inference Progress / SLA lines, vLLM engine stats and Ray Data stats (docs/ray.md)"

NUMBER = r"-?\d+(?:\.\d+)?"
EVENT = re.compile(
    rf"Progress: (?P<pct>{NUMBER})% \| Completed: (?P<done>\d+)/(?P<total>\d+) \| Throughput: (?P<rps>{NUMBER}) req/s"
    rf" \| Tokens/sec: (?P<tps>{NUMBER}) \| ETA: (?:(?P<eta>{NUMBER})h|n/a) \| Failed: (?P<failed>\d+).*"
    rf"|Latency: p50 (?P<p50>{NUMBER}) s \| p95 (?P<p95>{NUMBER}) s \| p99 (?P<p99>{NUMBER}) s.*"
    rf"|SLA AT RISK! ETA (?P<risk_eta>{NUMBER})h > Remaining (?P<risk_remaining>{NUMBER})h.*"
    rf"|SLA APPROACHING: (?P<used>{NUMBER})h/(?P<of>{NUMBER})h used.*"
    rf"|SLA VIOLATED: Job exceeded (?P<window>{NUMBER})-hour window\. Elapsed: (?P<elapsed>{NUMBER})h.*"
    rf"|stallscope\.batch\.job: job start: (?P<prompts>\d+) prompts from .*?batch_size=(?P<batch_size>\d+)"
    rf" concurrency=(?P<concurrency>\d+) max_concurrent_batches=(?P<mcb>\d+) max_tokens=(?P<max_tokens>\d+)"
    rf" sla_hours=(?P<sla_hours>{NUMBER}).*"
    rf"|stallscope\.batch\.job: job done: (?P<d_completed>\d+) completed, (?P<d_failed>\d+) failed of \d+ in"
    rf" (?P<d_elapsed>{NUMBER}) s.*"
    rf"|Engine (?P<engine>\d+): Avg prompt throughput: (?P<prompt_tps>{NUMBER}) tokens/s, Avg generation throughput:"
    rf" (?P<gen_tps>{NUMBER}) tokens/s, Running: (?P<running>\d+) reqs, Waiting: (?P<waiting>\d+) reqs,"
    rf" GPU KV cache usage: (?P<kv>{NUMBER})%.*"
    rf"|Sequence group \S+ is (?P<preempted>preempted) by PreemptionMode\.\w+ mode.*"
    rf"|GPU KV cache size: (?P<kv_tokens>[\d,]+) tokens.*"
    rf"|Execution plan of Dataset \S+: (?P<plan>.*)"
    rf"|Operator \d+ (?P<operator>\S.*?): (?P<tasks>\d+) tasks executed, .*"
    rf"|\* Remote wall time: .*, (?P<wall>{NUMBER})(?P<unit>us|ms|s) total.*"
    rf"|job (?P<job>\S+) (?:queued: dataset=\S+ num_samples=\d+ sla_hours=\S+ \(position (?P<position>\d+)\)"
    rf"|(?P<status>completed|failed) \(exit code (?P<code>-?\d+)\); log ).*"
)
# The Ray prefix of an actor's forwarded line (its worker), or vLLM server's `(APIServer pid=N)`.
WORKER_PREFIX = re.compile(r"\((?:[^()]|\([^()]*(?:\([^()]*\))?[^()]*\))*?pid=(\d+)(?:, ip=([\w.:-]+))?\)")
UNITS = {"us": 1e-6, "ms": 1e-3, "s": 1.0}


def parse(text):
    match = EVENT.search(text)
    return None if match is None else event(match)


def _number(groups, key):
    """A captured number; MalformedLine past MAX_VALUE (no figure of these lines comes near it)."""
    value = float(groups[key])
    if not -MAX_VALUE <= value <= MAX_VALUE:
        raise MalformedLine(f"{key}={groups[key]} is out of range")
    return value


def event(match):
    """The event of one EVENT match as a flat dict (str or ASCII-bytes match)."""
    groups = {key: (value.decode("ascii") if isinstance(value, bytes) else value)
              for key, value in match.groupdict().items() if value is not None}
    if "engine" in groups:
        return {"event": "stats", "worker": _worker(match), "gen_tps": _number(groups, "gen_tps"),
                "running": int(groups["running"]), "waiting": int(groups["waiting"]), "kv": _number(groups, "kv")}
    if "pct" in groups:
        return {"event": "progress", "ts": match_timestamp(match), "done": int(groups["done"]),
                "total": int(groups["total"]), "rps": _number(groups, "rps"), "tps": _number(groups, "tps"),
                "eta_h": _number(groups, "eta") if "eta" in groups else None, "failed": int(groups["failed"])}
    if "preempted" in groups:
        return {"event": "preempted", "worker": _worker(match)}
    if "wall" in groups:
        return {"event": "wall", "seconds": _number(groups, "wall") * UNITS[groups["unit"]]}
    if "operator" in groups:
        return {"event": "operator", "name": groups["operator"], "tasks": int(groups["tasks"])}
    if "p50" in groups:
        return {"event": "latency", **{key: _number(groups, key) for key in ("p50", "p95", "p99")}}
    if "risk_eta" in groups:
        return {"event": "sla", "state": "at_risk", "eta_h": _number(groups, "risk_eta"),
                "remaining_h": _number(groups, "risk_remaining")}
    if "used" in groups:
        return {"event": "sla", "state": "approaching", "used_h": _number(groups, "used"), "sla_h": _number(groups, "of")}
    if "window" in groups:
        return {"event": "sla", "state": "violated", "sla_h": _number(groups, "window"),
                "elapsed_h": _number(groups, "elapsed")}
    if "prompts" in groups:
        return {"event": "start", "ts": match_timestamp(match), "prompts": int(groups["prompts"]),
                "config": {"batch_size": int(groups["batch_size"]), "concurrency": int(groups["concurrency"]),
                           "max_concurrent_batches": int(groups["mcb"]), "max_tokens": int(groups["max_tokens"])},
                "sla_hours": _number(groups, "sla_hours")}
    if "d_completed" in groups:
        return {"event": "done", "ts": match_timestamp(match), "completed": int(groups["d_completed"]),
                "failed": int(groups["d_failed"]), "elapsed_s": _number(groups, "d_elapsed")}
    if "kv_tokens" in groups:
        return {"event": "kv_size", "worker": _worker(match), "tokens": int(groups["kv_tokens"].replace(",", ""))}
    if "plan" in groups:
        return {"event": "plan", "actor_pools": re.findall(r"ActorPoolMapOperator\[(.+?)\](?: ->|$)", groups["plan"])}
    if "position" in groups:
        return {"event": "queued", "job": groups["job"], "position": int(groups["position"])}
    return {"event": "finished", "job": groups["job"], "status": groups["status"], "code": int(groups["code"])}


def _worker(match):
    """The engine's worker: `ip:pid` (or `pid`) from the line's Ray or vLLM prefix; `-` without one."""
    text, start = match.string, match.start()
    if isinstance(text, bytes):
        head = text[text.rfind(b"\n", 0, start) + 1:start].decode("ascii")
    else:
        head = text[text.rfind("\n", 0, start) + 1:start]
    found = WORKER_PREFIX.search(head)
    if found is None:
        return "-"
    return f"{found.group(2)}:{found.group(1)}" if found.group(2) else f"pid {found.group(1)}"


# The run-level side of the family interface (families/__init__.py).
Partial = batch_run.BatchPartial
# Causes first (what limits throughput), then failures, then the symptoms (SLA, throughput, latency),
# whose fixes depend on the cause.
FINDINGS = [kv_cache_pressure, preprocessing_bound, straggler_worker, high_error_rate, sla_violated, sla_at_risk,
            low_throughput, high_latency, queue_backlog]


def run(store, files, partials, settings):
    return batch_run.records(files, partials)


def seen(records, store):
    return bool(records["jobs"] or records["gateway"]["queued"] or records["gateway"]["finished"])


def samples(records, store, seen):
    return {name: store.samples_of(name) for name in batch_run.SAMPLE_METRICS} if seen else {}


def report(records, metrics, run_info):
    """The report's `batch` section."""
    return {"batch": batch_run.summary(records, run_info["thresholds"])}


# The compare part of the family interface (compare.py): two batch-inference runs are compared on
# the job's figures (docs/ray.md) and judged on throughput and the SLA.
SECTION = "batch"
COMPARED_METRICS = ("kv_cache_usage_pct", "engine_generation_tokens_per_s", "engine_waiting_reqs")
COMPARED_FIGURES = (
    ("throughput (req/s)", "batch.throughput_rps"),
    ("tokens/s", "batch.tokens_per_s"),
    ("latency p95 (s)", "batch.latency_p95_s"),
    ("error rate (%)", "batch.error_rate_pct"),
    ("ETA at the last progress line (h)", "batch.eta_h"),
    ("preemptions per 100 requests", "batch.preemption_pct"),
    ("slowest engine's slowdown", "batch.worker_slowdown"),
    ("CPU stages / engine stage wall time", "batch.cpu_stage_share"),
)
COMPARED_TITLE = "Batch inference (docs/ray.md)"
COMPARED_EMPTY_ROWS = True
RUN_FIGURES = (("req/s", "batch.throughput_rps"), ("tokens/s", "batch.tokens_per_s"),
               ("latency p95 s", "batch.latency_p95_s"), ("error %", "batch.error_rate_pct"),
               ("ETA h", "batch.eta_h"))


def criteria(before, after, table):
    """Batch throughput not worse, and the last job's SLA met or on track."""
    return [_throughput_criterion(before, after, table[CRITERIA_KEY]), _sla_criterion(after)]


def _throughput_criterion(before, after, success_criteria):
    """The run's req/s, and tokens/s when both runs have it, after >= before * (1 - gen_throughput_tolerance)."""
    tolerance = success_criteria["gen_throughput_tolerance"]
    old, new = before["batch"], after["batch"]
    criterion = {"name": f"batch throughput not worse (req/s and tokens/s after >= {1 - tolerance:.0%} of before)",
                 "before": old.get("throughput_rps"), "after": new.get("throughput_rps"), "figure": "batch.throughput_rps"}
    if old.get("throughput_rps") is None or new.get("throughput_rps") is None:
        return dict(criterion, result="not measured", reason="a run has no finished job with a measured span")
    return rates_judged(criterion, old, new, ("req/s", "throughput_rps"), tolerance)


def _sla_criterion(after):
    """The last job after the change met its SLA or is on track (docs/ray.md)."""
    state = after["batch"].get("sla_state")
    criterion = {"name": f"SLA met or on track (after: {state or 'no job'})", "state": state}
    if state is None:
        return dict(criterion, result="not measured", reason="no job in the run")
    return dict(criterion, result="pass" if state in ("met", "on_track") else "fail")
