"""Did a fix help? A baseline and its variant (the same run with a fix applied), judged with the same
comparison as `stallscope compare`, as one of VERDICTS (rules in docs/analysis.md)."""

import json

from .compare import compare, comparing, figure_text, report_value
from .families import FINDINGS
from .findings.common import SEVERITY_RANK
from .thresholds import CRITERIA_KEY, merge_thresholds

VERDICTS = ("fixed", "improved", "no change", "worse", "variant failed")
JUDGED_ON = {module.ID: module.JUDGED_ON for module in FINDINGS}


def fix_verdict(before, after, finding, thresholds=None, failure=None):
    """The verdict on a fix of `finding` (the baseline's diagnosis) from the two reports.

    `failure`: why the variant did not run to its end (e.g. "orchestrator exited with code 1"), or
    None; `after` may then be None. Returns plain data: verdict, reason, finding, the severities
    and `decided_by` (before -> after of the figures that decided), and the comparison.
    """
    if failure is not None or after is None:
        return {"verdict": "variant failed", "reason": failure or "the variant has no analysis", "finding": finding,
                "severity": {"before": _severity(before, finding), "after": None}, "decided_by": [], "comparison": None}
    comparison = compare(before, after, thresholds)
    change_min = merge_thresholds(thresholds)[CRITERIA_KEY]["fix_metric_change"]
    severity = {"before": _severity(before, finding), "after": _severity(after, finding)}
    metric = JUDGED_ON.get(finding)
    decided_by = []
    if metric is not None:
        decided_by.append({"figure": metric, "before": report_value(before, metric), "after": report_value(after, metric)})
    failed = [c for c in comparison["criteria"] if c["result"] == "fail"]
    # A criterion with a before value compares the runs (throughput not worse): failing it is worse.
    # One with only an after value is a target (queue_ms p95 < 300 ms): failing it is not fixed.
    regressed = [c for c in failed if "before" in c]
    # A success criterion that sets the target for the finding's figure (queue_ms p95 < 300 ms).
    target = next((c for c in comparison["criteria"] if metric and c.get("figure") == metric), None)
    family = comparing((before, after))
    for criterion in comparison["criteria"]:
        if criterion["result"] == "fail" or (hasattr(family, "guards") and family.guards(criterion)):
            decided_by.append({"figure": criterion["name"], "before": criterion.get("before"), "after": criterion.get("after"),
                               "result": criterion["result"], "reason": criterion.get("reason")})
    moved = _relative_change(decided_by[0] if metric is not None else None)
    rank_before, rank_after = SEVERITY_RANK[severity["before"]], SEVERITY_RANK[severity["after"]]
    if regressed:
        verdict, reason = "worse", "; ".join(f"{c['name']} fails" for c in regressed)
    elif rank_after > rank_before:
        verdict, reason = "worse", f"{finding} went from {severity['before']} to {severity['after']}"
    elif SEVERITY_RANK[after["severity"]] > SEVERITY_RANK[before["severity"]]:
        verdict, reason = "worse", (f"the variant's diagnosis {after['diagnosis']} ({after['severity']}) is more severe "
                                    f"than the baseline's {before['diagnosis']} ({before['severity']})")
    elif moved is not None and moved >= change_min:
        verdict, reason = "worse", f"{metric} rose by {moved:.0%}"
    elif rank_after < SEVERITY_RANK["warning"] <= rank_before and not failed:
        verdict, reason = "fixed", f"{finding} is gone (was {severity['before']}) and no success criterion fails"
    elif target is not None and rank_after < rank_before and not failed:
        verdict, reason = "fixed", (f"{target['name']} passes ({figure_text(target['after'])}) and no success "
                                    f"criterion fails; {finding} went from {severity['before']} to {severity['after']}")
    elif rank_after < SEVERITY_RANK["warning"] <= rank_before:
        verdict, reason = "improved", (f"{finding} is gone (was {severity['before']}) but "
                                       + "; ".join(f"{c['name']} fails" for c in failed))
    elif rank_after < rank_before:
        verdict, reason = "improved", f"{finding} went from {severity['before']} to {severity['after']}"
    elif moved is not None and -moved >= change_min:
        verdict, reason = "improved", f"{metric} fell by {-moved:.0%}, {finding} is still {severity['after']}"
    else:
        verdict, reason = "no change", (f"{finding} is still {severity['after']}" +
                                        (f" and {metric} moved by less than {change_min:.0%}" if metric else ""))
    unjudged = [c for c in comparison["criteria"] if c["result"] in ("inconclusive", "not measured")]
    if unjudged:
        reason += "; not judged: " + "; ".join(f"{c['name']} ({c.get('reason') or c['result']})" for c in unjudged)
    return {"verdict": verdict, "reason": reason, "finding": finding, "severity": severity, "decided_by": decided_by,
            "comparison": comparison}


def _severity(report, finding):
    """The finding's severity in a report; `ok` when it is not there."""
    return next((f["severity"] for f in report["findings"] if f["id"] == finding), "ok")


def _relative_change(figure):
    if figure is None or figure["before"] is None or figure["after"] is None or not figure["before"]:
        return None
    return (figure["after"] - figure["before"]) / abs(figure["before"])


def fix_verdict_markdown(result, fix, baseline, variant):
    """The verdict for people: what was tried, the verdict and why, before -> after of what decided."""
    out = [f"# Fix validation: {fix['name']} on {baseline} -> {variant}", "",
           f"**Verdict: {result['verdict']}**: {result['reason']}", "",
           f"- finding: `{result['finding']}` ({result['severity']['before']} -> {result['severity']['after'] or '-'})",
           f"- fix: {fix['description']} (`{json.dumps(fix['vars'], sort_keys=True)}`)"]
    if result["decided_by"]:
        out += ["", "| figure | before | after |", "| --- | ---: | ---: |"]
        out += [f"| {row['figure']} | {figure_text(row['before'])} | {figure_text(row['after'])} |"
                for row in result["decided_by"]]
    return "\n".join(out) + "\n"

