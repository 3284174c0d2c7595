"""The trainer takes long to write checkpoints (docs/analysis.md)."""

from .common import finding, judge, tail_sentence

ID = "slow_checkpoint_write"
JUDGED_ON = "write_ms.p95"


def evaluate(ctx):
    severity, evidence = judge(ctx, "write_ms", ctx["thresholds"]["write_ms"])
    if severity == "ok":
        return None
    summary = "The trainer writes checkpoints slowly: " + tail_sentence("write_ms", evidence, severity)
    recommendation = (
        "Check that the sharded checkpoint save is working, and write checkpoints to local SSD/NVMe rather than "
        "NFS or networked storage (slow disk or a large model)."
    )
    return finding(ID, severity, summary, evidence, recommendation)
