"""The HTML page around the charts: diagnosis banner, findings with evidence, sections, inputs.

Every text that comes from logs or the report is escaped; Bokeh's scripts and styles are inline
(resources INLINE), so the file opens from file:// with no network.
"""

import json
import os
from html import escape

from bokeh.core.templates import MACROS, get_env
from bokeh.embed import file_html
from bokeh.resources import INLINE

from ..engine.compare import comparing
from . import charts
from .placement import dask_tasks, place_prime_rl

TEMPLATE = get_env().from_string("""\
{% from macros import embed %}
<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{{ title | e }}</title>
{{ bokeh_css }}
{{ bokeh_js }}
<style>
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 0; color: #222; background: #fff; }
main { max-width: 1400px; margin: 0 auto; padding: 16px 24px 48px; }
h1 { font-size: 1.1rem; font-weight: 600; color: #555; margin: 0 0 10px; }
h2 { font-size: 1.15rem; margin: 28px 0 8px; border-bottom: 1px solid #ddd; padding-bottom: 4px; }
.banner { border-radius: 6px; padding: 14px 18px; border-left: 10px solid; }
.banner.critical { background: #fdecea; border-color: #d62728; }
.banner.warning { background: #fff4e0; border-color: #f1a340; }
.banner.ok, .banner.info { background: #eaf6ea; border-color: #59a14f; }
.banner .id { font-size: 1.5rem; font-weight: 700; font-family: ui-monospace, monospace; }
.severity { display: inline-block; border-radius: 4px; padding: 1px 8px; margin-left: 8px; font-size: .85rem;
            font-weight: 600; color: #fff; vertical-align: middle; }
.severity.critical { background: #d62728; } .severity.warning { background: #e08a00; }
.severity.info { background: #4e79a7; } .severity.ok { background: #59a14f; }
.finding { border: 1px solid #ddd; border-radius: 6px; padding: 8px 14px; margin: 8px 0; }
.finding summary { cursor: pointer; font-family: ui-monospace, monospace; font-weight: 600; }
table.evidence, table.plain { border-collapse: collapse; font-size: .85rem; margin: 6px 0; }
table.evidence td, table.plain td, table.plain th { border: 1px solid #e3e3e3; padding: 2px 8px; text-align: left; }
table.evidence td:first-child { font-family: ui-monospace, monospace; color: #555; }
.note { color: #555; font-size: .9rem; margin: 4px 0; }
code { font-family: ui-monospace, monospace; }
</style>
</head>
<body>
<main>
<h1>stallscope {{ kind | e }}</h1>
{{ banner }}
{{ findings }}
{% for section in sections %}
<section id="{{ section.id }}">
<h2>{{ section.title | e }}</h2>
{{ section.before }}
{% for name in section.roots %}<div class="chart" data-chart="{{ name }}">{{ embed(roots[name]) }}</div>
{% endfor %}
{{ section.after }}
</section>
{% endfor %}
</main>
{{ plot_script }}
</body>
</html>
""")


def write_report(report, out_dir):
    models, sections = [], []
    if report.get("profile") and "prime-rl" in report["profile"]:
        _prime_rl_sections(report, models, sections)
    if "dask" in report:
        _dask_sections(report, models, sections)
    if "batch" in report:
        _batch_sections(report, models, sections)
    sections.append({"id": "inputs", "title": "Inputs", "roots": [], "before": _inputs(report), "after": ""})
    top = next((f for f in report["findings"] if f["id"] == report["diagnosis"]), None)
    others = [f for f in report["findings"] if f is not top]
    variables = {
        "kind": "analysis",
        "banner": _banner(report, top),
        "findings": ("<h2>Other findings</h2>" + "".join(_finding(f) for f in others)) if others else "",
        "sections": sections,
    }
    path = os.path.join(out_dir, "report.html")
    _write(path, models, f"stallscope: {report['diagnosis']} ({report['severity']})", variables)
    return path


def _write(path, models, title, variables):
    html = file_html(models, INLINE, title, template=TEMPLATE, template_variables=variables) if models else \
        TEMPLATE.render(title=title, bokeh_css="", bokeh_js="", plot_script="", roots={}, macros=MACROS, **variables)
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(html)


