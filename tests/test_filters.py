"""filter_plugins/stallscope.py: the functions, and the filters as templates see them."""

import importlib.util
import os
import shutil
import socket
import subprocess
from pathlib import Path

import ansible_runner
import pytest
from ansible.errors import AnsibleFilterError
from hypothesis import given
from hypothesis import strategies as st

REPO = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("stallscope_filters", REPO / "filter_plugins" / "stallscope.py")
filters = importlib.util.module_from_spec(spec)
spec.loader.exec_module(filters)


@pytest.mark.parametrize(("ms", "text"), [
    (0, "0.0 ms"), (8.64, "8.6 ms"), (10.6, "11 ms"), (850, "850 ms"), (999.4, "999 ms"),
    (999.6, "1.0 s"), (3412.7, "3.4 s"), (59949, "59.9 s"), (59960, "1 min 0 s"),
    (125000, "2 min 5 s"), (3599400, "59 min 59 s"), (3720000, "1 h 2 min"),
])
def test_duration_ms_picks_a_short_unit(ms, text):
    assert filters.duration_ms(ms) == text


@pytest.mark.parametrize("bad", [-1, "850", None, True, float("nan")])
def test_duration_ms_refuses_what_is_no_duration(bad):
    with pytest.raises(AnsibleFilterError, match="duration_ms input"):
        filters.duration_ms(bad)


def test_percentile_interpolates_between_ranks():
    assert filters.percentile([10, 20, 30, 40, 100], 95) == pytest.approx(88.0)
    assert filters.percentile([3, 1, 2], 50) == 2
    assert filters.percentile([5], 99) == 5
    assert filters.percentile([1, 2], 0) == 1 and filters.percentile([1, 2], 100) == 2


@pytest.mark.parametrize(("values", "q", "message"), [
    ([], 50, "non-empty list"), ([1, "x"], 50, "each percentile value"), ([1, 2], 101, "between 0 and 100"),
])
def test_percentile_refuses_bad_input(values, q, message):
    with pytest.raises(AnsibleFilterError, match=message):
        filters.percentile(values, q)


@given(st.lists(st.floats(-1e9, 1e9), min_size=1, max_size=50), st.floats(0, 100), st.floats(0, 100))
def test_percentile_stays_within_the_data_and_grows_with_q(values, q1, q2):
    low, high = sorted((q1, q2))
    p_low, p_high = filters.percentile(values, low), filters.percentile(values, high)
    assert min(values) <= p_low <= p_high + 1e-6 * max(1, abs(p_high)) and p_high <= max(values)


def test_severity_badge():
    assert [filters.severity_badge(s) for s in ("critical", "Warning", "info", "ok")] == [
        "[CRITICAL]", "[WARNING]", "[INFO]", "[OK]"]
    assert filters.severity_badge("critical", "emoji") == "\U0001F534"
    with pytest.raises(AnsibleFilterError, match="unknown severity 'fatal', expected one of critical, warning"):
        filters.severity_badge("fatal")
    with pytest.raises(AnsibleFilterError, match="style must be one of text, emoji"):
        filters.severity_badge("ok", "html")


def test_filters_in_a_template_through_ansible(tmp_path):
    """ansible.cfg's filter_plugins and test_plugins paths make them available to templates."""
    (tmp_path / "runner").mkdir()
    expression = ("{{ 125000 | duration_ms }}|{{ [1, 2, 3] | percentile(50) }}|{{ 'warning' | severity_badge }}"
                  "|{{ ['r1', '../x', 'a b'] | select('run_id') | join(',') }}")
    run = ansible_runner.run(
        private_data_dir=str(tmp_path / "runner"), host_pattern="localhost", module="ansible.builtin.debug",
        module_args=f"msg={expression!r}", envvars={"ANSIBLE_CONFIG": str(REPO / "ansible.cfg")},
        project_dir=str(REPO), quiet=True,
    )
    assert run.rc == 0, run.stdout.read()
    [message] = [e["event_data"]["res"]["msg"] for e in run.events if e["event"] == "runner_on_ok"]
    assert message == "2 min 5 s|2.0|[WARNING]|r1"


def test_finding_line():
    finding = {"id": "checkpoint_stall", "severity": "warning", "summary": "The orchestrator waits."}
    assert filters.finding_line(finding) == "[WARNING] The orchestrator waits."
    assert filters.finding_line(finding, "emoji").startswith("\U0001F7E1 ")
    with pytest.raises(AnsibleFilterError, match="severity and summary"):
        filters.finding_line({"id": "x"})


def test_mask_secrets_masks_every_occurrence_longest_first():
    lines = ["token hf_abc and hf_abcdef", "nothing here", "hf_abcdef"]
    assert filters.mask_secrets(lines, {"A": "hf_abc", "B": "hf_abcdef", "EMPTY": ""}) == [
        "token ******** and ********", "nothing here", "********"]
    assert filters.mask_secrets(["x"], []) == ["x"]
    with pytest.raises(AnsibleFilterError, match="needs a list of lines"):
        filters.mask_secrets("hf_abc", ["hf_abc"])


