"""The timeline's entries placed on one time axis, and the few thousand of them that are drawn.

A prime-rl line may carry `t=` (its host's monotonic clock, comparable within a host), a timestamp
prefix (the wall clock, often to the second), both or neither. On each host the offset between the
two is the median of (timestamp - t) over the lines that carry both; with it, every entry of that
host goes on the wall clock with t's precision. A host with no line carrying both keeps its own clock
(t, else the timestamp), and the page says that its lanes are not aligned with the others.

A large run has 10^5 entries of each kind: each stream is read from the engine's store once, turned
into columns of numbers (numpy arrays), and only the drawn entries' rows are kept.
"""

import os

import numpy as np

from ..engine.dask_run import seconds

# How many entries of each kind are drawn one by one; beyond that, the largest are drawn (every
# incomplete update first) and the page says how many were left out.
DRAWN_LIMITS = {"update": 1500, "batch": 1500, "checkpoint": 1000, "task": 3000}
HALF_DAY = 43200.0
OFFSET_SAMPLES = 5000  # entries per stream whose timestamp and t= give the offset between them
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


def _time_of_day(ts):
    """Seconds of a `HH:MM:SS[.,fff]` text, else None."""
    if len(ts) < 8 or ts[2] != ":" or ts[5] != ":":
        return None
    try:
        value = int(ts[:2]) * 3600 + int(ts[3:5]) * 60 + int(ts[6:8])
        return value + float("0." + ts[9:]) if len(ts) > 9 and ts[8] in ".," else float(value)
    except ValueError:
        return None


class Timestamps:
    """Line timestamps as seconds, fast: a bare time of day, or a date (its midnight computed once,
    local time as the engine's dask_run.seconds) and a time of day; anything else as the engine reads it."""

    def __init__(self):
        self.midnights = {}
        self.parsed = {None: NAN}  # timestamps repeat (many lines a second, and across streams)

    def __call__(self, ts):
        clock = _time_of_day(ts)
        if clock is not None:
            return clock
        if len(ts) >= 19 and ts[4] == "-" and ts[10] in " T":
            clock = _time_of_day(ts[11:].split("+")[0].rstrip("Z"))
            if clock is not None:
                midnight = self.midnights.get(ts[:10])
                if midnight is None:
                    midnight = self.midnights[ts[:10]] = seconds(ts[:10] + " 00:00:00")
                if midnight is not None:
                    return midnight + clock
        value = seconds(ts)
        return NAN if value is None else value


def wall_column(files, stamps, parse, needed=None):
    """The wall-clock seconds of a column of timestamps (None: NaN), in logging order per file. A bare
    HH:MM:SS wraps at midnight: within a file, a step back of more than half a day is the next day.
    `needed` (a boolean mask): only those are read, the others are NaN."""
    if needed is not None:
        stamps = [ts if keep else None for ts, keep in zip(stamps, needed.tolist())]
    parsed = parse.parsed
    for ts in set(stamps).difference(parsed):
        parsed[ts] = parse(ts)
    wall = np.array([parsed[ts] for ts in stamps], dtype=float)
    bare = np.array([ts is not None and len(ts) <= 15 for ts in stamps], dtype=bool) & ~np.isnan(wall)
    if np.any(bare):
        for file in np.unique(files[bare]):
            where = np.flatnonzero(bare & (files == file))
            steps_back = np.diff(wall[where], prepend=wall[where[0]]) < -HALF_DAY
            wall[where] += np.cumsum(steps_back) * 86400.0
    return wall


# Per kind: the timeline stream it is in (updates and batches share `entries`, as (kind, row)), the
# columns (positions in its rows) read as numbers, and the entry's size (what the drawn entries are chosen by).
STREAMS = {
    "update": ("entries", {"file": 0, "t": 3, "wall_ms": 6, "queue_ms": 7, "rpc_ms": 8, "complete": 9, "sent": 10}, 2, "wall_ms"),
    "batch": ("entries", {"file": 0, "t": 4, "dur_ms": 5}, 3, "dur_ms"),
    "checkpoint": ("checkpoints", {"file": 0, "t": 3, "ms": 5}, 2, "ms"),
}


def place_prime_rl(report):
    """The prime-rl timeline on one axis: per kind a dict of numpy columns (time, start, end, ... in
    seconds of the axis; NaN where an entry could not be placed), `drawn` (the indices of the entries
    drawn one by one) and `rows` (their rows); and the page's note on clocks. Each stream is read once."""
    parse = Timestamps()
    data = {}
    for kind, (stream, numeric, ts_at, size) in STREAMS.items():
        rows = list(report.timeline.rows(stream))
        if stream == "entries":
            rows = [row for entry_kind, row in rows if entry_kind == kind]
        columns = list(zip(*rows)) or [()] * 11
        cols = {name: np.array(columns[at], dtype=float) for name, at in numeric.items()}
        # The timestamp places entries without t=, and gives each host's t -> wall-clock offset (a
        # sample is enough): the others' are not read.
        needed = np.isnan(cols["t"])
        needed[:OFFSET_SAMPLES] = True
        cols["wall"] = wall_column(cols["file"], columns[ts_at], parse, needed)
        if kind == "update":
            cols["op"] = np.array(columns[5], dtype=object)
        elif kind == "batch":
            cols["overlaps"] = np.array([bool(updates) for updates in columns[9]], dtype=bool)
        else:
            cols["write"] = np.array([what == "write" for what in columns[4]], dtype=bool)
        placed = ~np.isnan(cols["t"]) | ~np.isnan(cols["wall"])
        first = placed & (cols["complete"] == 0) if kind == "update" else None
        cols["drawn"] = drawn(np.where(placed, np.nan_to_num(cols[size], nan=0.0), -np.inf), DRAWN_LIMITS[kind], first)
        cols["drawn"] = cols["drawn"][placed[cols["drawn"]]]
        cols["rows"] = [rows[index] for index in cols["drawn"].tolist()]
        data[kind] = cols
        del rows, columns
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


def dask_tasks(report):
    """The Dask tasks as intervals, with split aggregations flagged (a trial with two or more targets
    whose aggregations ran on more than one worker, as the split-aggregation rate counts them), the
    memory messages, and how many tasks had no readable timestamp."""
    timeline = report.timeline
    trials = {}
    tasks = []
    unplaced = 0
    for worker, kind, end_s, duration_ms, param_id, target in timeline.rows("dask_tasks"):
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
              for at_s, kind, host, worker in timeline.rows("dask_memory_events") if at_s is not None]
    return tasks, memory, unplaced
