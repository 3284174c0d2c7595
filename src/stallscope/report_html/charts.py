"""The report's Bokeh charts: the timeline and its overview, the distributions, the slowest updates."""

import numpy as np
from bokeh.layouts import gridplot
from bokeh.models import (ColumnDataSource, CustomJS, DataTable, FactorRange, HoverTool, NumberFormatter, Range1d, Span,
                          TableColumn)
from bokeh.plotting import figure

from .placement import DRAWN_LIMITS, component_of, drawn

COLOURS = {"queue": "#f28e2b", "rpc": "#4e79a7", "batch": "#8cd17d", "batch_overlap": "#e15759", "wait": "#b07aa1",
           "write": "#9c755f", "incomplete": "#000000", "sim": "#4e79a7", "agg": "#f28e2b", "split": "#e15759",
           "warning": "#f1a340", "critical": "#d62728"}
MEMORY_COLOURS = {"pause": "#e15759", "resume": "#59a14f", "unmanaged": "#f28e2b", "restart": "#000000"}
LANE_ORDER = ("weight updates", "generation batches", "checkpoint waits", "checkpoint writes")
PLURAL = {"update": "updates", "batch": "batches", "checkpoint": "checkpoint waits and writes"}
TOOLS = "xpan,xwheel_zoom,box_zoom,reset,save"
OVERVIEW_BINS = 600
HISTOGRAM_BINS = 40


def _figure(**options):
    plot = figure(tools=TOOLS, active_scroll="xwheel_zoom", sizing_mode="stretch_width", **options)
    plot.toolbar.logo = None
    return plot


