"""playbooks/sweep.yml on a real sshd test host with the simulated stack: interrupted (Ctrl-C) while
its first variant runs, stop_experiment.yml leaves nothing of that run behind; then each variant is launched,
waited for, stopped, collected and analysed in turn; one whose trainer crashes (its orchestrator then
waits for a checkpoint that never comes) is recorded as failed with its reason and the sweep goes
on; running the sweep again resumes it (nothing is run twice)."""

import json
import time

import pytest

from tests.e2e.harness import GROUPS, PLAY_TIMEOUT_S

pytestmark = [pytest.mark.slow, pytest.mark.needs_root]

# The trainer crashes before its first checkpoint: the orchestrator (async_level 2) waits at step 3 for it.
SPEC = {"trainer_args": ["", "--crash-at-step 1"]}
HUNG_AFTER_S = 20


def test_a_sweep_interrupted_stops_clean_then_records_a_hung_variant_goes_on_and_resumes(one_host, deploy):
    host = one_host.hosts[0]
    deployment = deploy(one_host, {group: [host] for group in GROUPS}, {"max_steps": 3})

    # Ctrl-C while the first variant runs: stop_experiment.yml then leaves no session or process of it.
    interrupted = deployment.start("sweep.yml", sweep=SPEC, sweep_id="sw", sweep_timeout=HUNG_AFTER_S)
    launched = deployment.runs_dir / "sw-v01" / "launch" / f"{host.name}.json"
    deadline = time.monotonic() + PLAY_TIMEOUT_S
    while not launched.exists() and interrupted.poll() is None and time.monotonic() < deadline:
        time.sleep(0.5)
    assert launched.exists() and interrupted.poll() is None, "the sweep did not reach its first variant's run"
    assert deployment.interrupt(interrupted) != 0
    stopped = deployment.play("stop_experiment.yml", run_id="sw-v01")
    assert stopped.rc == 0, stopped.summary()
    remote = deployment.remote(host)
    assert "stallscope-sw-v01" not in remote.run(f"tmux -L {deployment.tmux_socket} list-sessions").stdout
    assert [process.args for process in remote.process.filter(user=host.user) if "sw-v01" in process.args] == []

    # The sweep again: the interrupted variant runs anew under another run id. Two runs, each four
    # playbooks: more than one run's PLAY_TIMEOUT_S on a loaded machine.
    swept = deployment.play("sweep.yml", timeout=1800, sweep=SPEC, sweep_id="sw", sweep_timeout=HUNG_AFTER_S)
    assert swept.rc == 0, swept.summary()
    sweep_dir = deployment.runs_dir / "sweeps" / "sw"
    summary = json.loads((sweep_dir / "summary.json").read_text())
    rows = {row["name"]: row for row in summary["rows"]}
    assert rows["v01"]["variables"] == {"trainer_args": ""} and rows["v01"]["failed"] is None, rows["v01"]
    assert rows["v01"]["diagnosis"] == "frontend_queue_saturation" and rows["v01"]["objective"] > 0, rows["v01"]
    assert rows["v02"]["failed"] == (f"jobs still running after {HUNG_AFTER_S} s, stopped (hung); "
                                     f"trainer on {host.name} exited with code 1"), rows["v02"]
    assert summary["best"] == "v01"
    assert f"v02 ({json.dumps({'trainer_args': '--crash-at-step 1'})}, run sw-v02): variant failed: jobs still" in swept.text
    assert "| **v01** (best) |" in (sweep_dir / "summary.md").read_text()
    assert "Page: " + str(sweep_dir / "sweep.html") in swept.text

    again = deployment.play("sweep.yml", sweep=SPEC, sweep_id="sw")
    assert again.rc == 0, again.summary()
    assert "sweep sw: 2 variant(s), 0 to run, 2 already recorded" in again.text, again.summary()
    assert sorted(path.name for path in deployment.runs_dir.iterdir()) == ["latest", "sw-v01", "sw-v01-a2", "sw-v02",
                                                                           "sweeps"]
