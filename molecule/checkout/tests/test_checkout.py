"""What checkout leaves on the test host."""

import json
import os
import subprocess

FIXTURE = os.environ.get("STALLSCOPE_CHECKOUT_FIXTURE", "/tmp/stallscope-molecule-checkout")


def remote_commit(ref):
    return subprocess.run(["git", "-C", f"{FIXTURE}/project.git", "rev-parse", ref],
                          capture_output=True, text=True, check=True).stdout.strip()


def home(host):
    return f"/home/{host.user().name}"


def test_branch_checked_out_with_its_submodule(host):
    head = host.run(f"git -C {home(host)}/project rev-parse HEAD")
    assert head.stdout.strip() == remote_commit("main")
    assert host.file(f"{home(host)}/project/lib/README").content_string == "shared code\n"


def test_dependencies_installed_offline_from_the_wheelhouse(host):
    result = host.run(f"{home(host)}/project/.venv/bin/python -c 'import tinydep; print(tinydep.VERSION)'")
    assert result.rc == 0 and result.stdout.strip() == "1.0"


def test_stamp_records_commit_lock_and_command(host):
    stamp = json.loads(host.file(f"{home(host)}/project/.git/stallscope-install.json").content_string)
    assert stamp["commit"] == remote_commit("main")
    assert set(stamp["lock_files"]) == {"requirements.lock"} and len(stamp["lock_files"]["requirements.lock"]) == 64
    assert stamp["command"].startswith("python3 -m venv .venv")


def test_pinned_commit_checked_out_without_install(host):
    assert host.run(f"git -C {home(host)}/pinned rev-parse HEAD").stdout.strip() == remote_commit("main~1")
    assert not host.file(f"{home(host)}/pinned/.venv").exists
    assert not host.file(f"{home(host)}/pinned/.git/stallscope-install.json").exists
