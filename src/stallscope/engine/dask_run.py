"""Dask calibration records: the events of docs/dask.md collected per run, and the run's figures.

Figures (docs/dask.md): sim and agg durations and payloads as samples; trials, the span of the run
from the lines' own timestamps and trials per minute; the split-aggregation rate (of the trials with
two or more targets, the share whose aggregations ran on different workers, as the workload's own
analysis script does); the agg/sim median ratio; per-worker task counts and busy time; and the counts of
distributed's memory, event-loop and GC messages per host.
"""

from datetime import datetime


SAMPLE_METRICS = ("sim_duration_ms", "agg_duration_ms", "agg_total_inline_mb", "agg_max_single_kb",
                  "event_loop_unresponsive_s", "gc_cpu_pct")
MEMORY_EVENTS = ("memory.pause", "memory.resume", "memory.unmanaged", "memory.restart")
# What report.html draws, as read back: each SIM/AGG task (it ends at end_s, seconds() of its line)
# and each memory message. Kept as rows of the store (tables dask_tasks, dask_memory).
TASK_FIELDS = ("worker", "kind", "end_s", "duration_ms", "param_id", "target")
MEMORY_EVENT_FIELDS = ("at_s", "kind", "host", "worker")


BARE_CLOCK = 15  # the longest bare HH:MM:SS[.ffffff]
DAY_S = 86400


def seconds(ts):
    """A line timestamp as seconds (since the epoch, local time; or of the day for a bare HH:MM:SS)."""
    if ts is None:
        return None
    text = ts.replace("T", " ").replace(",", ".")
    try:
        if len(text) <= BARE_CLOCK:  # HH:MM:SS[.fff]
            clock = datetime.strptime(text, "%H:%M:%S.%f" if "." in text else "%H:%M:%S")
            return clock.hour * 3600 + clock.minute * 60 + clock.second + clock.microsecond / 1e6
        return datetime.strptime(text, "%Y-%m-%d %H:%M:%S.%f" if "." in text else "%Y-%m-%d %H:%M:%S").timestamp()
    except ValueError:
        return None


class DaskPartial:
    """One file's dask events so far (plain data in dump()); its samples go to the file's sink."""

    def __init__(self, store, sink, file, data=None):
        self.store = store
        self.file = file
        self.samples = sink
        data = data or {}
        self.trials = data.get("trials", {})  # param_id -> {"targets": {target: {workers}}, "aggs": count}
        self.workers = data.get("workers", {})  # address -> {"sims", "aggs", "busy_ms", "started"}
        self.memory = data.get("memory", dict.fromkeys(MEMORY_EVENTS, 0))
        self.restarted = data.get("restarted", [])
        self.event_loop = data.get("event_loop", {})  # component -> {"warnings": count, "max_s": longest}
        self.first, self.last = data.get("span", (None, None))
        self.events = data.get("events", 0)
        # A bare HH:MM:SS clock: its last reading, and the midnights it passed in this file (a
        # process's log is in time order, so a reading half a day earlier is the next day's).
        self.clock, self.days = data.get("clock", (None, 0))
        self.perf_report = data.get("perf_report")  # the figures of a file that is a performance report

    def dump(self):
        return {"trials": self.trials, "workers": self.workers, "memory": self.memory, "restarted": self.restarted,
                "event_loop": self.event_loop, "span": (self.first, self.last), "events": self.events,
                "clock": (self.clock, self.days), "perf_report": self.perf_report}

    def add(self, event):
        kind = event["event"]
        if kind == "perf_report":  # figures of the run, not an event: they alone do not make it a Dask run
            self.perf_report = event["figures"]
            return
        self.events += 1
        if kind in ("sim", "agg"):
            self._timing(event, kind)
        elif kind == "worker.start":
            self._worker(event["worker"])["started"] = True
        elif kind in MEMORY_EVENTS:
            self.memory[kind] += 1
            self.store.add("dask_memory", None, 0, self.file, event["line"],
                           (self._seconds(event["ts"]), kind, event.get("worker")))
            if kind == "memory.restart":
                self.restarted.append(event["worker"])
        elif kind == "event_loop":
            figures = self.event_loop.setdefault(event["component"], {"warnings": 0, "max_s": event["seconds"]})
            figures["warnings"] += 1
            figures["max_s"] = max(figures["max_s"], event["seconds"])
            self.samples["event_loop_unresponsive_s"].append(event["seconds"])
        elif kind == "gc":
            self.samples["gc_cpu_pct"].append(event["cpu_pct"])

    def _seconds(self, ts):
        """seconds(ts), a bare clock's reading counted on past the midnights it crossed in this file."""
        at = seconds(ts)
        if at is not None and len(ts) <= BARE_CLOCK:
            if self.clock is not None and at < self.clock - DAY_S / 2:
                self.days += 1
            self.clock = at
            at += self.days * DAY_S
        return at

    def _worker(self, address):
        worker = self.workers.get(address)
        if worker is None:
            worker = self.workers[address] = {"sims": 0, "aggs": 0, "busy_ms": 0.0, "started": False}
        return worker

    def _timing(self, event, kind):
        duration = event["duration_ms"]
        worker = self._worker(event["worker"])
        worker["sims" if kind == "sim" else "aggs"] += 1
        worker["busy_ms"] += duration
        end = self._seconds(event["ts"])
        self.store.add("dask_tasks", None, 0, self.file, event["line"],
                       (event["worker"], kind, end, duration, event["param_id"], event.get("target")))  # TASK_FIELDS
        if end is not None:
            start = end - duration / 1000.0
            self.first = start if self.first is None else min(self.first, start)
            self.last = end if self.last is None else max(self.last, end)
        # SIM_TIMING has no run_id: a trial is its param_id (8 random hex chars per trial).
        trial = self.trials.setdefault(event["param_id"], {"targets": {}, "aggs": 0})
        if kind == "sim":
            self.samples["sim_duration_ms"].append(duration)
            return
        trial["aggs"] += 1
        trial["targets"].setdefault(event["target"], set()).add(event["worker"])
        self.samples["agg_duration_ms"].append(duration)
        for name, key in (("agg_total_inline_mb", "total_inline_mb"), ("agg_max_single_kb", "max_single_kb")):
            if event[key] is not None:
                self.samples[name].append(event[key])


