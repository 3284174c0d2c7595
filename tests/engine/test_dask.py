"""The Dask calibration family, its figures and findings, the performance report, and compare.

Fixtures are real: tests/engine/fixtures/dask/per_target (a two-target per-target run on a local
cluster, with its performance report) and memory (workers restarted by their nanny). Lines that no
short run produces (event loop, GC) are distributed's own wording, written here.
"""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from stallscope.engine import analyze, analyze_states, write_outputs
from stallscope.engine.compare import compare, compare_markdown
from stallscope.engine.errors import NoRecognisedLines
from stallscope.engine.families import dask
from stallscope.engine.perf_report import seconds

FIXTURES = Path(__file__).parent / "fixtures" / "dask"
PREFIX = "2026-01-24 10:00:{:02d},000 INFO stallscope.calibration: "


def sim(second, param_id, seed, duration_ms, worker):
    return PREFIX.format(second) + f"SIM_TIMING: param_id={param_id} seed={seed} duration_ms={duration_ms} worker={worker}\n"


def agg(second, param_id, target, mb, duration_ms, worker, run_id="r1"):
    return (PREFIX.format(second) + f"AGG_TIMING: run_id={run_id} param_id={param_id} target={target} n_sim_returns=2 "
            f"n_outputs=3 total_inline_mb={mb} max_single_kb=100.0 duration_ms={duration_ms} worker={worker}\n")


A, B = "tcp://10.0.0.1:4001", "tcp://10.0.0.2:4002"


def trials(split):
    """Four two-target trials, 2 sims each on A and B; `split` of them aggregate on both workers."""
    lines = []
    for index in range(4):
        param_id = f"{index:08x}"
        second = index * 10
        lines += [sim(second, param_id, 0, 1000.0, A), sim(second + 1, param_id, 1, 1000.0, B)]
        lines += [agg(second + 2, param_id, "incidence", 2.5, 100.0, A),
                  agg(second + 3, param_id, "prevalence", 2.5, 100.0, B if index < split else A)]
    return "".join(lines)


def write(tmp_path, name, text):
    path = tmp_path / name / "workers.log"
    path.parent.mkdir(parents=True)
    path.write_text(text)
    return path.parent


def test_family_reads_the_seed_lines_and_distributeds_messages():
    line = "2026-11-23 19:31:39,719 INFO stallscope.calibration: " + agg(0, "a68820fa", "incidence", 5.73, 1.7, A).split(": ", 1)[1]
    event = dask.parse(line)
    assert event["event"] == "agg" and event["target"] == "incidence" and event["total_inline_mb"] == 5.73
    assert event["ts"] == "2026-11-23 19:31:39,719" and event["worker"] == A
    assert dask.parse("x - distributed.core - INFO - Event loop was unresponsive in Worker for 3.52s.  This is")[
        "seconds"] == 3.52
    assert dask.parse("x - distributed.utils_perf - WARNING - full garbage collections took 12% CPU time recently "
                      "(threshold: 10%)")["cpu_pct"] == 12.0
    assert dask.parse("x Worker tcp://1.2.3.4:5 (pid=9) exceeded 95% memory budget. Restarting...")["event"] == "memory.restart"
    assert dask.parse("x Worker is at 81% memory usage. Resuming worker. Process memory: 1 GiB")["event"] == "memory.resume"
    assert dask.parse("the worker said SIM_TIMING is nice") is None
    with pytest.raises(dask.MalformedLine):
        dask.parse("SIM_TIMING: param_id=a seed=1 duration_ms=soon worker=tcp://x:1")


