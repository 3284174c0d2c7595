"""Comparing two analyses (before / after a change) against the success criteria of docs/analysis.md."""

import json
import os

from .errors import InputError
from .pipeline import SCHEMA_VERSION, analyze
from .thresholds import CRITERIA_KEY, merge_thresholds

COMPARED = ("queue_ms", "client_queue_ms", "server_queue_ms", "wall_ms", "rpc_ms", "rpc_ms.update_weights",
            "rpc_ms.reload_weights", "wait_ms", "write_ms", "gen_dur_ms", "inflight",
            "trunc_pct", "staleness", "untraced_requests_per_s")
DASK_COMPARED = ("sim_duration_ms", "agg_duration_ms", "agg_total_inline_mb", "agg_max_single_kb",
                 "event_loop_unresponsive_s")
BATCH_COMPARED = ("kv_cache_usage_pct", "engine_generation_tokens_per_s", "engine_waiting_reqs")
SHOWN = ("mean", "p50", "p95")
# Batch-inference runs (docs/ray.md): the figures side by side (label, report_value's path).
BATCH_FIGURES = (
    ("throughput (req/s)", "batch.throughput_rps"),
    ("tokens/s", "batch.tokens_per_s"),
    ("latency p95 (s)", "batch.latency_p95_s"),
    ("error rate (%)", "batch.error_rate_pct"),
    ("ETA at the last progress line (h)", "batch.eta_h"),
    ("preemptions per 100 requests", "batch.preemption_pct"),
    ("slowest engine's slowdown", "batch.worker_slowdown"),
    ("CPU stages / engine stage wall time", "batch.cpu_stage_share"),
)
# The A/B figures of docs/dask.md: (label, where in the report: report_value's path).
DASK_FIGURES = (
    ("trials per minute", "dask.trials_per_min"),
    ("trials", "dask.trials"),
    ("sim duration p50 (ms)", "sim_duration_ms.p50"),
    ("sim duration p95 (ms)", "sim_duration_ms.p95"),
    ("agg duration p50 (ms)", "agg_duration_ms.p50"),
    ("agg duration p95 (ms)", "agg_duration_ms.p95"),
    ("split-aggregation rate (%)", "dask.split_agg_pct"),
    ("payload per aggregation p50 (MB)", "agg_total_inline_mb.p50"),
    ("agg/sim median ratio", "dask.agg_sim_ratio"),
    ("transfer share of task time (%)", "dask.perf_report.transfer_share"),
)


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
# Run-level throughput figures shown side by side (report `throughput` keys).
THROUGHPUT_FIGURES = (("completions/s", "throughput.completions_per_s"), ("tokens/s", "throughput.tokens_per_s"),
                      ("step time (s)", "throughput.step_time_s"), ("steady-state steps", "throughput.steps"),
                      ("steady-state span (s)", "throughput.span_s"))


def compare(before, after, thresholds=None):
    """Per metric mean/p50/p95 before and after, with the change, and the verdict.

    `thresholds`: a thresholds override (plain data, as for analyze()) whose `success_criteria`
    and rows the criteria use. Two Dask calibration reports (both with a `dask` section) are
    compared on docs/dask.md's A/B figures (`dask`) and judged on trials per minute and the
    split-aggregation rate instead.
    """
    table = merge_thresholds(thresholds)
    criteria_table = table[CRITERIA_KEY]
    dask = "dask" in before and "dask" in after
    batch = not dask and "batch" in before and "batch" in after
    metrics = {}
    for name in DASK_COMPARED if dask else BATCH_COMPARED if batch else COMPARED:
        old, new = before["metrics"].get(name), after["metrics"].get(name)
        if not (old and old.get("count")) and not (new and new.get("count")):
            continue
        row = {"before": _pick(old), "after": _pick(new)}
        row["change"] = {key: _change(row["before"][key], row["after"][key]) for key in SHOWN}
        metrics[name] = row
    if dask:
        criteria = [_trials_criterion(before, after, criteria_table), _split_criterion(after, table)]
    elif batch:
        criteria = [_batch_throughput_criterion(before, after, criteria_table), _sla_criterion(after)]
    else:
        criteria = [_queue_criterion(after, criteria_table), _throughput_criterion(before, after, criteria_table)]
    outcomes = {criterion["result"] for criterion in criteria}
    verdict = next((verdict for result, verdict in VERDICT_ORDER if result in outcomes), "pass")
    result = {
        "before": {"diagnosis": before.get("diagnosis"), "severity": before.get("severity")},
        "after": {"diagnosis": after.get("diagnosis"), "severity": after.get("severity")},
        "metrics": metrics,
        "criteria": criteria,
        "verdict": verdict,
    }
    if batch:
        result["batch"] = [dict(figure=label, before=report_value(before, where), after=report_value(after, where),
                                change=_change(report_value(before, where), report_value(after, where)))
                           for label, where in BATCH_FIGURES]
    elif not dask:
        result["throughput"] = [dict(figure=label, before=report_value(before, where), after=report_value(after, where),
                                     change=_change(report_value(before, where), report_value(after, where)))
                                for label, where in THROUGHPUT_FIGURES]
    if dask:
        result["dask"] = [dict(figure=label, before=report_value(before, where), after=report_value(after, where),
                               change=_change(report_value(before, where), report_value(after, where)))
                          for label, where in DASK_FIGURES]
    return result


