"""The calibration workload on a real local Dask cluster (scheduler and worker processes on
loopback): the lines of docs/dask.md from measured work, the variants, the performance report, and the
engine's reading of them."""

import subprocess
import sys
from collections import Counter

import pytest

from stallscope.engine import analyze

from .cluster import AGG_LINE, SIM_LINE, STARTED, Cluster, environment, free_port, records

pytest.importorskip("distributed")
pytestmark = pytest.mark.slow

REPLICATES, OUTPUTS, OUTPUT_KB, SIM_CPU_MS = 4, 3, 40, 60
SMALL = ["--n-replicates", REPLICATES, "--n-outputs", OUTPUTS, "--output-kb", OUTPUT_KB, "--sim-cpu-ms", SIM_CPU_MS]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    started = Cluster(tmp_path_factory.mktemp("dask") / "run", nworkers=2).start()
    yield started
    started.stop()


def run_variant(cluster, tmp_path, name, *args, perf_report=False):
    """Runs one job; its share of the worker log (and its report) goes to tmp_path/name/logs."""
    before = len(cluster.worker_log())
    proc = cluster.calibrate(*SMALL, *args, perf_report=perf_report)
    assert proc.returncode == 0, proc.stderr[-2000:]
    variant = tmp_path / name / "logs"
    variant.mkdir(parents=True)
    text = cluster.worker_log()[before:]
    (variant / "workers.log").write_text(text)
    for report in cluster.logs.glob("dask-perf-report-*.html"):
        report.rename(variant / report.name)
    return text, proc


def test_two_target_trials_log_the_seeds_lines_from_measured_work(cluster, tmp_path):
    text, proc = run_variant(cluster, tmp_path, "per-target", "--max-trials", 3, "--run-id", "pt1", perf_report=True)
    started = set(STARTED.findall(cluster.worker_log()))
    assert len(started) == 2
    sims, aggs = records(SIM_LINE, text), records(AGG_LINE, text)
    assert text.count("SIM_TIMING:") == len(sims) == 3 * REPLICATES
    assert text.count("AGG_TIMING:") == len(aggs) == 3 * 2
    assert {sim["worker"] for sim in sims} | {agg["worker"] for agg in aggs} <= started
    # Every simulation burnt its CPU time, so its wall time is at least that.
    assert all(float(sim["duration_ms"]) >= SIM_CPU_MS for sim in sims)
    assert sorted(Counter(sim["param_id"] for sim in sims).values()) == [REPLICATES] * 3
    payload_mb = REPLICATES * OUTPUTS * OUTPUT_KB * 1024 / 1e6
    for agg in aggs:
        assert agg["run_id"] == "pt1" and agg["target"] in ("incidence", "prevalence")
        assert (int(agg["n_sim_returns"]), int(agg["n_outputs"])) == (REPLICATES, OUTPUTS)
        assert float(agg["total_inline_mb"]) == round(payload_mb, 2)
        assert float(agg["max_single_kb"]) == OUTPUT_KB
    assert "calibration done: 3 trials (0 failed)" in proc.stderr

    report = analyze([tmp_path / "per-target"])
    assert report["profile"] == "dask"
    dask = report["dask"]
    assert dask["trials"] == 3 and dask["trials_with_two_or_more_targets"] == 3
    workers_per_trial = {}
    for agg in aggs:
        workers_per_trial.setdefault(agg["param_id"], set()).add(agg["worker"])
    split = sum(len(workers) > 1 for workers in workers_per_trial.values())
    assert dask["split_trials"] == split and dask["split_agg_pct"] == pytest.approx(split / 3 * 100)
    assert report["metrics"]["sim_duration_ms"]["count"] == 3 * REPLICATES
    assert report["metrics"]["agg_total_inline_mb"]["p50"] == pytest.approx(round(payload_mb, 2))
    assert sum(w["sims"] for w in dask["workers"]) == 3 * REPLICATES
    perf = dask["perf_report"]
    assert perf["tasks"] == 3 * (REPLICATES + 2)
    assert perf["time_s"]["compute"] > 0 and 0 <= perf["transfer_share"] <= 1


def test_simulations_only_log_no_aggregation_and_are_not_judged_for_it(cluster, tmp_path):
    text, _ = run_variant(cluster, tmp_path, "sims-only", "--max-trials", 2, "--aggregation", "none")
    assert "AGG_TIMING:" not in text and len(records(SIM_LINE, text)) == 2 * REPLICATES
    report = analyze([tmp_path / "sims-only"])
    assert report["dask"]["trials"] == 2 and report["dask"]["split_agg_pct"] is None
    assert "aggregation_data_movement" not in {finding["id"] for finding in report["findings"]}


def test_multi_target_aggregation_runs_every_target_on_one_worker(cluster, tmp_path):
    text, _ = run_variant(cluster, tmp_path, "multi", "--max-trials", 3, "--aggregation", "multi-target")
    aggs = records(AGG_LINE, text)
    assert len(aggs) == 3 * 2
    by_trial = {}
    for agg in aggs:
        by_trial.setdefault(agg["param_id"], set()).add(agg["worker"])
    assert all(len(workers) == 1 for workers in by_trial.values())
    assert analyze([tmp_path / "multi"])["dask"]["split_agg_pct"] == 0.0


def test_pinned_aggregations_run_where_most_replicates_are(cluster, tmp_path):
    text, _ = run_variant(cluster, tmp_path, "pinned", "--max-trials", 3, "--placement", "data")
    sims_on = {}
    for sim in records(SIM_LINE, text):
        sims_on.setdefault(sim["param_id"], Counter())[sim["worker"]] += 1
    aggs = records(AGG_LINE, text)
    assert len(aggs) == 3 * 2
    for agg in aggs:
        counts = sims_on[agg["param_id"]]
        assert counts[agg["worker"]] == max(counts.values()), (agg, counts)


def test_bad_input_is_one_line():
    base = [sys.executable, "-m", "stallscope.sim", "calibrate"]
    no_budget = subprocess.run([*base, "--scheduler", "tcp://127.0.0.1:1"], env=environment(), capture_output=True,
                               text=True, timeout=60)
    assert no_budget.returncode == 2 and "give a budget" in no_budget.stderr
    nobody = subprocess.run([*base, "--scheduler", f"tcp://127.0.0.1:{free_port()}", "--max-trials", "1",
                             "--wait-workers-s", "2"], env=environment(), capture_output=True, text=True, timeout=60)
    assert nobody.returncode == 1, nobody.stderr
    assert nobody.stderr.strip().splitlines()[-1].startswith("stallscope-sim calibrate: cannot reach the Dask scheduler")
    assert "Traceback" not in nobody.stderr
    bad_target = subprocess.run([*base, "--scheduler", "tcp://127.0.0.1:1", "--max-trials", "1", "--targets", "a;b"],
                                env=environment(), capture_output=True, text=True, timeout=60)
    assert bad_target.returncode == 2 and "distinct target names" in bad_target.stderr
