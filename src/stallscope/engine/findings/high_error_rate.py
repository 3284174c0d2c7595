"""More requests fail than the service's target allows (> 5 %)."""

from .batch_common import jobs, worst_job, where
from .common import finding

ID = "high_error_rate"
JUDGED_ON = "batch.error_rate_pct"


def evaluate(ctx):
    if not jobs(ctx):
        return None
    severity, job, rate, row = worst_job(ctx, lambda job: job["error_rate_pct"], "batch_error_rate_pct")
    if severity == "ok":
        return None
    summary = (f"{job['failed']} of {job['completed'] + job['failed']} finished requests failed in {where(job)}: "
               f"{rate:.1f}% ({severity}: warning >= {row['warning']:g}%, critical > {row['critical']:g}%).")
    recommendation = (
        "Read the failed requests' errors (the `error` column of results.parquet, the engine actors' lines in the "
        "job's log): prompts longer than max_model_len, engine out-of-memory errors (a smaller batch_size or "
        "gpu_memory_utilization), actors that died (Ray's raylet and worker logs); fix the cause, then run the "
        "failed ids again.")
    evidence = {"job": job["file"], "failed": job["failed"], "completed": job["completed"], "error_rate_pct": rate,
                "warning_threshold": row["warning"], "critical_threshold": row["critical"]}
    return finding(ID, severity, summary, evidence, recommendation)
