"""analyze(): paths -> the report.json dict. Side-effect free (reads only)."""

import gc
import operator
import os
from contextlib import contextmanager

from . import per_step, perf_report
from .correlation import client_queue_ms, client_queue_samples, correlate
from .dask_run import DaskRecordBuilder, summary as dask_summary
from .errors import InputError, NoRecognisedLines
from .families import FAMILIES, SAMPLERS, gpu
from .findings import diagnose, evaluate_all
from .gpu_run import GpuRecords
from .inputs import discover
from .manifests import resolve
from .metrics import samples, summarize_all
from .records import BATCH_FIELDS, TIMELINE_UPDATE_COLUMNS, RecordBuilder
from .scan import scan_file
from .thresholds import CRITERIA_KEY, merge_thresholds
from .throughput import throughput
from .warmup import Warmup

SCHEMA_VERSION = 1


@contextmanager
def gc_paused():
    """Pauses the cyclic garbage collector: the engine makes ~10^5 acyclic records on a large log,
    and the collector's passes over them took a third of the run time (measured on 1.1 GB)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def analyze(paths, thresholds=None, async_level=None):
    """Analyses the log files under `paths`; returns the report (plain, JSON-serialisable data).

    `thresholds`: a dict shaped like thresholds.DEFAULT_THRESHOLDS, merged over it.
    `async_level`: the run's async_level, overriding run manifests. Raises InputError (unusable
    input or option) or NoRecognisedLines (nothing of a known log family in readable inputs).
    """
    with gc_paused():
        return _analyze(paths, thresholds, async_level)


def _analyze(paths, thresholds, async_level):
    table = merge_thresholds(thresholds)
    if async_level is not None and (isinstance(async_level, bool) or not isinstance(async_level, int) or async_level < 0):
        raise InputError(f"async_level: {async_level!r} is not a non-negative integer")
    files = discover(paths)
    warnings = []
    manifests = resolve(files, warnings)
    inputs = [
        {
            "path": log_file.path,
            "host": manifest["host"],
            "manifest": manifest["manifest"],
            "async_level": async_level if async_level is not None else manifest["async_level"],
        }
        for log_file, manifest in zip(files, manifests)
    ]
    warmup = Warmup(table["warmup_updates"])
    builder = RecordBuilder(inputs, warmup)
    dask_builder = DaskRecordBuilder(inputs)
    gpu_records = GpuRecords(inputs)
    for index, entry in enumerate(inputs):
        builder.begin_file(index)
        if gpu.sniff(entry["path"]):
            entry.update(gpu.scan(entry["path"], lambda sample, index=index: gpu_records.add(sample, index)))
        else:
            entry.update(scan_file(entry["path"], _route(builder, dask_builder, gpu_records, index)))
    if not any(entry["recognised"] for entry in inputs):
        raise NoRecognisedLines(_nothing_recognised(inputs))
    for entry in inputs:
        if entry["binary"]:
            warnings.append(f"{entry['path']}: looks binary (NUL bytes); scanned anyway")
        if entry["overlong_lines"]:
            warnings.append(f"{entry['path']}: {entry['overlong_lines']} line(s) longer than 1 MiB skipped")
        if entry["malformed"]:
            warnings.append(f"{entry['path']}: {entry['malformed']} tagged line(s) with unreadable fields ignored")

    records = builder.finish()
    records["dask"] = dask_builder.finish()
    profiles = [family.NAME for family in FAMILIES if _family_seen(family, records)]
    digest = records["updates"]
    correlation, offsets = correlate(digest.clocks)
    values = samples(records, client_queue_samples(digest.clocks, offsets))
    dask = None
    if "dask" in profiles:
        values.update(records["dask"]["samples"])
    gpu_summary = gpu_records.summary(table["gpu_idle_util_pct"])
    if gpu_summary is not None:
        values.update(gpu_records.samples())
    metrics = summarize_all(values)
    if "dask" in profiles:
        dask = dask_summary(records["dask"], metrics)
        reports = perf_report.find(paths if not isinstance(paths, (str, os.PathLike)) else [paths])
        if reports:
            dask["perf_report"] = perf_report.parse(reports[-1])
            if len(reports) > 1:
                warnings.append(f"{len(reports)} performance reports found; read {reports[-1]}")
    async_info = _async_level(async_level, inputs)
    context = {
        "samples": warmup.judged(values),  # the findings judge the updates after the warm-up
        "metrics": metrics,
        "records": records,
        "thresholds": table,
        "async_level": async_info,
        "inputs": inputs,
        "correlation": correlation,
        "profiles": profiles,
        "dask": dask,
        "gpu": gpu_summary,
    }
    findings = evaluate_all(context)
    diagnosis, severity = diagnose(findings)
    counts = digest.counts
    report = Report({
        "schema_version": SCHEMA_VERSION,
        "profile": "+".join(sorted(profiles)) or None,
        "diagnosis": diagnosis,
        "severity": severity,
        "findings": findings,
        "inputs": inputs,
        "metrics": metrics,
        "updates": {
            "complete": counts["complete"],
            "incomplete": counts["incomplete"],
            "server_only": counts["server_only"],
            "duplicate_trace_ids": records["duplicate_trace_ids"],
            "by_op": dict(sorted(counts["by_op"].items())),
        },
        "requests": {"untraced": records["untraced"]["count"]},
        "correlation": correlation,
        "async_level": async_info,
        "thresholds": table,
        "slowest_updates": [_update_row(u, inputs, offsets) for u in digest.slowest()],
        "timeline": {"file": "timeline.txt", "updates": counts["client_side"], "batches": len(records["batches"])},
        "throughput": throughput(records["batches"].rows(), inputs, table[CRITERIA_KEY]["warmup_steps"]),
        "warmup": {"updates": table["warmup_updates"],
                   "excluded": [_update_row(u, inputs, offsets) for u in warmup.updates()]},
        "per_step": per_step.section(records["timeline_updates"], counts["client_side"],
                                     [entry["path"] for entry in inputs], {u.trace for u in warmup.updates()}),
        "warnings": warnings,
    })
    if dask is not None:
        report["dask"] = dask
    if gpu_summary is not None:
        report["gpu"] = gpu_summary
    report.timeline = Timeline(records)
    return report


class Report(dict):
    """The report.json data, and in `timeline` the source of timeline.txt's rows: read from the
    run's store when rendered, never held (10^5 rows per GB of log)."""

    timeline = None


