"""A real Prometheus (Debian's) scrapes the live gateway and loads the profile's alert rules: the
exposition parses, the series are queryable, every rule evaluates without error; a real job whose SLA
is too short makes `BatchSLAAtRisk` go pending, then firing after its `for` (1 m, the rules' own)."""

import json
import re
import shutil
import subprocess
import time
import urllib.parse
import urllib.request

import pytest

from .test_alert_rules import RULES
from .cluster import processes_mentioning
from .test_gateway import call, gateway, redis_socket, wait_for  # noqa: F401 - fixtures

pytestmark = pytest.mark.slow


def listening_port(pid: int) -> int | None:
    """The TCP port process `pid` listens on (Prometheus is given port 0, so no port is reserved)."""
    out = subprocess.run(["ss", "-ltnpH"], capture_output=True, text=True).stdout
    for line in out.splitlines():
        if f"pid={pid}," in line:
            return int(line.split()[3].rsplit(":", 1)[1])
    return None


def api(base, path, **params):
    url = f"{base}/api/v1/{path}" + (f"?{urllib.parse.urlencode(params)}" if params else "")
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.loads(response.read())["data"]


@pytest.fixture
def gateway_job_args():
    """One engine actor: the SLA test's job runs for minutes, on a shared 2-core machine."""
    return "--concurrency 1 --stats-interval-s 1"


@pytest.fixture
def prometheus(gateway, tmp_path):  # noqa: F811
    if not shutil.which("prometheus"):
        pytest.skip("prometheus is not installed (scripts/install-system-deps.sh)")
    _proc, gateway_url, _tmp, _log = gateway
    config = tmp_path / "prometheus.yml"
    config.write_text(json.dumps({
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(RULES)],
        "scrape_configs": [{"job_name": "stallscope-gateway",
                            "static_configs": [{"targets": [gateway_url.removeprefix("http://")]}]}]}))
    with open(tmp_path / "prometheus.log", "wb") as out:
        proc = subprocess.Popen(["prometheus", f"--config.file={config}", f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                                 "--web.listen-address=127.0.0.1:0"], stdout=out, stderr=subprocess.STDOUT)
    try:
        port = wait_for(lambda: proc.poll() is None and listening_port(proc.pid), "Prometheus listening", 60)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_prometheus_scrapes_the_gateway_and_evaluates_every_rule(prometheus):
    def scraped():
        result = api(prometheus, "query", query="stallscope_batch_queue_depth")["result"]
        return result and result[0]["value"][1] == "0"

    wait_for(scraped, "the gateway's queue depth in Prometheus", 60)
    targets = api(prometheus, "targets")["activeTargets"]
    assert [t["health"] for t in targets] == ["up"]
    failed = api(prometheus, "query", query='stallscope_batch_jobs{status="failed"}')["result"]
    assert failed and failed[0]["value"][1] == "0"

    def evaluated():
        rules = [rule for group in api(prometheus, "rules")["groups"] for rule in group["rules"]]
        return len(rules) == 8 and all(rule.get("lastEvaluation", "").startswith("20") for rule in rules) and rules

    rules = wait_for(evaluated, "every rule evaluated", 60)
    assert {rule["health"] for rule in rules} == {"ok"}
    assert not [rule["name"] for rule in rules if rule["state"] != "inactive"]  # nothing wrong: none pending


def test_a_job_over_its_sla_fires_batch_sla_at_risk_in_prometheus(gateway, prometheus):  # noqa: F811
    """A 40000-prompt job with a 0.001 h (3.6 s) SLA: spent before the job has started, so while it runs
    the gateway exports `job_sla_at_risk 1` for it (SLA violated) and Prometheus holds `BatchSLAAtRisk`
    pending for its `for: 1m`, then fires it with the job's label. (An SLA merely shorter than the ETA
    flaps here: the driver receives rows in Ray Data blocks of thousands, so its ETA jumps below and
    above the time left, and each drop to 0 restarts the `for`.) The rules file is the profile's,
    unchanged; only the scrape and evaluation intervals are short. The job would run for minutes; the
    test stops it once the alert fires."""
    proc, base, tmp_path, _log = gateway
    status, queued = call(f"{base}/start", "POST", {"dataset": "prompts", "num_samples": 40000, "sla_hours": 0.001})
    assert status == 202
    job_id = queued["job_id"]
    seen = {}  # state -> (the alert as Prometheus gave it, the job's record at that moment)

    def sla_alert():
        alerts = [a for a in api(prometheus, "alerts")["alerts"] if a["labels"]["alertname"] == "BatchSLAAtRisk"]
        for alert in alerts:
            seen.setdefault(alert["state"], (alert, call(f"{base}/jobs/{job_id}")[1]))
        return seen.get("firing")

    # Generous: the job starts (Ray actors on a loaded machine), then 1 m pending; typically ~70 s in all.
    firing, job_when_firing = wait_for(sla_alert, "BatchSLAAtRisk firing", 240, interval=1)
    print("pending:", json.dumps(seen.get("pending", (None,))[0]))
    print("firing:", json.dumps(firing))
    print("job when firing:", json.dumps(job_when_firing))
    assert "pending" in seen, "Prometheus never reported the alert pending before firing"
    pending, job_when_pending = seen["pending"]
    assert firing["labels"] == {"alertname": "BatchSLAAtRisk", "job_id": job_id, "severity": "critical"}
    assert firing["activeAt"] == pending["activeAt"]  # the same alert, pending since then, now firing
    assert float(firing["value"]) == 1
    assert firing["annotations"]["summary"].startswith(f"Job {job_id}: ETA exceeds the SLA time left")
    # The gateway's own view while the alert was pending and once it fired: the job running, SLA spent.
    for job in (job_when_pending, job_when_firing):
        assert job["status"] == "running" and job["sla_status"] == "violated" and job["sla_remaining_hours"] < 0
    assert job_when_firing["completed"] < 40000  # still running: the series Prometheus reads is live
    scraped = api(prometheus, "query", query=f'stallscope_batch_job_sla_at_risk{{job_id="{job_id}"}}')["result"]
    assert [r["value"][1] for r in scraped] == ["1"]
    rule = next(r for g in api(prometheus, "rules")["groups"] for r in g["rules"] if r["name"] == "BatchSLAAtRisk")
    assert rule["state"] == "firing" and rule["duration"] == 60 and rule["health"] == "ok"
    assert "SLA VIOLATED: Job exceeded 0.001-hour window" in (tmp_path / "logs" / f"{job_id}.log").read_text()

    # Stopping the gateway stops the job it runs: no process of the job is left.
    proc.terminate()
    assert proc.wait(timeout=60) == 0
    wait_for(lambda: not processes_mentioning(str(tmp_path / "output" / job_id)), "the job's processes gone", 60)
