"""Batch-inference records: each job's events (families/batch.py) gathered per file, and the run's
figures (docs/ray.md, "The analysis").

A job is what one driver's log says from its `job start` line (or its first line of the family) to
the next `job start`: its latest progress, latency and SLA state, its engines (one per worker
prefix) and Ray Data's per-operator wall time. The gateway's lines (queue positions, jobs that
finished or failed) are counted apart.
"""

from .dask_run import seconds

SAMPLE_METRICS = ("kv_cache_usage_pct", "engine_generation_tokens_per_s", "engine_waiting_reqs")
SLA_STATES = ("on_track", "approaching", "at_risk", "violated")
# A worker's generation throughput is judged over its stats lines with requests running; fewer such
# lines than this say little about its speed.
MIN_BUSY_LINES = 3
# Progress points kept per job for the report's progress chart: beyond twice this, every other one
# is dropped and the stride doubles, so a week-long job keeps a bounded, evenly spaced series.
SERIES_POINTS = 500


def new_job(line):
    return {"line": line, "start_s": None, "prompts": None, "config": {}, "sla_hours": None, "progress": None,
            "progress_lines": 0, "first_s": None, "latency": None, "sla": None, "sla_lines": dict.fromkeys(SLA_STATES[1:], 0),
            "done": None, "first_done": None, "actor_pools": [], "operators": [], "workers": {}, "preemptions": 0}


def new_worker():
    return {"lines": 0, "busy_lines": 0, "gen_sum": 0.0, "idle_lines": 0, "kv_max": 0.0, "preemptions": 0,
            "kv_cache_tokens": None}


class BatchPartial:
    """One file's batch-inference events so far (plain data in dump()); samples go to the file's sink."""

    def __init__(self, store, sink, file, data=None):
        self.samples = sink
        data = data or {}
        self.jobs = data.get("jobs", [])
        self.gateway = data.get("gateway", {"queued": 0, "max_position": 0, "finished": {}})
        self.events = data.get("events", 0)

    def dump(self):
        return {"jobs": self.jobs, "gateway": self.gateway, "events": self.events}

    def _job(self, line):
        if not self.jobs:
            self.jobs.append(new_job(line))
        return self.jobs[-1]

    def add(self, event):
        self.events += 1
        kind = event["event"]
        if kind == "queued":
            self.gateway["queued"] += 1
            self.gateway["max_position"] = max(self.gateway["max_position"], event["position"])
            return
        if kind == "finished":
            self.gateway["finished"][event["job"]] = [event["status"], event["code"]]
            return
        if kind == "start":
            job = self.jobs[-1] if self.jobs and self.jobs[-1]["prompts"] is None and not self.jobs[-1]["progress_lines"] else None
            if job is None:
                job = new_job(event["line"])
                self.jobs.append(job)
            job.update(start_s=seconds(event["ts"]), prompts=event["prompts"], config=event["config"],
                       sla_hours=event["sla_hours"])
            return
        job = self._job(event["line"])
        if kind == "stats":
            self._stats(job, event)
        elif kind == "progress":
            at = seconds(event["ts"])
            job["progress_lines"] += 1
            if job["first_s"] is None:
                job["first_s"] = at
            job["progress"] = {key: event[key] for key in ("done", "total", "rps", "tps", "eta_h", "failed")}
            job["progress"]["at_s"] = at
            if at is not None:
                keep_point(job, [at, event["done"], event["failed"], event["rps"], event["eta_h"]])
            if job.get("first_done") is None and event["done"] and at is not None:
                job["first_done"] = {"at_s": at, "done": event["done"], "tokens": tokens_so_far(job["progress"])}
            # The SLA state after the last line with requests left: on track unless an SLA line follows.
            if event["done"] + event["failed"] < event["total"]:
                job["sla"] = {"state": "on_track"}
        elif kind == "sla":
            job["sla_lines"][event["state"]] += 1
            job["sla"] = {key: value for key, value in event.items() if key not in ("event", "family", "line")}
        elif kind == "latency":
            job["latency"] = {key: event[key] for key in ("p50", "p95", "p99")}
        elif kind == "done":
            job["done"] = {key: event[key] for key in ("completed", "failed", "elapsed_s")}
            job["done"]["at_s"] = seconds(event["ts"])
        elif kind == "preempted":
            job["preemptions"] += 1
            job["workers"].setdefault(event["worker"], new_worker())["preemptions"] += 1
        elif kind == "kv_size":
            job["workers"].setdefault(event["worker"], new_worker())["kv_cache_tokens"] = event["tokens"]
        elif kind == "plan":
            job["actor_pools"] = event["actor_pools"]
        elif kind == "operator":
            job["operators"].append({"name": event["name"], "tasks": event["tasks"], "wall_s": None})
        elif kind == "wall" and job["operators"] and job["operators"][-1]["wall_s"] is None:
            job["operators"][-1]["wall_s"] = event["seconds"]

    def _stats(self, job, event):
        worker = job["workers"].setdefault(event["worker"], new_worker())
        worker["lines"] += 1
        worker["kv_max"] = max(worker["kv_max"], event["kv"])
        self.samples["kv_cache_usage_pct"].append(event["kv"])
        self.samples["engine_waiting_reqs"].append(event["waiting"])
        if event["running"]:
            worker["busy_lines"] += 1
            worker["gen_sum"] += event["gen_tps"]
            self.samples["engine_generation_tokens_per_s"].append(event["gen_tps"])
        else:
            worker["idle_lines"] += 1


