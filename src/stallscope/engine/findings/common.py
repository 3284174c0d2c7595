"""What the finding modules share: judging a metric's tail against a threshold row, formatting."""

from ..thresholds import classify

SEVERITY_RANK = {"ok": 0, "info": 1, "warning": 2, "critical": 3}
# Below 20 samples no sample lies past the 95th percentile: the nearest-rank p95 is the maximum, and
# an interpolated one only a guess between the two largest. Such a tail is judged on its maximum and
# worded as an indication (docs/analysis.md, "Honest tails").
SMALL_SAMPLE = 20


def judge(ctx, name, row):
    """(severity, evidence): metric `name`'s p95 against `row`, with the share of its judged samples
    (ctx["samples"]: without the warm-up updates) past each threshold. The statistics are the
    metrics stage's (ctx["judged_metrics"]), not computed again.

    With fewer than SMALL_SAMPLE values the p95 is their maximum, and the evidence says so
    (`p95_is_max_of`: the count)."""
    values, stats = ctx["samples"][name], dict(ctx["judged_metrics"][name])
    count = stats["count"]
    if 0 < count < SMALL_SAMPLE:
        stats["p95"] = stats["max"]
    at_warning = sum(map(float(row["warning"]).__le__, values))  # value >= warning, in C
    over_critical = sum(map(float(row["critical"]).__lt__, values))
    evidence = {
        "count": count,
        "p50": stats["p50"],
        "p95": stats["p95"],
        "max": stats["max"],
        "warning_threshold": row["warning"],
        "critical_threshold": row["critical"],
        "share_at_or_over_warning": at_warning / count if count else 0.0,
        "share_over_critical": over_critical / count if count else 0.0,
    }
    if 0 < count < SMALL_SAMPLE:
        evidence["p95_is_max_of"] = count
    return classify(stats["p95"], row) if count else "ok", evidence


def worst(*severities):
    return max(severities, key=SEVERITY_RANK.__getitem__)


def finding(finding_id, severity, summary, evidence, recommendation):
    return {
        "id": finding_id,
        "severity": severity,
        "summary": summary,
        "evidence": rounded(evidence),
        "recommendation": recommendation,
    }


def rounded(value, digits=3):
    """Evidence for people: floats to `digits` decimals (clock arithmetic leaves 2393.750000000682)."""
    if isinstance(value, float):
        return round(value, digits)
    if isinstance(value, dict):
        return {key: rounded(item, digits) for key, item in value.items()}
    if isinstance(value, list):
        return [rounded(item, digits) for item in value]
    return value


def ms(value):
    """A duration for prose: `1255 ms`, `30.3 s`."""
    if value is None:
        return "n/a"
    if abs(value) >= 10000:
        return f"{value / 1000:.1f} s"
    return f"{value:.0f} ms" if abs(value) >= 10 else f"{value:.1f} ms"


def share(evidence, level):
    """`3 of 40 (7.5%)` samples past the warning or critical threshold."""
    key = "share_at_or_over_warning" if level == "warning" else "share_over_critical"
    fraction = evidence[key]
    return f"{round(fraction * evidence['count'])} of {evidence['count']} ({fraction:.0%})"


def tail_sentence(name, evidence, severity, unit=" ms"):
    """`queue_ms p95 1255 ms is critical (> 1000 ms); 30 of 40 (75%) samples over critical.`, or with
    fewer than SMALL_SAMPLE samples `queue_ms p95 (the maximum of 3 samples) 30333 ms points to critical ...`
    and a sentence on what so few samples can say."""
    level = "critical" if severity == "critical" else "warning"
    bound = f"> {evidence['critical_threshold']:g}{unit}" if level == "critical" else f">= {evidence['warning_threshold']:g}{unit}"
    p95 = ms(evidence["p95"]) if unit == " ms" else f"{evidence['p95']:g}{unit}"
    past = "over critical" if level == "critical" else "at or over warning"
    few = evidence.get("p95_is_max_of")
    if few:
        return (f"{name} p95 (the maximum of {few} sample{'s' if few > 1 else ''}) {p95} points to {severity} ({bound}); "
                f"{share(evidence, level)} samples {past}. With fewer than {SMALL_SAMPLE} samples this is an "
                f"indication, not a measured tail: confirm it on a longer run.")
    return f"{name} p95 {p95} is {severity} ({bound}); {share(evidence, level)} samples {past}."