def test_split_rate_payload_and_trials_per_minute_come_from_the_lines(tmp_path):
    report = analyze([write(tmp_path, "run", trials(split=3))])
    assert report["profile"] == "dask"
    figures = report["dask"]
    assert (figures["trials"], figures["trials_with_two_or_more_targets"], figures["split_trials"]) == (4, 4, 3)
    assert figures["split_agg_pct"] == 75.0
    # First sim started at 0 - 1 s, last agg logged at 33 s: 4 trials in 34 s.
    assert figures["span_s"] == pytest.approx(34.0) and figures["trials_per_min"] == pytest.approx(4 / 34 * 60)
    assert figures["agg_sim_ratio"] == pytest.approx(0.1)
    assert {w["worker"]: (w["sims"], w["aggs"]) for w in figures["workers"]} == {A: (4, 5), B: (4, 3)}
    assert report["diagnosis"] == "aggregation_data_movement" and report["severity"] == "critical"
    finding = report["findings"][0]
    assert finding["evidence"]["severity_by_criterion"] == {"split": "critical", "payload": "warning", "ratio": "ok"}
    assert "multi-target" in finding["recommendation"] and "--placement data" in finding["recommendation"]
    assert not any(f["id"] == "no_weight_updates" for f in report["findings"])


def test_thresholds_are_overridable_and_one_worker_trials_are_not_split(tmp_path):
    report = analyze([write(tmp_path, "run", trials(split=0))],
                     thresholds={"agg_total_inline_mb": {"warning": 3.0, "critical": 10.0}})
    assert report["dask"]["split_agg_pct"] == 0.0
    assert report["diagnosis"] == "healthy"


def test_memory_pressure_from_a_real_run_whose_workers_were_restarted():
    report = analyze([FIXTURES / "memory"])
    assert report["diagnosis"] == "memory_pressure" and report["severity"] == "critical"
    memory = report["dask"]["memory"]
    assert memory["restart"] == len(memory["restarted_workers"]) > 0
    text = (FIXTURES / "memory" / "logs" / "workers.log").read_text()
    assert memory["restart"] == text.count("memory budget. Restarting")
    assert memory["pause"] == text.count("Pausing worker")


def test_event_loop_and_gc_messages(tmp_path):
    lines = trials(split=0) + "".join(
        f"2026-01-24 10:01:{second:02d},000 - distributed.core - INFO - Event loop was unresponsive in Worker for "
        f"{seconds_:.2f}s.  This is often caused by long-running GIL-holding functions\n"
        for second, seconds_ in ((1, 3.2), (2, 12.5)))
    report = analyze([write(tmp_path, "run", lines)])
    finding = next(f for f in report["findings"] if f["id"] == "event_loop_blocked")
    assert finding["severity"] == "critical" and finding["evidence"]["by_component"] == {
        "Worker": {"warnings": 2, "max_s": 12.5}}


def test_performance_report_of_a_real_run_gives_compute_and_transfer():
    report = analyze([FIXTURES / "per_target"])
    perf = report["dask"]["perf_report"]
    assert perf["tasks"] == 24 and perf["duration_s"] == 1.32
    assert perf["time_s"] == {"compute": 2.21, "transfer": pytest.approx(0.12902)}
    assert perf["transfer_share"] == pytest.approx(0.12902 / (2.21 + 0.12902))
    finding = next(f for f in report["findings"] if f["id"] == "aggregation_data_movement")
    assert "0.13 s of transfer against 2.21 s of compute" in finding["summary"]


@pytest.mark.parametrize(("text", "value"), [("12.00 us", 12e-6), ("12.30 ms", 0.0123), ("1.23 s", 1.23),
                                             ("66m 40s", 4000.0), ("27hr 46m", 99960.0), ("soon", None)])
def test_dask_time_formats(text, value):
    assert seconds(text) == (pytest.approx(value) if value is not None else None)


