"""The GPUs idle most of the run (nvidia-smi samples, docs/analysis.md)."""

from ..thresholds import classify
from .common import finding

ID = "gpu_underutilised"
JUDGED_ON = "gpu.idle_share"


def evaluate(ctx):
    gpu = ctx["sections"].get("gpu")
    if gpu is None or gpu["idle_share"] is None:
        return None
    row = ctx["thresholds"]["gpu_idle_share_pct"]
    idle_pct = gpu["idle_share"] * 100
    severity = classify(idle_pct, row)
    if severity == "ok":
        return None
    level = "critical" if severity == "critical" else "warning"
    bound = f"> {row['critical']:g}%" if level == "critical" else f">= {row['warning']:g}%"
    summary = (f"The GPUs were idle (utilisation below {gpu['idle_util_pct']}%) in {idle_pct:.0f}% of the "
               f"{gpu['samples']} samples over {len(gpu['gpus'])} GPU(s): {severity} ({bound}).")
    waits, updates = gpu["during_checkpoint_waits"], gpu["during_weight_updates"]
    if waits and waits["samples"]:
        summary += f" While the orchestrator waited for checkpoints they were idle in {waits['idle_share']:.0%} of the samples."
    if updates and updates["samples"]:
        summary += f" While weight updates were in flight: idle in {updates['idle_share']:.0%}."
    evidence = {
        "idle_share_pct": idle_pct, "samples": gpu["samples"], "idle_util_pct": gpu["idle_util_pct"],
        "warning_threshold": row["warning"], "critical_threshold": row["critical"],
        "per_gpu": [{"host": g["host"], "gpu": g["gpu"], "idle_share": g["idle_share"], "util_mean": g["util_mean"]}
                    for g in gpu["gpus"]],
        "during_checkpoint_waits": waits, "during_weight_updates": updates,
    }
    recommendation = (
        "The GPUs wait more than they compute. If the idle time falls in the orchestrator's waits (above, and the "
        "checkpoint_stall or frontend_queue_saturation findings), fix those first: faster checkpoint writes or a "
        "higher async_level, a dedicated admin client for weight updates. Otherwise give the GPUs more work: more "
        "concurrent rollouts (batch_size, rollouts_per_example), fewer GPUs for inference or for the trainer, or a "
        "larger model per GPU."
    )
    return finding(ID, severity, summary, evidence, recommendation)
