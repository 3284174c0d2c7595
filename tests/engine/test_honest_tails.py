"""Honest tails (docs/analysis.md): warm-up updates are reported, not judged; a tail of fewer than 20
samples is its maximum and is worded as an indication; the per-step series of queue_ms and rpc_ms."""

import json

import pytest

from stallscope.engine import InputError, analyze, write_outputs
from stallscope.engine.thresholds import merge_thresholds

from .seedlog import SEED, write_log


def update(trace, op, queue_ms, rpc_ms):
    return [f"[weights][{trace}] client.send url=http://h:8000 path=/{op}",
            f"[weights][{trace}] client.done wall_ms={queue_ms + rpc_ms} rpc_ms={rpc_ms} queue_ms={queue_ms}"]


def test_a_cold_start_up_reload_is_reported_but_not_judged(tmp_path):
    # The start-up reload takes 30 s to queue and load: critical for both queue_ms and reload's rpc_ms.
    lines = update("r0", "reload_weights", 30000, 9000) + [line for n in range(25) for line in update(f"u{n}", "update_weights", 5, 400)]
    write_log(tmp_path / "orchestrator.log", lines)
    report = analyze([tmp_path])
    assert (report["diagnosis"], report["severity"]) == ("healthy", "ok")
    assert report["metrics"]["queue_ms"]["max"] == 30000  # still reported
    assert [(row["trace"], row["op"], row["queue_ms"]) for row in report["warmup"]["excluded"]] == [("r0", "reload_weights", 30000)]
    assert report["warmup"]["updates"] == 1


def test_warmup_updates_is_a_setting(tmp_path):
    lines = [line for n in range(24) for line in update(f"u{n}", "update_weights", 500, 400)]
    write_log(tmp_path / "orchestrator.log", lines)
    for warmup, judged in ((0, 24), (1, 23), (2, 22)):
        report = analyze([tmp_path], thresholds={"warmup_updates": warmup})
        assert report["findings"][0]["evidence"]["count"] == judged
        assert [row["trace"] for row in report["warmup"]["excluded"]] == [f"u{n}" for n in range(warmup)]
        assert report["metrics"]["queue_ms"]["count"] == 24


def test_each_orchestrator_log_has_its_own_warmup(tmp_path):
    for name in ("a", "b"):
        write_log(tmp_path / name / "orchestrator.log", update(f"{name}0", "reload_weights", 9000, 100) + update(f"{name}1", "update_weights", 3, 100))
    report = analyze([tmp_path])
    assert sorted(row["trace"] for row in report["warmup"]["excluded"]) == ["a0", "b0"]
    assert report["diagnosis"] == "healthy"


@pytest.mark.parametrize("value", [-1, 1.5, True, "2"])
def test_warmup_updates_must_be_a_whole_number(value):
    with pytest.raises(InputError, match="warmup_updates: expected a whole number >= 0"):
        merge_thresholds({"warmup_updates": value})


def test_fewer_than_20_samples_judge_the_maximum_and_say_so(tmp_path):
    # 5 updates after the warm-up: the interpolated p95 (between 800 and 1200) would be 1120 ms;
    # with 5 samples the p95 is the maximum, 1200 ms.
    lines = update("w", "update_weights", 1, 400) + [
        line for n, queue in enumerate((10, 20, 30, 800, 1200)) for line in update(f"u{n}", "update_weights", queue, 400)]
    write_log(tmp_path / "orchestrator.log", lines)
    finding = analyze([tmp_path])["findings"][0]
    assert finding["id"] == "frontend_queue_saturation" and finding["severity"] == "critical"
    assert finding["evidence"]["p95"] == 1200 and finding["evidence"]["p95_is_max_of"] == 5
    assert "p95 (the maximum of 5 samples) 1200 ms points to critical" in finding["summary"]
    assert "indication, not a measured tail" in finding["summary"]


def test_20_samples_or_more_are_judged_on_the_p95(tmp_path):
    lines = update("w", "update_weights", 1, 400) + [
        line for n in range(20) for line in update(f"u{n}", "update_weights", 2000 if n == 19 else 150, 400)]
    write_log(tmp_path / "orchestrator.log", lines)
    finding = analyze([tmp_path])["findings"][0]
    assert "p95_is_max_of" not in finding["evidence"]
    assert finding["severity"] == "warning"  # p95 = 150 + 0.05 * 1850 = 242.5 ms (printed 243), not the 2000 ms maximum
    assert "queue_ms p95 243 ms is warning" in finding["summary"]


def test_per_step_view_in_report_json_and_text(tmp_path):
    write_log(tmp_path / "logs" / "orchestrator.log", SEED["startup_reload"] + SEED["weights_normal"][::4] + SEED["weights_frontend_queue"][::4])
    report = analyze([tmp_path / "logs"])
    write_outputs(report, tmp_path / "out")
    per_step = json.loads((tmp_path / "out" / "report.json").read_text())["per_step"]
    assert per_step["file"] == "per_step.txt" and per_step["rows_not_in_report"] == 0
    rows = [dict(zip(per_step["columns"], row)) for row in per_step["rows"]]
    assert [(r["step"], r["trace"], r["queue_ms"], r["rpc_ms"], r["warmup"]) for r in rows] == [
        (1, "aaa000", 10.2, 2400.1, True), (2, "abc123", 0.2, 1255.4, False), (3, "def456", 30333.4, 1222.0, False)]
    text = (tmp_path / "out" / "per_step.txt").read_text().splitlines()
    assert text[3].split()[:6] == ["1", "aaa000", "reload_weights", "10.2", "2400.1", "2410.3"] and text[3].endswith("warm-up")
    assert text[5].split()[:5] == ["3", "def456", "unknown", "30333.4", "1222.0"]
