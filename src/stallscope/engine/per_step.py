"""The per-step view: queue_ms and rpc_ms of each weight update in the order its orchestrator sent it.

A tail statistic hides when the slow updates happened (the first few, every tenth, all after step
300); this view keeps the series. report.json's `per_step` holds up to ROWS_IN_REPORT rows (the
count of the others is given); per_step.txt holds every row, read from the run's timeline when written.
"""

from itertools import islice

ROWS_IN_REPORT = 2_000
COLUMNS = ("step", "file", "line", "trace", "op", "queue_ms", "rpc_ms", "wall_ms", "warmup")
FILE = "per_step.txt"


def rows(timeline_updates, paths, warmup_traces):
    """Dicts of COLUMNS from the timeline's update rows (records.TIMELINE_UPDATE_COLUMNS, in (file,
    line) order); `step` counts the updates of each client file from 1."""
    step, current = 0, None
    for file, line, _, _, trace, op, wall_ms, queue_ms, rpc_ms, *_ in timeline_updates:
        if file != current:
            step, current = 0, file
        step += 1
        yield {"step": step, "file": paths[file], "line": line, "trace": trace, "op": op, "queue_ms": queue_ms,
               "rpc_ms": rpc_ms, "wall_ms": wall_ms, "warmup": trace in warmup_traces}


def section(timeline_updates, count, paths, warmup_traces):
    """report.json's `per_step`."""
    kept = list(islice(rows(timeline_updates, paths, warmup_traces), ROWS_IN_REPORT))
    return {"file": FILE, "columns": list(COLUMNS), "rows": [[row[key] for key in COLUMNS] for row in kept],
            "rows_not_in_report": max(count - len(kept), 0)}


def _number(value):
    return "-" if value is None else f"{value:.1f}"


def text_lines(report):
    """per_step.txt line by line (streamed from the run's timeline)."""
    paths = [entry["path"] for entry in report["inputs"]]
    warmup_traces = {row["trace"] for row in report["warmup"]["excluded"]}
    yield ("# Weight updates in the order each orchestrator log sent them: step (per log), queue_ms, rpc_ms, wall_ms;\n"
           "# warm-up updates (reported, not judged: docs/analysis.md) are marked.\n")
    yield f"{'step':>6} {'trace':<20}{'op':<16}{'queue_ms':>11}{'rpc_ms':>11}{'wall_ms':>11}  where\n"
    empty = True
    updates = (row for kind, row in report.timeline.rows("entries") if kind == "update")
    for row in rows(updates, paths, warmup_traces):
        empty = False
        mark = "  warm-up" if row["warmup"] else ""
        yield (f"{row['step']:>6} {row['trace']:<20}{row['op']:<16}{_number(row['queue_ms']):>11}{_number(row['rpc_ms']):>11}"
               f"{_number(row['wall_ms']):>11}  {row['file']}:{row['line']}{mark}\n")
    if empty:
        yield "(no weight update with a client-side line)\n"
