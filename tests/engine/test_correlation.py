"""Host attribution from run manifests, and the queue split across hosts' clocks."""

import json
import shutil
from pathlib import Path

import pytest

from stallscope.engine import analyze

FIXTURE = Path(__file__).parent / "fixtures" / "two_hosts"
OFFSET_S = 7200.5
CLIENT_WAITS_MS = [5.0, 1800.0, 2500.0, 3.0]


def test_offset_between_hosts_is_estimated_from_the_updates():
    report = analyze([FIXTURE])
    hosts = {entry["path"].split("/")[-3]: entry["host"] for entry in report["inputs"]}
    assert hosts == {"infer-host": "infer-host", "orch-host": "orch-host"}
    correlation = report["correlation"]
    assert correlation["method"] == "estimated_offset"
    (pair,) = correlation["host_pairs"]
    assert (pair["client_host"], pair["server_host"], pair["updates"]) == ("orch-host", "infer-host", 4)
    assert abs(pair["offset_s"] - OFFSET_S) <= pair["uncertainty_s"] + 1e-6
    assert pair["uncertainty_s"] < 0.005
    by_trace = {row["trace"]: row for row in report["slowest_updates"]}
    for index, expected in enumerate(CLIENT_WAITS_MS):
        row = by_trace[f"a1b2c3d4e5f6000{index + 1}"]
        assert row["client_queue_ms"] == pytest.approx(expected, abs=2 * pair["uncertainty_s"] * 1000 + 0.1)
        assert row["server_queue_ms"] == pytest.approx([0.2, 0.3, 0.1, 0.2][index], abs=0.01)


def test_async_level_comes_from_the_manifest_unless_given():
    report = analyze([FIXTURE])
    assert report["async_level"] == {"value": 1, "source": "run_manifest.json"}
    stale = next(f for f in report["findings"] if f["id"] == "poor_rollout_quality")
    assert stale["severity"] == "warning"  # staleness 2 > async_level 1
    relaxed = analyze([FIXTURE], async_level=2)
    assert relaxed["async_level"]["source"] == "given"
    at_barrier = next(f for f in relaxed["findings"] if f["id"] == "poor_rollout_quality")
    assert at_barrier["severity"] == "info" and "async barrier" in at_barrier["summary"]


def test_clocks_that_no_offset_reconciles_leave_the_client_split_out(tmp_path):
    tree = shutil.copytree(FIXTURE, tmp_path / "run")
    log = tree / "infer-host" / "logs" / "inference.log"
    # Stretch one RPC far beyond its client's whole wall time: no offset can fit every update.
    text = log.read_text().splitlines()
    for index, line in enumerate(text):
        if "a1b2c3d4e5f60004] rpc.done" in line:
            start_t = float(text[index - 1].split("t=")[1])
            text[index] = line.split(" t=")[0] + f" t={start_t + 30:.6f} rpc_ms=405.0"
    log.write_text("\n".join(text) + "\n")
    report = analyze([tree])
    assert report["correlation"]["method"] == "not_comparable"
    assert "no single clock offset" in report["correlation"]["host_pairs"][0]["reason"]
    assert report["metrics"]["client_queue_ms"]["count"] == 0
    assert report["metrics"]["server_queue_ms"]["count"] == 4


def test_without_manifests_all_files_share_one_clock(tmp_path):
    for host in ("orch-host", "infer-host"):
        shutil.copytree(FIXTURE / host / "logs", tmp_path / host)
    report = analyze([tmp_path])
    assert report["correlation"]["method"] == "same_host"
    assert report["async_level"] == {"value": None, "source": "unknown"}


def test_an_unreadable_manifest_is_ignored_with_a_warning(tmp_path):
    tree = shutil.copytree(FIXTURE, tmp_path / "run")
    (tree / "orch-host" / "run_manifest.json").write_text("{not json")
    report = analyze([tree])
    assert any("run_manifest.json: ignored" in warning for warning in report["warnings"])
    assert {entry["host"] for entry in report["inputs"]} == {None, "infer-host"}


def test_a_file_named_directly_finds_its_run_dir_manifest():
    report = analyze([FIXTURE / "orch-host" / "logs" / "orchestrator.log"])
    assert report["inputs"][0]["host"] == "orch-host"
    assert json.loads(json.dumps(report)) == report


def test_the_offset_collect_measured_is_used_when_the_updates_cannot_fix_one(tmp_path):
    test_clocks_that_no_offset_reconciles_leave_the_client_split_out(tmp_path)
    tree = tmp_path / "run"
    hosts = {"orch-host": (1000.0, 0.0005), "infer-host": (1000.25, 0.0005)}  # wall - monotonic, per host
    for host, (wall_minus_monotonic, uncertainty) in hosts.items():
        (tree / host / "collect.json").write_text(json.dumps({"clock": {
            "host_wall_minus_monotonic": wall_minus_monotonic, "offset_from_controller_s": 0.0, "uncertainty_s": uncertainty}}))
    report = analyze([tree])
    (pair,) = report["correlation"]["host_pairs"]
    assert report["correlation"]["method"] == pair["method"] == "measured_offset"
    # server t - client t at one instant = (wall - monotonic of the client) - (that of the server)
    assert pair["offset_s"] == -0.25 and pair["uncertainty_s"] == 0.001
    assert report["metrics"]["client_queue_ms"]["count"] == 4
