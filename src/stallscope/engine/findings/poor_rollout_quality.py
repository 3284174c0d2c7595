"""High truncation or staleness beyond async_level (docs/analysis.md)."""

from .common import finding, judge, tail_sentence, worst

ID = "poor_rollout_quality"
JUDGED_ON = "trunc_pct.p95"


def evaluate(ctx):
    samples, thresholds = ctx["samples"], ctx["thresholds"]
    trunc_severity, trunc = judge(ctx, "trunc_pct", thresholds["trunc_pct"])
    staleness = ctx["metrics"]["staleness"]
    if staleness["count"] == 0 and trunc_severity == "ok":
        return None
    evidence = {"trunc_pct": trunc, "staleness_max": staleness["max"], "async_level": ctx["async_level"]}
    sentences, fixes = [], []
    if trunc_severity != "ok":
        sentences.append(tail_sentence("trunc_pct", trunc, trunc_severity, unit="%"))
        fixes.append("increase max_seq_len (seq_len) or lower max_tokens so fewer rollouts are cut off")
    stale_severity = "ok"
    excess = samples["staleness_over_async_level"]
    if staleness["count"] and not excess:
        stale_severity = "info"
        sentences.append(
            f"staleness reaches {staleness['max']:g} (p95 {staleness['p95']:g}); async_level is unknown, so it is "
            "not judged: give the run's async_level or analyse the run directory with its run_manifest.json."
        )
    elif excess:
        stale_severity, stale = judge(ctx, "staleness_over_async_level", thresholds["staleness_over_async_level"])
        evidence["staleness_over_async_level"] = stale
        if stale_severity != "ok":
            sentences.append("staleness exceeds async_level: " + tail_sentence("staleness - async_level", stale, stale_severity, unit=""))
            fixes.append("tune async_level, and find why checkpoints are not ready sooner (see checkpoint wait)")
        elif max(excess) == 0:
            stale_severity = "info"
            sentences.append(
                f"staleness reaches async_level ({staleness['max']:g}): the orchestrator hit the async barrier; "
                "check why the checkpoint was not ready sooner."
            )
    severity = worst(trunc_severity, stale_severity)
    if severity == "ok":
        return None
    fixes.append("check the advantage computation")
    summary = "Rollout quality: " + " ".join(sentences)
    recommendation = "To keep RL quality: " + "; ".join(fixes) + "."
    return finding(ID, severity, summary, evidence, recommendation)
