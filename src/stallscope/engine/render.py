"""write_outputs(): the report as SUMMARY.md, report.json and the text files (docs/analysis.md, Outputs)."""

import json
import os

from . import per_step
from .batch_run import SAMPLE_METRICS as BATCH_METRICS
from .dask_run import SAMPLE_METRICS as DASK_METRICS
from .gc_pause import gc_paused
from .records import TIMELINE_BATCH_COLUMNS, TIMELINE_UPDATE_COLUMNS
from .stats import STAT_KEYS

STATS_FILES = {
    "queue_ms_stats.txt": ("Queue delay: wall_ms - rpc_ms, split into client side (send->recv) and server side (recv->rpc.start)",
                           ("queue_ms", "client_queue_ms", "server_queue_ms", "wall_ms")),
    "rpc_ms_stats.txt": ("Weight-loading RPC time, all ops and per op", None),
    "ckpt_wait_stats.txt": ("Orchestrator checkpoint wait (wait.done wait_ms)", ("wait_ms",)),
    "ckpt_write_stats.txt": ("Trainer checkpoint write (write.done write_ms)", ("write_ms",)),
    "gen_batch_stats.txt": ("Generation batches: duration (all, overlapping weight updates, between them), inflight; "
                            "run-level throughput below",
                            ("gen_dur_ms", "gen_dur_ms.during_updates", "gen_dur_ms.between_updates", "inflight",
                             "untraced_requests_per_s")),
    "rollout_stats.txt": ("Rollouts: truncation and staleness", ("trunc_pct", "staleness", "staleness_over_async_level")),
}
GPU_METRICS = ("gpu_util_pct", "gpu_memory_used_mib", "gpu_power_w")
SUMMARY_METRICS = ("queue_ms", "client_queue_ms", "server_queue_ms", "wall_ms", "rpc_ms", "rpc_ms.update_weights",
                   "rpc_ms.reload_weights", "wait_ms", "write_ms", "gen_dur_ms", "inflight", "trunc_pct", "staleness",
                   "untraced_requests_per_s", *DASK_METRICS, *GPU_METRICS, *BATCH_METRICS)


def write_outputs(report, out_dir):
    """Writes SUMMARY.md, report.json and the *.txt files into out_dir (created if missing)."""
    with gc_paused():
        return _write_outputs(report, out_dir)


def _write_outputs(report, out_dir):
    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(out_dir, "report.json"), "w", encoding="utf-8") as handle:
        dump_report(report, handle)
    files = {"SUMMARY.md": summary_markdown(report)}
    for name, (title, metrics) in STATS_FILES.items():
        if metrics is None:
            metrics = ["rpc_ms"] + sorted(name_ for name_ in report["metrics"] if name_.startswith("rpc_ms."))
        files[name] = f"# {title}\n" + stats_table(report["metrics"], metrics)
    files["gen_batch_stats.txt"] += "\n" + throughput_text(report["throughput"])
    files["slowest_updates.txt"] = slowest_updates_text(report)
    if "dask" in report:
        files["dask_stats.txt"] = ("# Dask calibration: task durations, payloads, event loop and GC\n"
                                   + stats_table(report["metrics"], DASK_METRICS) + "\n" + dask_text(report["dask"]))
    if "batch" in report:
        files["batch_stats.txt"] = ("# Batch inference: vLLM engine stats lines, then per job\n"
                                    + stats_table(report["metrics"], BATCH_METRICS) + "\n" + batch_text(report["batch"]))
    if "gpu" in report:
        files["gpu_stats.txt"] = ("# GPU samples (nvidia-smi), all GPUs, then per GPU\n"
                                  + stats_table(report["metrics"], GPU_METRICS) + "\n" + gpu_text(report["gpu"]))
    for name, text in files.items():
        with open(os.path.join(out_dir, name), "w", encoding="utf-8") as handle:
            handle.write(text)
    with open(os.path.join(out_dir, "timeline.txt"), "w", encoding="utf-8") as handle:
        handle.writelines(timeline_lines(report))
    with open(os.path.join(out_dir, per_step.FILE), "w", encoding="utf-8") as handle:
        handle.writelines(per_step.text_lines(report))
    return sorted([*files, "timeline.txt", per_step.FILE, "report.json"])