# Report sections whose figures report_value reads by key.
REPORT_SECTIONS = ("throughput", "dask", "gpu", "batch")


def report_value(report, path):
    """A figure of a report by path, or None: `throughput.<key>` (run-level throughput), `gpu.<key>`,
    `dask.<key>` (`dask.perf_report.transfer_share` as %) or `<metric>.<stat>` (a metric's statistic)."""
    section, _, key = path.partition(".")
    if section in ("throughput", "gpu", "batch"):
        return (report.get(section) or {}).get(key)
    if section == "dask":
        dask = report.get("dask") or {}
        if key == "perf_report.transfer_share":
            share = (dask.get("perf_report") or {}).get("transfer_share")
            return None if share is None else share * 100.0
        return dask.get(key)
    name, _, stat = path.rpartition(".")
    return (report["metrics"].get(name) or {}).get(stat)


def _trials_criterion(before, after, criteria):
    tolerance = criteria["trials_per_min_tolerance"]
    old, new = before["dask"].get("trials_per_min"), after["dask"].get("trials_per_min")
    criterion = {"name": f"trials per minute not worse (after >= {1 - tolerance:.0%} of before)", "before": old,
                 "after": new}
    if old is None or new is None:
        return dict(criterion, result="not measured")
    return dict(criterion, result="pass" if new >= old * (1 - tolerance) else "fail")


def _split_criterion(after, table):
    limit = table["split_agg_pct"]["warning"]
    split = after["dask"].get("split_agg_pct")
    criterion = {"name": f"split-aggregation rate < {limit:g}% (after)", "after": split}
    if split is None:
        return dict(criterion, result="not measured")
    return dict(criterion, result="pass" if split < limit else "fail")


def _batch_throughput_criterion(before, after, criteria):
    """Batch inference: the run's req/s, and tokens/s when both runs have it, after >= before *
    (1 - gen_throughput_tolerance)."""
    tolerance = criteria["gen_throughput_tolerance"]
    old, new = before["batch"], after["batch"]
    criterion = {"name": f"batch throughput not worse (req/s and tokens/s after >= {1 - tolerance:.0%} of before)",
                 "before": old.get("throughput_rps"), "after": new.get("throughput_rps"), "figure": "batch.throughput_rps"}
    if old.get("throughput_rps") is None or new.get("throughput_rps") is None:
        return dict(criterion, result="not measured", reason="a run has no finished job with a measured span")
    return _rates_judged(criterion, old, new, ("req/s", "throughput_rps"), tolerance)


def _rates_judged(criterion, old, new, rate, tolerance):
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


def _sla_criterion(after):
    """Batch inference: the last job after the change met its SLA or is on track (docs/ray.md)."""
    state = after["batch"].get("sla_state")
    criterion = {"name": f"SLA met or on track (after: {state or 'no job'})", "state": state}
    if state is None:
        return dict(criterion, result="not measured", reason="no job in the run")
    return dict(criterion, result="pass" if state in ("met", "on_track") else "fail")


def _pick(stats):
    stats = stats or {}
    return {key: stats.get(key) for key in SHOWN}


def _change(old, new):
    if old is None or new is None:
        return {"delta": None, "percent": None}
    return {"delta": new - old, "percent": (new - old) / old * 100.0 if old else None}


def _queue_criterion(after, criteria):
    limit = criteria["queue_ms_p95_below"]
    p95 = (after["metrics"].get("queue_ms") or {}).get("p95")
    criterion = {"name": f"queue_ms p95 < {limit:g} ms (after)", "after": p95, "figure": "queue_ms.p95"}
    if p95 is None:
        return dict(criterion, result="not measured")
    return dict(criterion, result="pass" if p95 < limit else "fail")


