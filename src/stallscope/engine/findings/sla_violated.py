"""A batch job ran past its SLA (docs/ray.md: `SLA VIOLATED`, or done after its deadline)."""

from .batch_common import jobs, where
from .common import finding

ID = "sla_violated"
JUDGED_ON = None


def evaluate(ctx):
    violated = [job for job in jobs(ctx) if job["sla"]["state"] == "violated"]
    if not violated:
        return None
    job = violated[0]
    sla = job["sla"]
    finished = "finished" if job["finished"] else "had not finished"
    elapsed = f"{sla['elapsed_h']:.3f} h" if sla["elapsed_h"] is not None else "more than that"
    summary = (f"{len(violated)} batch job(s) exceeded their SLA; {where(job)} {finished} after {elapsed} of a "
               f"{sla['sla_hours'] if sla['sla_hours'] is not None else '?'} h SLA ({job['completed']} of {job['total']} "
               f"requests completed).")
    recommendation = (
        "The deadline has passed: finish the job with more capacity (more engine actors and GPU worker nodes, a "
        "larger batch_size if the KV cache allows), then plan the next one from the measured throughput: its SLA "
        "needs requests / (throughput_rps x 3600) hours, with margin; fix first what the other findings name as "
        "the cause.")
    evidence = {"jobs": [item["file"] for item in violated], "sla_hours": sla["sla_hours"],
                "elapsed_h": sla["elapsed_h"], "completed": job["completed"], "total": job["total"],
                "throughput_rps": job["throughput_rps"]}
    return finding(ID, "critical", summary, evidence, recommendation)
