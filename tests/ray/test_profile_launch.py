"""profiles/ray_batch_inference.yml started by the launch role on this machine (connection local,
a private tmux server): one host in both groups runs a Ray head and a Ray worker node, Redis, the
gateway and `submit`; the job's engine actors run on both nodes (Ray's node ids in the results);
collect_and_analyze.yml brings the logs home and the batch family reads the job's; status.yml shows
the cluster's nodes and the job's figures, and a gateway that no longer answers; stop_experiment.yml
leaves no Ray process behind."""

import contextlib
import json
import os
import random
import re
import signal
import sys
import time
import urllib.request
from pathlib import Path

import pytest

pytest.importorskip("ray")
pytest.importorskip("redis")

from tests.test_launch_playbooks import Controller  # noqa: E402

from .cluster import ports_free, processes_mentioning  # noqa: E402

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[2]
SINGLE_PORTS = ("gcs_port", "dashboard_port", "redis_port", "gateway_port", "head_object_manager_port",
                "head_node_manager_port", "head_dashboard_agent_listen_port", "head_dashboard_agent_grpc_port",
                "head_runtime_env_agent_port", "head_metrics_export_port", "worker_object_manager_port",
                "worker_node_manager_port", "worker_dashboard_agent_listen_port", "worker_dashboard_agent_grpc_port",
                "worker_runtime_env_agent_port", "worker_metrics_export_port")
WORKER_RANGE = 40
SAMPLES = 120


def port_vars() -> dict:
    """Every port variable of the profile from one block of free ports below the ephemeral range."""
    count = len(SINGLE_PORTS) + 2 * WORKER_RANGE
    for _ in range(20):
        base = random.randrange(12000, 32000 - count)
        if ports_free(base, count):
            ports = dict(zip(SINGLE_PORTS, range(base, base + len(SINGLE_PORTS))))
            ranges = base + len(SINGLE_PORTS)
            return {**ports, "head_min_worker_port": ranges, "head_max_worker_port": ranges + WORKER_RANGE - 1,
                    "worker_min_worker_port": ranges + WORKER_RANGE,
                    "worker_max_worker_port": ranges + 2 * WORKER_RANGE - 1}
    raise AssertionError("no block of free ports found")


def read_table(path):
    import pyarrow.parquet as pq

    return pq.read_table(path).to_pylist()


def check_collected_analysis(controller, job_id):
    """collect_and_analyze.yml brings the run's logs home and the batch family reads the job's log:
    its counts, its engines, and none of the findings of a knob this run did not turn."""
    runs = {"stallscope_runs_dir": str(controller.runs), "collect_controller_runs_dir": str(controller.runs),
            "analyze_controller_runs_dir": str(controller.runs)}
    runner, output = controller.play("collect_and_analyze.yml", run_id="ray1", **runs)
    assert runner.rc == 0, output[-4000:]
    report = json.loads((controller.runs / "ray1" / "analysis" / "report.json").read_text())
    assert report["profile"] == "batch"
    job, = [job for job in report["batch"]["jobs"] if job["file"].endswith(f"logs/{job_id}.log")]
    assert (job["completed"], job["failed"], job["total"], job["finished"]) == (SAMPLES, 0, SAMPLES, True)
    assert job["sla"]["state"] == "met" and job["workers"] and job["stages"]
    assert report["batch"]["gateway"]["queued"] == 1 and report["batch"]["gateway"]["completed"] == 1
    found = {finding["id"] for finding in report["findings"]}
    assert not found & {"kv_cache_pressure", "preprocessing_bound", "high_error_rate", "sla_at_risk", "sla_violated"}, \
        report["findings"]


