"""The GPU sampler family: nvidia-smi CSV (with and without units) and dmon output read into per-GPU
statistics, GPU idle time while the orchestrator waits as evidence, and gpu_underutilised."""

import shutil
from pathlib import Path

import pytest

from stallscope.engine import analyze, write_outputs
from stallscope.engine.families import gpu

FIXTURES = Path(__file__).parent / "fixtures" / "gpu"


def samples_of(path):
    events = []
    counts = gpu.scan(str(path), events.append)
    return events, counts


def test_csv_with_units_stalled_run():
    report = analyze([str(FIXTURES / "stalled_run")])
    section = report["gpu"]
    rows = {row["gpu"]: row for row in section["gpus"]}
    # 16 one-second samples per GPU; idle (0 %) in the 8 seconds of the two 4 s checkpoint waits.
    assert rows[0]["samples"] == rows[1]["samples"] == 16
    assert rows[0]["util_mean"] == pytest.approx((8 * 96) / 16) and rows[1]["util_mean"] == pytest.approx((8 * 91) / 16)
    assert rows[0]["idle_share"] == rows[1]["idle_share"] == 0.5
    assert rows[0]["memory_used_max_mib"] == 70143 and rows[0]["memory_total_mib"] == 81920
    assert rows[0]["power_mean_w"] == pytest.approx((8 * 356.21 + 8 * 61.87) / 16)
    # GPU 1's first power reading is [N/A]: left out, not read as 0 W.
    assert rows[1]["power_mean_w"] == pytest.approx((7 * 331.47 + 8 * 58.02) / 15)
    assert rows[0]["latest"] == {"ts": "2026-03-14 10:00:15.512", "util_pct": 96.0, "memory_used_mib": 70143.0, "power_w": 356.21}
    assert section["during_checkpoint_waits"] == {"intervals": 2, "samples": 16, "util_mean": 0.0, "idle_share": 1.0}
    assert report["metrics"]["gpu_util_pct"]["count"] == 32

    findings = {finding["id"]: finding for finding in report["findings"]}
    stall = findings["checkpoint_stall"]
    assert stall["evidence"]["gpu_during_waits"]["idle_share"] == 1.0
    assert "The GPUs were idle in 100% of the 16 samples taken while the orchestrator waited" in stall["summary"]
    under = findings["gpu_underutilised"]
    assert under["severity"] == "warning" and under["evidence"]["idle_share_pct"] == 50.0
    assert report["diagnosis"] == "checkpoint_stall"  # the cause comes before the symptom


def test_outputs_show_the_gpus(tmp_path):
    report = analyze([str(FIXTURES / "stalled_run")])
    write_outputs(report, tmp_path)
    summary = (tmp_path / "SUMMARY.md").read_text()
    assert "## GPUs" in summary and "| 0 | 16 | 48 | 50% | 70143 / 81920 |" in summary
    assert "during the orchestrator's checkpoint waits (2): 16 samples, mean utilisation 0%, idle in 100%" in summary
    assert "gpu_util_pct" in (tmp_path / "gpu_stats.txt").read_text()


def test_thresholds_decide_gpu_underutilised():
    paths = [str(FIXTURES / "stalled_run")]
    assert "gpu_underutilised" not in [f["id"] for f in analyze(paths, thresholds={"gpu_idle_share_pct": {"warning": 60}})["findings"]]
    # Counting 91 % and below as idle: GPU 1 idles all run, GPU 0 half of it: 75 %.
    report = analyze(paths, thresholds={"gpu_idle_util_pct": 92})
    assert report["gpu"]["idle_share"] == 0.75
    assert next(f for f in report["findings"] if f["id"] == "gpu_underutilised")["severity"] == "warning"


def test_csv_without_units():
    events, counts = samples_of(FIXTURES / "csv_nounits.log")
    assert counts["recognised"] == 4 and counts["malformed"] == 0
    assert [(e["gpu"], e["util_pct"], e["memory_used_mib"], e["power_w"]) for e in events] == [
        (0, 87.0, 34567.0, 312.45), (1, 3.0, 1024.0, None), (0, 100.0, 34567.0, 398.10), (1, 0.0, 1024.0, 57.31)]
    assert events[0]["ts"] == "2026-03-14 10:00:00.512" and events[0]["memory_total_mib"] == 81920