def _prime_rl_sections(report, models, sections):
    data, clock_note = place_prime_rl(report)
    timeline, overview, notes = charts.prime_rl_timeline(report, data)
    if clock_note:
        notes.insert(0, clock_note)
    before = ('<p class="note">Scroll to zoom, drag to pan; hover a bar for its trace id, times and log line. Batches that '
              "overlapped a weight update are red (what <code>generation_contention</code> counts); a black cross is an update "
              "sent and never done.</p>" + "".join(f'<p class="note">{escape(note)}</p>' for note in notes))
    if timeline is not None:
        models += [overview, timeline]
        sections.append({"id": "timeline-section", "title": "Timeline", "roots": ["overview", "timeline"],
                         "before": before, "after": ""})
    else:
        sections.append({"id": "timeline-section", "title": "Timeline", "roots": [],
                         "before": '<p class="note">No weight update, generation batch or checkpoint to draw.</p>', "after": ""})
    table = charts.slowest_table(report, data, timeline)
    if table is not None:
        models.append(table)
        sections.append({"id": "slowest", "title": "Slowest weight updates", "roots": ["slowest"], "after": "",
                         "before": '<p class="note">Select a row to show that update on the timeline.</p>'})
    plots = charts.prime_rl_distributions(report, data)
    if plots:
        models.append(charts.grid(plots, "distributions"))
        sections.append({"id": "distributions", "title": "Distributions", "roots": ["distributions"], "after": "",
                         "before": '<p class="note">Every entry, not only the drawn ones. Dashed lines: the warning '
                                   "(orange) and critical (red) thresholds of the finding that judges the metric.</p>"})


def _dask_sections(report, models, sections):
    tasks, memory, unplaced = dask_tasks(report)
    dask = report["dask"]
    figures = (f"{dask['trials']} trials, split-aggregation rate "
               f"{'-' if dask['split_agg_pct'] is None else format(dask['split_agg_pct'], '.0f') + '%'} "
               f"({dask['split_trials']} of {dask['trials_with_two_or_more_targets']} trials with two or more targets), "
               "memory messages: " + ", ".join(f"{dask['memory'][key]} {key}" for key in ("pause", "resume", "unmanaged", "restart")))
    plot, notes = charts.dask_timeline(tasks, memory)
    if unplaced:
        notes.append(f"{unplaced} task(s) without a readable timestamp are not drawn.")
    before = f'<p class="note">{escape(figures)}</p>' + "".join(f'<p class="note">{escape(note)}</p>' for note in notes)
    if plot is not None:
        plot.name = "dask_timeline"
        models.append(plot)
    sections.append({"id": "dask", "title": "Dask workers", "roots": ["dask_timeline"] if plot is not None else [],
                     "before": before, "after": ""})
    plots = charts.dask_distributions(tasks)
    if plots:
        models.append(charts.grid(plots, "dask_distributions"))
        sections.append({"id": "dask-distributions", "title": "Dask task durations", "roots": ["dask_distributions"],
                         "before": "", "after": ""})


def _batch_sections(report, models, sections):
    jobs = report["batch"]["jobs"]
    plots = charts.batch_progress(jobs)
    thinned = [job for job in jobs if job.get("progress") and job["progress"]["every"] > 1]
    notes = "".join(f'<p class="note">{escape(job["file"])}: every {job["progress"]["every"]}th progress line drawn.</p>'
                    for job in thinned)
    before = ('<p class="note">From each job\'s progress lines. The SLA time left is the SLA less the time its own '
              "rate implies has passed (completed / req/s); a job is at risk where its ETA is above it.</p>") + notes
    if plots:
        models.append(charts.grid(plots, "batch_progress"))
    else:
        before = '<p class="note">No progress line to draw.</p>'
    sections.append({"id": "batch", "title": "Batch jobs", "roots": ["batch_progress"] if plots else [],
                     "before": before, "after": ""})


def _banner(report, top):
    if top is None:
        return ('<div class="banner ok"><span class="id">healthy</span><span class="severity ok">ok</span>'
                "<p>No finding at warning or critical severity.</p></div>")
    return (f'<div class="banner {escape(top["severity"])}"><span class="id">{escape(top["id"])}</span>'
            f'<span class="severity {escape(top["severity"])}">{escape(top["severity"])}</span>'
            f"<p>{escape(top['summary'])}</p><p><b>Fix:</b> {escape(top['recommendation'])}</p>"
            f"{_evidence(top['evidence'])}</div>")


