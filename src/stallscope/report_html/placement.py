"""The timeline's entries placed on one time axis, and the few thousand of them that are drawn.

A prime-rl line may carry `t=` (its host's monotonic clock, comparable within a host), a timestamp
prefix (the wall clock, often to the second), both or neither. On each host the offset between the
two is the median of (timestamp - t) over the lines that carry both; with it, every entry of that
host goes on the wall clock with t's precision. A host with no line carrying both keeps its own clock
(t, else the timestamp), and the page says that its lanes are not aligned with the others.

A large run has 10^5 entries of each kind: they are read from the engine's store as columns of
numbers (numpy arrays), and only the drawn ones are read again for their details.
"""

import os
from array import array

import numpy as np

from ..engine.dask_run import seconds

# How many entries of each kind are drawn one by one; beyond that, the largest are drawn (every
# incomplete update first) and the page says how many were left out.
DRAWN_LIMITS = {"update": 1500, "batch": 1500, "checkpoint": 1000, "task": 3000}
HALF_DAY = 43200.0
NAN = float("nan")


def component_of(path):
    """A log file's component name: its base name without .log, .stdout, rotation or compression."""
    name = os.path.basename(path)
    for suffix in (".gz", ".zst"):
        name = name.removesuffix(suffix)
    stem, _, rotation = name.rpartition(".log.")
    if stem and rotation.isdigit():
        name = stem
    for suffix in (".log", ".stdout"):
        name = name.removesuffix(suffix)
    return name


class WallClock:
    """Line timestamps as seconds, per stream of lines in logging order. A bare HH:MM:SS wraps at
    midnight, so a step back of more than half a day is the next day. Timestamps repeat (a second
    holds many lines), so each text is parsed once."""

    def __init__(self):
        self.parsed = {}
        self.last = None
        self.days = 0.0

    def __call__(self, ts):
        if ts is None:
            return NAN
        value = self.parsed.get(ts)
        if value is None:
            if len(self.parsed) > 100_000:
                self.parsed.clear()
            value = self.parsed[ts] = seconds(ts)
            if value is None:
                value = self.parsed[ts] = NAN
        if len(ts) <= 15 and value == value:  # time of day only
            if self.last is not None and value + self.days < self.last - HALF_DAY:
                self.days += 86400.0
            value += self.days
            self.last = value
        return value


class Columns:
    """Numeric columns of one kind of entry, appended row by row, then read as numpy arrays."""

    def __init__(self, names):
        self.data = {name: array("d") for name in names}

    def add(self, *values):
        for column, value in zip(self.data.values(), values):
            column.append(NAN if value is None else value)

    def arrays(self):
        return {name: np.frombuffer(column, dtype=float) if len(column) else np.zeros(0) for name, column in self.data.items()}


def _streams(timeline):
    """Each kind's rows as (kind, rows, file, ts, t column positions)."""
    return (("update", timeline.updates, 0, 2, 3), ("batch", timeline.batches, 0, 3, 4),
            ("checkpoint", timeline.checkpoints, 0, 2, 3))


def place_prime_rl(report):
    """The prime-rl timeline on one axis: per kind a dict of numpy columns (start, end, ... in seconds
    of the axis; NaN where an entry could not be placed), and the page's note on clocks."""
    timeline = report.timeline
    columns = {
        "update": Columns(("file", "wall", "t", "wall_ms", "queue_ms", "rpc_ms", "sent", "complete")),
        "batch": Columns(("file", "wall", "t", "dur_ms", "overlaps")),
        "checkpoint": Columns(("file", "wall", "t", "ms", "write")),
    }
    for kind, rows, file_at, ts_at, t_at in _streams(timeline):
        clocks = {}
        add = columns[kind].add
        for row in rows():
            file = row[file_at]
            clock = clocks.get(file)
            if clock is None:
                clock = clocks[file] = WallClock()
            wall = clock(row[ts_at])
            if kind == "update":
                add(file, wall, row[t_at], row[6], row[7], row[8], row[10], row[9])
            elif kind == "batch":
                add(file, wall, row[t_at], row[5], bool(row[9]))
            else:
                add(file, wall, row[t_at], row[5], row[4] == "write")
    data = {kind: cols.arrays() for kind, cols in columns.items()}
    hosts = [entry["host"] for entry in report["inputs"]]
    note = _place(data, hosts)
    return data, note


