"""What the families' compare criteria share (compare.py; docs/analysis.md, `stallscope compare`)."""


def rates_judged(criterion, old, new, rate, tolerance):
    """The criterion passed or failed on `rate` (label, key), and on tokens_per_s when both sides
    have it: after >= before * (1 - tolerance)."""
    judged = [rate]
    if old.get("tokens_per_s") is not None and new.get("tokens_per_s") is not None:
        criterion["tokens_per_s"] = {"before": old["tokens_per_s"], "after": new["tokens_per_s"]}
        judged.append(("tokens/s", "tokens_per_s"))
    worse = [label for label, key in judged if new[key] < old[key] * (1 - tolerance)]
    if worse:
        return dict(criterion, result="fail", reason=f"{' and '.join(worse)} below {1 - tolerance:.0%} of before")
    return dict(criterion, result="pass")
