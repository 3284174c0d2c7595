"""The Dask calibration family (docs/dask.md): `SIM_TIMING:` / `AGG_TIMING:` lines and the worker,
nanny and scheduler messages of dask/distributed that say a worker is short of memory or its event
loop is blocked (docs/dask.md).

The timing lines are key=value (docs/dask.md, any order, extra keys ignored); distributed's messages
are matched on their fixed wording, whatever the logger's prefix. Every event carries the line's own
timestamp (`ts`), which gives the run's span and so its trials per minute.

The family also reads a whole file (a sampler, families/__init__.py): distributed's performance
report (`performance_report(filename=...)`, an *.html file), whose figures go to the report's
`dask.perf_report`.
"""

import os
import re

from .. import dask_run, perf_report
from ..findings import aggregation_data_movement, event_loop_blocked, memory_pressure, worker_imbalance
from ..thresholds import CRITERIA_KEY
from .base import MalformedLine, fields, match_timestamp, number

NAME = "dask"
TAGS = (b"SIM_TIMING:", b"AGG_TIMING:", b"memory usage. Pausing worker", b"memory usage. Resuming worker",
        b"Unmanaged memory use is high", b"memory budget. Restarting", b"Event loop was unresponsive",
        b"full garbage collections took", b"Start worker at:")
# What a chunk holds when it holds any event of this family (the scanner skips the family's
# pattern otherwise): our timing lines, or distributed's messages, whose logger names
# (`distributed.worker.memory`, `distributed.core`, ...) are in its default log format. Two
# substring tests instead of one per tag keep prime-rl logs as fast to scan as before.
PRESENT = (b"_TIMING: ", b"distributed")
LOOKED_FOR = "Dask calibration SIM_TIMING: / AGG_TIMING: lines and dask worker warnings (docs/dask.md)"

# One alternative per event; each runs to the end of its line (`.` stops at a newline).
EVENT = re.compile(
    r"(?P<timing>SIM_TIMING|AGG_TIMING):(?P<rest>.*)"
    r"|Worker is at (?P<memory_pct>\d+)% memory usage\. (?P<pause>Pausing|Resuming) worker.*"
    r"|(?P<unmanaged>Unmanaged memory use is high).*"
    r"|Worker (?P<restarted>\S+) \(pid=\d+\) exceeded \d+% memory budget\. Restarting.*"
    r"|Event loop was unresponsive in (?P<loop_in>\w+) for (?P<loop_s>[0-9.]+)s.*"
    r"|full garbage collections took (?P<gc_pct>\d+)% CPU time.*"
    r"|Start worker at:\s*(?P<started>\S+).*"
)
AGG_NUMBERS = ("n_sim_returns", "n_outputs", "total_inline_mb", "max_single_kb")


def parse(text):
    match = EVENT.search(text)
    return None if match is None else event(match)


def event(match):
    """The event of one EVENT match as a flat dict (str or ASCII-bytes match). Raises MalformedLine."""
    groups = {key: (value.decode("ascii") if isinstance(value, bytes) else value)
              for key, value in match.groupdict().items() if value is not None}
    parsed = {"ts": match_timestamp(match)}
    timing = groups.get("timing")
    if timing:
        values = fields(groups["rest"])
        worker = values.get("worker")
        if not worker:
            raise MalformedLine("no worker=")
        parsed.update(event="sim" if timing == "SIM_TIMING" else "agg", worker=worker,
                      param_id=values.get("param_id"), duration_ms=number(values, "duration_ms", required=True))
        if timing == "SIM_TIMING":
            parsed["seed"] = values.get("seed")
        else:
            parsed.update(run_id=values.get("run_id"), target=values.get("target"))
            parsed.update((key, number(values, key)) for key in AGG_NUMBERS)
            if parsed["total_inline_mb"] is None:
                raise MalformedLine("AGG_TIMING without total_inline_mb=")
        return parsed
    if "pause" in groups:
        parsed.update(event="memory.pause" if groups["pause"] == "Pausing" else "memory.resume",
                      memory_pct=float(groups["memory_pct"]))
    elif "unmanaged" in groups:
        parsed["event"] = "memory.unmanaged"
    elif "restarted" in groups:
        parsed.update(event="memory.restart", worker=groups["restarted"])
    elif "loop_in" in groups:
        try:
            seconds = float(groups["loop_s"])
        except ValueError:
            raise MalformedLine(f"unresponsive for {groups['loop_s']!r}s") from None
        parsed.update(event="event_loop", component=groups["loop_in"], seconds=seconds)
    elif "gc_pct" in groups:
        parsed.update(event="gc", cpu_pct=float(groups["gc_pct"]))
    else:
        parsed.update(event="worker.start", worker=groups["started"].strip("'\""))
    return parsed


# The run-level side of the family interface (families/__init__.py).
Partial = dask_run.DaskPartial
# Memory first (a paused or restarted worker distorts every other figure), then data movement,
# which also blocks event loops.
FINDINGS = [memory_pressure, aggregation_data_movement, event_loop_blocked, worker_imbalance]