@pytest.mark.parametrize(("path", "expanded"), [
    ("~", "/home/alice"), ("~/", "/home/alice/"), ("~/stallscope-runs", "/home/alice/stallscope-runs"),
    ("/srv/runs", "/srv/runs"), ("runs/~", "runs/~"),
])
def test_expand_home_makes_the_users_tilde_absolute(path, expanded):
    assert filters.expand_home(path, "/home/alice/", "collect_run_root") == expanded


def test_expand_home_refuses_another_users_home_naming_the_variable():
    with pytest.raises(AnsibleFilterError, match=r"collect_run_root '~bob/runs': only ~ and ~/\.\.\. .* absolute path"):
        filters.expand_home("~bob/runs", "/home/alice", "collect_run_root")


def test_port_holders_names_the_process_a_real_ss_lists_on_a_busy_port():
    if shutil.which("ss") is None:
        pytest.skip("ss (iproute2) is not installed")
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        lines = subprocess.run(["ss", "-H", "-t", "-l", "-n", "-p"], capture_output=True, text=True,
                               check=True).stdout.splitlines()
        holders = filters.port_holders(lines, port)
    assert len(holders) == 1 and holders[0].endswith(f" pid {os.getpid()}")
    assert filters.port_holders(lines, 1) == []  # nothing listens on port 1


def test_port_holders_without_process_details_and_on_ipv6():
    lines = [
        "LISTEN 0      128          0.0.0.0:22        0.0.0.0:*",
        "LISTEN 0      128             [::]:22           [::]:*",
        'LISTEN 0      2048       127.0.0.1:8000      0.0.0.0:* users:(("python3",pid=41,fd=3),("python3",pid=42,fd=3))',
        'LISTEN 0      2048           [::1]:8000         [::]:* users:(("python3",pid=41,fd=4))',
        'LISTEN 0      2048       127.0.0.1:18000     0.0.0.0:* users:(("other",pid=7,fd=3))',
    ]
    assert filters.port_holders(lines, 22) == ["a process of another user"]
    assert filters.port_holders(lines, "8000") == ["python3 pid 41", "python3 pid 42"]
    with pytest.raises(AnsibleFilterError, match="port_holders needs the lines"):
        filters.port_holders("LISTEN ...", 22)


# The answers of a live cluster and gateway of profiles/ray_batch_inference.yml (Ray 2.x dashboard, the
# batch gateway), shortened; as the uri module registers them.
NODE = {"node_ip": "192.0.2.2", "state": "ALIVE", "resources_total": {"CPU": 3.0}}
RAY_NODES = {"status": 200, "json": {"result": True, "msg": "", "data": {"result": {"total": 2, "result": [
    {**NODE, "node_id": "36f7", "is_head_node": True}, {**NODE, "node_id": "e61b", "is_head_node": False}]}}}}
RAY_CLUSTER = {"status": 200, "json": {"result": True, "data": {"clusterStatus": {"loadMetricsReport": {
    "usage": {"CPU": [4.0, 5.0], "objectStoreMemory": [1048576.0, 167772160.0], "memory": [0.0, 48730828800.0]},
    "resourceDemand": []}}}}}
REFUSED = {"status": -1, "url": "http://127.0.0.1:1",
           "msg": "Status code was -1 and not [200]: Request failed: <urlopen error [Errno 111] Connection refused>"}
JOB = {"job_id": "job-b83eb66d", "status": "running", "sla_hours": 24.0, "progress_pct": 30.0, "completed": 6000,
       "total": 20000, "failed": 0, "throughput_rps": 29.43, "tokens_per_s": 3078.0, "eta_hours": 0.132,
       "latency_p50_s": 0.299, "latency_p95_s": 0.848, "latency_p99_s": 1.25, "elapsed_hours": 0.056922,
       "sla_remaining_hours": 23.943078, "sla_status": "on_track"}
SLA = {"status": 200, "json": {"jobs": [{"job_id": "job-0", "status": "completed"}, {"job_id": "job-b83eb66d",
                                                                                    "status": "running"}]}}
QUEUE = {"status": 200, "json": {"queued": 0, "jobs": [], "running": "job-b83eb66d", "accepting": True}}


def test_ray_cluster_status_counts_the_nodes_alive_against_the_plan_and_the_resources_in_use():
    summary = filters.ray_cluster_status(RAY_NODES, RAY_CLUSTER, 2, "http://127.0.0.1:8265")
    assert summary["line"] == ("Ray cluster at http://127.0.0.1:8265: 2 of 2 expected node(s) alive; "
                               "CPU 4.0/5.0 in use; object store 1/160 MiB in use")
    assert (summary["nodes_alive"], summary["nodes_dead"], summary["head"]) == (2, 0, "192.0.2.2")
    assert summary["resources"]["CPU"] == {"used": 4.0, "total": 5.0} and summary["answering"]


