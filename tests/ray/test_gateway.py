"""The gateway on a real Redis (redis-server on a unix socket) and a real Ray head: a job submitted
over HTTP is queued in Redis, really run, followed and reported; /metrics is Prometheus text; a
graceful shutdown refuses new jobs and ends the gateway once nothing runs."""

import json
import re
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest

pytest.importorskip("redis")
pytest.importorskip("ray")

from .cluster import environment  # noqa: E402
from .test_alert_rules import exported_names, rule_metric_names  # noqa: E402

pytestmark = pytest.mark.slow
LISTENING = re.compile(r"gateway listening on http://127\.0\.0\.1:(\d+)")


def wait_for(predicate, what, timeout=180.0, interval=0.5):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"{what} not seen within {timeout} s")


@pytest.fixture
def redis_socket(tmp_path):
    if not shutil.which("redis-server"):
        pytest.skip("redis-server is not installed (scripts/install-system-deps.sh)")
    socket_path = tmp_path / "redis.sock"
    proc = subprocess.Popen(["redis-server", "--port", "0", "--unixsocket", str(socket_path), "--save", "",
                             "--appendonly", "no", "--dir", str(tmp_path)], stdout=subprocess.DEVNULL)
    wait_for(socket_path.exists, "the redis socket", timeout=30, interval=0.1)
    yield socket_path
    proc.terminate()
    proc.wait(timeout=30)


@pytest.fixture
def gateway_job_args():
    """The gateway's --job-args; a module overrides this fixture to run lighter or heavier jobs."""
    return "--concurrency 2 --stats-interval-s 1"


@pytest.fixture
def gateway(head, redis_socket, tmp_path, gateway_job_args):
    log_path = tmp_path / "gateway.log"
    argv = [sys.executable, "-m", "stallscope.sim", "gateway", "--port", "0", "--redis-url", f"unix://{redis_socket}",
            "--ray-address", head.address, "--datasets-dir", tmp_path / "datasets", "--output-dir",
            tmp_path / "output", "--logs-dir", tmp_path / "logs", "--progress-interval-s", "1",
            "--job-args", gateway_job_args]
    with open(log_path, "wb") as out:
        proc = subprocess.Popen(list(map(str, argv)), env=environment(), stdout=out, stderr=subprocess.STDOUT)
    port = wait_for(lambda: (m := LISTENING.search(log_path.read_text())) and m.group(1), "the gateway's port", 60)
    yield proc, f"http://127.0.0.1:{port}", tmp_path, log_path
    if proc.poll() is None:
        proc.terminate()
        proc.wait(timeout=60)


def call(url, method="GET", body=None):
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method, headers={"content-type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            payload = response.read().decode()
            status = response.status
    except urllib.error.HTTPError as error:
        payload, status = error.read().decode(), error.code
    return status, (json.loads(payload) if payload.startswith("{") else payload)


def test_a_submitted_job_is_queued_in_redis_run_on_ray_and_reported(gateway):
    proc, base, tmp_path, log_path = gateway
    assert call(f"{base}/health") == (200, {"status": "ok", "redis": "ok", "ray_address": ANY_ADDRESS})
    assert call(f"{base}/start", "POST", {"dataset": "../etc", "num_samples": 10})[0] == 400
    status, queued = call(f"{base}/start", "POST", {"dataset": "prompts", "num_samples": 400, "sla_hours": 24})
    assert status == 202 and queued["status"] == "queued" and queued["queue_position"] == 1
    job_id = queued["job_id"]
    wait_for(lambda: call(f"{base}/queue")[1]["running"] == job_id, "the job running", 60)
    # While it runs, the live /metrics carries every series the alert rules read.
    wanted = rule_metric_names()
    wait_for(lambda: wanted <= exported_names(call(f"{base}/metrics")[1]), f"all of {sorted(wanted)} exported", 120)
    done = wait_for(lambda: (j := call(f"{base}/jobs/{job_id}")[1])["status"] in ("completed", "failed") and j,
                    "the job's end", 240)
    assert done["status"] == "completed" and done["exit_code"] == 0, (tmp_path / "logs" / f"{job_id}.log").read_text()[-3000:]
    assert (done["completed"], done["total"], done["failed"], done["progress_pct"]) == (400, 400, 0, 100.0)
    assert done["throughput_rps"] > 0 and done["tokens_per_s"] > 0 and done["latency_p95_s"] > 0
    assert done["sla_status"] == "met" and 0 < done["sla_remaining_hours"] < 24
    assert (tmp_path / "output" / job_id / "results.parquet").exists()
    sla = call(f"{base}/sla/status")[1]["jobs"]
    assert [(j["job_id"], j["sla_status"]) for j in sla] == [(job_id, "met")]
    status, metrics = call(f"{base}/metrics")
    assert status == 200
    assert "stallscope_batch_queue_depth 0" in metrics.splitlines()
    assert 'stallscope_batch_jobs{status="completed"} 1' in metrics.splitlines()
    assert call(f"{base}/jobs/job-nope")[0] == 404

    status, draining = call(f"{base}/shutdown-graceful", "POST")
    assert status == 200 and draining["status"] == "draining"
    assert proc.wait(timeout=30) == 0  # nothing was running: the gateway ends by itself
    assert "graceful shutdown done" in log_path.read_text()


class _AnyAddress:
    def __eq__(self, other):
        return isinstance(other, str) and re.match(r"^127\.0\.0\.1:\d+$", other) is not None


ANY_ADDRESS = _AnyAddress()