def _place(data, hosts):
    """Sets each kind's `time` column (the entry's line on the common axis); returns the clock note."""
    host_ids = {host: index for index, host in enumerate(dict.fromkeys(hosts))}
    file_host = np.array([host_ids[host] for host in hosts], dtype=int)
    offsets = np.full(len(host_ids), NAN)
    both = {}
    for columns in data.values():
        mask = ~np.isnan(columns["wall"]) & ~np.isnan(columns["t"])
        host_of = file_host[columns["file"][mask].astype(int)]
        difference = columns["wall"][mask] - columns["t"][mask]
        for host in np.unique(host_of):
            both.setdefault(host, []).append(difference[host_of == host])
    for host, parts in both.items():
        offsets[host] = np.median(np.concatenate(parts))
    names = {index: host for host, index in host_ids.items()}
    clocks, own_hosts = set(), set()
    for columns in data.values():
        host_of = file_host[columns["file"].astype(int)]
        offset = offsets[host_of]
        t, wall = columns["t"], columns["wall"]
        columns["time"] = np.where(np.isnan(t), wall, np.where(np.isnan(offset), t, t + offset))
        placed = ~np.isnan(columns["time"])
        own = placed & np.isnan(offset) & ~np.isnan(t)
        if np.any(placed & ~own):
            clocks.add("wall")
        for host in np.unique(host_of[own]).tolist():
            clocks.add(host)
            own_hosts.add(names[host] or "(no manifest)")
    _intervals(data)
    if len(clocks) <= 1:
        return ""
    return (f"Lanes of {', '.join(sorted(own_hosts))} are on their host's own t= clock (no line there carries both "
            "t= and a timestamp), so they are not aligned with the other lanes.")


def _intervals(data):
    updates = data["update"]
    wall_s = np.nan_to_num(updates["wall_ms"]) / 1000.0
    updates["start"] = np.where(updates["sent"] == 1, updates["time"], updates["time"] - wall_s)
    updates["queue_end"] = updates["start"] + np.nan_to_num(updates["queue_ms"]) / 1000.0
    updates["end"] = updates["start"] + wall_s
    for kind, length in (("batch", "dur_ms"), ("checkpoint", "ms")):
        columns = data[kind]
        columns["end"] = columns["time"]
        columns["start"] = columns["time"] - columns[length] / 1000.0


def drawn(size, limit, first=None):
    """Indices of the entries to draw, in order: all when there are at most `limit`; else the `first`
    ones (a boolean mask, up to the limit), then the largest by `size`."""
    count = len(size)
    if count <= limit:
        return np.arange(count)
    chosen = np.zeros(0, dtype=int) if first is None else np.flatnonzero(first)[:limit]
    rest = np.setdiff1d(np.arange(count), chosen, assume_unique=True)
    keep = limit - len(chosen)
    if keep > 0:
        order = np.argsort(-np.nan_to_num(size[rest], nan=-1.0), kind="stable")[:keep]
        chosen = np.concatenate([chosen, rest[order]])
    return np.sort(chosen)


def rows_at(rows, indices):
    """The rows at these sorted positions of a stream, read once more from the store."""
    wanted = iter(indices.tolist())
    target = next(wanted, None)
    out = []
    for position, row in enumerate(rows):
        if position == target:
            out.append(row)
            target = next(wanted, None)
            if target is None:
                break
    return out


def dask_tasks(report):
    """The Dask tasks as intervals, with split aggregations flagged (a trial with two or more targets
    whose aggregations ran on more than one worker, as the split-aggregation rate counts them), the
    memory messages, and how many tasks had no readable timestamp."""
    timeline = report.timeline
    trials = {}
    tasks = []
    unplaced = 0
    for worker, kind, end_s, duration_ms, param_id, target in timeline.dask_tasks():
        if end_s is None:
            unplaced += 1
            continue
        tasks.append({"worker": worker, "kind": kind, "start": end_s - duration_ms / 1000.0, "end": end_s,
                      "duration_ms": duration_ms, "param_id": param_id, "target": target})
        if kind == "agg":
            targets, workers = trials.setdefault(param_id, (set(), set()))
            targets.add(target)
            workers.add(worker)
    split = {param_id for param_id, (targets, workers) in trials.items() if len(targets) >= 2 and len(workers) > 1}
    for task in tasks:
        task["split"] = task["kind"] == "agg" and task["param_id"] in split
    memory = [{"at": at_s, "kind": kind.split(".")[1], "host": host, "worker": worker}
              for at_s, kind, host, worker in timeline.dask_memory_events() if at_s is not None]
    return tasks, memory, unplaced