def run(store, files, partials, settings):
    return dask_run.records(store, files, partials)


def seen(records, store):
    return bool(records["events"])


def samples(records, store, seen):
    return {name: store.samples_of(name) for name in dask_run.SAMPLE_METRICS} if seen else {}


def timeline(records):
    """The timeline's streams for report.html: the tasks (dask_run.TASK_FIELDS) and memory messages
    (MEMORY_EVENT_FIELDS)."""
    return {"dask_tasks": records["tasks"], "dask_memory_events": records["memory_events"]}


def report(records, metrics, run_info):
    """The report's `dask` section, with the figures of the last performance report among the inputs."""
    dask = dask_run.summary(records, metrics)
    reports = records["perf_reports"]
    if reports:
        path, figures = reports[-1]
        dask["perf_report"] = {"file": path, **figures}
        if len(reports) > 1:
            run_info["warnings"].append(f"{len(reports)} performance reports found; read {path}")
    return {"dask": dask}


# The whole-file side (a sampler): the performance report. Its name is not a log's, so discover()
# looks for it in directories by FILE_NAME.
FILE_NAME = re.compile(r".+\.html$")


def sniff(path):
    """True for an *.html file whose head names a Dask performance report."""
    return bool(FILE_NAME.match(os.path.basename(path))) and perf_report.is_report(path)


def scan(path, on_event):
    """Calls on_event once, with the report's figures; returns the file's counts as scan.scan_file does,
    with no line recognised: the figures go with a run's Dask lines, and alone are no analysis."""
    data = perf_report.read(path)
    on_event({"family": NAME, "event": "perf_report", "figures": perf_report.figures(data)})
    lines = data.count(b"\n") + (not data.endswith(b"\n") and bool(data))
    return {"bytes": len(data), "lines": lines, "recognised": 0, "malformed": 0, "overlong_lines": 0, "binary": False}


# The compare part of the family interface (compare.py): two Dask calibration runs are compared on
# docs/dask.md's A/B figures and judged on trials per minute and the split-aggregation rate.
SECTION = "dask"
COMPARED_METRICS = ("sim_duration_ms", "agg_duration_ms", "agg_total_inline_mb", "agg_max_single_kb",
                    "event_loop_unresponsive_s")
COMPARED_FIGURES = (
    ("trials per minute", "dask.trials_per_min"),
    ("trials", "dask.trials"),
    ("sim duration p50 (ms)", "sim_duration_ms.p50"),
    ("sim duration p95 (ms)", "sim_duration_ms.p95"),
    ("agg duration p50 (ms)", "agg_duration_ms.p50"),
    ("agg duration p95 (ms)", "agg_duration_ms.p95"),
    ("split-aggregation rate (%)", "dask.split_agg_pct"),
    ("payload per aggregation p50 (MB)", "agg_total_inline_mb.p50"),
    ("agg/sim median ratio", "dask.agg_sim_ratio"),
    ("transfer share of task time (%)", "dask.perf_report.transfer_share"),
)
COMPARED_TITLE = "A/B (docs/dask.md)"
COMPARED_EMPTY_ROWS = True
RUN_FIGURES = (("trials/min", "dask.trials_per_min"), ("split %", "dask.split_agg_pct"),
               ("agg p50 ms", "agg_duration_ms.p50"), ("agg p95 ms", "agg_duration_ms.p95"),
               ("sim p95 ms", "sim_duration_ms.p95"))


def figure(dask, key):
    """A figure of the report's dask section: its `key`, or `perf_report.transfer_share` as %."""
    if key == "perf_report.transfer_share":
        share = (dask.get("perf_report") or {}).get("transfer_share")
        return None if share is None else share * 100.0
    return dask.get(key)


def criteria(before, after, table):
    """Trials per minute not worse, and the split-aggregation rate after below its warning (docs/dask.md)."""
    return [_trials_criterion(before, after, table[CRITERIA_KEY]), _split_criterion(after, table)]


def _trials_criterion(before, after, success_criteria):
    tolerance = success_criteria["trials_per_min_tolerance"]
    old, new = before["dask"].get("trials_per_min"), after["dask"].get("trials_per_min")
    criterion = {"name": f"trials per minute not worse (after >= {1 - tolerance:.0%} of before)", "before": old,
                 "after": new}
    if old is None or new is None:
        return dict(criterion, result="not measured")
    return dict(criterion, result="pass" if new >= old * (1 - tolerance) else "fail")


def _split_criterion(after, table):
    limit = table["split_agg_pct"]["warning"]
    split = after["dask"].get("split_agg_pct")
    criterion = {"name": f"split-aggregation rate < {limit:g}% (after)", "after": split}
    if split is None:
        return dict(criterion, result="not measured")
    return dict(criterion, result="pass" if split < limit else "fail")
