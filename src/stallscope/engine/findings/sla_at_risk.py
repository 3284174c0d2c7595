"""A batch job will not, or barely, finish within its SLA: its ETA exceeds the time left (critical),
or more than 70 % of the SLA was used (warning); the job applies the service's rules and logs them
(docs/ray.md)."""

import math

from .batch_common import config_text, jobs, where
from .common import SEVERITY_RANK, finding

ID = "sla_at_risk"
JUDGED_ON = None


def hours(value):
    return "?" if value is None else f"{value:g}"


def judge(job):
    """(severity, sentence) for one job's SLA, or None when it is on track, met with room, or violated
    (sla_violated's)."""
    sla = job["sla"]
    state, running = sla["state"], sla["while_running"]
    if state == "violated":
        return None
    if state != "met":
        if running == "at_risk":
            return "critical", (f"at its last progress line the ETA at the rate so far was {sla['eta_h']:.3f} h, more "
                                f"than the {sla['remaining_h']:.3f} h left of its {hours(sla['sla_hours'])} h SLA")
        if running == "approaching":
            return "warning", f"more than 70% of its {hours(sla['sla_hours'])} h SLA is used"
        return None
    within = (f"it finished within its {hours(sla['sla_hours'])} h SLA"
              + (f" ({sla['elapsed_h']:.3f} h)" if sla["elapsed_h"] is not None else ""))
    if running == "at_risk":
        return "warning", (f"{within}, but its "
                           f"last progress line with requests left had an ETA of {sla['eta_h']:.3f} h against "
                           f"{sla['remaining_h']:.3f} h left ({sla['lines']['at_risk']} `SLA AT RISK!` lines)")
    if running == "approaching":
        return "warning", f"{within} after using more than 70% of it"
    return None


def evaluate(ctx):
    worst = None
    for job in jobs(ctx):
        judged = judge(job)
        if judged and (worst is None or SEVERITY_RANK[judged[0]] > SEVERITY_RANK[worst[0]]):
            worst = (*judged, job)
    if worst is None:
        return None
    severity, sentence, job = worst
    sla = job["sla"]
    speedup = sla["eta_h"] / sla["remaining_h"] if sla["eta_h"] and sla["remaining_h"] and sla["remaining_h"] > 0 else None
    summary = f"The batch job's SLA is at risk in {where(job)}: {sentence}."
    need = f"by at least {speedup:.1f} x " if speedup else ""
    actors = job["config"].get("concurrency")
    more = (f" (concurrency {actors} -> {math.ceil(actors * speedup)})" if speedup and actors else "")
    recommendation = (
        f"Raise the job's throughput {need}before the deadline: more engine actors{more} and worker nodes with GPUs, "
        f"a larger batch_size if the KV cache allows{config_text(job, 'batch_size')}, a lower max_tokens (may "
        "affect quality); fix first what the other findings name as the cause (kv_cache_pressure, "
        "preprocessing_bound, straggler_worker). Short-term, pause new jobs in the gateway's queue "
        "(POST /shutdown-graceful) so that this one keeps the cluster.")
    evidence = {"job": job["file"], "state": sla["state"], "while_running": sla["while_running"],
                "sla_hours": sla["sla_hours"], "eta_h": sla["eta_h"], "remaining_h": sla["remaining_h"],
                "elapsed_h": sla["elapsed_h"], "sla_lines": sla["lines"], "speedup_needed": speedup,
                "completed": job["completed"], "total": job["total"], "throughput_rps": job["throughput_rps"]}
    return finding(ID, severity, summary, evidence, recommendation)
