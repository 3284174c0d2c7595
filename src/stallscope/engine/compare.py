"""Comparing two analyses (before / after a change) against the success criteria of docs/analysis.md."""

import json
import os

from . import families
from .errors import InputError
from .pipeline import SCHEMA_VERSION, analyze
from .thresholds import merge_thresholds

SHOWN = ("mean", "p50", "p95")


def load_report(path, thresholds=None, async_level=None):
    """The report of `path`: a report.json file, an analysis dir holding one, or logs to analyse."""
    path = os.fspath(path)
    candidate = os.path.join(path, "report.json") if os.path.isdir(path) else path
    if candidate.endswith(".json") and os.path.isfile(candidate):
        try:
            with open(candidate, encoding="utf-8") as handle:
                report = json.load(handle)
        except (OSError, UnicodeError, ValueError) as error:
            raise InputError(f"{candidate}: not a readable report.json ({error})") from None
        if not isinstance(report, dict) or report.get("schema_version") != SCHEMA_VERSION or not isinstance(report.get("metrics"), dict):
            raise InputError(f"{candidate}: not a stallscope report.json (schema_version {SCHEMA_VERSION} with metrics)")
        return report
    return analyze([path], thresholds=thresholds, async_level=async_level)


# The verdict: the first of these that some criterion gave, else `pass`.
VERDICT_ORDER = (("fail", "fail"), ("inconclusive", "inconclusive"), ("not measured", "incomplete"))


def comparing(reports):
    """The family whose figures and criteria compare `reports`: the first of the registry's with a
    compare part whose report section all of them have; else prime-rl's (every report has its
    sections, so it cannot be told by them)."""
    return next((family for family in families.RUNS if family is not families.prime_rl and hasattr(family, "criteria")
                 and reports and all(family.SECTION in report for report in reports)), families.prime_rl)


def compare(before, after, thresholds=None):
    """Per metric mean/p50/p95 before and after, with the change, the figures side by side and the
    verdict, on the figures and criteria of the family both reports have (comparing()).

    `thresholds`: a thresholds override (plain data, as for analyze()) whose `success_criteria`
    and rows the criteria use.
    """
    table = merge_thresholds(thresholds)
    family = comparing((before, after))
    metrics = {}
    for name in family.COMPARED_METRICS:
        old, new = before["metrics"].get(name), after["metrics"].get(name)
        if not (old and old.get("count")) and not (new and new.get("count")):
            continue
        row = {"before": _pick(old), "after": _pick(new)}
        row["change"] = {key: _change(row["before"][key], row["after"][key]) for key in SHOWN}
        metrics[name] = row
    criteria = family.criteria(before, after, table)
    outcomes = {criterion["result"] for criterion in criteria}
    verdict = next((verdict for result, verdict in VERDICT_ORDER if result in outcomes), "pass")
    return {
        "before": {"diagnosis": before.get("diagnosis"), "severity": before.get("severity")},
        "after": {"diagnosis": after.get("diagnosis"), "severity": after.get("severity")},
        "metrics": metrics,
        "criteria": criteria,
        "verdict": verdict,
        family.SECTION: [dict(figure=label, before=report_value(before, where), after=report_value(after, where),
                              change=_change(report_value(before, where), report_value(after, where)))
                         for label, where in family.COMPARED_FIGURES],
    }


def section_family(section):
    """The family whose report section of figures (its SECTION) is `section`, or None."""
    return next((family for family in families.RUNS if getattr(family, "SECTION", None) == section), None)


def report_value(report, path):
    """A figure of a report by path, or None: `<section>.<key>` (a key of a family's SECTION, e.g.
    `throughput.<key>`, read by the family's figure() when it has one) or `<metric>.<stat>` (a
    metric's statistic)."""
    section, _, key = path.partition(".")
    family = section_family(section)
    if family is not None:
        data = report.get(section) or {}
        return family.figure(data, key) if hasattr(family, "figure") else data.get(key)
    name, _, stat = path.rpartition(".")
    return (report["metrics"].get(name) or {}).get(stat)


def _pick(stats):
    stats = stats or {}
    return {key: stats.get(key) for key in SHOWN}


def _change(old, new):
    if old is None or new is None:
        return {"delta": None, "percent": None}
    return {"delta": new - old, "percent": (new - old) / old * 100.0 if old else None}


