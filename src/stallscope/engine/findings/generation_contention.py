"""Generation batches slow down while weight updates are in flight (docs/analysis.md)."""

from .common import finding, judge, ms, tail_sentence

ID = "generation_contention"
JUDGED_ON = "gen_dur_ms.during_updates.p95"


def evaluate(ctx):
    severity, evidence = judge(ctx, "gen_dur_ms.during_updates", ctx["thresholds"]["gen_dur_ms"])
    if severity == "ok":
        return None
    between = ctx["metrics"]["gen_dur_ms.between_updates"]
    evidence["between_updates_p50"] = between["p50"]
    evidence["between_updates_count"] = between["count"]
    records = ctx["families"]["prime-rl"]
    slowest = [b for b in records["batch_summary"].slowest_during_updates(records["file_ranks"])
               if b["dur_ms"] >= evidence["warning_threshold"]]
    slow = [{"line": b["line"], "file": ctx["inputs"][b["file"]]["path"], "dur_ms": b["dur_ms"], "updates": b["updates"][:5]}
            for b in slowest]
    evidence["slowest_batches"] = slow
    summary = "Generation batches that overlap weight updates are slow: " + tail_sentence("gen_dur_ms", evidence, severity)
    if between["count"]:
        summary += f" Batches between updates take p50 {ms(between['p50'])}."
    recommendation = (
        "Generation and weight updates contend for the inference server's front end: give weight updates their "
        "own admin client and schedule them between generation batches; the queue_ms finding, if any, is the "
        "other side of the same contention."
    )
    return finding(ID, severity, summary, evidence, recommendation)
