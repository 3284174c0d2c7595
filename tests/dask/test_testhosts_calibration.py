"""Issue 4's done-when, through the real playbooks on three sshd test hosts: a scheduler host and two
worker hosts (`dask_scheduler`, `dask_workers`), each with a venv the checkout role installs offline
from a wheelhouse. run_experiment.yml starts the scheduler, `dask worker` on both worker hosts and
the calibration job; collect_and_analyze.yml brings the logs and the performance report home and
diagnoses them. Three runs: the per-target two-target variant, the multi-target variant (compared
with `stallscope compare`), and workers pushed past their memory limit."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
import yaml

from tests.test_launch_playbooks import messages

from .cluster import AGG_LINE, records

ansible_runner = pytest.importorskip("ansible_runner")
pytestmark = [pytest.mark.slow, pytest.mark.needs_root]

REPO = Path(__file__).resolve().parents[2]
WHEELHOUSE = Path.home() / ".cache" / "stallscope" / "dask-wheelhouse"
REQUIREMENTS = ["dask[distributed]>=2024.1", "bokeh>=3.1", "pyyaml>=6", "setuptools>=68", "wheel"]
REPLICATES, OUTPUTS, OUTPUT_KB, TRIALS = 6, 5, 200, 8
CALIBRATION = {"nworkers": 2, "memory_limit": "1GB", "n_replicates": REPLICATES, "n_outputs": OUTPUTS,
               "output_kb": OUTPUT_KB, "sim_cpu_ms": 80, "max_trials": TRIALS, "perf_report": "1",
               "wait_workers_s": 90}


def wheelhouse() -> Path:
    """dask, bokeh and the build backend as wheels, downloaded once per machine (the test hosts
    have no route to an index)."""
    marker = WHEELHOUSE / ".complete"
    if not marker.exists():
        WHEELHOUSE.mkdir(parents=True, exist_ok=True)
        subprocess.run([sys.executable, "-m", "pip", "download", "-q", "-d", str(WHEELHOUSE), *REQUIREMENTS],
                       check=True, timeout=600)
        marker.write_text("\n".join(REQUIREMENTS) + "\n")
    return WHEELHOUSE


def source_repo(shared: Path) -> Path:
    """A git repository of this working tree's package (committed or not), readable by the test
    users: what the checkout role clones and installs."""
    repo = shared / "stallscope.git"
    work = shared / "work"
    shutil.copytree(REPO / "src", work / "src", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, work / name)
    git = ["git", "-c", "user.name=stallscope-tests", "-c", "user.email=tests@stallscope.invalid"]
    subprocess.run([*git, "init", "-q", "-b", "main", str(work)], check=True)
    subprocess.run([*git, "-C", str(work), "add", "-A"], check=True)
    subprocess.run([*git, "-C", str(work), "commit", "-q", "-m", "stallscope under test"], check=True)
    subprocess.run(["git", "clone", "-q", "--bare", str(work), str(repo)], check=True)
    for path in [shared, *shared.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)
    return repo


class Experiments:
    """The controller's side: inventory with the Dask groups, ansible-runner, the run records."""

    def __init__(self, host_set, tmp_path: Path, shared: Path):
        self.hosts = host_set.hosts
        self.tmp = tmp_path
        self.runs = tmp_path / "runs"
        inventory = yaml.safe_load(host_set.inventory.read_text())
        scheduler, *workers = [host.name for host in self.hosts]
        # --no-compile: byte-compiling every module of numpy and bokeh takes longer than installing
        # them; Python compiles what it imports. Workers need no bokeh (only the scheduler host
        # writes the performance report).
        install = "python3 -m venv .venv && .venv/bin/pip install -q --no-compile "
        inventory["all"]["children"] = {
            "dask_scheduler": {"hosts": {scheduler: None}, "vars": {"checkout_install_command": install + "'.[dask]'"}},
            "dask_workers": {"hosts": {name: None for name in workers},
                             "vars": {"checkout_install_command": install + ". 'dask[distributed]'"}}}
        self.inventory = tmp_path / "inventory.yml"
        self.inventory.write_text(yaml.safe_dump(inventory))
        self.checked_out = False
        repo = source_repo(shared)
        for host in self.hosts:
            # The repository belongs to root: git refuses it unless the test user trusts it.
            config = Path(host.home) / ".gitconfig"
            config.write_text(f"[safe]\n\tdirectory = {repo}\n")
            shutil.chown(config, host.user, host.user)
        self.common = {
            "stallscope_profile": "dask_calibration",
            "stallscope_runs_dir": str(self.runs),
            "stallscope_provision": False,  # the test hosts have the system packages and no index
            "preflight_min_free_gb": 1,
            "checkout_repo_url": str(repo),
            "checkout_dest": "/home/{{ ansible_user }}/stallscope-src",
            "checkout_lock_files": ["pyproject.toml"],
            "checkout_wheelhouse_dir": str(wheelhouse()),
            # Each run replaces the previous one's scheduler and workers.
            "launch_replace_running": True,
        }

    def play(self, playbook: str, **extravars):
        started = time.monotonic()
        private = self.tmp / "runner"
        private.mkdir(exist_ok=True)
        runner = ansible_runner.run(
            private_data_dir=str(private), project_dir=str(REPO), playbook=str(REPO / "playbooks" / playbook),
            inventory=str(self.inventory), extravars={**self.common, **extravars},
            envvars={"ANSIBLE_CONFIG": str(REPO / "ansible.cfg")}, quiet=True)
        output = "\n".join(messages(runner))
        if runner.rc != 0:
            failures = [event["stdout"] for event in runner.events if event.get("event") == "runner_on_failed"]
            pytest.fail(f"{playbook} failed:\n" + "\n".join(failures)[-6000:])
        with open(self.tmp / "durations.txt", "a") as log:
            log.write(f"{playbook} {extravars.get('run_id')} {time.monotonic() - started:.1f}\n")
        return output

    def run(self, run_id: str, **profile_vars) -> dict:
        """run_experiment.yml, the job's end, collect_and_analyze.yml; the run's report."""
        variables = {"dask_python": "{{ checkout_dest }}/.venv/bin/python", "dask_pythonpath": "", **profile_vars}
        # The first run checks the code out and installs it on every host; later runs use it as is.
        checkout = {} if not self.checked_out else {"checkout_repo_url": ""}
        self.play("run_experiment.yml", run_id=run_id, stallscope_profile_vars=variables, **checkout)
        self.checked_out = True
        scheduler = self.hosts[0]
        exit_file = Path(scheduler.home) / "stallscope-runs" / run_id / "logs" / "calibration.exit"
        end = time.monotonic() + 240
        while not exit_file.exists():
            assert time.monotonic() < end, f"{run_id}: the calibration job did not end"
            time.sleep(1)
        self.play("collect_and_analyze.yml", run_id=run_id)
        report = json.loads((self.runs / run_id / "analysis" / "report.json").read_text())
        report["job_exit_code"] = int(exit_file.read_text().strip())
        return report

    def worker_lines(self, run_id: str) -> str:
        """The worker logs as collected from both worker hosts."""
        return "".join((self.runs / run_id / host.name / "logs" / "workers.log").read_text() for host in self.hosts[1:])


