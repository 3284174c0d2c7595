"""preflight only reads: after converge the test host is as it was, and reachable as expected."""


def test_preflight_creates_no_run_root(host):
    assert not host.file(f"/home/{host.user().name}/stallscope-runs").exists


def test_the_test_host_listens_only_on_its_own_address(host):
    listening = host.socket.get_listening_sockets()
    assert any(s.endswith(":22") for s in listening)
    assert not any(s.startswith("tcp://0.0.0.0:") for s in listening)
