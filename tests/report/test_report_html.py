"""report.html rendered from real analyses: the seed fixtures, a Dask run, a healthy run, a large
run (drawn entries bounded), a simulated run, and the one-line message where Bokeh is missing."""

import html
import json
import os
import subprocess
import sys
import venv
from pathlib import Path

import numpy as np
import pytest

from stallscope.engine import analyze, write_outputs
from stallscope.report_html import write_report_html
from stallscope.report_html.placement import DRAWN_LIMITS, Timestamps, component_of, wall_column
from tests.engine.seedlog import SEED, write_log
from tests.sim.simproc import sim_command, sim_env

from .pages import check_self_contained

FIXTURES = Path(__file__).resolve().parents[1] / "engine" / "fixtures"
BATCH_FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "ray_batch"
SRC = Path(__file__).resolve().parents[2] / "src"


def render(paths, out):
    report = analyze([str(path) for path in paths])
    write_outputs(report, out)
    return report, Path(write_report_html(report, out))


def assert_names_the_findings(report, text):
    top = next((f for f in report["findings"] if f["id"] == report["diagnosis"]), None)
    if top is not None:
        assert html.escape(top["summary"]) in text and html.escape(top["recommendation"]) in text
        # The diagnosis comes first: before every other finding and every chart.
        assert text.index(html.escape(top["summary"])) < min(text.index(f"<summary>{f['id']}") for f in report["findings"]
                                                              if f is not top) if len(report["findings"]) > 1 else True
    for finding in report["findings"]:
        assert finding["id"] in text


@pytest.mark.parametrize("fixture", ["two_hosts", "dask/per_target", "dask/memory"])
def test_seed_fixtures(tmp_path, fixture):
    report, page = render([FIXTURES / fixture], tmp_path / "out")
    assert page == tmp_path / "out" / "report.html"
    text = check_self_contained(page)
    assert_names_the_findings(report, text)
    assert report["diagnosis"] in text and report["findings"]
    assert 'data-chart="timeline"' in text or 'data-chart="dask_timeline"' in text


def test_two_hosts_timeline_holds_every_update_and_the_slowest_table(tmp_path):
    report, page = render([FIXTURES / "two_hosts"], tmp_path / "out")
    text = check_self_contained(page)
    for row in report["slowest_updates"]:
        assert row["trace"] in text
    assert "drawn (" not in text  # four updates: nothing left out
    for lane in ("orch-host · orchestrator · weight updates", "orch-host · orchestrator · generation batches"):
        assert json.dumps(lane)[1:-1] in text  # lane names are in the charts' JSON


def test_a_run_with_nothing_to_draw_still_gets_its_page(tmp_path):
    """The inference server's log alone: weight events but no client-side update, batch or checkpoint."""
    report, page = render([FIXTURES / "two_hosts" / "infer-host"], tmp_path / "out")
    assert report["profile"] == "prime-rl" and report["timeline"]["updates"] == 0
    text = page.read_text(encoding="utf-8")  # no chart: no Bokeh code either
    assert report["diagnosis"] in text and "Inputs" in text and 'data-chart="timeline"' not in text
    assert "http" not in text.replace("http-equiv", "")


def test_dask_run_draws_worker_lanes_and_memory_messages(tmp_path):
    report, page = render([FIXTURES / "dask" / "memory"], tmp_path / "out")
    text = check_self_contained(page)
    assert report["profile"] == "dask" and report["dask"]["memory"]["restart"] > 0
    assert "memory restart" in text and "worker tcp://" in text
    assert "split-aggregation rate" in text


def test_batch_job_draws_its_progress_and_eta_against_the_sla(tmp_path):
    """A job recorded from a real Ray Data run with a one-hour SLA 50 minutes spent (docs/ray.md)."""
    report, page = render([BATCH_FIXTURES / "sla_at_risk.log"], tmp_path / "out")
    text = check_self_contained(page)
    assert_names_the_findings(report, text)
    [job] = report["batch"]["jobs"]
    progress = job["progress"]
    # One point per progress line of the log, in time order; the SLA time left from the job's own rate.
    lines = (BATCH_FIXTURES / "sla_at_risk.log").read_text().count("stallscope.batch.job: Progress: ")
    assert len(progress["t_s"]) == lines and progress["every"] == 1 and progress["t_s"] == sorted(progress["t_s"])
    assert progress["completed"][-1] == job["completed"]
    at_risk = [(eta, left) for eta, left in zip(progress["eta_h"], progress["remaining_h"]) if eta is not None and left is not None]
    assert at_risk and all(eta > left for eta, left in at_risk[:-1])  # at risk until the last line (0 left to do)
    assert 'data-chart="batch_progress"' in text and "ETA (solid) against the SLA time left (dashed)" in text


