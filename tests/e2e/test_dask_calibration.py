"""The Dask calibration end to end, through the real playbooks on three sshd test hosts: a scheduler host and two
worker hosts (`dask_scheduler`, `dask_workers`), each with a venv the checkout role installs offline
from a wheelhouse. run_experiment.yml starts the scheduler, `dask worker` on both worker hosts and
the calibration job; collect_and_analyze.yml brings the logs and the performance report home and
diagnoses them. Three runs: the per-target two-target variant, the multi-target variant (compared
with `stallscope compare`), and workers pushed past their memory limit."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.dask.cluster import AGG_LINE, records
from tests.e2e import harness

pytestmark = [pytest.mark.slow, pytest.mark.needs_root]

REPO = harness.REPO
REPLICATES, OUTPUTS, OUTPUT_KB, TRIALS = 6, 5, 200, 8
CALIBRATION = {"nworkers": 2, "memory_limit": "1GB", "n_replicates": REPLICATES, "n_outputs": OUTPUTS,
               "output_kb": OUTPUT_KB, "sim_cpu_ms": 80, "max_trials": TRIALS, "perf_report": "1",
               "wait_workers_s": 90}
# --no-compile: byte-compiling every module of numpy and bokeh takes longer than installing them;
# Python compiles what it imports. Workers need no bokeh (only the scheduler host writes the
# performance report).
INSTALL = "/usr/bin/python3 -m venv .venv && .venv/bin/pip install --quiet --disable-pip-version-check --no-compile "


class DaskDeployment(harness.Deployment):
    """The harness's deployment with the Dask groups: the profile's interpreter is the checkout's
    venv, the scheduler host installs the dask extra and the worker hosts dask[distributed] alone."""

    def host_vars(self, host):
        variables = super().host_vars(host)
        variables["stallscope_profile_vars"] = {"dask_python": f"{variables['checkout_dest']}/.venv/bin/python",
                                                "dask_pythonpath": "", **self.profile_vars}
        return variables

    def inventory(self):
        inventory = super().inventory()
        inventory["all"]["vars"].update(stallscope_profile="dask_calibration", preflight_min_free_gb=1,
                                        launch_replace_running=True)  # each run replaces the last one's cluster
        children = inventory["all"]["children"]
        children["dask_scheduler"]["vars"] = {"checkout_install_command": INSTALL + "'.[dask]'"}
        children["dask_workers"]["vars"] = {"checkout_install_command": INSTALL + ". 'dask[distributed]'"}
        return inventory

    def run(self, run_id: str, **profile_vars) -> dict:
        """run_experiment.yml (the first one checks out and installs), the job's end,
        collect_and_analyze.yml; the run's report, with the job's exit code."""
        self.profile_vars = profile_vars
        result = self.play("run_experiment.yml", run_id=run_id)
        assert result.rc == 0, result.summary()
        scheduler = self.placement["dask_scheduler"][0]
        exit_file = Path(scheduler.home) / "stallscope-runs" / run_id / "logs" / "calibration.exit"
        end = time.monotonic() + 240
        while not exit_file.exists():
            assert time.monotonic() < end, f"{run_id}: the calibration job did not end"
            time.sleep(1)
        result = self.play("collect_and_analyze.yml", run_id=run_id)
        assert result.rc == 0, result.summary()
        report = json.loads((self.runs_dir / run_id / "analysis" / "report.json").read_text())
        report["job_exit_code"] = int(exit_file.read_text().strip())
        return report

    def worker_lines(self, run_id: str) -> str:
        """The worker logs as collected from the worker hosts."""
        return "".join((self.runs_dir / run_id / host.name / "logs" / "workers.log").read_text()
                       for host in self.placement["dask_workers"])


@pytest.fixture(scope="module")
def experiments(testhosts, project_repo, tmp_path_factory):
    try:
        wheelhouse = harness.build_wheelhouse(("dask",))
    except RuntimeError as error:
        pytest.skip(f"no wheelhouse for the test hosts: {error}")
    host_set = testhosts.create(3)
    for host in host_set.hosts:
        harness.trust_repo(host, Path(project_repo.removeprefix("file://")))
    scheduler, *workers = host_set.hosts
    deployment = DaskDeployment(host_set, {"dask_scheduler": [scheduler], "dask_workers": workers},
                                tmp_path_factory.mktemp("dask-e2e"), project_repo, wheelhouse)
    yield deployment
    # Destroying the hosts ends every process of their users.
    testhosts.destroy(host_set.prefix)
    testhosts.prefixes.remove(host_set.prefix)


@pytest.fixture(scope="module")
def per_target(experiments):
    return experiments.run("per-target", **CALIBRATION)


@pytest.fixture(scope="module")
def multi_target(experiments, per_target):
    return experiments.run("multi-target", **CALIBRATION, aggregation="multi-target")


def test_per_target_variant_is_diagnosed_from_its_own_split_rate_and_payloads(experiments, per_target):
    assert per_target["job_exit_code"] == 0 and per_target["profile"] == "dask"
    worker_hosts = {host.name: host.address for host in experiments.placement["dask_workers"]}
    aggs = records(AGG_LINE, experiments.worker_lines("per-target"))
    assert len(aggs) == TRIALS * 2
    # Recomputed here from the collected lines: the engine's figures are these.
    by_trial = {}
    for agg in aggs:
        by_trial.setdefault(agg["param_id"], set()).add(agg["worker"])
    split_pct = sum(len(workers) > 1 for workers in by_trial.values()) / len(by_trial) * 100
    payload_mb = round(REPLICATES * OUTPUTS * OUTPUT_KB * 1024 / 1e6, 2)
    assert {float(agg["total_inline_mb"]) for agg in aggs} == {payload_mb}
    dask = per_target["dask"]
    assert dask["trials"] == TRIALS and dask["split_agg_pct"] == pytest.approx(split_pct)
    # Workers on both worker hosts, reached at their hosts' addresses across the network.
    assert len(dask["workers"]) == 4
    assert {worker["host"] for worker in dask["workers"]} == set(worker_hosts)
    assert all(worker["worker"].startswith(f"tcp://{worker_hosts[worker['host']]}:") for worker in dask["workers"])
    assert dask["perf_report"]["tasks"] == TRIALS * (REPLICATES + 2)
    assert dask["perf_report"]["time_s"]["compute"] > 0

    # payload_mb (6.14) is over the 5 MB critical threshold whatever the split rate was.
    assert per_target["diagnosis"] == "aggregation_data_movement" and per_target["severity"] == "critical"
    finding = next(f for f in per_target["findings"] if f["id"] == "aggregation_data_movement")
    assert finding["evidence"]["split_agg_pct"] == pytest.approx(split_pct, abs=1e-3)
    assert finding["evidence"]["total_inline_mb"]["p50"] == payload_mb
    assert f"({split_pct:.0f}%)" in finding["summary"] and f"median {payload_mb:.2f} MB" in finding["summary"]
    if split_pct >= 30:
        assert "multi-target" in finding["recommendation"]


def test_multi_target_variant_is_compared_with_the_per_target_one(experiments, per_target, multi_target):
    assert multi_target["job_exit_code"] == 0
    assert multi_target["dask"]["split_agg_pct"] == 0.0 and multi_target["dask"]["trials"] == TRIALS
    before, after = (experiments.runs_dir / run / "analysis" for run in ("per-target", "multi-target"))
    compared = subprocess.run([sys.executable, "-m", "stallscope", "compare", str(before), str(after),
                               "--html", str(experiments.runs_dir / "compare.html")],
                              env={**os.environ, "PYTHONPATH": str(REPO / "src")}, capture_output=True, text=True,
                              timeout=60)
    assert compared.returncode == 0, compared.stderr
    table = compared.stdout
    assert "## A/B (docs/dask.md)" in table
    rows = {line.split("|")[1].strip(): [cell.strip() for cell in line.split("|")[2:5]]
            for line in table.splitlines() if line.startswith("| ") and line.count("|") == 5}
    assert rows["trials per minute"][:2] == [f"{per_target['dask']['trials_per_min']:.4g}",
                                             f"{multi_target['dask']['trials_per_min']:.4g}"]
    assert rows["split-aggregation rate (%)"][:2] == [f"{per_target['dask']['split_agg_pct']:.4g}", "0"]
    assert "- pass: split-aggregation rate < 30% (after) (after 0.0)" in table


def test_workers_past_their_memory_limit_are_memory_pressure(experiments, multi_target):
    # Each simulation leaves behind more than its worker's whole memory limit: the nanny restarts the
    # worker (past 95%), the simulation runs again elsewhere, and the trial ends as KilledWorker or
    # times out.
    report = experiments.run("memory", nworkers=2, memory_limit="250MB", n_replicates=2, max_trials=1,
                             aggregation="none", perf_report="0", wait_workers_s=90,
                             calibration_args="--sim-leak-mb 250 --threads 1 --trial-timeout-s 15")
    assert report["diagnosis"] == "memory_pressure" and report["severity"] == "critical"
    memory = report["dask"]["memory"]
    worker_hosts = experiments.placement["dask_workers"]
    assert memory["restart"] >= 1 and set(memory["by_host"]) <= {host.name for host in worker_hosts}
    addresses = {host.address for host in worker_hosts}
    assert all(worker.split("//")[1].split(":")[0] in addresses for worker in memory["restarted_workers"])
    # The job itself ended with one line saying why (no trial could complete).
    if report["job_exit_code"]:
        scheduler = experiments.placement["dask_scheduler"][0]
        log = (experiments.runs_dir / "memory" / scheduler.name / "logs" / "calibration.log").read_text()
        assert log.strip().splitlines()[-1].startswith("stallscope-sim calibrate: ")