def _finding(finding):
    return (f'<details class="finding" open><summary>{escape(finding["id"])}'
            f'<span class="severity {escape(finding["severity"])}">{escape(finding["severity"])}</span></summary>'
            f"<p>{escape(finding['summary'])}</p><p><b>Recommendation:</b> {escape(finding['recommendation'])}</p>"
            f"{_evidence(finding['evidence'])}</details>")


def _evidence(evidence):
    if not evidence:
        return ""
    rows = "".join(f"<tr><td>{escape(str(key))}</td><td>{escape(_value(value))}</td></tr>" for key, value in evidence.items())
    return f'<table class="evidence"><tbody>{rows}</tbody></table>'


def _value(value):
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, (dict, list)):
        return json.dumps(value, default=str)
    return str(value)


def _inputs(report):
    rows = "".join(
        f"<tr><td>{escape(entry['path'])}</td><td>{escape(entry['host'] or '-')}</td><td>{entry['bytes']}</td>"
        f"<td>{entry['lines']}</td><td>{entry['recognised']}</td><td>{entry['malformed']}</td></tr>"
        for entry in report["inputs"])
    warnings = "".join(f"<li>{escape(warning)}</li>" for warning in report["warnings"])
    return ('<table class="plain"><thead><tr><th>file</th><th>host</th><th>bytes</th><th>lines</th><th>recognised</th>'
            f"<th>malformed</th></tr></thead><tbody>{rows}</tbody></table>"
            + (f"<h2>Warnings</h2><ul>{warnings}</ul>" if warnings else ""))


VERDICT_CLASS = {"pass": "ok", "fail": "critical", "inconclusive": "warning", "incomplete": "warning"}


def write_compare(result, before, after, names, path):
    """compare.html: the verdict and its criteria first, then each metric's distribution before and
    after overlaid (through the reports' summary quantiles), then the tables of the comparison."""
    table = after.get("thresholds") or before.get("thresholds") or {}
    plots = [charts.quantile_overlay(name, before["metrics"].get(name), after["metrics"].get(name), _row(table, name))
             for name in result["metrics"]]
    plots = [plot for plot in plots if plot is not None]
    models, sections = [], []
    if plots:
        models.append(charts.grid(plots, "overlays"))
        sections.append({"id": "distributions", "title": "Distributions before and after", "roots": ["overlays"], "after": "",
                         "before": '<p class="note">Each line passes through the summary quantiles report.json keeps '
                                   "(min, p50, p90, p95, p99, max). Dashed lines: warning (orange) and critical (red) "
                                   "thresholds.</p>"})
    figures = result[comparing((before, after)).SECTION]
    sections.append({"id": "figures", "title": "Figures", "roots": [], "after": "", "before": _comparison_tables(result, figures)})
    verdict = result["verdict"]
    criteria = "".join(f"<li><b>{escape(c['result'])}</b>: {escape(c['name'])}"
                       f"{escape(_criterion_figures(c))}</li>" for c in result["criteria"])
    sides = "".join(f"<li>{escape(side)}: <code>{escape(str(result[key]['diagnosis']))}</code> "
                    f"({escape(str(result[key]['severity']))}) from {escape(name)}</li>"
                    for side, key, name in (("before", "before", names[0]), ("after", "after", names[1])))
    banner = (f'<div class="banner {VERDICT_CLASS.get(verdict, "warning")}"><span class="id">verdict: {escape(verdict)}</span>'
              f"<ul>{criteria}</ul><ul>{sides}</ul></div>")
    variables = {"kind": "compare", "banner": banner, "findings": "", "sections": sections}
    _write(path, models, f"stallscope compare: {verdict}", variables)
    return path


def _row(table, name):
    row = table.get(name) or (table.get("rpc_ms") if name.startswith("rpc_ms.") else None)
    return row if isinstance(row, dict) and "warning" in row and "critical" in row else None


def _criterion_figures(criterion):
    figures = [f"{side} {criterion[side]:.4g}" for side in ("before", "after") if isinstance(criterion.get(side), (int, float))]
    return f" ({', '.join(figures)})" if figures else ""