def test_ray_cluster_status_names_missing_and_dead_nodes_and_goes_without_the_usage():
    dead = {"status": 200, "json": {"result": True, "data": {"result": {"result": [
        {**NODE, "is_head_node": True}, {**NODE, "is_head_node": False, "state": "DEAD"}]}}}}
    summary = filters.ray_cluster_status(dead, REFUSED, 3, "http://h:8265")
    assert summary["line"] == "Ray cluster at http://h:8265: 1 of 3 expected node(s) alive (2 missing), 1 dead"
    assert summary["resources"] == {}


@pytest.mark.parametrize(("response", "reason"), [
    (REFUSED, "not answering at http://127.0.0.1:8265 (Connection refused)"),
    ({"status": 503, "msg": "Status code was 503 and not [200]: HTTP Error 503"},
     "not answering at http://127.0.0.1:8265 (HTTP 503)"),
    ({"status": 200, "content": "<html>"}, "not answering at http://127.0.0.1:8265 (HTTP 200 without the expected JSON)"),
    ({"msg": "Module result deserialization failed: No start of json char found\nmore", "rc": 127},
     "could not be asked at http://127.0.0.1:8265 (Module result deserialization failed: No start of json char found)"),
])
def test_ray_cluster_status_says_the_dashboard_does_not_answer_in_one_line(response, reason):
    summary = filters.ray_cluster_status(response, response, 2, "http://127.0.0.1:8265")
    assert summary["line"] == "Ray cluster: the head's dashboard " + reason and not summary["answering"]


def test_batch_gateway_status_shows_the_jobs_progress_throughput_eta_and_sla():
    summary = filters.batch_gateway_status(SLA, {"status": 200, "json": JOB}, QUEUE, "http://127.0.0.1:8000")
    assert summary["lines"] == [
        "job job-b83eb66d running: 30.0 % (6000/20000 completed, 0 failed), 29.43 req/s, 3078 tokens/s, "
        "latency p95 0.85 s, ETA 0.132 h",
        "SLA on_track: 23.943 h left of 24 h (0.057 h elapsed)",
        "gateway queue: 0 job(s) waiting, running job-b83eb66d"]
    assert summary["job"]["throughput_rps"] == 29.43 and summary["job"]["sla_status"] == "on_track"
    assert summary["queue"] == {"queued": 0, "running": "job-b83eb66d", "accepting": True}


def test_batch_gateway_status_of_a_job_without_figures_yet_and_of_an_ended_one():
    queued = {"job_id": "job-1", "status": "queued", "sla_hours": 1.0, "elapsed_hours": 0.0,
              "sla_remaining_hours": 1.0, "sla_status": "on_track"}
    lines = filters.batch_gateway_status(SLA, {"status": 200, "json": queued}, {}, "http://g")["lines"]
    assert lines == ["job job-1 queued: no progress line from its driver yet",
                     "SLA on_track: 1.000 h left of 1 h (0.000 h elapsed)"]
    done = {**JOB, "status": "completed", "progress_pct": 100.0, "completed": 20000, "eta_hours": 0.0,
            "sla_status": "met"}
    lines = filters.batch_gateway_status(SLA, {"status": 200, "json": done}, QUEUE, "http://g")["lines"]
    assert lines[0].startswith("job job-b83eb66d completed: 100.0 % (20000/20000") and "ETA" not in lines[0]
    assert lines[1].startswith("SLA met: ")


def test_batch_gateway_status_says_the_gateway_does_not_answer_or_has_no_job():
    summary = filters.batch_gateway_status(REFUSED, {}, REFUSED, "http://127.0.0.1:8000")
    assert summary["lines"] == ["gateway not answering at http://127.0.0.1:8000 (Connection refused)"]
    assert not summary["answering"] and summary["job"] is None
    empty = filters.batch_gateway_status({"status": 200, "json": {"jobs": []}}, {}, QUEUE, "http://g")
    assert empty["lines"][0] == "gateway: no job submitted yet" and empty["answering"]
    # /sla/status answered, /jobs/{id} did not: its fewer figures, and why.
    partial = filters.batch_gateway_status(SLA, REFUSED, {}, "http://g")
    assert partial["lines"][0] == "gateway's /jobs/job-b83eb66d not answering at http://g (Connection refused)"
    assert partial["lines"][1].startswith("job job-b83eb66d running: ")


def test_batch_job_to_show_is_the_running_job_else_the_latest():
    assert filters.batch_job_to_show(SLA["json"]["jobs"])["job_id"] == "job-b83eb66d"
    assert filters.batch_job_to_show([{"job_id": "a", "status": "completed"}, {"job_id": "b", "status": "failed"}]) \
        == {"job_id": "b", "status": "failed"}
    assert filters.batch_job_to_show([]) is None
    with pytest.raises(AnsibleFilterError, match="batch_job_to_show needs"):
        filters.batch_job_to_show("job-1")