def prime_rl_timeline(report, data):
    """The timeline (one lane per component and kind), its overview, and what the page says about
    entries left out; data: placement.place_prime_rl's columns."""
    inputs = report["inputs"]
    origin = min((float(np.nanmin(cols["start"])) for cols in data.values() if np.any(~np.isnan(cols["start"]))),
                 default=0.0)
    lanes, notes, sources = {}, [], {}

    def lane(file, what):
        name = f"{inputs[file]['host'] or '-'} · {component_of(inputs[file]['path'])} · {what}"
        lanes.setdefault((file, what), name)
        return name

    chosen = {kind: cols["drawn"] for kind, cols in data.items()}
    rows = {kind: cols["rows"] for kind, cols in data.items()}
    for kind, cols in data.items():
        placed = int(np.sum(~np.isnan(cols["start"])))
        if placed < len(cols["start"]):
            notes.append(f"{len(cols['start']) - placed} {PLURAL[kind]} have neither t= nor a readable timestamp and are not drawn.")
        if len(chosen[kind]) < placed:
            notes.append(f"{len(chosen[kind])} of {placed} {PLURAL[kind]} drawn ({'incomplete and ' if kind == 'update' else ''}"
                         "the longest); every one is in the overview above and in timeline.txt.")

    def fields(kind, what, ts_at, **extra):
        """The drawn entries of a kind as a source's columns: lane, start, end, line, time stamp, extra."""
        cols, index, kind_rows = data[kind], chosen[kind], rows[kind]
        columns = {"lane": [lane(row[0], what(row)) for row in kind_rows],
                   "start": cols["start"][index] - origin, "end": cols["end"][index] - origin,
                   "where": [f"{inputs[row[0]]['path']}:{row[1]}" for row in kind_rows],
                   "ts": [row[ts_at] or "" for row in kind_rows]}
        for name, value in extra.items():
            columns[name] = [value(row) for row in kind_rows] if callable(value) else value[index]
        return columns

    # Updates: queue part and RPC part; incomplete ones as a mark where they were sent.
    update = fields("update", lambda row: "weight updates", 2, queue_end=data["update"]["queue_end"] - origin,
                    trace=lambda row: row[4], op=lambda row: row[5], wall_ms=data["update"]["wall_ms"],
                    queue_ms=data["update"]["queue_ms"], rpc_ms=data["update"]["rpc_ms"],
                    state=lambda row: "complete" if row[9] else "INCOMPLETE (no client.done)")
    sources["update"], sources["incomplete"] = _split(update, data["update"]["complete"][chosen["update"]] == 1)
    batch = fields("batch", lambda row: "generation batches", 3, dur_ms=data["batch"]["dur_ms"],
                   completions=lambda row: row[6], overlaps=lambda row: ", ".join(row[9]) or "none")
    sources["batch_overlap"], sources["batch"] = _split(batch, data["batch"]["overlaps"][chosen["batch"]])
    checkpoint = fields("checkpoint", lambda row: f"checkpoint {row[4]}s", 2, ms=data["checkpoint"]["ms"])
    sources["write"], sources["wait"] = _split(checkpoint, data["checkpoint"]["write"][chosen["checkpoint"]])

    if not lanes:
        return None, None, notes
    names = [lanes[key] for key in sorted(lanes, key=lambda key: (key[0], LANE_ORDER.index(key[1])))]
    end = max((float(np.nanmax(cols["end"])) for cols in data.values() if np.any(~np.isnan(cols["end"]))), default=origin + 1)
    x_range = Range1d(0, max(end - origin, 1e-3) * 1.01)
    plot = _figure(y_range=FactorRange(*reversed(names)), x_range=x_range, height=130 + 46 * len(names),
                   title="Timeline: weight updates (queue, then RPC) against generation batches and checkpoints",
                   x_axis_label="seconds since the run's first entry", name="timeline")
    where = [("line", "@where"), ("time stamp", "@ts")]
    update_tips = [("trace", "@trace"), ("op", "@op"), ("wall_ms", "@wall_ms{0.0}"), ("queue_ms", "@queue_ms{0.0}"),
                   ("rpc_ms", "@rpc_ms{0.0}"), ("state", "@state"), *where]
    batch_tips = [("batch dur_ms", "@dur_ms{0.0}"), ("completions", "@completions"), ("overlapped updates", "@overlaps"), *where]
    checkpoint_tips = [("ms", "@ms{0.0}"), *where]
    bars = (("update", "start", "queue_end", COLOURS["queue"], "update queued (queue_ms)", update_tips),
            ("update", "queue_end", "end", COLOURS["rpc"], "update RPC (rpc_ms)", update_tips),
            ("batch", "start", "end", COLOURS["batch"], "batch", batch_tips),
            ("batch_overlap", "start", "end", COLOURS["batch_overlap"], "batch during a weight update", batch_tips),
            ("wait", "start", "end", COLOURS["wait"], "checkpoint wait", checkpoint_tips),
            ("write", "start", "end", COLOURS["write"], "checkpoint write", checkpoint_tips))
    for name, left, right, colour, label, tips in bars:
        if len(sources[name].data["lane"]):
            bar = plot.hbar(y="lane", left=left, right=right, height=0.7, fill_color=colour, line_color="white",
                            line_width=0.5, source=sources[name], legend_label=label)
            plot.add_tools(HoverTool(renderers=[bar], tooltips=tips))
    if len(sources["incomplete"].data["lane"]):
        incomplete = plot.scatter(x="start", y="lane", marker="x", size=16, line_width=3, color=COLOURS["incomplete"],
                                  source=sources["incomplete"], legend_label="update sent, never done")
        plot.add_tools(HoverTool(renderers=[incomplete], tooltips=update_tips))
    _legend_above(plot)
    plot.legend.click_policy = "hide"
    overview = _overview(data, origin, x_range)
    return plot, overview, notes


def _legend_above(plot):
    if plot.legend:
        legend = plot.legend[0]
        legend.orientation = "horizontal"
        legend.location = "top_left"
        legend.background_fill_alpha = 0
        plot.add_layout(legend, "above")


def _split(columns, mask):
    """Two sources of the same columns: the rows where mask holds, and the others."""
    return tuple(ColumnDataSource({key: _subset(value, keep) for key, value in columns.items()}) for keep in (mask, ~mask))


def _subset(value, mask):
    if isinstance(value, np.ndarray):
        return value[mask]
    return [item for item, keep in zip(value, mask) if keep]


