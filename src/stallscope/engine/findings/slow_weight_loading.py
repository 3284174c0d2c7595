"""The weight-loading RPC itself is slow, judged per op (docs/analysis.md)."""

from ..gpu_run import idle_sentence
from .common import finding, judge, ms, tail_sentence, worst

ID = "slow_weight_loading"
JUDGED_ON = "rpc_ms.p95"


def evaluate(ctx):
    thresholds = ctx["thresholds"]
    per_op = {}
    severity = "ok"
    sentences = []
    for name, values in ctx["samples"].items():
        if not name.startswith("rpc_ms.") or not values:
            continue
        op_severity, evidence = judge(ctx, name, thresholds.get(name, thresholds["rpc_ms"]))
        per_op[name] = dict(evidence, severity=op_severity)
        if op_severity != "ok":
            sentences.append(tail_sentence(name, evidence, op_severity))
        severity = worst(severity, op_severity)
    if severity == "ok":
        return None
    queue_p95 = ctx["metrics"]["queue_ms"]["p95"]
    summary = "Loading weights is slow: " + " ".join(sentences)
    if queue_p95 is not None and queue_p95 < thresholds["queue_ms"]["warning"]:
        summary += f" Requests reach the engine promptly (queue_ms p95 {ms(queue_p95)})."
    recommendation = (
        "Profile the vLLM worker's update_weights (is it loading from disk, CPU or GPU memory?); put checkpoints "
        "on fast local NVMe or share them in memory (shm, mmap); or reduce the model (a smaller variant, int8/int4 "
        "quantization). Expected rpc_ms depends on model size: override the thresholds with --thresholds for "
        "models other than 7B on 2x A100."
    )
    evidence = {"per_op": per_op, "queue_ms_p95": queue_p95}
    gpu = ctx["sections"].get("gpu")
    if gpu and gpu["during_weight_updates"]:
        evidence["gpu_during_updates"] = gpu["during_weight_updates"]
        summary += idle_sentence(gpu["during_weight_updates"], "weights loaded")
    return finding(ID, severity, summary, evidence, recommendation)