def _comparison_tables(result, figures):
    rows = []
    for name, row in result["metrics"].items():
        cells = "".join(f"<td>{_number(row['before'][key])}</td><td>{_number(row['after'][key])}</td>" for key in ("mean", "p50", "p95"))
        change = row["change"]["p95"]["percent"]
        rows.append(f"<tr><td>{escape(name)}</td>{cells}<td>{'-' if change is None else format(change, '+.0f') + '%'}</td></tr>")
    html = ('<table class="plain"><thead><tr><th>metric</th><th>mean before</th><th>mean after</th><th>p50 before</th>'
            "<th>p50 after</th><th>p95 before</th><th>p95 after</th><th>p95 change</th></tr></thead>"
            f"<tbody>{''.join(rows)}</tbody></table>")
    if figures:
        html += ('<table class="plain"><thead><tr><th>figure</th><th>before</th><th>after</th></tr></thead><tbody>'
                 + "".join(f"<tr><td>{escape(f['figure'])}</td><td>{_number(f['before'])}</td><td>{_number(f['after'])}</td></tr>"
                           for f in figures) + "</tbody></table>")
    return html


def _number(value):
    return "-" if value is None else escape(f"{value:.4g}" if isinstance(value, float) else str(value))


def write_sweep(result, path):
    """sweep.html: the best variant first, the objective per variant as bars, then the N-way table
    (each variant's variables, diagnosis and key figures) with a link to each variant's report.html."""
    models, sections = [], []
    plot = charts.objective_bars(result)
    if plot is not None:
        models.append(plot)
        sections.append({"id": "objective", "title": "Objective per variant", "roots": ["objective"], "after": "",
                         "before": '<p class="note">Hover a bar for the variant\'s variables and diagnosis; failed '
                                   "variants have no bar.</p>"})
    sections.append({"id": "variants", "title": "Variants", "roots": [], "after": "",
                     "before": _sweep_table(result, os.path.dirname(os.path.abspath(path)))})
    objective = result["objective"]
    if result["best"] is not None:
        best = next(row for row in result["rows"] if row["name"] == result["best"])
        banner = (f'<div class="banner ok"><span class="id">best: {escape(best["name"])}</span>'
                  f"<p>{escape(objective['metric'])} {_number(best['objective'])} ({escape(objective['better'])} is better) "
                  f"with {escape(_variables(best))}; diagnosis <code>{escape(str(best['diagnosis']))}</code> "
                  f"({escape(str(best['severity']))})</p></div>")
    else:
        reason = "the profile has no objective" if objective is None else f"no variant has {objective['metric']}"
        banner = f'<div class="banner warning"><span class="id">no best variant</span><p>{escape(reason)}</p></div>'
    failed = [row for row in result["rows"] if row["failed"]]
    notes = "".join(f"<li>{escape(row['name'])}: variant failed: {escape(row['failed'])}</li>" for row in failed)
    notes += "".join(f"<li>{escape(name)}: not run yet</li>" for name in result.get("not_run", []))
    variables = {"kind": f"sweep {result.get('sweep_id', '')}", "banner": banner,
                 "findings": f"<ul>{notes}</ul>" if notes else "", "sections": sections}
    _write(path, models, f"stallscope sweep {result.get('sweep_id', '')}", variables)
    return path


def _variables(row):
    return ", ".join(f"{key}={value}" for key, value in row["variables"].items()) or "the profile's own variables"


def _sweep_table(result, here):
    """The N-way table; `here`: the sweep's directory (runs/sweeps/<id>), whose variants' pages are
    in runs/<run id>/analysis/."""
    keys = sorted({key for row in result["rows"] for key in row["variables"]})
    head = ["variant", *keys, "diagnosis"] + ([result["objective"]["metric"]] if result["objective"] else []) + result["figures"]
    rows = []
    for row in result["rows"]:
        name = escape(row["name"]) + (" (best)" if row["name"] == result["best"] else "")
        page = os.path.join(here, "..", "..", str(row.get("run_id")), "analysis", "report.html")
        if not row["failed"] and os.path.isfile(page):
            name = f'<a href="{escape(os.path.relpath(page, here))}">{name}</a>'
        cells = [name, *(escape(str(row["variables"].get(key, "-"))) for key in keys)]
        if row["failed"]:
            cells.append(f"variant failed: {escape(row['failed'])}")
            cells += ["-"] * (len(head) - len(cells))
        else:
            cells.append(f"<code>{escape(row['diagnosis'])}</code> ({escape(row['severity'])})")
            if result["objective"]:
                cells.append(_number(row["objective"]))
            cells += [_number(row["figures"][label]) for label in result["figures"]]
        rows.append("<tr>" + "".join(f"<td>{cell}</td>" for cell in cells) + "</tr>")
    return ('<table class="plain"><thead><tr>' + "".join(f"<th>{escape(h)}</th>" for h in head) + "</tr></thead><tbody>"
            + "".join(rows) + "</tbody></table>")