@pytest.fixture(scope="module")
def experiments(testhosts, tmp_path_factory):
    host_set = testhosts.create(3)
    shared = Path(tempfile.mkdtemp(prefix="stallscope-dask-"))
    os.environ["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), os.environ["PATH"]])
    try:
        setup = Experiments(host_set, tmp_path_factory.mktemp("dask-e2e"), shared)
        yield setup  # destroying the hosts below ends every process of their users
    finally:
        shutil.rmtree(shared, ignore_errors=True)
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
    worker_hosts = {host.name: host.address for host in experiments.hosts[1:]}
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
    before, after = (experiments.runs / run / "analysis" for run in ("per-target", "multi-target"))
    compared = subprocess.run([sys.executable, "-m", "stallscope", "compare", str(before), str(after)],
                              env={**os.environ, "PYTHONPATH": str(REPO / "src")}, capture_output=True, text=True,
                              timeout=60)
    assert compared.returncode == 0, compared.stderr
    table = compared.stdout
    assert "## A/B (seed 004 section 5D)" in table
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
    assert memory["restart"] >= 1 and set(memory["by_host"]) <= {host.name for host in experiments.hosts[1:]}
    addresses = {host.address for host in experiments.hosts[1:]}
    assert all(worker.split("//")[1].split(":")[0] in addresses for worker in memory["restarted_workers"])
    # The job itself ended with one line saying why (no trial could complete).
    if report["job_exit_code"]:
        log = (experiments.runs / "memory" / experiments.hosts[0].name / "logs" / "calibration.log").read_text()
        assert log.strip().splitlines()[-1].startswith("stallscope-sim calibrate: ")
