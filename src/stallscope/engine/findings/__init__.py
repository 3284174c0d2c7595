"""Findings: one module per finding id, with ID, JUDGED_ON (the report figure a fix of it is judged
on, as a compare.report_value path, lower being better; None when its severity is all there is) and
evaluate(ctx) -> finding dict | None. A family lists its findings (families/__init__.py); their order
is the diagnosis' tie-break order (docs/analysis.md, Findings).

ctx: `samples` and `metrics` (per metric name), `families` (each family's run records by NAME),
`records` (the prime-rl family's), `thresholds`, `async_level`
(`{value, source}`), `inputs` (report inputs, by file index), `correlation`, `profiles` (names of
the log families seen), `dask` (the report's dask section, None without Dask lines) and `gpu` (the
report's gpu section, None without GPU samples).
"""

from .common import SEVERITY_RANK


def evaluate_all(ctx, findings):
    """The findings present, in the order of `findings` (modules)."""
    return [result for result in (module.evaluate(ctx) for module in findings) if result is not None]


def diagnose(findings):
    """(diagnosis, severity): the most severe warning/critical finding, ties in registry order."""
    best = None
    for result in findings:
        rank = SEVERITY_RANK[result["severity"]]
        if rank >= SEVERITY_RANK["warning"] and (best is None or rank > SEVERITY_RANK[best["severity"]]):
            best = result
    return ("healthy", "ok") if best is None else (best["id"], best["severity"])
