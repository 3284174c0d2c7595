"""Aggregations pull every replicate's payload to one worker, per target (docs/dask.md)."""

from ..thresholds import classify
from .common import finding, ms, worst

ID = "aggregation_data_movement"
JUDGED_ON = "dask.split_agg_pct"


def evaluate(ctx):
    dask = ctx["sections"].get("dask")
    if dask is None or not ctx["metrics"]["agg_total_inline_mb"]["count"]:
        return None  # no aggregation logged (simulations only, test A): nothing moved to judge
    thresholds = ctx["thresholds"]
    payload_stats = ctx["metrics"]["agg_total_inline_mb"]
    split = dask["split_agg_pct"]
    ratio = dask["agg_sim_ratio"]
    severities = {
        "split": classify(split, thresholds["split_agg_pct"]) if split is not None else "ok",
        "payload": classify(payload_stats["p50"], thresholds["agg_total_inline_mb"]),
        "ratio": classify(ratio, thresholds["agg_sim_ratio"]) if ratio is not None else "ok",
    }
    severity = worst(*severities.values())
    if severity == "ok":
        return None
    largest = ctx["metrics"]["agg_max_single_kb"]
    sim, agg = ctx["metrics"]["sim_duration_ms"], ctx["metrics"]["agg_duration_ms"]
    evidence = {
        "split_agg_pct": split,
        "split_trials": dask["split_trials"],
        "trials_with_two_or_more_targets": dask["trials_with_two_or_more_targets"],
        "total_inline_mb": {key: payload_stats[key] for key in ("count", "p50", "p95", "max")},
        "max_single_kb_max": largest["max"],
        "agg_sim_ratio": ratio,
        "sim_duration_ms_p50": sim["p50"],
        "agg_duration_ms_p50": agg["p50"],
        "trials_per_min": dask["trials_per_min"],
        "severity_by_criterion": severities,
        "thresholds": {name: thresholds[name] for name in ("split_agg_pct", "agg_total_inline_mb", "agg_sim_ratio")},
    }
    sentences = []
    if split is not None:
        sentences.append(
            f"{dask['split_trials']} of {dask['trials_with_two_or_more_targets']} trials with two or more targets "
            f"({split:.0f}%) ran their targets' aggregations on different workers, so the same replicates travelled "
            f"to each ({severities['split']} against {_levels(thresholds['split_agg_pct'], '%')}).")
    sentences.append(
        f"Each aggregation received a median {payload_stats['p50']:.2f} MB of inline payload (largest single output "
        f"{largest['max']:.1f} KB) ({severities['payload']} against {_levels(thresholds['agg_total_inline_mb'], ' MB')}).")
    if ratio is not None:
        sentences.append(f"Aggregation median {ms(agg['p50'])} is {ratio:.2f} x the simulation median {ms(sim['p50'])} "
                         f"({severities['ratio']} against {_levels(thresholds['agg_sim_ratio'], '')}).")
    report = dask.get("perf_report")
    if report and report.get("transfer_share") is not None:
        times = report["time_s"]
        evidence["perf_report"] = {"compute_s": times.get("compute"), "transfer_s": times.get("transfer"),
                                   "transfer_share": report["transfer_share"]}
        sentences.append(f"The performance report counts {times.get('transfer', 0.0):.2f} s of transfer against "
                         f"{times.get('compute', 0.0):.2f} s of compute ({report['transfer_share']:.0%} of task time "
                         "moving data).")
    fixes = []
    if severities["split"] != "ok":
        fixes.append("compute every target's loss in one aggregation task (fix 2, multi-target aggregation: "
                     "`--aggregation multi-target` here) so that each trial's replicates move once")
    if severities["payload"] != "ok":
        fixes.append("run each aggregation on the worker already holding most replicate bytes (fix 1: who_has() and "
                     "workers=[...], `--placement data` here) and keep large outputs out of the inline payload "
                     "(store them and pass references)")
    if severities["ratio"] != "ok":
        fixes.append("profile the aggregation itself: it is a significant share of each trial")
    summary = "Aggregation data movement: " + " ".join(sentences)
    recommendation = ("; ".join(fixes).capitalize() + "; then check with `stallscope compare` that trials per minute "
                      "rose and the split-aggregation rate fell.")
    return finding(ID, severity, summary, evidence, recommendation)


def _levels(row, unit):
    """`30% / 60%`: a row's warning and critical levels."""
    return f"{row['warning']:g}{unit} / {row['critical']:g}{unit}"