def keep_point(job, point):
    """Every `stride`-th progress point, at most 2 × SERIES_POINTS of them (deterministic: the same
    lines give the same points however the log was read in pieces)."""
    series = job.setdefault("series", {"seen": 0, "stride": 1, "points": []})
    if series["seen"] % series["stride"] == 0:
        series["points"].append(point)
        if len(series["points"]) > 2 * SERIES_POINTS:
            series["points"] = series["points"][::2]
            series["stride"] *= 2
    series["seen"] += 1


def series_figures(job, start):
    """The kept progress points as columns: seconds since the job's start, completed and failed
    requests, the reported req/s, the ETA, and the SLA time left (the SLA less the time the job's own
    rate implies has passed: completed / req/s), in hours."""
    series = job.get("series") or {"points": [], "stride": 1}
    points = series["points"]
    origin = start if start is not None else (points[0][0] if points else None)
    remaining = [job["sla_hours"] - done / rps / 3600 if job["sla_hours"] is not None and rps > 0 and done else None
                 for _, done, _, rps, _ in points]
    return {"t_s": [at - origin for at, *_ in points], "completed": [p[1] for p in points],
            "failed": [p[2] for p in points], "rps": [p[3] for p in points], "eta_h": [p[4] for p in points],
            "remaining_h": remaining, "every": series["stride"]}


def records(files, partials):
    """The run's jobs (each tagged with its file and host, in report order) and the gateway's counts."""
    jobs, gateway = [], {"queued": 0, "max_position": 0, "finished": {}}
    for entry, partial in zip(files, partials):
        if not partial or not partial["events"]:
            continue
        for job in partial["jobs"]:
            jobs.append(dict(job, file=entry["path"], host=entry["host"]))
        gateway["queued"] += partial["gateway"]["queued"]
        gateway["max_position"] = max(gateway["max_position"], partial["gateway"]["max_position"])
        gateway["finished"].update(partial["gateway"]["finished"])
    return {"jobs": jobs, "gateway": gateway}


def summary(records, thresholds):
    """The report's `batch` section: per job its figures, and the gateway's."""
    finished = records["gateway"]["finished"]
    jobs = [job_figures(job) for job in records["jobs"]]
    return {
        **run_figures(jobs),
        "jobs": jobs,
        "gateway": {"queued": records["gateway"]["queued"], "max_queue_position": records["gateway"]["max_position"],
                    "completed": sum(1 for status, _ in finished.values() if status == "completed"),
                    "failed": sorted(job for job, (status, _) in finished.items() if status == "failed")},
    }