def test_outputs_and_compare_show_the_seed_5d_figures(tmp_path):
    before = analyze([write(tmp_path, "per-target", trials(split=4))])
    after = analyze([write(tmp_path, "multi-target", trials(split=0).replace(":4002", ":4001"))])
    write_outputs(before, tmp_path / "out")
    summary = (tmp_path / "out" / "SUMMARY.md").read_text()
    assert "## Dask calibration" in summary and "split-aggregation rate: 100%" in summary
    assert "## Weight updates" not in summary
    assert "sim_duration_ms" in (tmp_path / "out" / "dask_stats.txt").read_text()
    result = compare(before, after)
    figures = {row["figure"]: row for row in result["dask"]}
    assert figures["split-aggregation rate (%)"]["before"] == 100.0 and figures["split-aggregation rate (%)"]["after"] == 0.0
    assert [c["result"] for c in result["criteria"]] == ["pass", "pass"] and result["verdict"] == "pass"
    text = compare_markdown(result, "per-target", "multi-target")
    assert "| split-aggregation rate (%) | 100 | 0 | -100.0 (-100%) |" in text
    # The CLI prints the same.
    (tmp_path / "before.json").write_text(json.dumps(before))
    cli = subprocess.run([sys.executable, "-m", "stallscope", "compare", str(tmp_path / "before.json"),
                          str(tmp_path / "multi-target")], capture_output=True, text=True, cwd=tmp_path,
                         env={"PYTHONPATH": str(Path(__file__).parents[2] / "src")})
    assert cli.returncode == 0 and "## A/B (docs/dask.md)" in cli.stdout


@pytest.mark.parametrize("colour", ["", "\x1b[32m"])
def test_mixed_prime_rl_and_dask_lines_are_both_read(tmp_path, colour):
    # A combined log (kubectl logs of several pods); with ANSI colour the careful path reads it.
    text = trials(split=0).replace("SIM_TIMING", colour + "SIM_TIMING") + (
        f"11:22:20    INFO {colour}[gen] batch.done completions=8 dur_ms=1200 inflight=4 t=5.0\n")
    report = analyze([write(tmp_path, "run", text)])
    assert report["profile"] == "dask+prime-rl"
    assert report["metrics"]["sim_duration_ms"]["count"] == 8 and report["metrics"]["gen_dur_ms"]["count"] == 1


def test_a_bare_clock_crossing_midnight_keeps_the_span(tmp_path):
    lines = [f"{clock} INFO SIM_TIMING: param_id=p{n} seed=0 duration_ms=1000 worker={A}"
             for n, clock in enumerate(["23:59:50", "23:59:58", "00:00:04", "00:00:10"])]
    path = tmp_path / "run" / "worker.log"
    path.parent.mkdir()
    path.write_text("\n".join(lines) + "\n")
    figures = analyze([path])["dask"]
    assert figures["span_s"] == pytest.approx(21.0)  # 23:59:49 (first start) to 00:00:10


def test_a_performance_report_is_an_input_read_once_and_kept_in_the_state(tmp_path):
    """The report is found with the logs (an input, not a second walk), and, read into the saved
    state, is in a resumed analysis and in the merged states of `stallscope merge`."""
    run = tmp_path / "run"
    shutil.copytree(FIXTURES / "per_target", run)
    (run / "logs" / "report.html").write_text("<html>a page of some other tool</html>\n")
    state = tmp_path / "state"
    first = analyze([run], state_dir=state)
    paths = [entry["path"] for entry in first["inputs"]]
    assert [Path(path).name for path in paths if path.endswith(".html")] == ["dask-perf-report-5296ef.html"]
    assert first["dask"]["perf_report"]["tasks"] == 24
    assert analyze([run], state_dir=state)["dask"]["perf_report"] == first["dask"]["perf_report"]
    assert analyze_states([state])["dask"]["perf_report"] == first["dask"]["perf_report"]
    alone = tmp_path / "alone"
    alone.mkdir()
    shutil.copy(run / "logs" / "dask-perf-report-5296ef.html", alone)
    with pytest.raises(NoRecognisedLines, match="dask-perf-report-5296ef.html"):
        analyze([alone])
    shutil.copy(run / "logs" / "dask-perf-report-5296ef.html", run / "logs" / "dask-perf-report-later.html")
    again = analyze([run])
    assert again["dask"]["perf_report"]["file"].endswith("dask-perf-report-later.html")
    assert f"2 performance reports found; read {again['dask']['perf_report']['file']}" in again["warnings"]
