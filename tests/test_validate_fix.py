"""playbooks/validate_fix.yml where it runs nothing: a healthy baseline, a diagnosis with no known fix,
an unknown fix, a baseline not analysed. (The run of a variant, judged `fixed`, is in
tests/e2e/test_lifecycle.py.)"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.engine.batchlog import step_lines
from tests.engine.seedlog import SEED, write_log

REPO = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.slow  # five ansible-playbook runs and two module runs: one to three minutes


def baseline(runs, run_id, diagnosis_logs):
    """A run record as run_experiment.yml and collect_and_analyze.yml leave it, analysed for real."""
    record = runs / run_id
    (record / "launch").mkdir(parents=True)
    (record / "launch" / "localhost.json").write_text(json.dumps({"profile": "simrl", "host": "localhost", "components": []}))
    subprocess.run([sys.executable, "-m", "stallscope", "analyze", str(diagnosis_logs), "--out", str(record / "analysis")],
                   check=True, capture_output=True, env=dict(os.environ, PYTHONPATH=str(REPO / "src")))


def play(runs, **extra):
    env = dict(os.environ, ANSIBLE_CONFIG=str(REPO / "ansible.cfg"), ANSIBLE_NOCOLOR="1")
    args = [str(Path(sys.executable).with_name("ansible-playbook")), str(REPO / "playbooks" / "validate_fix.yml"),
            "-e", json.dumps({"stallscope_runs_dir": str(runs), **extra})]
    done = subprocess.run(args, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    return done.returncode, " ".join(done.stdout.split())


@pytest.fixture
def runs(tmp_path):
    logs = tmp_path / "logs"
    write_log(logs / "healthy" / "orchestrator.log", SEED["weights_normal"] + step_lines([(0.0, 2.0)] * 5), prefix="none")
    write_log(logs / "no-updates" / "orchestrator.log", step_lines([(0.0, 2.0)] * 5), prefix="none")
    runs = tmp_path / "runs"
    baseline(runs, "healthy-1", logs / "healthy")
    baseline(runs, "no-updates-1", logs / "no-updates")
    return runs


def test_a_healthy_baseline_runs_nothing(runs):
    code, out = play(runs, baseline="healthy-1")
    assert code == 0, out
    assert "baseline healthy-1: the baseline is healthy: there is nothing to fix; nothing is run" in out
    assert sorted(p.name for p in runs.iterdir()) == ["healthy-1", "no-updates-1"]  # no variant


def test_a_diagnosis_without_a_known_fix_runs_nothing(runs):
    code, out = play(runs, baseline="no-updates-1")
    assert code == 0, out
    assert "baseline no-updates-1: profile simrl has no known fix for no_weight_updates; nothing is run" in out


@pytest.mark.parametrize(("extra", "message"), [
    ({"baseline": "healthy-1", "fix": "faster"}, "fix faster: not a fix of profile simrl (it has "),
    ({"baseline": "missing-1"}, "run missing-1 has no analysis in "),
    ({"baseline": "healthy-1", "run_id": "x"}, "Name the baseline with -e baseline=<run id>"),
])
def test_mistakes_fail_with_one_clear_message(runs, extra, message):
    code, out = play(runs, **extra)
    assert code != 0 and message in out, out


def variant(runs, run_id, logs, exits):
    """A variant's run record as the plays leave it: launch manifest, collected exit codes, analysis."""
    baseline(runs, run_id, logs)
    components = [{"name": name, "exit": f"logs/{name}.exit", "service": name == "inference"} for name in exits]
    (runs / run_id / "launch" / "localhost.json").write_text(
        json.dumps({"profile": "simrl", "host": "localhost", "components": components}))
    (runs / run_id / "localhost" / "logs").mkdir(parents=True)
    for name, code in exits.items():
        (runs / run_id / "localhost" / "logs" / f"{name}.exit").write_text(f"{code}\n")


FIX = {"name": "dedicated-admin-client", "finding": "frontend_queue_saturation", "description": "Its own client.",
       "vars": {"admin_client": "dedicated"}}


def test_fix_verdict_writes_the_comparison_page_and_a_hung_variant_is_variant_failed(runs, tmp_path):
    from tests.module_harness import run_adhoc

    variant(runs, "healthy-1-fix", tmp_path / "logs" / "healthy", {"inference": 143, "trainer": 0, "orchestrator": 0})
    args = {"baseline_dir": str(runs / "healthy-1"), "variant_dir": str(runs / "healthy-1-fix"), "fix": FIX}
    judged = run_adhoc("fix_verdict", args)
    assert not judged["failed"] and judged["verdict"] != "variant failed", judged
    assert judged["html_path"] == str(runs / "healthy-1-fix" / "compare.html")
    assert "verdict: " in (runs / "healthy-1-fix" / "compare.html").read_text()

    hung = "jobs still running after 20 s, stopped (hung): orchestrator on localhost"
    variant(runs, "healthy-1-hung", tmp_path / "logs" / "healthy", {"inference": 143, "trainer": 0, "orchestrator": 130})
    judged = run_adhoc("fix_verdict", dict(args, variant_dir=str(runs / "healthy-1-hung"), hung=hung))
    assert (judged["verdict"], judged["reason"]) == ("variant failed", f"{hung}; orchestrator on localhost exited with code 130")
    assert "html_path" not in judged