def _overview(data, origin, x_range):
    """Every entry, binned over time: the largest queue_ms, rpc_ms and batch dur_ms per bin."""
    plot = _figure(x_range=x_range, height=190, y_axis_type="log", name="overview",
                   title="Every entry over time: the largest value per time bin (ms, log scale)")
    end = x_range.end
    edges = np.linspace(0, end, OVERVIEW_BINS + 1)
    centres = (edges[:-1] + edges[1:]) / 2
    series = (("update", "queue_ms", COLOURS["queue"], "queue_ms"), ("update", "rpc_ms", COLOURS["rpc"], "rpc_ms"),
              ("batch", "dur_ms", COLOURS["batch_overlap"], "batch dur_ms"))
    for kind, name, colour, label in series:
        cols = data[kind]
        at = cols["start"] - origin
        values = cols[name]
        keep = ~np.isnan(at) & ~np.isnan(values) & (values > 0)
        if not np.any(keep):
            continue
        bins = np.clip(np.searchsorted(edges, at[keep], side="right") - 1, 0, OVERVIEW_BINS - 1)
        largest = np.full(OVERVIEW_BINS, np.nan)
        np.fmax.at(largest, bins, values[keep])
        present = ~np.isnan(largest)
        plot.scatter(centres[present], largest[present], size=4, color=colour, legend_label=label)
    plot.xaxis.visible = False
    _legend_above(plot)
    return plot


def _x_axis(low, high, thresholds):
    """(low, high, log scale?, x range) for values from low to high, with both threshold lines in
    view so that a distribution far below them shows it."""
    if thresholds:
        low, high = min(low, thresholds["warning"]), max(high, thresholds["critical"])
    if high <= low:
        high = low + 1
    log = low > 0 and high / low > 30
    pad = (high / low) ** 0.03 if log else (high - low) * 0.03
    return low, high, log, (Range1d(low / pad, high * pad) if log else Range1d(low - pad, high + pad))


def _threshold_lines(plot, thresholds):
    if thresholds:
        for level in ("warning", "critical"):
            plot.add_layout(Span(location=thresholds[level], dimension="height", line_color=COLOURS[level],
                                 line_dash="dashed", line_width=2))


def histogram(name, values, thresholds=None, unit="ms"):
    """A histogram of one metric with its warning and critical thresholds as vertical lines."""
    values = values[~np.isnan(values)]
    if not len(values):
        return None
    title = f"{name}: {len(values)} values"
    if thresholds:
        title += f"; warning {thresholds['warning']:g} {unit}, critical {thresholds['critical']:g} {unit}"
    low, high, log, x_range = _x_axis(float(values.min()), float(values.max()), thresholds)
    edges = np.geomspace(low, high * 1.0001, HISTOGRAM_BINS + 1) if log else np.linspace(low, high, HISTOGRAM_BINS + 1)
    counts, edges = np.histogram(values, bins=edges)
    plot = figure(height=230, width=440, title=title, x_axis_type="log" if log else "linear", tools="xpan,xwheel_zoom,reset",
                  x_axis_label=unit, y_axis_label="count", x_range=x_range, name=f"histogram {name}")
    plot.toolbar.logo = None
    source = ColumnDataSource({"left": edges[:-1], "right": edges[1:], "count": counts})
    bars = plot.quad(left="left", right="right", bottom=0, top="count", source=source, fill_color="#4e79a7", line_color="white")
    plot.add_tools(HoverTool(renderers=[bars], tooltips=[("from", "@left{0.0}"), ("to", "@right{0.0}"), ("count", "@count")]))
    _threshold_lines(plot, thresholds)
    return plot


