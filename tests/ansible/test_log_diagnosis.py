"""log_diagnosis run through the real `ansible` command, so the engine travels as module_utils."""

from __future__ import annotations

import json
from pathlib import Path

from tests.module_harness import REPO, run_adhoc

TWO_HOSTS = REPO / "tests/engine/fixtures/two_hosts"


def test_diagnoses_collected_logs_and_writes_the_report(tmp_path):
    out_dir = tmp_path / "analysis"
    result = run_adhoc("log_diagnosis", {"paths": [str(TWO_HOSTS)], "out_dir": str(out_dir)})
    assert not result.get("failed"), result
    report = json.loads((out_dir / "report.json").read_text())
    assert result["diagnosis"] == report["diagnosis"] == "frontend_queue_saturation"
    assert result["severity"] == "critical" and result["changed"]
    assert Path(result["summary_path"]).read_text().startswith("#")
    assert result["metrics"]["queue_ms"]["count"] == report["metrics"]["queue_ms"]["count"] > 0
    html = Path(result["html_path"]).read_text()
    assert result["html_path"] == str(out_dir / "report.html") and "frontend_queue_saturation" in html


def test_refuses_to_overwrite_an_earlier_report(tmp_path):
    out_dir = tmp_path / "analysis"
    out_dir.mkdir()
    (out_dir / "SUMMARY.md").write_text("earlier")
    result = run_adhoc("log_diagnosis", {"paths": [str(TWO_HOSTS)], "out_dir": str(out_dir)})
    assert result["failed"] and "force=true" in result["msg"]
    assert (out_dir / "SUMMARY.md").read_text() == "earlier"


def test_check_mode_analyses_but_writes_nothing(tmp_path):
    out_dir = tmp_path / "analysis"
    result = run_adhoc("log_diagnosis", {"paths": [str(TWO_HOSTS)], "out_dir": str(out_dir)}, check_mode=True)
    assert result["diagnosis"] == "frontend_queue_saturation" and result["changed"]
    assert not out_dir.exists()


def test_logs_with_nothing_recognised(tmp_path):
    (tmp_path / "server.log").write_text("12:00:00    INFO starting up\n")
    failed = run_adhoc("log_diagnosis", {"paths": [str(tmp_path)]})
    assert failed["failed"] and str(tmp_path) in failed["msg"]
    early = run_adhoc("log_diagnosis", {"paths": [str(tmp_path)], "fail_on_no_lines": False})
    assert not early.get("failed") and early["diagnosis"] is None


def test_a_missing_path_is_named(tmp_path):
    result = run_adhoc("log_diagnosis", {"paths": [str(tmp_path / "nowhere")]})
    assert result["failed"] and "nowhere" in result["msg"]


def test_state_per_host_then_merged_on_the_controller(tmp_path):
    hosts = sorted(path.name for path in TWO_HOSTS.iterdir() if path.is_dir())
    for host in hosts:
        live = run_adhoc("log_diagnosis", {"paths": [str(TWO_HOSTS / host)], "state_dir": str(tmp_path / host)})
        assert not live.get("failed"), live
        assert (tmp_path / host / "state.sqlite").is_file()
    merged = run_adhoc("log_diagnosis", {"merge_states": [str(tmp_path / host) for host in hosts]})
    assert not merged.get("failed"), merged
    assert merged["diagnosis"] == "frontend_queue_saturation"
    assert {entry["host"] for entry in merged["inputs"]} == set(hosts)
