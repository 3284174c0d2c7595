"""Requests take longer than the service's target (p95 < 5 s), from the job's own latency lines."""

from .batch_common import config_text, jobs, worst_job, where
from .common import finding

ID = "high_latency"
JUDGED_ON = None


def evaluate(ctx):
    if not jobs(ctx):
        return None
    severity, job, p95, row = worst_job(ctx, lambda job: (job["latency_s"] or {}).get("p95"), "batch_latency_p95_s")
    if severity == "ok":
        return None
    latency = job["latency_s"]
    summary = (f"Requests are slow in {where(job)}: latency p95 {p95:.2f} s (p50 {latency['p50']:.2f} s, p99 "
               f"{latency['p99']:.2f} s) of the completed requests ({severity}: warning >= {row['warning']:g} s, "
               f"critical > {row['critical']:g} s).")
    recommendation = (
        "A request waits for its whole batch's turn in the engine: a smaller batch_size or max_num_seqs lowers "
        f"latency{config_text(job, 'batch_size', 'max_tokens')}, as does a lower max_tokens; preemptions "
        "(kv_cache_pressure) and a straggler engine lengthen the tail. For an offline batch job throughput and the "
        "SLA matter more than one request's latency: weigh this against low_throughput.")
    evidence = {"job": job["file"], "latency_s": latency, "warning_threshold": row["warning"],
                "critical_threshold": row["critical"]}
    return finding(ID, severity, summary, evidence, recommendation)