def prime_rl_distributions(report, data):
    """Histograms of queue_ms, rpc_ms per op, wait_ms, write_ms and batch dur_ms from every entry."""
    table = report["thresholds"]
    updates, checkpoints = data["update"], data["checkpoint"]
    plots = [histogram("queue_ms", updates["queue_ms"], table["queue_ms"])]
    ops = report["updates"]["by_op"]
    rpc = updates["rpc_ms"]
    if len(ops) <= 1:
        op = next(iter(ops), None)
        plots.append(histogram(f"rpc_ms.{op}" if op else "rpc_ms", rpc, table.get(f"rpc_ms.{op}", table["rpc_ms"])))
    else:
        for op in ops:
            plots.append(histogram(f"rpc_ms.{op}", rpc[updates["op"] == op], table.get(f"rpc_ms.{op}", table["rpc_ms"])))
    write = checkpoints["write"] == 1
    plots.append(histogram("wait_ms", checkpoints["ms"][~write], table["wait_ms"]))
    plots.append(histogram("write_ms", checkpoints["ms"][write], table["write_ms"]))
    plots.append(histogram("generation batch dur_ms", data["batch"]["dur_ms"], table["gen_dur_ms"]))
    return [plot for plot in plots if plot is not None]


def slowest_table(report, data, timeline_plot):
    """The slowest updates (report.json's rows); selecting one moves the timeline to it."""
    rows = report["slowest_updates"]
    if not rows:
        return None
    starts, ends = {}, {}
    if timeline_plot is not None:
        source = next(r.data_source for r in timeline_plot.renderers if "trace" in r.data_source.data)
        for trace, start, end in zip(source.data["trace"], source.data["start"], source.data["end"]):
            starts.setdefault(trace, float(start))
            ends.setdefault(trace, float(end))
    table_data = {key: [row[key] for row in rows] for key in ("trace", "op", "wall_ms", "queue_ms", "rpc_ms",
                                                              "client_queue_ms", "server_queue_ms")}
    table_data["where"] = [f"{row['file']}:{row['line']}" if row["file"] else "-" for row in rows]
    table_data["x_start"] = [starts.get(row["trace"], np.nan) for row in rows]
    table_data["x_end"] = [ends.get(row["trace"], np.nan) for row in rows]
    for key in ("wall_ms", "queue_ms", "rpc_ms", "client_queue_ms", "server_queue_ms"):
        table_data[key] = [np.nan if value is None else value for value in table_data[key]]
    source = ColumnDataSource(table_data)
    number = NumberFormatter(format="0.0")
    columns = [TableColumn(field="trace", title="trace", width=170), TableColumn(field="op", title="op", width=120)]
    columns += [TableColumn(field=key, title=key, formatter=number, width=90)
                for key in ("wall_ms", "queue_ms", "rpc_ms", "client_queue_ms", "server_queue_ms")]
    columns.append(TableColumn(field="where", title="where (file:line)", width=360))
    table = DataTable(source=source, columns=columns, height=32 + 26 * len(rows), sizing_mode="stretch_width",
                      index_position=None, reorderable=False, name="slowest")
    if timeline_plot is not None:
        marker = Span(location=0, dimension="height", line_color="#000000", line_width=2, line_dash="dotted", visible=False)
        timeline_plot.add_layout(marker)
        source.selected.js_on_change("indices", CustomJS(args={"source": source, "x_range": timeline_plot.x_range, "marker": marker}, code="""
            const i = source.selected.indices[0];
            if (i === undefined) return;
            const start = source.data.x_start[i], end = source.data.x_end[i];
            if (start == null || Number.isNaN(start)) return;
            const pad = Math.max((end - start) * 1.5, 2);
            x_range.start = start - pad;
            x_range.end = end + pad;
            marker.location = start;
            marker.visible = true;
            document.getElementById("timeline-section").scrollIntoView({behavior: "smooth"});
        """))
    return table