def test_a_long_batch_job_keeps_a_bounded_evenly_spaced_series():
    from stallscope.engine.batch_run import SERIES_POINTS, keep_point

    job = {}
    for index in range(5 * SERIES_POINTS):
        keep_point(job, [float(index), index, 0, 1.0, None])
    kept = [point[0] for point in job["series"]["points"]]
    stride = job["series"]["stride"]
    assert SERIES_POINTS <= len(kept) <= 2 * SERIES_POINTS and stride == 4
    assert kept == [float(index) for index in range(0, 5 * SERIES_POINTS, stride)]


def test_healthy_run_says_so(tmp_path):
    write_log(tmp_path / "logs" / "orchestrator.log",
              SEED["weights_normal"] + SEED["ckpt_normal"] + SEED["gen_normal"], prefix="loguru")
    report, page = render([tmp_path / "logs"], tmp_path / "out")
    assert report["diagnosis"] == "healthy" and report["findings"] == []
    text = check_self_contained(page)
    assert "healthy" in text and "No finding at warning or critical severity." in text
    assert "Other findings" not in text
    assert "checkpoint waits" in text and "checkpoint writes" in text  # the seed's [ckpt] lines are on the timeline


def test_a_large_run_draws_a_bounded_number_of_entries_and_says_so(tmp_path):
    updates = 4 * DRAWN_LIMITS["update"]
    lines = []
    for step in range(updates):
        t = 1000.0 + step * 10
        queue = 20000.0 if step % 7 == 0 else 5.0
        lines += [f"12:{step // 60 % 60:02d}:{step % 60:02d}.000 | INFO | [gen] batch.start inflight=64 t={t:.3f}",
                  f"12:{step // 60 % 60:02d}:{step % 60:02d}.000 | INFO | [weights][{step:016x}] client.send "
                  f"path=/update_weights t={t + 1:.3f}",
                  f"12:{step // 60 % 60:02d}:{step % 60:02d}.500 | INFO | [weights][{step:016x}] client.done "
                  f"wall_ms={queue + 400:.1f} rpc_ms=400.0 queue_ms={queue:.1f}",
                  f"12:{step // 60 % 60:02d}:{step % 60:02d}.900 | INFO | [gen] batch.done completions=64 dur_ms=3000.0 t={t + 3:.3f}"]
    lines.append("13:00:00.000 | INFO | [weights][feedfacecafe0001] client.send path=/update_weights t=99999.000")
    path = tmp_path / "logs" / "orchestrator.log"
    path.parent.mkdir()
    path.write_text("\n".join(lines) + "\n")
    report, page = render([path.parent], tmp_path / "out")
    text = check_self_contained(page)
    assert f"{DRAWN_LIMITS['update']} of {updates + 1} updates drawn" in text
    assert f"{updates} values" in text  # the distributions count every done update, not the drawn ones
    assert page.stat().st_size < 4_000_000
    # The drawn updates are the slowest: every queued one (one in seven) fits in the limit.
    assert report["slowest_updates"][0]["trace"] in text
    # An update sent and never done is drawn whatever its size, and marked.
    assert report["updates"]["incomplete"] == 1 and "feedfacecafe0001" in text and "update sent, never done" in text


def test_timestamps_wrap_at_midnight_and_components_are_named_from_files():
    stamps = ("23:59:59", "00:00:01.5", None, "2025-01-02 11:22:33,250", "2025-01-02T11:22:33.250+00:00")
    wall = wall_column(np.zeros(len(stamps)), stamps, Timestamps())
    assert wall[:2].tolist() == [86399.0, 86401.5] and np.isnan(wall[2])
    assert wall[3] == wall[4] and wall[3] % 60 == 33.25
    assert component_of("/x/logs/orchestrator.log.2.gz") == "orchestrator"
    assert component_of("trainer.stdout") == "trainer"


@pytest.mark.slow
def test_a_simulated_run(tmp_path):
    """A real `stallscope-sim all` run (shared client: queued updates), analysed by the CLI."""
    run = subprocess.run(sim_command("all", "--out", tmp_path / "run", "--timeout-s", 100, "--max-steps", 4),
                         env=sim_env(), capture_output=True, text=True, timeout=150)
    assert run.returncode == 0, run.stderr
    cli = subprocess.run([sys.executable, "-m", "stallscope", "analyze", tmp_path / "run", "--out", tmp_path / "out"],
                         env=dict(os.environ, PYTHONPATH=str(SRC)), capture_output=True, text=True, timeout=120)
    assert cli.returncode == 0, cli.stderr
    assert f"html: {tmp_path / 'out' / 'report.html'}" in cli.stdout
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    text = check_self_contained(tmp_path / "out" / "report.html")
    assert_names_the_findings(report, text)
    assert "checkpoint waits" in text and "checkpoint writes" in text and "generation batches" in text


