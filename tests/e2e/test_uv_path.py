"""The uv path of a real prime-rl host, on a fresh sshd test host: the provision role installs uv
(from a wheelhouse: the test hosts have no index), the checkout role runs the default install
command `uv sync --locked` on a small uv project (pyproject.toml and uv.lock made by uv here, in a
real git repository), and the launch role starts a profile whose components start with `uv run`,
in stallscope's own tmux server. Nothing of the user's login environment is needed: the install
command and the tmux windows run in non-login shells, which do not read ~/.profile."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.e2e import harness

pytestmark = [pytest.mark.slow, pytest.mark.needs_root]

UV = Path(sys.executable).parent / "uv"
PYPROJECT = """\
[project]
name = "uv-path-demo"
version = "0.1.0"
requires-python = ">=3.11"
dependencies = []

[tool.uv]
package = false
"""
SERVE = '''\
"""Answers every GET with the prefix of the interpreter it runs in."""
import http.server
import sys


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = sys.prefix.encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


http.server.HTTPServer((sys.argv[1], int(sys.argv[2])), Handler).serve_forever()
'''
JOB = '''\
"""Prints its own interpreter's prefix and the server's."""
import sys
import urllib.request

print("job python:", sys.prefix)
print("server python:", urllib.request.urlopen(sys.argv[1], timeout=30).read().decode())
'''
PROFILE = {
    "schema_version": 1,
    "name": "uv_demo",
    "description": "A server and a job of a uv project, each started with uv run.",
    "vars": {"port": 8000},
    "components": [
        {"name": "server", "group": "uv_demo", "start_order": 1, "service": True,
         "chdir": "{{ run.checkout_dir }}",
         "command": "uv run python serve.py {{ component.bind_address }} {{ port }}",
         "listen": {"port": "{{ port }}", "clients": ["job"]},
         "health": {"url": "http://{{ component.address }}:{{ port }}/", "timeout": 120}},
        {"name": "job", "group": "uv_demo", "start_order": 2, "chdir": "{{ run.checkout_dir }}",
         "command": "uv run python job.py {{ endpoints.server.url }}"},
    ],
}


def make_uv_project(parent: Path) -> Path:
    """A bare git repository (branch main) of a uv project whose uv.lock uv made."""
    work = parent / "uv-demo-work"
    work.mkdir()
    (work / "pyproject.toml").write_text(PYPROJECT)
    (work / "serve.py").write_text(SERVE)
    (work / "job.py").write_text(JOB)
    (work / ".gitignore").write_text(".venv/\n")
    subprocess.run([str(UV), "lock", "--offline", "--quiet"], cwd=work, check=True,
                   env={"PATH": "/usr/bin:/bin", "UV_CACHE_DIR": str(parent / "uv-cache")})
    assert (work / "uv.lock").is_file()
    git = ["git", "-c", "user.name=test", "-c", "user.email=test@example.invalid"]
    subprocess.run(["git", "init", "--quiet", "--initial-branch=main", str(work)], check=True)
    subprocess.run([*git, "-C", str(work), "add", "."], check=True)
    subprocess.run([*git, "-C", str(work), "commit", "--quiet", "-m", "uv demo"], check=True)
    bare = parent / "uv-demo.git"
    subprocess.run(["git", "clone", "--quiet", "--bare", str(work), str(bare)], check=True)
    return bare


class UvDeployment(harness.Deployment):
    """The uv project on one fresh host: provision installs uv, checkout runs its default install
    command, launch runs the uv_demo profile in its default tmux server."""

    profiles_dir: Path | None = None
    uv_version: str = ""

    def host_vars(self, host):
        return {"ansible_host": host.address, "ansible_port": host.port, "ansible_user": host.user,
                "checkout_dest": f"{host.home}/uv-demo"}

    def inventory(self):
        inventory = super().inventory()
        variables = inventory["all"]["vars"]
        for name in ("launch_tmux_socket_name", "provision_install_uv", "checkout_lock_files",
                     "checkout_wheelhouse_dir", "checkout_install_command"):
            variables.pop(name)  # the roles' defaults: stallscope's tmux server, uv, `uv sync --locked`
        variables.update(stallscope_profile="uv_demo", launch_profiles_dir=str(self.profiles_dir),
                         provision_uv_wheelhouse_dir=str(self.wheelhouse),
                         provision_uv_version=self.uv_version)
        return inventory


def test_fresh_host_installs_uv_syncs_locked_and_runs_uv_run_components(testhosts, public_dir, tmp_path):
    try:
        wheelhouse = harness.build_uv_wheelhouse()
    except RuntimeError as error:
        pytest.skip(f"no uv wheel for the test host: {error}")
    host_set = testhosts.create(1)
    host = host_set.hosts[0]
    bare = make_uv_project(public_dir)
    harness.trust_repo(host, bare)
    profiles = tmp_path / "profiles"
    profiles.mkdir()
    (profiles / "uv_demo.yml").write_text(yaml.safe_dump(PROFILE, sort_keys=False))

    deployment = UvDeployment(host_set, {"uv_demo": [host]}, tmp_path / "controller", f"file://{bare}",
                              wheelhouse, tmux_socket="stallscope")
    deployment.profiles_dir = profiles
    deployment.uv_version = subprocess.run([str(UV), "--version"], check=True, capture_output=True,
                                           text=True).stdout.split()[1]
    remote = deployment.remote(host)
    # A fresh user: no uv anywhere on its PATH before provision.
    assert remote.run("command -v uv").rc != 0
    try:
        started = deployment.play("run_experiment.yml", run_id="uv")
        assert started.rc == 0, started.summary()
        assert "attach: tmux -L stallscope attach -t stallscope-uv" in started.text, started.summary()

        status = deployment.play("status.yml", run_id="uv", wait=True)
        assert status.rc == 0, status.summary()
        assert "job: exited with code 0" in status.text, status.summary()
        assert "server: alive, pid" in status.text, status.summary()

        checkout = f"{host.home}/uv-demo"
        job_log = remote.file(f"{host.home}/stallscope-runs/uv/logs/job.log").content_string
        # Both ran in the environment `uv sync --locked` made, and the lock was not rewritten.
        assert f"job python: {checkout}/.venv" in job_log, job_log
        assert f"server python: {checkout}/.venv" in job_log, job_log
        assert remote.run(f"git -C {checkout} status --porcelain").stdout == ""
        stamp = json.loads(remote.file(f"{checkout}/.git/stallscope-install.json").content_string)
        assert stamp["command"] == "uv sync --locked"
        # The run lives in stallscope's own tmux server, not in the user's default one.
        assert remote.run("tmux -L stallscope has-session -t =stallscope-uv").rc == 0
        assert remote.run("tmux has-session -t =stallscope-uv").rc != 0

        stopped = deployment.play("stop_experiment.yml", run_id="uv")
        assert stopped.rc == 0, stopped.summary()
    finally:
        leftovers = deployment.teardown()
    assert not leftovers, f"processes left running on the test host: {leftovers}"
