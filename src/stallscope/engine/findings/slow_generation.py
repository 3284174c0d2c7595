"""Generation batches are slow with no weight update to explain it."""

from .common import finding, judge, tail_sentence

ID = "slow_generation"
JUDGED_ON = "gen_dur_ms.between_updates.p95"


def evaluate(ctx):
    severity, evidence = judge(ctx, "gen_dur_ms.between_updates", ctx["thresholds"]["gen_dur_ms"])
    if severity == "ok":
        return None
    evidence["inflight_p50"] = ctx["metrics"]["inflight"]["p50"]
    summary = "Generation batches are slow outside weight updates: " + tail_sentence("gen_dur_ms", evidence, severity)
    recommendation = (
        "Generation itself is slow: lower max_tokens or batch_size, use a faster (smaller) model, or add "
        "inference capacity (tensor parallelism, another server); compare inflight with the server's capacity."
    )
    return finding(ID, severity, summary, evidence, recommendation)
