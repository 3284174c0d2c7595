"""The orchestrator waits for the trainer's checkpoint at the async barrier (docs/analysis.md)."""

from ..gpu_run import idle_sentence
from ..thresholds import classify
from .common import finding, judge, ms, tail_sentence

ID = "checkpoint_stall"
JUDGED_ON = "wait_ms.p95"


def evaluate(ctx):
    thresholds = ctx["thresholds"]
    severity, evidence = judge(ctx, "wait_ms", thresholds["wait_ms"])
    if severity == "ok":
        return None
    write = ctx["metrics"]["write_ms"]
    evidence["write_ms"] = {key: write[key] for key in ("count", "p50", "p95", "max")}
    summary = "The orchestrator stalls waiting for checkpoints: " + tail_sentence("wait_ms", evidence, severity)
    recommendation = (
        "Profile the trainer's checkpoint writes (is the sharded save working?), write checkpoints to local "
        "SSD/NVMe rather than NFS or networked storage, and tune async_level."
    )
    if write["count"] == 0:
        summary += " No trainer write_ms in the inputs: include the trainer log to see whether writes are slow."
    elif classify(write["p95"], thresholds["write_ms"]) == "ok":
        summary += f" Checkpoint writes are fast (write_ms p95 {ms(write['p95'])})."
        recommendation = (
            "Checkpoint writes are within range, so the wait is the trainer's step time or the orchestrator's "
            "polling for the checkpoint (it checks for the STABLE marker once a second): raise async_level, or "
            "find why trainer steps are slow."
        )
    else:
        summary += f" Trainer writes are slow too (write_ms p95 {ms(write['p95'])})."
    gpu = ctx["sections"].get("gpu")
    if gpu and gpu["during_checkpoint_waits"]:
        evidence["gpu_during_waits"] = gpu["during_checkpoint_waits"]
        summary += idle_sentence(gpu["during_checkpoint_waits"], "the orchestrator waited")
    return finding(ID, severity, summary, evidence, recommendation)