def dask_timeline(tasks, memory):
    """Per-worker lanes of SIM and AGG tasks (split aggregations in red), and memory messages per host."""
    if not tasks and not memory:
        return None, []
    notes = []
    starts = [task["start"] for task in tasks] + [event["at"] for event in memory]
    origin = min(starts)
    limit = DRAWN_LIMITS["task"]
    if len(tasks) > limit:
        size = np.array([task["duration_ms"] + (1e12 if task["split"] else 0.0) for task in tasks])
        keep = drawn(size, limit)
        notes.append(f"{limit} of {len(tasks)} tasks drawn (split aggregations first, then the longest).")
        tasks = [tasks[index] for index in keep.tolist()]
    workers = sorted({task["worker"] for task in tasks})
    hosts = sorted({event["host"] or "-" for event in memory})
    lanes = [f"memory · {host}" for host in hosts] + [f"worker {worker}" for worker in workers]
    source = ColumnDataSource({
        "lane": [f"worker {task['worker']}" for task in tasks],
        "start": [task["start"] - origin for task in tasks], "end": [task["end"] - origin for task in tasks],
        "kind": ["AGG (split trial)" if task["split"] else task["kind"].upper() for task in tasks],
        "duration_ms": [task["duration_ms"] for task in tasks], "param_id": [task["param_id"] or "-" for task in tasks],
        "target": [task["target"] or "-" for task in tasks],
    })
    end = max([task["end"] for task in tasks] + [event["at"] for event in memory]) - origin
    plot = _figure(y_range=FactorRange(*reversed(lanes)), x_range=Range1d(0, max(end, 1e-3) * 1.01),
                   height=90 + 40 * len(lanes), name="timeline", x_axis_label="seconds since the run's first task",
                   title="Dask workers: SIM and AGG tasks (aggregations of split trials in red), memory messages")
    for label, colour in (("SIM", COLOURS["sim"]), ("AGG", COLOURS["agg"]), ("AGG (split trial)", COLOURS["split"])):
        keep = [kind == label for kind in source.data["kind"]]
        if any(keep):
            part = ColumnDataSource({key: _subset(value, keep) for key, value in source.data.items()})
            bars = plot.hbar(y="lane", left="start", right="end", height=0.7, fill_color=colour, line_color="white",
                             line_width=0.5, source=part, legend_label=label)
            plot.add_tools(HoverTool(renderers=[bars], tooltips=[("task", "@kind"), ("duration_ms", "@duration_ms{0.0}"),
                                                                 ("trial (param_id)", "@param_id"), ("target", "@target")]))
    for kind, colour in MEMORY_COLOURS.items():
        events = [event for event in memory if event["kind"] == kind]
        if events:
            marks = plot.scatter(x=[event["at"] - origin for event in events], y=[f"memory · {event['host'] or '-'}" for event in events],
                                 marker="triangle", size=12, color=colour, legend_label=f"memory {kind}")
            plot.add_tools(HoverTool(renderers=[marks], tooltips=[("memory", kind), ("at", "@x{0.0} s")]))
    _legend_above(plot)
    return plot, notes


def dask_distributions(tasks):
    return [plot for plot in (histogram(f"{kind.upper()} task duration_ms", np.array([t["duration_ms"] for t in tasks if t["kind"] == kind]))
                              for kind in ("sim", "agg")) if plot is not None]


def grid(plots, name):
    layout = gridplot(plots, ncols=2, sizing_mode="stretch_width", toolbar_location="right")
    layout.name = name
    return layout



QUANTILES = (("min", 0.0), ("p50", 0.5), ("p90", 0.9), ("p95", 0.95), ("p99", 0.99), ("max", 1.0))


def quantile_overlay(name, before, after, thresholds=None):
    """Before and after of one metric as cumulative distributions through their summary quantiles
    (min, p50, p90, p95, p99, max: what report.json keeps), with the thresholds as vertical lines."""
    sides = [(label, stats, colour) for label, stats, colour in (("before", before, "#7f7f7f"), ("after", after, COLOURS["rpc"]))
             if stats and stats.get("count")]
    if not sides:
        return None
    values = [stats[key] for _, stats, _ in sides for key, _ in QUANTILES if stats.get(key) is not None]
    _, _, log, x_range = _x_axis(min(values), max(values), thresholds)
    title = name + ": p95 " + " -> ".join(f"{stats['p95']:.4g}" for _, stats, _ in sides if stats.get("p95") is not None)
    plot = figure(height=240, width=440, title=title, x_axis_type="log" if log else "linear", tools="xpan,xwheel_zoom,reset",
                  y_axis_label="share of samples at or below", x_range=x_range, y_range=Range1d(0, 1.02),
                  name=f"overlay {name}")
    plot.toolbar.logo = None
    for label, stats, colour in sides:
        points = [(stats[key], share) for key, share in QUANTILES if stats.get(key) is not None]
        source = ColumnDataSource({"value": [value for value, _ in points], "share": [share for _, share in points],
                                   "quantile": [key for key, _ in QUANTILES if stats.get(key) is not None]})
        line = plot.line("value", "share", source=source, color=colour, line_width=2, legend_label=f"{label} (n={stats['count']})")
        plot.scatter("value", "share", source=source, color=colour, size=6)
        plot.add_tools(HoverTool(renderers=[line], tooltips=[("side", label), ("quantile", "@quantile"), ("value", "@value{0.0}")]))
    _threshold_lines(plot, thresholds)
    plot.legend.location = "bottom_right"
    return plot


