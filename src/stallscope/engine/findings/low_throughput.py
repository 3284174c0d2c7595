"""The batch job's sustained throughput is below the service's targets (5 req/s, 1000 tokens/s)."""

from .batch_common import config_text, jobs, worst_job, where
from .common import SEVERITY_RANK, finding

ID = "low_throughput"
JUDGED_ON = None


def evaluate(ctx):
    if not jobs(ctx):
        return None
    by_requests = worst_job(ctx, lambda job: job["throughput_rps"] if job["finished"] else None, "batch_throughput_rps")
    by_tokens = worst_job(ctx, lambda job: job["tokens_per_s"] if job["finished"] else None, "batch_tokens_per_s")
    severity, job, _, _ = max(by_requests, by_tokens, key=lambda judged: SEVERITY_RANK[judged[0]])
    if severity == "ok":
        return None
    rows = {name: ctx["thresholds"][name] for name in ("batch_throughput_rps", "batch_tokens_per_s")}
    tokens = "n/a" if job["tokens_per_s"] is None else f"{job['tokens_per_s']:.0f}"
    summary = (f"The batch job's throughput is low in {where(job)}: {job['throughput_rps']:.2f} req/s and {tokens} "
               f"tokens/s over its {job['steady_span_s']:.1f} s after start-up ({severity}: targets > "
               f"{rows['batch_throughput_rps']['warning']:g} req/s and > {rows['batch_tokens_per_s']['warning']:g} "
               f"tokens/s).")
    recommendation = (
        "Check that the engines have work (Ray Data's progress lines: actors running, queued blocks; `ray status` "
        "for idle or pending workers; the gateway's /queue), then raise the work per engine: a larger batch_size"
        f"{config_text(job, 'batch_size', 'concurrency', 'max_concurrent_batches')}, max_concurrent_batches 2 or "
        "more so an engine's next batch overlaps the tail of the last, and more engine actors (concurrency, one "
        "per GPU); fix first what the other findings name as the cause.")
    evidence = {"job": job["file"], "throughput_rps": job["throughput_rps"], "tokens_per_s": job["tokens_per_s"],
                "steady_span_s": job["steady_span_s"], "startup_s": job["startup_s"], "reported_rps": job["reported_rps"], "thresholds": rows,
                "config": job["config"]}
    return finding(ID, severity, summary, evidence, recommendation)
