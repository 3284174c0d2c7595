"""The engines' KV cache is too small for the requests they run: vLLM preempts (and recomputes)
requests, or its cache stays full (docs/ray.md)."""

from ..thresholds import classify
from .batch_common import config_text, jobs, worst_job, where
from .common import finding, worst

ID = "kv_cache_pressure"
JUDGED_ON = "batch.preemption_pct"


def evaluate(ctx):
    if not jobs(ctx):
        return None
    severity, job, pct, row = worst_job(ctx, lambda job: job["preemption_pct"], "preemption_pct")
    usage = ctx["metrics"].get("kv_cache_usage_pct") or {}
    usage_row = ctx["thresholds"]["kv_cache_usage_pct"]
    usage_severity = classify(usage["p95"], usage_row) if usage.get("count") else "ok"
    if severity == "ok" and usage_severity == "ok":
        return None
    if job is None:
        job = jobs(ctx)[0]
    overall = worst(severity, usage_severity)
    parts = []
    if job["preemptions"]:
        parts.append(f"{job['preemptions']} preemption(s) for {job['completed'] + job['failed']} finished requests "
                     f"({pct:.1f} per 100: {severity}, warning >= {row['warning']:g}, critical > {row['critical']:g})")
    if usage.get("count"):
        parts.append(f"KV-cache usage p95 {usage['p95']:.1f}% (max {usage['max']:.1f}%) over {usage['count']} stats lines")
    workers = [worker for worker in job["workers"] if worker["kv_cache_tokens"]]
    cache = (f"; each engine's cache holds {workers[0]['kv_cache_tokens']} tokens" if workers else "")
    summary = (f"The engines' KV cache is too small for the requests they run in {where(job)}: "
               + "; ".join(parts) + cache + ". A preempted request is dropped from the cache and computed again.")
    recommendation = (
        "Give the KV cache more memory: raise gpu_memory_utilization (vLLM takes that share of the GPU for the "
        "weights and the cache; 0.90 is the service's default), or use tensor_parallel_size > 1 to spread the model "
        "over more GPUs; otherwise admit fewer requests at once: lower max_num_seqs or max_num_batched_tokens, or a "
        f"smaller batch_size{config_text(job, 'batch_size', 'max_tokens')} and max_tokens. Then check with "
        "`stallscope compare` that preemptions fall to 0 and throughput does not drop.")
    evidence = {"job": job["file"], "preemptions": job["preemptions"], "preemption_pct": pct,
                "warning_threshold": row["warning"], "critical_threshold": row["critical"],
                "kv_cache_usage_p95_pct": usage.get("p95"), "kv_cache_usage_max_pct": usage.get("max"),
                "kv_cache_usage_severity": usage_severity,
                "workers": [{key: worker[key] for key in ("worker", "preemptions", "kv_cache_usage_max_pct",
                                                          "kv_cache_tokens")} for worker in job["workers"]]}
    return finding(ID, overall, summary, evidence, recommendation)
