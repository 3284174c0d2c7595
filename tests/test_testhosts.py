"""scripts/testhosts against the real system: namespaces, sshd, users, sudoers, teardown."""

import ipaddress
import json
import pwd
import subprocess
from pathlib import Path

import pytest

from tests.testhosts import run_script


def ssh(host_set, host, command, **kwargs):
    return subprocess.run(host_set.ssh_argv(host, command, **kwargs), capture_output=True, text=True, timeout=60)


def netns_names():
    return subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=True).stdout.split()


def link_names():
    links = json.loads(subprocess.run(["ip", "-j", "link"], capture_output=True, text=True, check=True).stdout)
    return {link["ifname"] for link in links}


def user_exists(name):
    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True


@pytest.mark.needs_root
def test_two_hosts_are_real_ssh_hosts_and_destroy_leaves_nothing(testhosts):
    host_set = testhosts.create(2)
    assert [h.name for h in host_set.hosts] == [f"{host_set.prefix}-h1", f"{host_set.prefix}-h2"]
    assert len({h.address for h in host_set.hosts}) == 2

    for host in host_set.hosts:
        # A scratch directory left in the shared /tmp, as a run killed midway leaves one.
        result = ssh(host_set, host, "mktemp -d /tmp/stallscope-testhosts.XXXXXX >/dev/null; "
                                     "id -un; ip -o addr; ip route; sudo -n id -u")
        assert result.returncode == 0, result.stderr
        lines = result.stdout.splitlines()
        assert lines[0] == host.user
        assert any(" lo " in line and "127.0.0.1/8" in line for line in lines), "loopback must be up"
        assert any(f"inet {host.address}/24" in line for line in lines)
        routes = [line for line in lines if line.startswith(("default", "10."))]
        assert len(routes) == 1 and not routes[0].startswith("default"), f"only the test subnet: {routes}"
        assert lines[-1] == "0", "passwordless sudo for become"

    # Host key checking is real: a host missing from known_hosts is refused.
    empty = host_set.state_dir / "empty_known_hosts"
    empty.write_text("")
    refused = ssh(host_set, host_set.hosts[0], "true", known_hosts=empty)
    assert refused.returncode == 255 and "Host key verification failed" in refused.stderr

    # The subnet collides with nothing else this machine routes.
    subnet = ipaddress.ip_network(f"{host_set.hosts[0].address}/24", strict=False)
    routes = json.loads(subprocess.run(["ip", "-j", "-4", "route"], capture_output=True, text=True).stdout)
    others = [r for r in routes if r["dst"] != "default" and r.get("dev") != f"{host_set.prefix}-br"]
    assert not any(subnet.overlaps(ipaddress.ip_network(r["dst"], strict=False)) for r in others)

    sudoers = Path(f"/etc/sudoers.d/stallscope-testhosts-{host_set.prefix}")
    assert sudoers.exists()
    testhosts.destroy(host_set.prefix)

    assert not [n for n in netns_names() if n.startswith(f"{host_set.prefix}-")]
    assert not [n for n in link_names() if n.startswith(f"{host_set.prefix}-")]
    assert not any(user_exists(h.user) for h in host_set.hosts)
    assert not any(Path(h.home).exists() for h in host_set.hosts)
    # ... is removed with its user: the next test host user may get the same uid.
    assert not list(Path("/tmp").glob("stallscope-testhosts.*"))
    assert not sudoers.exists()
    assert not host_set.state_dir.exists()
    # Idempotent: a second destroy is a no-op that succeeds.
    again = run_script("destroy", "--prefix", host_set.prefix, base_dir=testhosts.base_dir)
    assert again.returncode == 0 and "nothing to destroy" in again.stderr


@pytest.mark.needs_root
def test_a_name_clash_fails_clearly_and_creates_nothing(testhosts):
    prefix = "tclash"
    subprocess.run(["ip", "netns", "add", f"{prefix}-h2"], check=True)
    try:
        result = run_script("create", "2", "--prefix", prefix, base_dir=testhosts.base_dir)
        assert result.returncode == 2
        assert result.stderr.strip() == (
            f"testhosts: prefix '{prefix}' clashes with existing netns {prefix}-h2: choose another --prefix"
        )
        assert netns_names().count(f"{prefix}-h2") == 1 and f"{prefix}-h1" not in netns_names()
        assert not user_exists(f"{prefix}-h1")
        assert not (testhosts.base_dir / prefix).exists()
    finally:
        subprocess.run(["ip", "netns", "delete", f"{prefix}-h2"], check=True)


def test_bad_arguments_give_one_line_errors(tmp_path):
    bad_prefix = run_script("create", "1", "--prefix", "x;rm", base_dir=tmp_path)
    assert bad_prefix.returncode == 2
    assert bad_prefix.stderr.splitlines() == [
        "testhosts: prefix 'x;rm' is invalid: use 1-8 characters, a lowercase letter then letters or digits"
    ]
