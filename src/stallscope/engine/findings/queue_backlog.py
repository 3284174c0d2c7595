"""The gateway's job queue is deep (the service's alert: > 100 jobs)."""

from ..thresholds import classify
from .common import finding

ID = "queue_backlog"
JUDGED_ON = None


def evaluate(ctx):
    gateway = (ctx["sections"].get("batch") or {}).get("gateway")
    if not gateway or not gateway["queued"]:
        return None
    row = ctx["thresholds"]["queue_depth"]
    depth = gateway["max_queue_position"]
    severity = classify(depth, row)
    if severity == "ok":
        return None
    summary = (f"The gateway's queue is deep: a job was queued at position {depth} ({severity}: warning >= "
               f"{row['warning']:g}, critical > {row['critical']:g}); {gateway['queued']} jobs queued in the logs.")
    recommendation = ("The cluster runs one job at a time: add capacity (engine actors, GPU worker nodes) so each job "
                      "finishes sooner, merge small jobs into larger ones, or run a second gateway and cluster for the "
                      "backlog.")
    evidence = {"max_queue_position": depth, "queued": gateway["queued"], "warning_threshold": row["warning"],
                "critical_threshold": row["critical"]}
    return finding(ID, severity, summary, evidence, recommendation)