def check_status(controller, job_id, gateway_port):
    """status.yml asks the head's dashboard and the gateway: both nodes alive of the two the plan
    expects, the job's figures; then, with the gateway shut down, one line saying it does not answer
    (the play still succeeds, the cluster still shown)."""
    runner, output = controller.play("status.yml", run_id="ray1")
    assert runner.rc == 0, output[-4000:]
    cluster = r"Ray cluster at http://127\.0\.0\.1:\d+: 2 of 2 expected node\(s\) alive; CPU [\d.]+/5\.0 in use"
    assert re.search(cluster, output), output[-4000:]
    job = re.search(rf"job {job_id} completed: 100\.0 % \({SAMPLES}/{SAMPLES} completed, 0 failed\), "
                    r"(?P<rps>[\d.]+) req/s, (?P<tps>\d+) tokens/s", output)
    assert job and float(job["rps"]) > 0 and int(job["tps"]) > 0, output[-4000:]
    assert re.search(r"SLA met: [\d.]+ h left of 24 h", output), output[-4000:]
    assert "gateway queue: 0 job(s) waiting, running nothing" in output

    url = f"http://127.0.0.1:{gateway_port}"
    with urllib.request.urlopen(urllib.request.Request(f"{url}/shutdown-graceful", data=b"{}", method="POST"),
                                timeout=30) as answer:
        assert json.loads(answer.read())["status"] == "draining"
    gateway_exit = controller.run_root / "ray1" / "logs" / "gateway.exit"
    end = time.monotonic() + 120
    while not gateway_exit.exists() and time.monotonic() < end:
        time.sleep(1)
    assert gateway_exit.read_text().strip() == "0"
    runner, output = controller.play("status.yml", run_id="ray1")
    assert runner.rc == 0, output[-4000:]
    assert f"gateway not answering at {url} (Connection refused)" in output, output[-4000:]
    assert re.search(cluster, output) and f"job {job_id} completed: " not in output, output[-4000:]


def test_the_profile_runs_a_two_node_cluster_and_a_job_through_the_gateway_then_stops_clean(tmp_path):
    controller = Controller(tmp_path)
    inventory = controller.inventory
    inventory.write_text(json.dumps({"all": {
        "hosts": {"localhost": {"ansible_connection": "local", "ansible_python_interpreter": sys.executable}},
        "children": {group: {"hosts": {"localhost": None}} for group in ("ray_head", "ray_workers")}}}))
    # The engine actors take 2 CPUs each: the head (3) holds one and keeps one CPU for the CPU stages,
    # the worker node (2) holds the other, so the job runs on both nodes.
    profile_vars = {**port_vars(), "ray_python": sys.executable, "head_num_cpus": 3, "worker_num_cpus": 2,
                    "object_store_memory": 80 * 1024 * 1024, "num_samples": SAMPLES, "progress_interval_s": 1,
                    "job_args": "--engine-num-cpus 2 --stats-interval-s 1",
                    # Ray's socket paths must stay under 107 bytes: pytest's run dir is too deep.
                    "ray_temp_dir": f"/tmp/stallscope-ray-{random.randrange(16**6):06x}"}
    common = {"launch_profile": "ray_batch_inference", "launch_profiles_dir": str(REPO / "profiles"),
              "launch_profile_vars": profile_vars}
    try:
        runner, output = controller.play("launch.yml", run_id="ray1", **common)
        assert runner.rc == 0, output[-4000:]
        # status.yml while the job is queued or runs (or already ended: its speed is the machine's).
        runner, output = controller.play("status.yml", run_id="ray1")
        assert runner.rc == 0, output[-4000:]
        assert re.search(r"Ray cluster at http://127\.0\.0\.1:\d+: [012] of 2 expected node\(s\) alive", output), \
            output[-4000:]
        assert re.search(r"job job-[0-9a-f]+ (queued|running|completed): |gateway: no job submitted yet", output), \
            output[-4000:]
        logs = controller.run_root / "ray1" / "logs"
        end = time.monotonic() + 300
        while not (logs / "submit.exit").exists() and time.monotonic() < end:
            time.sleep(2)
        submit_log = (logs / "submit.log").read_text()
        assert (logs / "submit.exit").read_text().strip() == "0", submit_log[-3000:]
        job_id = next(iter(sorted(p.stem for p in logs.glob("job-*.log"))))
        job_log = (logs / f"{job_id}.log").read_text()
        assert "cluster ready: 2 node(s) alive" in job_log
        assert f"{job_id} completed: {SAMPLES}/{SAMPLES} completed" in submit_log
        rows = read_table(controller.run_root / "ray1" / "output" / "jobs" / job_id / "results.parquet")
        assert len(rows) == SAMPLES and len({row["node_id"] for row in rows}) == 2  # Ray's own placement
        check_collected_analysis(controller, job_id)
        check_status(controller, job_id, profile_vars["gateway_port"])
    finally:
        runner, output = controller.play("stop_experiment.yml", run_id="ray1", **common)
        controller.close()
        # Whatever failed above, nothing of this run may outlive the test; then the stop is judged.
        left = processes_mentioning(str(controller.run_root / "ray1"), profile_vars["ray_temp_dir"])
        for line in left:
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(line.split()[0]), signal.SIGKILL)
    assert runner.rc == 0, output[-3000:]
    assert not left