def test_dmon():
    events, counts = samples_of(FIXTURES / "dmon.log")
    assert counts["recognised"] == 4 and counts["malformed"] == 0
    assert [(e["gpu"], e["util_pct"], e["memory_used_mib"], e["power_w"], e["ts"]) for e in events] == [
        (0, 87.0, 34567.0, 312.0, "2026-03-14 10:00:00"), (1, 0.0, 1024.0, 57.0, "2026-03-14 10:00:00"),
        (0, 100.0, 34567.0, 398.0, "2026-03-14 10:00:01"), (1, 3.0, 1024.0, None, "2026-03-14 10:00:01")]


def test_unreadable_rows_are_counted_and_a_restarted_sampler_starts_a_new_table(tmp_path):
    log = tmp_path / "logs" / "gpu_sampler.log"
    log.parent.mkdir()
    log.write_text(
        "timestamp, index, utilization.gpu [%], power.draw [W]\n"
        "2026/03/14 10:00:00.512, 0, 40 %, 100.00 W\n"
        "2026/03/14 10:00:01.512, 0, lots, 100.00 W\n"
        "Failed to initialize NVML: Driver/library version mismatch\n"
        "index, utilization.gpu [%]\n"
        "0, 60 %\n")
    report = analyze([str(tmp_path)])
    assert report["inputs"][0]["recognised"] == 2 and report["inputs"][0]["malformed"] == 2
    assert report["gpu"]["gpus"][0]["util_mean"] == 50.0


def test_time_of_day_prefixes_still_place_samples_in_the_waits(tmp_path):
    # prime-rl's bare `HH:MM:SS    INFO ` prefix has no date: samples are placed by time of day.
    shutil.copytree(FIXTURES / "stalled_run", tmp_path / "run")
    orchestrator = tmp_path / "run" / "logs" / "orchestrator.log"
    orchestrator.write_text("".join(line.split(" | ")[0][11:19] + "    INFO " + line.split(" - ", 1)[1] + "\n"
                                    for line in orchestrator.read_text().splitlines()))
    assert orchestrator.read_text().startswith("10:00:02    INFO [ckpt] wait.start")
    report = analyze([str(tmp_path / "run")])
    assert report["gpu"]["during_checkpoint_waits"] == {"intervals": 2, "samples": 16, "util_mean": 0.0, "idle_share": 1.0}


def test_the_launch_roles_sampler_output_is_read(tmp_path):
    # The launch role's gpu_sampler runs this exact query (--format=csv,nounits -l N) into
    # logs/gpu_sampler.log; an NVML message before the header does not hide the file.
    recorded = Path(__file__).parents[1] / "fixtures" / "nvidia-smi" / "a100x2" / "query-gpu-sample.out"
    log = tmp_path / "logs" / "gpu_sampler.log"
    log.parent.mkdir()
    log.write_text("Failed to initialize NVML: Unknown Error\n" + recorded.read_text())
    report = analyze([str(tmp_path)])
    rows = {row["gpu"]: row for row in report["gpu"]["gpus"]}
    assert rows[0]["util_mean"] == pytest.approx((97 + 12) / 2) and rows[1]["idle_share"] == 1.0
    assert rows[1]["latest"]["power_w"] == 60.87


def test_an_over_long_line_is_counted_and_skipped(tmp_path):
    log = tmp_path / "gpu_sampler.log"
    log.write_bytes(b"index, utilization.gpu [%]\n0, 5 %\n" + b"x" * (5 << 20) + b"\n1, 7 %\n")
    events, counts = samples_of(log)
    assert counts["overlong_lines"] == 1 and counts["lines"] == 4
    assert [(e["gpu"], e["line"]) for e in events] == [(0, 2), (1, 4)]
