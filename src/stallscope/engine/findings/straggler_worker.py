"""One engine generates far slower than the others (docs/ray.md): a slower or busier host or GPU."""

from .batch_common import jobs, worst_job, where
from .common import finding

ID = "straggler_worker"
JUDGED_ON = "batch.worker_slowdown"


def evaluate(ctx):
    if not jobs(ctx):
        return None
    severity, job, ratio, row = worst_job(ctx, lambda job: (job["worker_slowdown"] or {}).get("ratio"), "worker_slowdown")
    if severity == "ok":
        return None
    slow = job["worker_slowdown"]
    summary = (f"One engine is far slower than the others in {where(job)}: {slow['worker']} generated "
               f"{slow['slowest_tokens_per_s']:.0f} tokens/s while running requests, the others "
               f"{slow['others_median_tokens_per_s']:.0f} (median): {ratio:.1f} x slower ({severity}: warning >= "
               f"{row['warning']:g}, critical > {row['critical']:g}), measured over the vLLM stats lines of "
               f"{len(job['workers'])} engines.")
    recommendation = (
        f"Look at the host of {slow['worker']} (its Ray node: the ip in the worker's log prefix): another process "
        "on its GPU or CPUs, a slower or throttled GPU (nvidia-smi clocks and temperature), a different GPU model "
        "or driver; move or drain that node (ray stop there), or give the pool one engine more (concurrency) so "
        "that Ray Data's dynamic batching routes fewer batches to it. Ray Data already sends each actor batches "
        "as it frees up, so a straggler costs its share of the throughput and stretches the job's last batch.")
    evidence = {"job": job["file"], "slowdown": ratio, "warning_threshold": row["warning"],
                "critical_threshold": row["critical"], "slowest": slow,
                "workers": [{key: worker[key] for key in ("worker", "busy_lines", "generation_tokens_per_s")}
                            for worker in job["workers"]]}
    return finding(ID, severity, summary, evidence, recommendation)