def job_figures(job):
    progress, done = job["progress"], job["done"]
    total = progress["total"] if progress else job["prompts"]
    completed = done["completed"] if done else (progress["done"] if progress else None)
    failed = done["failed"] if done else (progress["failed"] if progress else None)
    finished = None if completed is None else completed + failed
    start = job["start_s"] if job["start_s"] is not None else job["first_s"]
    end = done["at_s"] if done and done["at_s"] is not None else (progress["at_s"] if progress else None)
    span = end - start if start is not None and end is not None and end > start else None
    tokens = tokens_so_far(progress) if progress else None
    # Sustained: from the first progress line with a completed request (start-up over: actors up, the
    # first batches through) to the end; over the whole span when nothing completed after that line.
    first = job["first_done"]
    steady = None
    if first and end is not None and end > first["at_s"] and completed is not None and completed > first["done"]:
        steady = {"span_s": end - first["at_s"], "completed": completed - first["done"],
                  "tokens": tokens - first["tokens"] if tokens is not None and first["tokens"] is not None else None}
    elif span and completed is not None:
        steady = {"span_s": span, "completed": completed, "tokens": tokens}
    workers = [worker_figures(name, worker) for name, worker in sorted(job["workers"].items())]
    stages = stage_figures(job)
    return {
        "file": job["file"], "host": job["host"], "line": job["line"],
        "config": job["config"], "sla_hours": job["sla_hours"],
        "total": total, "completed": completed, "failed": failed, "finished": bool(done) or (
            finished is not None and total is not None and finished >= total),
        "error_rate_pct": 100.0 * failed / finished if finished else None,
        "reported_rps": progress["rps"] if progress else None,
        "reported_tokens_per_s": progress["tps"] if progress else None,
        "span_s": span,
        "startup_s": first["at_s"] - start if first and start is not None else None,
        "steady_span_s": steady["span_s"] if steady else None,
        "throughput_rps": steady["completed"] / steady["span_s"] if steady else None,
        "tokens_per_s": steady["tokens"] / steady["span_s"] if steady and steady["tokens"] is not None else None,
        "eta_h": progress["eta_h"] if progress else None,
        "latency_s": job["latency"],
        "sla": sla_figures(job, completed, failed, total),
        "progress": series_figures(job, start),
        "preemptions": job["preemptions"],
        "preemption_pct": 100.0 * job["preemptions"] / finished if finished else None,
        "workers": workers,
        "worker_slowdown": slowdown(workers),
        "stages": stages,
        "cpu_stage_share": cpu_share(stages),
    }


def cpu_share(stages):
    """Ray Data's remote wall time of the CPU stages that feed the engines (those before the first
    engine stage in stats(), which lists operators in plan order) over the engine stages', or None."""
    kinds = [stage["kind"] for stage in stages]
    if "engine" not in kinds:
        return None
    feeding = stages[:kinds.index("engine")]
    engine = sum(stage["wall_s"] or 0.0 for stage in stages if stage["kind"] == "engine")
    cpu = sum(stage["wall_s"] or 0.0 for stage in feeding)
    return cpu / engine if engine > 0 else None


