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

pytestmark = pytest.mark.slow  # five ansible-playbook runs, about a minute


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