def records(store, files, partials):
    """The run's dask records from the files' dumped partial states, in report order (a worker's
    host is that of the first file naming it); `tasks` and `memory_events`, the rows report.html
    draws (TASK_FIELDS / MEMORY_EVENT_FIELDS tuples), are read from the store on each pass;
    `perf_reports`, (path, figures) of each performance report."""
    trials, workers, memory, restarted, event_loop, perf_reports = {}, {}, {}, [], {}, []
    first = last = None
    events = 0
    for entry, partial in zip(files, partials):
        if partial and partial.get("perf_report"):  # .get: a state saved before reports were inputs has none
            perf_reports.append((entry["path"], partial["perf_report"]))
        if not partial or not partial["events"]:
            continue
        host = entry["host"]
        events += partial["events"]
        for param_id, trial in partial["trials"].items():
            merged = trials.setdefault(param_id, {"targets": {}, "aggs": 0})
            merged["aggs"] += trial["aggs"]
            for target, names in trial["targets"].items():
                merged["targets"].setdefault(target, set()).update(names)
        for address, figures in partial["workers"].items():
            worker = workers.setdefault(address, {"host": None, "sims": 0, "aggs": 0, "busy_ms": 0.0, "started": False})
            worker["host"] = worker["host"] or host
            for key in ("sims", "aggs", "busy_ms"):
                worker[key] += figures[key]
            worker["started"] = worker["started"] or figures["started"]
        if any(partial["memory"].values()):
            counts = memory.setdefault(host, dict.fromkeys(MEMORY_EVENTS, 0))
            for kind, count in partial["memory"].items():
                counts[kind] += count
        restarted += partial["restarted"]
        for component, figures in partial["event_loop"].items():
            merged = event_loop.setdefault(component, {"warnings": 0, "max_s": figures["max_s"]})
            merged["warnings"] += figures["warnings"]
            merged["max_s"] = max(merged["max_s"], figures["max_s"])
        start, end = partial["span"]
        if start is not None:
            first = start if first is None else min(first, start)
            last = end if last is None else max(last, end)
    return {"events": events, "trials": trials, "workers": workers, "memory": memory, "restarted": restarted,
            "event_loop": event_loop, "span": (first, last), "perf_reports": perf_reports,
            "tasks": Rows(store, "dask_tasks", lambda rank, values: values),
            "memory_events": Rows(store, "dask_memory", lambda rank, values: (values[0], values[1], files[rank]["host"], values[2]))}


class Rows:
    """A store table's rows in (file, line) order, each made by make(file position, values):
    re-iterable, read from disk on each pass."""

    def __init__(self, store, table, make):
        self.store, self.table, self.make = store, table, make

    def __iter__(self):
        return (self.make(rank, values) for _, _, rank, _, values in self.store.by_position(self.table))


def summary(records, metrics):
    """The report's `dask` section from the dask records and the run's metric summaries."""
    trials = records["trials"]
    aggregated = [trial for trial in trials.values() if trial["aggs"]]
    # Trials with aggregations count when the run has any (sims of a failed or unfinished trial do
    # not); a simulations-only run (test A) counts its trials by their simulations.
    completed = len(aggregated) if aggregated else len(trials)
    first, last = records["span"]
    span_s = last - first if first is not None and last is not None else None
    multi = [trial for trial in aggregated if len(trial["targets"]) >= 2]
    split = [trial for trial in multi if len({w for workers in trial["targets"].values() for w in workers}) > 1]
    sim_p50 = metrics["sim_duration_ms"]["p50"]
    agg_p50 = metrics["agg_duration_ms"]["p50"]
    workers = [dict(worker=address, **figures) for address, figures in sorted(records["workers"].items())]
    for worker in workers:
        worker["busy_share"] = worker["busy_ms"] / 1000.0 / span_s if span_s else None
    busy = [worker["busy_ms"] for worker in workers]
    mean_busy = sum(busy) / len(busy) if busy else 0.0
    memory = {kind.split(".")[1]: sum(counts[kind] for counts in records["memory"].values()) for kind in MEMORY_EVENTS}
    return {
        "trials": completed,
        "trials_simulated_only": len(trials) - len(aggregated) if aggregated else len(trials),
        "span_s": span_s,
        "trials_per_min": completed / span_s * 60.0 if span_s else None,
        "targets": sorted({target for trial in aggregated for target in trial["targets"]}),
        "trials_with_two_or_more_targets": len(multi),
        "split_trials": len(split),
        "split_agg_pct": len(split) / len(multi) * 100.0 if multi else None,
        "agg_sim_ratio": agg_p50 / sim_p50 if agg_p50 is not None and sim_p50 else None,
        "workers": workers,
        "worker_busy_imbalance": max(busy) / mean_busy if len(busy) >= 2 and mean_busy > 0 else None,
        "memory": dict(memory, by_host={host or "-": counts for host, counts in sorted(
            records["memory"].items(), key=lambda item: item[0] or "")}, restarted_workers=records["restarted"]),
        "event_loop": dict(sorted(records["event_loop"].items())),
        "perf_report": None,
    }