def dump_report(report, stream):
    """Writes report.json to a text stream (its timeline is a reference to timeline.txt)."""
    json.dump(report, stream, indent=2, allow_nan=False)
    stream.write("\n")


def timeline_entries(report):
    """The timeline's updates and batches merged in (file, line) order, as dicts with a `kind`."""
    for kind, row in report.timeline.rows("entries"):
        entry = dict(zip(TIMELINE_UPDATE_COLUMNS if kind == "update" else TIMELINE_BATCH_COLUMNS, row), kind=kind)
        entry["file"] = report["inputs"][entry["file"]]["path"]
        yield entry


def number(value, digits=1):
    if value is None:
        return "-"
    if isinstance(value, int) or float(value).is_integer() and abs(value) < 1e15:
        return f"{int(value)}"
    return f"{value:.{digits}f}"


def stats_table(metrics, names):
    header = f"{'metric':<28}" + "".join(f"{key:>11}" for key in STAT_KEYS)
    rows = [header]
    for name in names:
        stats = metrics.get(name)
        if stats is None:
            continue
        rows.append(f"{name:<28}" + "".join(f"{number(stats[key]):>11}" for key in STAT_KEYS))
    return "\n".join(rows) + "\n"


def slowest_updates_text(report):
    lines = [
        "# The ten slowest weight updates by wall_ms, slowest first (queue = wall - rpc; client/server: the queue split)",
        f"{'trace':<20}{'op':<16}{'wall_ms':>10}{'queue_ms':>10}{'rpc_ms':>10}{'client_q':>10}{'server_q':>10}  where",
    ]
    for row in report["slowest_updates"]:
        where = f"{row['file']}:{row['line']}" if row["file"] else "-"
        lines.append(
            f"{row['trace']:<20}{row['op']:<16}{number(row['wall_ms']):>10}{number(row['queue_ms']):>10}"
            f"{number(row['rpc_ms']):>10}{number(row['client_queue_ms']):>10}{number(row['server_queue_ms']):>10}  {where}"
        )
    if not report["slowest_updates"]:
        lines.append("(no weight update with wall_ms)")
    return "\n".join(lines) + "\n"


def timeline_text(report):
    return "".join(timeline_lines(report))


def timeline_lines(report):
    """timeline.txt line by line (streamed: a large run has 10^5 entries). Rows are unpacked by
    position (records.TIMELINE_UPDATE_COLUMNS / TIMELINE_BATCH_COLUMNS), not made into dicts: this runs once per entry."""
    yield "# Weight updates and generation batches in the order each file logged them (a process's log is in\n"
    yield "# time order; files are not interleaved). Batches list the updates in flight while they ran.\n"
    current = None
    empty = True
    paths = [entry["path"] for entry in report["inputs"]]
    for kind, row in report.timeline.rows("entries"):
        empty = False
        if row[0] != current:
            current = row[0]
            yield f"\n== {paths[current]}\n"
        if kind == "update":
            _, line, ts, t, trace, op, wall_ms, queue_ms, rpc_ms, complete, _ = row
            when = ts or (f"t={t:.3f}" if t is not None else "")
            state = "" if complete else "  INCOMPLETE (no client.done)"
            yield (
                f"{line:>9} {when:<24} update {trace} {op} wall_ms={number(wall_ms)} "
                f"queue_ms={number(queue_ms)} rpc_ms={number(rpc_ms)}{state}\n"
            )
        else:
            _, line, start_line, ts, t, dur_ms, completions, inflight_start, inflight_done, updates = row
            when = ts or (f"t={t:.3f}" if t is not None else "")
            overlap = f"  overlaps {', '.join(updates)}" if updates else ""
            span = f"lines {start_line}-{line}" if start_line else "no batch.start"
            yield (
                f"{line:>9} {when:<24} batch  dur_ms={number(dur_ms)} completions={number(completions)} "
                f"inflight={number(inflight_start)}->{number(inflight_done)} ({span}){overlap}\n"
            )
    if empty:
        yield "(no weight update or generation batch)\n"