def test_without_bokeh_analyze_writes_everything_else_and_says_how_to_get_the_page(tmp_path):
    """A real interpreter without the report extra: a fresh virtual environment with the engine on
    its path (the engine and the CLI without --thresholds need only the standard library)."""
    env_dir = tmp_path / "bare"
    venv.create(env_dir, with_pip=False)
    logs = tmp_path / "logs"
    write_log(logs / "orchestrator.log", SEED["weights_frontend_queue"])
    result = subprocess.run([env_dir / "bin" / "python", "-m", "stallscope", "analyze", logs, "--out", tmp_path / "out"],
                            env=dict(os.environ, PYTHONPATH=str(SRC)), capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ("stallscope analyze: report.html not written: Bokeh is not installed; "
                             "pip install 'stallscope[report]' (make venv installs it)\n")
    assert "report.html" not in os.listdir(tmp_path / "out") and "SUMMARY.md" in os.listdir(tmp_path / "out")
    assert "html:" not in result.stdout


def test_compare_writes_a_self_contained_page_with_the_verdict(tmp_path):
    """`stallscope compare` as a real process: compare.html (default in the working directory, or
    --html) holds the verdict, each criterion and the before/after overlays."""
    before, after = FIXTURES / "two_hosts", tmp_path / "after"
    write_log(after / "orchestrator.log", SEED["weights_normal"] + SEED["gen_normal"], prefix="loguru")
    env = dict(os.environ, PYTHONPATH=str(SRC))
    result = subprocess.run([sys.executable, "-m", "stallscope", "compare", before, after], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.endswith("html: compare.html\n")
    comparison = json.loads(subprocess.run([sys.executable, "-m", "stallscope", "compare", before, after, "--json",
                                            "--html", tmp_path / "elsewhere.html"], cwd=tmp_path, env=env,
                                           capture_output=True, text=True, timeout=120).stdout)
    for page in (tmp_path / "compare.html", tmp_path / "elsewhere.html"):
        text = check_self_contained(page)
        assert f"verdict: {comparison['verdict']}" in text
        for criterion in comparison["criteria"]:
            assert html.escape(criterion["name"]) in text
        assert 'data-chart="overlays"' in text and json.dumps("overlay queue_ms") in text


def test_compare_page_shows_the_figures_of_the_family_compared(tmp_path):
    """Two batch-inference runs: compare.html's figures are the batch family's (docs/ray.md)."""
    from stallscope.engine.compare import compare
    from stallscope.report_html import write_compare_html

    ray_batch = FIXTURES.parent.parent / "fixtures" / "ray_batch"
    before, after = (analyze([ray_batch / name], timeline=False) for name in ("default.log", "slow_worker.log"))
    result = compare(before, after)
    text = check_self_contained(Path(write_compare_html(result, before, after, ("a", "b"), tmp_path / "compare.html")))
    for row in result["batch"]:
        assert html.escape(row["figure"]) in text


def test_sweep_page_is_self_contained_and_links_each_variant_s_report(tmp_path):
    from stallscope.engine.compare import compare_runs, load_report
    from stallscope.report_html import write_sweep_html

    runs_dir = tmp_path / "runs"
    report, _ = render([FIXTURES / "two_hosts"], runs_dir / "s-v01" / "analysis")
    runs = [{"name": "v01", "run_id": "s-v01", "variables": {"admin_client": "shared"}, "report": report},
            {"name": "v02", "run_id": "s-v02", "variables": {"admin_client": "dedicated"}, "report": None,
             "failure": "jobs still running after 20 s, stopped (hung)"}]
    result = compare_runs(runs, {"metric": "throughput.completions_per_s", "better": "higher"})
    for row, run in zip(result["rows"], runs):
        row["run_id"] = run["run_id"]
    (runs_dir / "sweeps" / "s").mkdir(parents=True)
    text = check_self_contained(Path(write_sweep_html(dict(result, sweep_id="s", not_run=["v03"]),
                                                      runs_dir / "sweeps" / "s" / "sweep.html")))
    assert '<a href="../../s-v01/analysis/report.html">v01 (best)</a>' in text
    assert "variant failed: jobs still running after 20 s, stopped (hung)" in text and "v03: not run yet" in text
    assert 'data-chart="objective"' in text
