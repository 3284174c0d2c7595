"""The profile's Prometheus alert rules: valid (promtool check), firing as intended on synthetic series
(promtool test), and over metric names the gateway really exports."""

import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest
import yaml

from stallscope.sim.batch.gateway import METRIC_PREFIX, metrics_text, sla_state

RULES_DIR = Path(__file__).resolve().parents[2] / "profiles" / "ray_batch_inference"
RULES = RULES_DIR / "alert_rules.yml"
SERIES = re.compile(r"\b(" + METRIC_PREFIX + r"\w+)")


def promtool():
    path = shutil.which("promtool")
    if not path:
        pytest.skip("promtool is not installed (Debian's prometheus: scripts/install-system-deps.sh)")
    return path


def rule_metric_names() -> set:
    groups = yaml.safe_load(RULES.read_text())["groups"]
    return {name for group in groups for rule in group["rules"] for name in SERIES.findall(rule["expr"])}


def exported_names(text: str) -> set:
    return {line.split("{")[0].split()[0] for line in text.splitlines() if line and not line.startswith("#")}


def test_promtool_checks_the_rules_and_their_unit_tests_pass():
    tool = promtool()
    for argv in ([tool, "check", "rules", RULES.name], [tool, "test", "rules", "alert_rules_test.yml"]):
        proc = subprocess.run(argv, cwd=RULES_DIR, capture_output=True, text=True, timeout=60)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert "SUCCESS" in proc.stdout


def test_every_series_a_rule_reads_is_one_the_gateway_exports():
    running = {"job_id": "job-1", "status": "running", "submitted_at": time.time() - 60, "sla_hours": 1.0,
               "progress_pct": 40.0, "completed": 38, "total": 100, "failed": 2, "throughput_rps": 0.6,
               "tokens_per_s": 70.0, "latency_p95_s": 1.2, "eta_hours": 0.03, "kv_cache_usage_pct": 51.0}
    failed = {"job_id": "job-0", "status": "failed", "submitted_at": time.time() - 600, "sla_hours": 1.0,
              "finished_at": time.time() - 300}
    jobs = [{**job, **sla_state(job)} for job in (failed, running)]
    names = rule_metric_names()
    assert len(names) == 8
    assert names <= exported_names(metrics_text(jobs, queue_depth=3))
