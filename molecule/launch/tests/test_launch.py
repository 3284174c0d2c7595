"""After converge: the run's tmux session, logs, manifests and placement on both test hosts."""

import hashlib
import json
import time

import pytest

RUN_ID = "molecule.run-1"
SESSION = "stallscope-molecule_run-1"
SOCKET = "stallscope-molecule"
PORT = 18731


def variables(host):
    return host.ansible.get_variables()


def run_dir(host):
    return f"/home/{host.user().name}/stallscope-runs/{RUN_ID}"


def manifest(host):
    return json.loads(host.file(f"{run_dir(host)}/run_manifest.json").content_string)


def only_on(host, name):
    """A check about one of the two hosts: skipped (not passed) on the other."""
    if host.backend.get_hostname() != name:
        pytest.skip(f"about {name} only")


def secret(host):
    return variables(host)["launch_secrets"]["STALLSCOPE_TEST_TOKEN"]


def test_the_run_has_one_tmux_session_with_a_window_per_component_of_the_host(host):
    windows = host.check_output(f"tmux -L {SOCKET} list-windows -t ={SESSION} -F '#{{window_name}}'")
    assert sorted(windows.split()) == sorted(c["name"] for c in manifest(host)["components"])


def test_the_manifest_describes_this_host_without_secrets(host):
    data = manifest(host)
    assert data["schema_version"] == 1 and data["run_id"] == RUN_ID and data["profile"] == "tiny"
    assert data["host"] == host.backend.get_hostname()
    assert data["hosts"] == {"inference": ["launch-server"], "trainer": ["launch-clients"],
                             "orchestrator": ["launch-clients"]}
    assert data["order"] == ["inference", "trainer", "orchestrator"]
    assert data["versions"]["tmux"] and data["versions"]["python"].startswith("3.")
    for component in data["components"]:
        assert component["pid"] > 1 and component["started_at"].endswith("Z")
    text = host.file(f"{run_dir(host)}/run_manifest.json").content_string
    assert secret(host) not in text
    assert host.file(f"{run_dir(host)}/run_manifest.json").mode == 0o640


def test_every_log_grows(host):
    logs = [f"{run_dir(host)}/{c['log']}" for c in manifest(host)["components"]]
    before = [host.file(log).size for log in logs]
    time.sleep(2)
    after = [host.file(log).size for log in logs]
    assert all(b < a for b, a in zip(before, after)), (logs, before, after)


def test_no_component_has_ended(host):
    for component in manifest(host)["components"]:
        assert not host.file(f"{run_dir(host)}/{component['exit']}").exists


def test_the_secret_reaches_the_command_but_no_argv_log_or_file(host):
    only_on(host, "launch-clients")
    digest = hashlib.sha256(secret(host).encode()).hexdigest()
    log = host.file(f"{run_dir(host)}/logs/orchestrator.log").content_string
    assert f"token sha256 {digest}" in log and secret(host) not in log
    assert secret(host) not in host.check_output("ps -eo args")
    found = host.run(f"grep -rl -- {secret(host)} {run_dir(host)}")
    assert found.rc == 1 and not found.stdout
    assert not host.file(f"{run_dir(host)}/launch/orchestrator.env").exists


def test_the_server_binds_to_its_address_because_its_client_is_on_another_host(host):
    only_on(host, "launch-server")
    address = variables(host)["ansible_host"]
    listening = host.socket.get_listening_sockets()
    assert f"tcp://{address}:{PORT}" in listening
    assert f"tcp://0.0.0.0:{PORT}" not in listening and f"tcp://127.0.0.1:{PORT}" not in listening


def test_the_client_reached_the_server_from_its_first_request(host):
    only_on(host, "launch-clients")
    own_address = variables(host)["ansible_host"]
    requests = [line for line in
                host.file(f"{run_dir(host)}/logs/orchestrator.log").content_string.splitlines()
                if line.startswith("GET ")]
    # The server was healthy before the client started: not one failed request, the first included.
    assert requests and all(line.endswith(" 200") for line in requests)
    # Through the other test host's address (its own network namespace), not loopback.
    url_host = requests[0].split()[1].split("/")[2].split(":")[0]
    assert url_host not in ("127.0.0.1", own_address)
    assert url_host.rsplit(".", 1)[0] == own_address.rsplit(".", 1)[0]
