"""Reads a `stallscope-sim all` run dir into a Diagnosis for the scenario tests.

`diagnose` is the one function to swap for `stallscope.engine.analyze` once the engine is merged:
the tests only use the Diagnosis it returns. Thresholds are seed 002's critical limits.
"""

import math
import re
from dataclasses import dataclass, field
from pathlib import Path

FIELD = re.compile(r"(\w+)=(\S+)")
WEIGHTS = re.compile(r"\[weights\]\[([0-9a-f]{16}|-)\] (\S+) (.*)")


@dataclass
class Diagnosis:
    findings: set[str]
    metrics: dict[str, list[float]] = field(default_factory=dict)


def percentile(values: list[float], pct: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(pct / 100 * len(ordered)) - 1)]


def fields(line: str) -> dict[str, str]:
    return dict(FIELD.findall(line))


def weight_events(log: Path) -> list[tuple[str, str, dict[str, str]]]:
    """(trace id, event, fields) of every `[weights][tid] event k=v ...` line."""
    events = []
    for line in log.read_text().splitlines():
        match = WEIGHTS.search(line)
        if match:
            events.append((match[1], match[2], fields(match[3])))
    return events


def update_records(run_dir: Path) -> list[dict]:
    """One record per traced weights op: client fields joined with the server's by trace id."""
    logs = run_dir / "logs"
    records: dict[str, dict] = {}
    for trace_id, event, values in weight_events(logs / "orchestrator.log"):
        if event in ("client.send", "client.done"):
            records.setdefault(trace_id, {"trace_id": trace_id})[event] = values
    for trace_id, event, values in weight_events(logs / "inference.log"):
        if trace_id in records and event in ("server.recv", "rpc.start", "rpc.done"):
            records[trace_id][event] = values
    return list(records.values())


def tagged(log: Path, tag: str, name: str) -> list[float]:
    """Values of `name=` on lines carrying `tag` (e.g. "[ckpt] wait.done", "wait_ms")."""
    return [float(fields(line)[name]) for line in log.read_text().splitlines() if tag in line]


def diagnose(run_dir: Path) -> Diagnosis:
    records = [r for r in update_records(run_dir)
               if r.get("rpc.start", {}).get("op") == "update_weights" and "client.done" in r]
    orchestrator_log = run_dir / "logs" / "orchestrator.log"
    metrics = {
        "queue_ms": [float(r["client.done"]["queue_ms"]) for r in records],
        "rpc_ms": [float(r["client.done"]["rpc_ms"]) for r in records],
        "wait_ms": tagged(orchestrator_log, "[ckpt] wait.done", "wait_ms"),
        "write_ms": tagged(run_dir / "logs" / "trainer.log", "[ckpt] write.done", "write_ms"),
        "trunc_pct": tagged(orchestrator_log, "[rollout] trunc_pct=", "trunc_pct"),
    }
    findings = set()
    if metrics["queue_ms"] and percentile(metrics["queue_ms"], 95) > 1000 \
            and percentile(metrics["rpc_ms"], 50) < 2000:
        findings.add("frontend_queue_saturation")
    if metrics["rpc_ms"] and percentile(metrics["rpc_ms"], 95) > 5000:
        findings.add("slow_weight_loading")
    if metrics["wait_ms"] and percentile(metrics["wait_ms"], 95) > 2000:
        findings.add("checkpoint_stall")
    if metrics["trunc_pct"] and sum(metrics["trunc_pct"]) / len(metrics["trunc_pct"]) > 30:
        findings.add("poor_rollout_quality")
    return Diagnosis(findings or {"healthy"}, metrics)