def compare_runs(runs, objective=None, thresholds=None):
    """One row per run: diagnosis, severity, the objective, the key figures, and the verdict of each
    run against the first (the baseline). `runs`: dicts with `name`, `report` (None when the run
    failed, with `failure` saying why) and optional `variables`. `objective`: {metric, better}
    (docs/profiles.md) marks the best run."""
    reports = [run["report"] for run in runs if run.get("report") is not None]
    figures = comparing(reports).RUN_FIGURES
    baseline = runs[0].get("report") if runs else None
    rows = []
    for index, run in enumerate(runs):
        report = run.get("report")
        row = {"name": run["name"], "variables": run.get("variables") or {}}
        if report is None:
            rows.append(dict(row, failed=run.get("failure") or "no analysis", diagnosis=None, severity=None,
                             objective=None, figures={}, verdict=None))
            continue
        verdict = compare(baseline, report, thresholds)["verdict"] if index and baseline is not None else None
        rows.append(dict(row, failed=None, diagnosis=report["diagnosis"], severity=report["severity"],
                         objective=report_value(report, objective["metric"]) if objective else None,
                         figures={label: report_value(report, path) for label, path in figures}, verdict=verdict))
    ranked = [row for row in rows if row["objective"] is not None]
    best = None
    if ranked:
        pick = max if objective["better"] == "higher" else min
        best = pick(ranked, key=lambda row: row["objective"])["name"]
    return {"objective": objective, "figures": [label for label, _ in figures], "rows": rows, "best": best}


def compare_runs_markdown(result, title="stallscope compare"):
    """The N-way table: one row per run, the best by the objective marked."""
    objective = result["objective"]
    variables = sorted({key for row in result["rows"] for key in row["variables"]})
    head = ["run", *variables, "diagnosis"]
    if objective:
        head.append(f"{objective['metric']} ({objective['better']} is better)")
    head += [*result["figures"], "vs first"]
    out = [f"# {title}", ""]
    if result["best"] is not None:
        out += [f"Best by {objective['metric']}: **{result['best']}**", ""]
    out += ["| " + " | ".join(head) + " |", "| " + " | ".join("---" for _ in head) + " |"]
    for row in result["rows"]:
        name = f"**{row['name']}** (best)" if row["name"] == result["best"] else row["name"]
        cells = [name, *(str(row["variables"].get(key, "-")) for key in variables)]
        if row["failed"]:
            cells.append(f"variant failed: {row['failed']}")
            cells += ["-"] * (len(head) - len(cells))
        else:
            cells.append(f"`{row['diagnosis']}` ({row['severity']})")
            if objective:
                cells.append(figure_text(row["objective"]))
            cells += [figure_text(row["figures"][label]) for label in result["figures"]]
            cells.append(row["verdict"] or "-")
        out.append("| " + " | ".join(cells) + " |")
    return "\n".join(out) + "\n"


def compare_markdown(result, before_name, after_name):
    out = [f"# stallscope compare: {before_name} -> {after_name}", ""]
    out.append(f"**Verdict: {result['verdict']}**")
    out.append("")
    for criterion in result["criteria"]:
        values = ", ".join(f"{side} {figure_text(criterion[side])}" for side in ("before", "after") if side in criterion)
        for label, key, unit in (("tokens/s", "tokens_per_s", ""), ("step time", "step_time_s", " s")):
            if key in criterion:
                values += (f"; {label} {figure_text(criterion[key]['before'])}{unit} -> "
                           f"{figure_text(criterion[key]['after'])}{unit}")
        reason = f": {criterion['reason']}" if criterion.get("reason") else ""
        out.append(f"- {criterion['result']}: {criterion['name']}{f' ({values})' if values else ''}{reason}")
    out += [
        "",
        f"Diagnosis before: `{result['before']['diagnosis']}` ({result['before']['severity']}); "
        f"after: `{result['after']['diagnosis']}` ({result['after']['severity']})",
        "",
    ]
    for family in families.RUNS:
        if not hasattr(family, "criteria") or family.SECTION not in result:
            continue
        out += [f"## {family.COMPARED_TITLE}", "", f"| figure | {before_name} | {after_name} | change |",
                "| --- | ---: | ---: | ---: |"]
        for row in result[family.SECTION]:
            if not family.COMPARED_EMPTY_ROWS and row["before"] is None and row["after"] is None:
                continue
            out.append(f"| {row['figure']} | {figure_text(row['before'])} | {figure_text(row['after'])} | "
                       f"{_delta(row['change'])} |")
        out += ["", "## Metrics", ""]
    out += [
        "| metric | mean before | mean after | p50 before | p50 after | p95 before | p95 after | p95 change |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name, row in result["metrics"].items():
        cells = []
        for key in SHOWN:
            cells += [_fmt(row["before"][key]), _fmt(row["after"][key])]
        cells.append(_delta(row["change"]["p95"]))
        out.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(out) + "\n"


def _delta(change):
    percent = "" if change["percent"] is None else f" ({change['percent']:+.0f}%)"
    return "-" if change["delta"] is None else f"{change['delta']:+.1f}{percent}"


def figure_text(value):
    if value is None:
        return "-"
    return f"{value:.0f}" if abs(value) >= 1000 else f"{value:.4g}"


def _fmt(value):
    return "-" if value is None else f"{value:.1f}"
