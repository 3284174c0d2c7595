"""The run_record module: the run's manifests written as JSON in one task, and runs/latest pointed at the run."""

import json
import os
import stat

import yaml

from tests.module_harness import load_library_module, run_module

MANIFEST = {"run_id": "r1", "host": "h1", "components": [{"name": "inference", "pid": 123}]}


def test_writes_each_manifest_once_and_points_the_link(tmp_path):
    record = tmp_path / "runs" / "r1" / "launch"
    args = {"directory": str(record), "manifests": {"h1": MANIFEST, "h2.example": dict(MANIFEST, host="h2")},
            "link": str(tmp_path / "runs" / "latest"), "link_target": "r1"}
    written = run_module("run_record", args)
    assert written["changed"] and written["link_changed"]
    assert written["written"] == [str(record / "h1.json"), str(record / "h2.example.json")]
    assert json.loads((record / "h1.json").read_text()) == MANIFEST
    assert (record / "h1.json").read_text().endswith("}\n")
    assert stat.S_IMODE((record / "h1.json").stat().st_mode) == 0o640
    assert stat.S_IMODE(record.stat().st_mode) == stat.S_IMODE((tmp_path / "runs").stat().st_mode) == 0o750
    assert os.readlink(tmp_path / "runs" / "latest") == "r1"
    assert sorted(os.listdir(record)) == ["h1.json", "h2.example.json"]  # no temporary file left
    again = run_module("run_record", args)
    assert not again["changed"] and again["written"] == [] and not again["link_changed"]


def test_a_changed_manifest_and_another_run_are_written(tmp_path):
    run_module("run_record", {"directory": str(tmp_path), "manifests": {"run_manifest": MANIFEST},
                              "link": str(tmp_path / "latest"), "link_target": "r1"})
    changed = run_module("run_record", {"directory": str(tmp_path), "manifests": {"run_manifest": dict(MANIFEST, run_id="r2")},
                                        "link": str(tmp_path / "latest"), "link_target": "r2"})
    assert changed["changed"] and changed["written"] == [str(tmp_path / "run_manifest.json")] and changed["link_changed"]
    assert json.loads((tmp_path / "run_manifest.json").read_text())["run_id"] == "r2"
    assert os.readlink(tmp_path / "latest") == "r2"


def test_check_mode_writes_nothing(tmp_path):
    planned = run_module("run_record", {"directory": str(tmp_path / "record"), "manifests": {"h1": MANIFEST},
                                        "link": str(tmp_path / "latest"), "link_target": "r1"}, check_mode=True)
    assert planned["changed"] and planned["written"] == [str(tmp_path / "record" / "h1.json")]
    assert os.listdir(tmp_path) == []


def test_bad_input_fails_with_a_clear_message_and_writes_nothing(tmp_path):
    escaping = run_module("run_record", {"directory": str(tmp_path / "record"), "manifests": {"../h1": MANIFEST}})
    assert escaping["failed"] and "cannot be a file name" in escaping["msg"]
    (tmp_path / "latest").mkdir()
    not_a_link = run_module("run_record", {"directory": str(tmp_path / "record"), "manifests": {},
                                           "link": str(tmp_path / "latest"), "link_target": "r1"})
    assert not_a_link["failed"] and "is not a symbolic link" in not_a_link["msg"]
    assert sorted(os.listdir(tmp_path)) == ["latest"]


def test_documentation_matches_the_argument_spec():
    module = load_library_module("run_record")
    documented = yaml.safe_load(module.DOCUMENTATION)["options"]
    assert set(documented) == {"directory", "manifests", "mode", "directory_mode", "link", "link_target"}
    yaml.safe_load(module.EXAMPLES)
    yaml.safe_load(module.RETURN)
