"""A real Prometheus (Debian's) scrapes the live gateway and loads the profile's alert rules: the
exposition parses, the series are queryable, every rule evaluates without error."""

import json
import re
import shutil
import subprocess
import time
import urllib.parse
import urllib.request

import pytest

from .test_alert_rules import RULES
from .test_gateway import gateway, redis_socket, wait_for  # noqa: F401 - fixtures

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
