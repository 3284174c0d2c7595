"""profiles/ray_batch_inference.yml resolved by the launch_plan filter: start order, binding, pinned
ports (all of them checked by preflight), the node count the job waits for."""

import shlex

from tests.test_launch_plan import by_name, plan

ONE_HOST = {"ray_head": ["h1"], "ray_workers": ["h1"]}
THREE_HOSTS = {"ray_head": ["h1"], "ray_workers": ["h2", "h3"]}


def flags(command):
    words = shlex.split(command)
    return {word: words[i + 1] for i, word in enumerate(words[:-1]) if word.startswith("--")}


def test_one_host_runs_everything_in_order_on_loopback_with_every_ray_port_pinned():
    resolved = plan("ray_batch_inference", "h1", ONE_HOST)
    assert resolved["order"] == ["redis", "ray_head", "ray_worker", "gateway", "submit"] == resolved["here"]
    # Preflight checks every pinned port of both nodes (the worker port ranges aside).
    assert resolved["ports"] == [6379, 6380, 8000, 8076, 8077, 8078, 8079, 8080, 8176, 8177, 8178, 8179, 8180, 8265,
                                 52365, 52366]
    components = by_name(resolved)
    assert components["redis"]["command"].startswith("exec redis-server --bind 127.0.0.1 --port 6380 ")
    head = flags(components["ray_head"]["command"])
    assert "--head" in components["ray_head"]["command"] and "--block" in components["ray_head"]["command"]
    assert {k: head[k] for k in ("--port", "--object-manager-port", "--node-manager-port", "--dashboard-port",
                                 "--dashboard-agent-listen-port", "--dashboard-agent-grpc-port",
                                 "--runtime-env-agent-port", "--metrics-export-port", "--min-worker-port",
                                 "--max-worker-port", "--dashboard-host", "--temp-dir")} == {
        "--port": "6379", "--object-manager-port": "8076", "--node-manager-port": "8077", "--dashboard-port": "8265",
        "--dashboard-agent-listen-port": "52365", "--dashboard-agent-grpc-port": "8078",
        "--runtime-env-agent-port": "8079", "--metrics-export-port": "8080", "--min-worker-port": "10002",
        "--max-worker-port": "10999", "--dashboard-host": "127.0.0.1",
        "--temp-dir": "/home/u/stallscope-runs/r1/ray"}
    assert components["ray_head"]["health"]["url"] == "http://127.0.0.1:52365/api/local_raylet_healthz"
    worker = flags(components["ray_worker"]["command"])
    assert worker["--address"] == "127.0.0.1:6379" and worker["--temp-dir"] == "/home/u/stallscope-runs/r1/ray-worker"
    head_ports = {v for k, v in head.items() if k.endswith("-port")}
    assert not head_ports & {v for k, v in worker.items() if k.endswith("-port")}  # a host may run both
    gateway = flags(components["gateway"]["command"])
    assert gateway["--host"] == "127.0.0.1" and gateway["--redis-url"] == "redis://127.0.0.1:6380/0"
    job = flags(gateway["--job-args"])
    assert job["--expect-nodes"] == "2" and job["--expected-hosts"] == "h1,h1" and job["--batch-size"] == "32"
    assert flags(components["submit"]["command"])["--gateway"] == "http://127.0.0.1:8000"
    assert not components["submit"]["service"]
    assert resolved["config"]["batch_size"] == 32 and resolved["config"]["sla_hours"] == 24


def test_workers_on_two_other_hosts_join_the_head_by_its_address():
    head_host = by_name(plan("ray_batch_inference", "h1", THREE_HOSTS, {"concurrency": 4, "job_args": "--fail-rate 0.1"}))
    assert head_host["ray_head"]["here"] and not head_host["ray_worker"]["here"]
    assert flags(head_host["ray_head"]["command"])["--dashboard-host"] == "10.0.0.1"
    job = flags(flags(head_host["gateway"]["command"])["--job-args"])
    assert job["--expect-nodes"] == "3" and job["--expected-hosts"] == "h1,h2,h3"
    assert job["--concurrency"] == "4" and job["--fail-rate"] == "0.1"
    assert plan("ray_batch_inference", "h3", THREE_HOSTS)["ports"] == [8176, 8177, 8178, 8179, 8180, 52366]
    worker_host = by_name(plan("ray_batch_inference", "h3", THREE_HOSTS))
    assert worker_host["ray_worker"]["here"] and not worker_host["gateway"]["here"]
    worker = flags(worker_host["ray_worker"]["command"])
    assert worker["--address"] == "10.0.0.1:6379" and worker["--node-ip-address"] == "10.0.0.3"