# The orchestrator's events that time its waits, for the GPU samples (gpu_run.py).
WAIT_EVENTS = frozenset(("wait.start", "wait.done", "client.send", "client.done"))


def _route(builder, dask_builder, gpu_records, index):
    """The scanner's callback: each event to its family's builder."""
    prime_rl = builder.add

    def on_event(event):
        if event["family"] == "dask":
            dask_builder.add(event, index)
        else:
            if event["event"] in WAIT_EVENTS:
                gpu_records.observe(event, index)
            prime_rl(event)
    return on_event


def _family_seen(family, records):
    """A family that recorded nothing is not the run's profile."""
    if family.NAME == "dask":
        return bool(records["dask"]["events"])
    return bool(records["updates"].count or records["batches"] or records["samples"] or records["untraced"]["count"])


def _nothing_recognised(inputs):
    lines = sum(entry["lines"] for entry in inputs)
    names = ", ".join(entry["path"] for entry in inputs[:3]) + (f" and {len(inputs) - 3} more" if len(inputs) > 3 else "")
    message = f"no recognised line in {names} ({lines} lines): looked for " + "; ".join(f.LOOKED_FOR for f in FAMILIES + SAMPLERS)
    malformed = sum(entry["malformed"] for entry in inputs)
    if malformed:
        message += f"; {malformed} tagged line(s) had unreadable fields"
    binary = [entry["path"] for entry in inputs if entry["binary"]]
    if binary:
        message += f"; {binary[0]} looks binary"
    return message


def _async_level(flag, inputs):
    if flag is not None:
        return {"value": flag, "source": "--async-level"}
    values = sorted({entry["async_level"] for entry in inputs if entry["async_level"] is not None})
    if len(values) == 1:
        return {"value": values[0], "source": "run_manifest.json"}
    if values:
        return {"value": None, "source": f"run manifests disagree ({values}); each file is judged by its own"}
    return {"value": None, "source": "unknown"}


def _update_row(update, inputs, offsets):
    client = update["events"]["client.send"] or update["events"]["client.done"]
    return {
        "trace": update["trace"],
        "op": update["op"],
        "wall_ms": update["wall_ms"],
        "queue_ms": update["queue_ms"],
        "rpc_ms": update["rpc_ms"],
        "client_queue_ms": client_queue_ms(update, offsets),
        "server_queue_ms": update["server_queue_ms"],
        "file": inputs[client["file"]]["path"] if client else None,
        "line": client["line"] if client else None,
    }


BATCH_COLUMNS = ("file", "line", "start_line", "ts", "t", "dur_ms", "completions", "inflight_start", "inflight_done", "updates")
_TIMELINE_BATCH = operator.itemgetter(*(BATCH_FIELDS.index(column) for column in BATCH_COLUMNS))


class Timeline:
    """Weight updates (at their client-side line) and generation batches (at batch.done), each in
    (file index, line) order, as rows of TIMELINE_UPDATE_COLUMNS / BATCH_COLUMNS, read from the store."""

    update_columns, batch_columns = TIMELINE_UPDATE_COLUMNS, BATCH_COLUMNS

    def __init__(self, records):
        self.records = records

    def updates(self):
        return iter(self.records["timeline_updates"])

    def batches(self):
        return map(_TIMELINE_BATCH, self.records["batches"].rows())
