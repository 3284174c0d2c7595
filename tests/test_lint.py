"""Lint and documentation checks over every role, playbook, module, filter and test plugin in the repository."""

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def ansible_env():
    # Read at call time: the session fixture in conftest.py has put this interpreter's bin on PATH.
    return {**os.environ, "ANSIBLE_CONFIG": str(REPO / "ansible.cfg")}


def module_names():
    return sorted(path.stem for path in (REPO / "library").glob("*.py"))


def plugin_names(directory, kind):
    """The names a directory of Jinja plugins defines: kind "filter" (FilterModule) or "test" (TestModule)."""
    names = []
    for path in sorted((REPO / directory).glob("*.py")):
        spec = importlib.util.spec_from_file_location(f"{directory}_{path.stem}", path)
        plugin = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(plugin)
        names += sorted(plugin.FilterModule().filters() if kind == "filter" else plugin.TestModule().tests())
    return names


def ansible_doc(kind, name):
    proc = subprocess.run([str(BIN / "ansible-doc"), "--json", "-t", kind, name],
                          capture_output=True, text=True, env=ansible_env(), cwd=REPO, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)[name]


@pytest.mark.slow
def test_ansible_lint_production_profile_passes():
    proc = subprocess.run([str(BIN / "ansible-lint"), "--offline", "--nocolor"],
                          capture_output=True, text=True, env=ansible_env(), cwd=REPO, timeout=600)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    assert "Profile 'production' was required, and it passed" in proc.stderr + proc.stdout


@pytest.mark.parametrize("name", module_names())
def test_module_documentation_parses(name):
    doc = ansible_doc("module", name)
    assert doc["doc"]["short_description"] and doc["doc"]["options"] is not None
    assert doc["examples"].strip() and doc["return"]


@pytest.mark.parametrize("kind, name", [("filter", name) for name in plugin_names("filter_plugins", "filter")]
                         + [("test", name) for name in plugin_names("test_plugins", "test")])
def test_jinja_plugin_documentation_parses(kind, name):
    doc = ansible_doc(kind, name)
    assert doc["doc"]["name"] == name and doc["doc"]["short_description"]
    assert doc["examples"].strip() and doc["return"]


@pytest.mark.parametrize("role", sorted(path.name for path in (REPO / "roles").iterdir()))
def test_argument_specs_document_every_default_as_defaults_main_sets_it(role):
    """ansible-doc shows meta/argument_specs.yml: its defaults must be defaults/main.yml's, and every
    variable of defaults/main.yml must be documented there. A required option has no default there
    (Ansible refuses both), whatever placeholder defaults/main.yml gives it."""
    import yaml

    defaults = yaml.safe_load((REPO / "roles" / role / "defaults" / "main.yml").read_text()) or {}
    specs = yaml.safe_load((REPO / "roles" / role / "meta" / "argument_specs.yml").read_text())["argument_specs"]
    options = {name: option for entry in specs.values() for name, option in entry.get("options", {}).items()}
    assert sorted(set(defaults) - set(options)) == [], "in defaults/main.yml, not in meta/argument_specs.yml"
    differing = {name: (options[name].get("default", "<none>"), value) for name, value in defaults.items()
                 if not options[name].get("required") and options[name].get("default", "<none>") != value}
    assert differing == {}, "argument_specs default vs defaults/main.yml"