def _throughput_criterion(before, after, criteria):
    """The success criterion "no regression in generation throughput", judged on run-level throughput
    (throughput.py): completions/s, and tokens/s when both runs carry tokens, after >= before *
    (1 - tolerance). Inconclusive when a run is too short or the runs' batch sizes or warm-ups
    differ."""
    tolerance = criteria["gen_throughput_tolerance"]
    old, new = before.get("throughput"), after.get("throughput")
    criterion = {
        "name": f"generation throughput not worse (run-level completions/s after >= {1 - tolerance:.0%} of before)",
        "before": (old or {}).get("completions_per_s"),
        "after": (new or {}).get("completions_per_s"),
        "step_time_s": {"before": (old or {}).get("step_time_s"), "after": (new or {}).get("step_time_s")},
    }
    for side, section in (("before", old), ("after", new)):
        if section is None:
            return dict(criterion, result="not measured",
                        reason=f"{side}: the report has no run-level throughput (made by an older stallscope): analyse its logs again")
        if section["reason"] is not None:
            return dict(criterion, result="not measured", reason=f"{side}: {section['reason']}")
    for side, section in (("before", old), ("after", new)):
        if section["steps"] < criteria["min_steps"]:
            return dict(criterion, result="inconclusive",
                        reason=f"{side}: {section['steps']} steady-state step(s), fewer than min_steps {criteria['min_steps']}")
    if old["batch_sizes"] != new["batch_sizes"]:
        return dict(criterion, result="inconclusive",
                    reason=f"batch sizes differ ({_sizes(old)} before, {_sizes(new)} after): equal work per step is needed")
    if old["warmup_steps"] != new["warmup_steps"]:
        return dict(criterion, result="inconclusive",
                    reason=f"analysed with different warm-ups ({old['warmup_steps']} and {new['warmup_steps']} steps): "
                           "analyse both with the same thresholds")
    return _rates_judged(criterion, old, new, ("completions/s", "completions_per_s"), tolerance)


def _sizes(section):
    return "/".join(f"{size:g}" for size in section["batch_sizes"]) or "unknown"


# The figures of the N-way table (label, report_value path): the key metrics' p50/p95 and throughput.
RUN_FIGURES = (("queue_ms p50", "queue_ms.p50"), ("queue_ms p95", "queue_ms.p95"), ("rpc_ms p95", "rpc_ms.p95"),
               ("batch dur_ms p95", "gen_dur_ms.p95"), ("completions/s", "throughput.completions_per_s"),
               ("step time s", "throughput.step_time_s"))
BATCH_RUN_FIGURES = (("req/s", "batch.throughput_rps"), ("tokens/s", "batch.tokens_per_s"),
                     ("latency p95 s", "batch.latency_p95_s"), ("error %", "batch.error_rate_pct"),
                     ("ETA h", "batch.eta_h"))
DASK_RUN_FIGURES = (("trials/min", "dask.trials_per_min"), ("split %", "dask.split_agg_pct"),
                    ("agg p50 ms", "agg_duration_ms.p50"), ("agg p95 ms", "agg_duration_ms.p95"),
                    ("sim p95 ms", "sim_duration_ms.p95"))


def compare_runs(runs, objective=None, thresholds=None):
    """One row per run: diagnosis, severity, the objective, the key figures, and the verdict of each
    run against the first (the baseline). `runs`: dicts with `name`, `report` (None when the run
    failed, with `failure` saying why) and optional `variables`. `objective`: {metric, better}
    (docs/profiles.md) marks the best run."""
    reports = [run["report"] for run in runs if run.get("report") is not None]
    figures = (DASK_RUN_FIGURES if reports and all("dask" in report for report in reports) else
               BATCH_RUN_FIGURES if reports and all("batch" in report for report in reports) else RUN_FIGURES)
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
    for key, title, skip_empty in (("throughput", "Run-level throughput (steady state, warm-up excluded)", True),
                                   ("batch", "Batch inference (docs/ray.md)", False),
                                   ("dask", "A/B (docs/dask.md)", False)):
        if key not in result:
            continue
        out += [f"## {title}", "", f"| figure | {before_name} | {after_name} | change |", "| --- | ---: | ---: | ---: |"]
        for row in result[key]:
            if skip_empty and row["before"] is None and row["after"] is None:
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
