"""analyze(): paths -> the report.json dict. Side-effect free (reads only)."""

import gc
from contextlib import contextmanager

from .correlation import correlate
from .errors import InputError, NoRecognisedLines
from .families import FAMILIES
from .findings import diagnose, evaluate_all
from .inputs import discover
from .manifests import resolve
from .metrics import samples, summarize_all
from .records import RecordBuilder
from .scan import scan_file
from .thresholds import merge_thresholds

SCHEMA_VERSION = 1
SLOWEST = 10


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
    builder = RecordBuilder(inputs)
    for index, entry in enumerate(inputs):
        builder.begin_file(index)
        entry.update(scan_file(entry["path"], builder.add))
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
    correlation = correlate(records["updates"])
    values = samples(records)
    metrics = summarize_all(values)
    async_info = _async_level(async_level, inputs)
    context = {
        "samples": values,
        "metrics": metrics,
        "records": records,
        "thresholds": table,
        "async_level": async_info,
        "inputs": inputs,
        "correlation": correlation,
    }
    findings = evaluate_all(context)
    diagnosis, severity = diagnose(findings)
    updates = records["updates"]
    return {
        "schema_version": SCHEMA_VERSION,
        "profile": "+".join(sorted({family.NAME for family in FAMILIES if _family_seen(family, records)})) or None,
        "diagnosis": diagnosis,
        "severity": severity,
        "findings": findings,
        "inputs": inputs,
        "metrics": metrics,
        "updates": {
            "complete": sum(u["complete"] for u in updates),
            "incomplete": sum(u["incomplete"] for u in updates),
            "server_only": sum(1 for u in updates if u["events"]["client.send"] is None and u["events"]["client.done"] is None),
            "duplicate_trace_ids": records["duplicate_trace_ids"],
            "by_op": _count_by(updates, "op"),
        },
        "requests": {"untraced": records["untraced"]["count"]},
        "correlation": correlation,
        "async_level": async_info,
        "thresholds": table,
        "slowest_updates": [_update_row(u, inputs) for u in _slowest(updates)],
        "timeline": _timeline(records),
        "warnings": warnings,
    }


def _family_seen(family, records):
    # One family today; a family that records nothing is not the run's profile.
    return family.NAME == "prime-rl" and (records["updates"] or records["batches"] or records["samples"] or records["untraced"]["count"])


def _nothing_recognised(inputs):
    lines = sum(entry["lines"] for entry in inputs)
    names = ", ".join(entry["path"] for entry in inputs[:3]) + (f" and {len(inputs) - 3} more" if len(inputs) > 3 else "")
    message = f"no recognised line in {names} ({lines} lines): looked for " + "; ".join(f.LOOKED_FOR for f in FAMILIES)
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


def _count_by(updates, key):
    counts = {}
    for update in updates:
        counts[update[key]] = counts.get(update[key], 0) + 1
    return dict(sorted(counts.items()))


def _slowest(updates):
    timed = [u for u in updates if u["wall_ms"] is not None]
    return sorted(timed, key=lambda u: -u["wall_ms"])[:SLOWEST]


def _update_row(update, inputs):
    client = update["events"]["client.send"] or update["events"]["client.done"]
    return {
        "trace": update["trace"],
        "op": update["op"],
        "wall_ms": update["wall_ms"],
        "queue_ms": update["queue_ms"],
        "rpc_ms": update["rpc_ms"],
        "client_queue_ms": update["client_queue_ms"],
        "server_queue_ms": update["server_queue_ms"],
        "file": inputs[client["file"]]["path"] if client else None,
        "line": client["line"] if client else None,
    }


UPDATE_COLUMNS = ("file", "line", "ts", "t", "trace", "op", "wall_ms", "queue_ms", "rpc_ms", "complete")
BATCH_COLUMNS = ("file", "line", "start_line", "ts", "t", "dur_ms", "completions", "inflight_start", "inflight_done", "updates")


def _timeline(records):
    """Weight updates (at their client-side line) and generation batches (at batch.done), each in
    (file index, line) order, as rows of columns: compact for runs with 10^5 updates."""
    updates = []
    for update in records["updates"]:
        client = update["events"]["client.send"] or update["events"]["client.done"]
        if client is not None:
            updates.append([client["file"], client["line"], client["ts"], client["t"], update["trace"], update["op"],
                            update["wall_ms"], update["queue_ms"], update["rpc_ms"], update["complete"]])
    updates.sort(key=lambda row: (row[0], row[1]))
    batches = [[batch[column] for column in BATCH_COLUMNS] for batch in records["batches"]]
    return {"update_columns": list(UPDATE_COLUMNS), "updates": updates, "batch_columns": list(BATCH_COLUMNS), "batches": batches}
