"""Some Dask workers do most of the work while others wait."""

from ..thresholds import classify
from .common import finding

ID = "worker_imbalance"
JUDGED_ON = "dask.worker_busy_imbalance"
# Below this many tasks per worker, who got more is chance (a trial of 2 sims on 4 workers), not imbalance.
MIN_TASKS_PER_WORKER = 5


def evaluate(ctx):
    dask = ctx["sections"].get("dask")
    if dask is None or dask["worker_busy_imbalance"] is None:
        return None
    tasks = sum(worker["sims"] + worker["aggs"] for worker in dask["workers"])
    if tasks < MIN_TASKS_PER_WORKER * len(dask["workers"]):
        return None
    row = ctx["thresholds"]["worker_busy_imbalance"]
    ratio = dask["worker_busy_imbalance"]
    severity = classify(ratio, row)
    if severity == "ok":
        return None
    workers = sorted(dask["workers"], key=lambda worker: -worker["busy_ms"])
    idle = [worker["worker"] for worker in workers if worker["sims"] + worker["aggs"] == 0]
    summary = (
        f"Work is unevenly spread over {len(workers)} workers: the busiest ({workers[0]['worker']}, "
        f"{workers[0]['sims']} sims, {workers[0]['aggs']} aggs) was busy {ratio:.2f} x the mean "
        f"({severity}: warning >= {row['warning']:g}, critical > {row['critical']:g})"
        + (f"; {len(idle)} worker(s) ran no task" if idle else "") + "."
    )
    recommendation = (
        "Check that every worker can take every task: the same --nthreads and --resources on each host, no "
        "placement that pins tasks to a few workers (workers=..., aggregation resources on some workers only), "
        "enough concurrent trials (--threads at least the number of workers), and no host with slower or "
        "throttled CPUs (compare each host's sim durations)."
    )
    evidence = {"imbalance": ratio, "warning_threshold": row["warning"], "critical_threshold": row["critical"],
                "workers": workers, "idle_workers": idle}
    return finding(ID, severity, summary, evidence, recommendation)
