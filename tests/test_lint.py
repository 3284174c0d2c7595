"""Lint and documentation checks over every role, playbook, module and filter in the repository."""

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
ENV = {**os.environ, "ANSIBLE_CONFIG": str(REPO / "ansible.cfg"),
       "PATH": os.pathsep.join([str(BIN), os.environ.get("PATH", "")])}


def module_names():
    return sorted(path.stem for path in (REPO / "library").glob("*.py"))


def filter_names():
    names = []
    for path in sorted((REPO / "filter_plugins").glob("*.py")):
        spec = importlib.util.spec_from_file_location(f"filters_{path.stem}", path)
        plugin = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(plugin)
        names += sorted(plugin.FilterModule().filters())
    return names


def ansible_doc(kind, name):
    proc = subprocess.run([str(BIN / "ansible-doc"), "--json", "-t", kind, name],
                          capture_output=True, text=True, env=ENV, cwd=REPO, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)[name]


@pytest.mark.slow
def test_ansible_lint_production_profile_passes():
    proc = subprocess.run([str(BIN / "ansible-lint"), "--offline", "--nocolor"],
                          capture_output=True, text=True, env=ENV, cwd=REPO, timeout=600)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    assert "Profile 'production' was required, and it passed" in proc.stderr + proc.stdout


@pytest.mark.parametrize("name", module_names())
def test_module_documentation_parses(name):
    doc = ansible_doc("module", name)
    assert doc["doc"]["short_description"] and doc["doc"]["options"] is not None
    assert doc["examples"].strip() and doc["return"]


@pytest.mark.parametrize("name", filter_names())
def test_filter_documentation_parses(name):
    doc = ansible_doc("filter", name)
    assert doc["doc"]["name"] == name and doc["doc"]["short_description"]
    assert doc["examples"].strip() and doc["return"]