def summary_markdown(report):
    out = ["# stallscope analysis", ""]
    findings = report["findings"]
    if report["diagnosis"] == "healthy":
        out += ["**Diagnosis: healthy**: no finding at warning or critical severity.", ""]
    else:
        top = next(f for f in findings if f["id"] == report["diagnosis"])
        out += [f"**Diagnosis: `{top['id']}` ({top['severity']})**", "", top["summary"], "", f"**Fix:** {top['recommendation']}", ""]
    out += ["## Findings", ""]
    if not findings:
        out += ["None.", ""]
    for f in findings:
        out += [f"### `{f['id']}`: {f['severity']}", "", f["summary"], "", f"- Recommendation: {f['recommendation']}"]
        out += [f"- Evidence: `{json.dumps(f['evidence'], separators=(', ', ': '), default=str)}`", ""]
    out += ["## Key metrics", "", "| metric | count | mean | p50 | p95 | p99 | max |", "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for name in SUMMARY_METRICS:
        stats = report["metrics"].get(name)
        if stats and stats["count"]:
            out.append(f"| {name} | " + " | ".join(number(stats[key]) for key in ("count", "mean", "p50", "p95", "p99", "max")) + " |")
    out.append("")
    if report["throughput"]["steps"]:
        out += ["## Generation throughput", "", throughput_text(report["throughput"])]
    if "dask" in report:
        out += ["## Dask calibration", "", dask_text(report["dask"])]
    if "batch" in report:
        out += ["## Batch inference", "", batch_text(report["batch"])]
    if "gpu" in report:
        out += ["## GPUs", "", gpu_text(report["gpu"])]
    if report["profile"] not in ("dask", "batch"):
        out += _weight_update_lines(report)
    out += ["## Inputs", "", "| file | host | bytes | lines | recognised | malformed |", "| --- | --- | ---: | ---: | ---: | ---: |"]
    for entry in report["inputs"]:
        out.append(f"| {entry['path']} | {entry['host'] or '-'} | {entry['bytes']} | {entry['lines']} | {entry['recognised']} | {entry['malformed']} |")
    if report["warnings"]:
        out += ["", "## Warnings", ""] + [f"- {warning}" for warning in report["warnings"]]
    out += ["", "Files: report.json, *_stats.txt, slowest_updates.txt, timeline.txt, per_step.txt (see docs/analysis.md)."]
    return "\n".join(out) + "\n"


def throughput_text(section):
    """The run-level throughput (throughput.py) as Markdown lines: per second of the steady state."""
    warmup = f"the first {section['warmup_steps']} step(s) excluded as warm-up"
    if section["reason"] is not None:
        return f"- run-level throughput not measured: {section['reason']}\n"
    tokens = "" if section["tokens_per_s"] is None else f", {number(section['tokens_per_s'])} tokens/s"
    step = "" if section["step_time_s"] is None else f"; step time {number(section['step_time_s'], 2)} s"
    sizes = "/".join(number(size) for size in section["batch_sizes"]) or "unknown"
    out = [f"- run-level throughput: {number(section['completions_per_s'], 2)} completions/s{tokens}{step} "
           f"({number(section['completions'])} completions in {section['steps']} steps over {number(section['span_s'], 2)} s "
           f"of wall time, timed by {section['clock']}; {warmup}; batch size {sizes})"]
    if len(section["sources"]) > 1:
        out += [f"  - {source['host'] or '(no manifest)'} ({source['file']}): {number(source['completions_per_s'], 2)} "
                f"completions/s, step time {number(source['step_time_s'], 2)} s over {source['steps']} steps"
                for source in section["sources"]]
    return "\n".join(out) + "\n"


def dask_text(dask):
    """The Dask section's figures as Markdown lines: trials, split rate, workers, warnings, report."""
    out = [
        f"- trials: {dask['trials']} over {number(dask['span_s'])} s: {number(dask['trials_per_min'])} trials per minute"
        f" (targets: {', '.join(dask['targets']) or 'none: simulations only'})",
        f"- split-aggregation rate: {number(dask['split_agg_pct'])}% ({dask['split_trials']} of "
        f"{dask['trials_with_two_or_more_targets']} trials with two or more targets)",
        f"- agg/sim median ratio: {number(dask['agg_sim_ratio'], 3)}; busiest worker / mean busy time: "
        f"{number(dask['worker_busy_imbalance'], 2)}",
        "- memory: " + ", ".join(f"{dask['memory'][key]} {key}" for key in ("pause", "resume", "unmanaged", "restart")),
        "- event loop unresponsive: " + (", ".join(f"{component} {figures['warnings']}x (max {figures['max_s']:.2f} s)"
                                                  for component, figures in dask["event_loop"].items()) or "never"),
    ]
    perf = dask["perf_report"]
    if perf:
        times = ", ".join(f"{action} {value:.2f} s" for action, value in sorted(perf["time_s"].items()))
        share = "" if perf["transfer_share"] is None else f"; transfer {perf['transfer_share']:.0%} of compute + transfer"
        out.append(f"- performance report {perf['file']}: {perf['tasks']} tasks in {number(perf['duration_s'], 2)} s; "
                   f"{times}{share}")
    out += ["", "| worker | host | sims | aggs | busy ms | busy share |", "| --- | --- | ---: | ---: | ---: | ---: |"]
    for worker in dask["workers"]:
        share = "-" if worker["busy_share"] is None else f"{worker['busy_share']:.0%}"
        out.append(f"| {worker['worker']} | {worker['host'] or '-'} | {worker['sims']} | {worker['aggs']} | "
                   f"{number(worker['busy_ms'])} | {share} |")
    return "\n".join(out) + "\n"


def batch_text(batch):
    """The batch section (batch_run.summary) as Markdown: the run's figures, then each job."""
    out = [f"- run: {number(batch['throughput_rps'], 2)} req/s, {number(batch['tokens_per_s'])} tokens/s; error rate "
           f"{number(batch['error_rate_pct'])}%; latency p95 {number(batch['latency_p95_s'], 3)} s; preemptions per 100 "
           f"requests {number(batch['preemption_pct'])}; slowest engine {number(batch['worker_slowdown'], 2)} x slower "
           f"than the others; CPU stages / engine stage wall time {number(batch['cpu_stage_share'], 2)}; SLA "
           f"{batch['sla_state'] or '-'}"]
    gateway = batch["gateway"]
    if gateway["queued"] or gateway["completed"] or gateway["failed"]:
        out.append(f"- gateway: {gateway['queued']} job(s) queued (deepest position {gateway['max_queue_position']}), "
                   f"{gateway['completed']} completed, failed: {', '.join(gateway['failed']) or 'none'}")
    for job in batch["jobs"]:
        sla = job["sla"]
        out += ["", f"### {job['file']}:{job['line']} ({job['host'] or 'no manifest'})", "",
                f"- {job['completed']} completed, {job['failed']} failed of {job['total']} "
                f"({'finished' if job['finished'] else 'not finished'}); "
                + ", ".join(f"{key}={value}" for key, value in job["config"].items()),
                f"- throughput {number(job['throughput_rps'], 2)} req/s, {number(job['tokens_per_s'])} tokens/s over "
                f"{number(job['steady_span_s'], 1)} s after a start-up of {number(job['startup_s'], 1)} s (the job's own "
                f"last line: {number(job['reported_rps'], 2)} req/s since submission); ETA {number(job['eta_h'], 3)} h",
                f"- SLA {sla['sla_hours'] if sla['sla_hours'] is not None else '?'} h: {sla['state'] or '-'} (while running: "
                f"{sla['while_running'] or '-'}; at risk lines {sla['lines']['at_risk']}, approaching "
                f"{sla['lines']['approaching']}, violated {sla['lines']['violated']})",
                "- latency: " + (", ".join(f"{key} {value:g} s" for key, value in job["latency_s"].items())
                                 if job["latency_s"] else "-"),
                f"- preemptions: {job['preemptions']}"]
        if job["stages"]:
            out += ["", "| Ray Data operator | kind | tasks | remote wall time s |", "| --- | --- | ---: | ---: |"]
            out += [f"| {stage['name']} | {stage['kind']} | {stage['tasks']} | {number(stage['wall_s'], 2)} |"
                    for stage in job["stages"]]
        if job["workers"]:
            out += ["", "| engine (worker) | stats lines | busy | generation tokens/s while busy | KV cache max % | "
                    "preemptions |", "| --- | ---: | ---: | ---: | ---: | ---: |"]
            out += [f"| {worker['worker']} | {worker['stats_lines']} | {worker['busy_lines']} | "
                    f"{number(worker['generation_tokens_per_s'])} | {number(worker['kv_cache_usage_max_pct'])} | "
                    f"{worker['preemptions']} |" for worker in job["workers"]]
    return "\n".join(out) + "\n"


def gpu_text(gpu):
    """The GPU section as Markdown: idle share, what the GPUs did during the orchestrator's waits, per GPU."""
    share = "-" if gpu["idle_share"] is None else f"{gpu['idle_share']:.0%}"
    out = [f"- {gpu['samples']} samples; idle (utilisation below {gpu['idle_util_pct']}%) in {share} of them"]
    for key, what in (("during_checkpoint_waits", "checkpoint waits"), ("during_weight_updates", "weight updates")):
        during = gpu[key]
        if during:
            idle = "-" if during["idle_share"] is None else f"{during['idle_share']:.0%}"
            out.append(f"- during the orchestrator's {what} ({during['intervals']}): {during['samples']} samples, "
                       f"mean utilisation {number(during['util_mean'])}%, idle in {idle}")
    out += ["", "| host | gpu | samples | util mean % | idle | memory max / total MiB | power mean / max W | latest |",
            "| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |"]
    for row in gpu["gpus"]:
        idle = "-" if row["idle_share"] is None else f"{row['idle_share']:.0%}"
        latest = row["latest"]
        out.append(f"| {row['host'] or '-'} | {row['gpu']} | {row['samples']} | {number(row['util_mean'])} | {idle} | "
                   f"{number(row['memory_used_max_mib'])} / {number(row['memory_total_mib'])} | "
                   f"{number(row['power_mean_w'])} / {number(row['power_max_w'])} | "
                   f"{latest['ts'] or '-'}: {number(latest['util_pct'])}% |")
    return "\n".join(out) + "\n"


def _weight_update_lines(report):
    out = []
    updates = report["updates"]
    by_op = ", ".join(f"{op} {count}" for op, count in updates["by_op"].items()) or "none"
    out += [
        "## Weight updates",
        "",
        f"- complete: {updates['complete']}, incomplete: {updates['incomplete']}, server side only: {updates['server_only']}, "
        f"duplicate trace ids: {updates['duplicate_trace_ids']}; by op: {by_op}",
        f"- untraced requests seen by the server: {report['requests']['untraced']}",
        f"- queue split: {report['correlation']['method']}: {report['correlation']['note']}",
    ]
    for pair in report["correlation"]["host_pairs"]:
        offset = "" if pair["offset_s"] is None else f", offset {pair['offset_s']:+.6f} s +/- {pair['uncertainty_s']:.6f} s"
        out.append(f"  - client {pair['client_host'] or '(no manifest)'} -> server {pair['server_host'] or '(no manifest)'}: "
                   f"{pair['method']} over {pair['updates']} updates{offset}{': ' + pair['reason'] if 'reason' in pair else ''}")
    warmup = report.get("warmup")
    if warmup and warmup["excluded"]:
        first = "first update" if warmup["updates"] == 1 else f"first {warmup['updates']} updates"
        out.append(f"- warm-up, reported but not judged (the {first} of each orchestrator log): " + ", ".join(
            f"{row['trace']} {row['op']} queue_ms {number(row['queue_ms'])} rpc_ms {number(row['rpc_ms'])}" for row in warmup["excluded"]))
    async_level = report["async_level"]
    out += [f"- async_level: {async_level['value'] if async_level['value'] is not None else 'unknown'} ({async_level['source']})", ""]
    if report["slowest_updates"]:
        out += ["## Slowest updates", "", "| trace | op | wall_ms | queue_ms | rpc_ms | client side | server side |",
                "| --- | --- | ---: | ---: | ---: | ---: | ---: |"]
        for row in report["slowest_updates"]:
            out.append(f"| {row['trace']} | {row['op']} | " + " | ".join(
                number(row[key]) for key in ("wall_ms", "queue_ms", "rpc_ms", "client_queue_ms", "server_queue_ms")) + " |")
        out.append("")
    return out