def run_figures(jobs):
    """The run's figures over its jobs (what `compare` and a fix's verdict read): completed requests and
    tokens over the jobs' spans, failed and preempted per 100 finished, the worst latency p95, worker
    slowdown and CPU-stage share, and the last job's ETA and SLA state."""
    spans = [job for job in jobs if job["steady_span_s"]]
    span = sum(job["steady_span_s"] for job in spans)
    finished = sum(job["completed"] + job["failed"] for job in jobs if job["completed"] is not None)
    tokens = [job["tokens_per_s"] * job["steady_span_s"] for job in spans if job["tokens_per_s"] is not None]

    def most(values):
        values = [value for value in values if value is not None]
        return max(values) if values else None
    return {
        "throughput_rps": sum(job["throughput_rps"] * job["steady_span_s"] for job in spans) / span if span else None,
        "tokens_per_s": sum(tokens) / span if span and len(tokens) == len(spans) else None,
        "error_rate_pct": 100.0 * sum(job["failed"] or 0 for job in jobs) / finished if finished else None,
        "preemption_pct": 100.0 * sum(job["preemptions"] for job in jobs) / finished if finished else None,
        "latency_p95_s": most((job["latency_s"] or {}).get("p95") for job in jobs),
        "worker_slowdown": most((job["worker_slowdown"] or {}).get("ratio") for job in jobs),
        "cpu_stage_share": most(job["cpu_stage_share"] for job in jobs),
        "eta_h": jobs[-1]["eta_h"] if jobs else None,
        "sla_state": jobs[-1]["sla"]["state"] if jobs else None,
    }


def tokens_so_far(progress):
    """A progress line's generated tokens: its rate times its elapsed time (completed / its req/s)."""
    return progress["tps"] * progress["done"] / progress["rps"] if progress["rps"] > 0 else None


def worker_figures(name, worker):
    return {"worker": name, "stats_lines": worker["lines"], "busy_lines": worker["busy_lines"],
            "idle_lines": worker["idle_lines"],
            "generation_tokens_per_s": worker["gen_sum"] / worker["busy_lines"] if worker["busy_lines"] else None,
            "kv_cache_usage_max_pct": worker["kv_max"], "kv_cache_tokens": worker["kv_cache_tokens"],
            "preemptions": worker["preemptions"]}


def slowdown(workers):
    """{worker, ratio}: the slowest engine's generation throughput (over its busy stats lines) against
    the median of the others'; None with fewer than two engines with MIN_BUSY_LINES such lines."""
    measured = [worker for worker in workers if worker["busy_lines"] >= MIN_BUSY_LINES]
    if len(measured) < 2:
        return None
    slowest = min(measured, key=lambda worker: worker["generation_tokens_per_s"])
    others = sorted(worker["generation_tokens_per_s"] for worker in measured if worker is not slowest)
    middle = len(others) // 2
    median = others[middle] if len(others) % 2 else (others[middle - 1] + others[middle]) / 2
    if slowest["generation_tokens_per_s"] <= 0:
        return None
    return {"worker": slowest["worker"], "ratio": median / slowest["generation_tokens_per_s"],
            "slowest_tokens_per_s": slowest["generation_tokens_per_s"], "others_median_tokens_per_s": median}


def stage_figures(job):
    """Ray Data's operators from stats(): `engine` when the execution plan runs it on an actor pool."""
    pools = job["actor_pools"]
    return [{"name": op["name"], "kind": "engine" if op["name"] in pools else "cpu", "tasks": op["tasks"],
             "wall_s": op["wall_s"]} for op in job["operators"]]


def sla_figures(job, completed, failed, total):
    """The job's SLA: `state`, its outcome once done (`met`, or `violated` when it took longer than its
    SLA), else the state its last lines left; `while_running`, the state after its last progress line
    with requests left (the job applies the service's rules and logs an SLA line when one holds:
    docs/ray.md), with that line's ETA and time remaining."""
    sla = job["sla"] or {}
    done = job["done"]
    state = sla.get("state")
    if done is not None and job["sla_hours"] is not None:
        state = "violated" if done["elapsed_s"] > job["sla_hours"] * 3600 else "met"
    elif done is not None or (completed is not None and total is not None and completed + failed >= total):
        state = "violated" if job["sla_lines"]["violated"] else "met"
    return {"state": state, "while_running": sla.get("state"), "sla_hours": job["sla_hours"],
            "eta_h": sla.get("eta_h"), "remaining_h": sla.get("remaining_h"),
            "elapsed_h": done["elapsed_s"] / 3600 if done else sla.get("elapsed_h") or sla.get("used_h"),
            "lines": dict(job["sla_lines"])}