def objective_bars(result):
    """The objective of each variant of a sweep as a bar (the best in the RPC blue, the others grey),
    hover showing the variables and the diagnosis; None when no variant has the objective."""
    objective = result["objective"]
    rows = [row for row in result["rows"] if row["objective"] is not None]
    if objective is None or not rows:
        return None
    names = [row["name"] for row in rows]
    source = ColumnDataSource({
        "name": names, "value": [row["objective"] for row in rows],
        "colour": [COLOURS["rpc"] if row["name"] == result["best"] else "#bab0ac" for row in rows],
        "variables": [", ".join(f"{key}={value}" for key, value in row["variables"].items()) for row in rows],
        "diagnosis": [f"{row['diagnosis']} ({row['severity']})" for row in rows]})
    plot = _figure(height=300, x_range=FactorRange(*names), y_axis_label=objective["metric"], name="objective",
                   title=f"{objective['metric']} per variant ({objective['better']} is better)")
    bars = plot.vbar(x="name", top="value", width=0.7, source=source, fill_color="colour", line_color="colour")
    plot.add_tools(HoverTool(renderers=[bars], tooltips=[("variant", "@name"), ("value", "@value{0.00}"),
                                                         ("variables", "@variables"), ("diagnosis", "@diagnosis")]))
    plot.y_range.start = 0
    return plot


def batch_progress(jobs):
    """Per batch job, from its progress lines: completed (and failed) requests and the reported req/s
    over time, and the ETA against the SLA time left; [] without progress points."""
    drawn_jobs = [job for job in jobs if job.get("progress") and job["progress"]["t_s"]]
    if not drawn_jobs:
        return []
    palette = [COLOURS["rpc"], COLOURS["queue"], COLOURS["batch"], COLOURS["wait"], COLOURS["write"]]
    counts = _figure(height=280, title="Requests done over time (failed dashed)", x_axis_label="seconds since the job's start",
                     y_axis_label="requests", name="batch_requests")
    hours = _figure(height=280, title="ETA (solid) against the SLA time left (dashed)", x_axis_label="seconds since the job's start",
                    y_axis_label="hours", name="batch_sla")
    for index, job in enumerate(drawn_jobs):
        series, colour = job["progress"], palette[index % len(palette)]
        label = f"{job['file'].rsplit('/', 1)[-1]}:{job['line']}"
        source = ColumnDataSource({key: [float("nan") if value is None else value for value in series[key]]
                                   for key in ("t_s", "completed", "failed", "rps", "eta_h", "remaining_h")})
        done = counts.line("t_s", "completed", source=source, color=colour, line_width=2, legend_label=label)
        counts.line("t_s", "failed", source=source, color=colour, line_dash="dashed", legend_label=label)
        counts.add_tools(HoverTool(renderers=[done], tooltips=[("job", label), ("at", "@t_s{0.0} s"), ("completed", "@completed"),
                                                               ("failed", "@failed"), ("req/s", "@rps{0.00}")]))
        eta = hours.line("t_s", "eta_h", source=source, color=colour, line_width=2, legend_label=label)
        hours.line("t_s", "remaining_h", source=source, color=colour, line_dash="dashed", legend_label=label)
        hours.add_tools(HoverTool(renderers=[eta], tooltips=[("job", label), ("at", "@t_s{0.0} s"), ("ETA", "@eta_h{0.000} h"),
                                                             ("SLA time left", "@remaining_h{0.000} h")]))
    for plot in (counts, hours):
        plot.legend.location = "top_left"
    return [counts, hours]
