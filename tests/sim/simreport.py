"""Reads a `stallscope-sim all` run dir into a Diagnosis for the scenario tests.

`diagnose` runs the analysis engine; the other helpers read raw lines, to check what the
simulation logged against what it did.
"""

import re
from dataclasses import dataclass, field
from pathlib import Path

from stallscope.engine import analyze

FIELD = re.compile(r"(\w+)=(\S+)")
WEIGHTS = re.compile(r"\[weights\]\[([0-9a-f]{16}|-)\] (\S+) (.*)")


@dataclass
class Diagnosis:
    primary: str
    findings: set[str]
    metrics: dict[str, dict] = field(default_factory=dict)


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
    """The engine's diagnosis of a run dir: the ids of its warning or critical findings (or
    {"healthy"}) and its metrics (name -> count, mean, min, p50, p95, ...)."""
    report = analyze([str(run_dir)])
    findings = {f["id"] for f in report["findings"] if f["severity"] in ("warning", "critical")}
    return Diagnosis(report["diagnosis"], findings or {"healthy"}, report["metrics"])
