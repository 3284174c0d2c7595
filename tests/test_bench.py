"""The benchmark scripts run end to end on a small log and print their tables (no timing asserted)."""

import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[1] / "bench"


def run(script, tmp_path):
    work = tmp_path / "work"
    result = subprocess.run([sys.executable, str(BENCH / script), "--size-mb", "2", "--repeat", "1", "--work", str(work)],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert not work.exists(), "the work directory is removed without --keep"
    return result.stdout


def test_run_times_grep_the_seed_pipeline_and_analyze(tmp_path):
    out = run("run.py", tmp_path)
    for label in ("`grep -c '\\['`", "seed pipeline", "`stallscope analyze`"):
        assert out.count(label) == 2, out  # the log and the quarter-size one
    assert "Linearity:" in out


def test_floor_times_each_step_and_analyze(tmp_path):
    out = run("floor.py", tmp_path)
    rows = [line for line in out.splitlines() if line.startswith("| ") and not line.startswith("| ---")]
    assert [row.split(" | ")[0] for row in rows[1:]] == [
        "| `grep -c '\\['`", "| read in chunks", "| + newline count", "| + one event-pattern pass",
        "| + family substring checks", "| the same, 2 processes (fork)", "| `stallscope analyze`"]


def test_incremental_times_a_resumed_analysis_against_a_baseline(tmp_path):
    work = tmp_path / "work"
    result = subprocess.run([sys.executable, str(BENCH / "incremental.py"), "--size-mb", "2", "--append-mb", "0.2",
                             "--repeat", "1", "--work", str(work), "--baseline", "HEAD"],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert not work.exists(), "the work directory is removed without --keep"
    rows = [line for line in result.stdout.splitlines() if line.startswith("| ") and not line.startswith("| ---")]
    assert [row.split(" | ")[0] for row in rows[1:]] == ["| this tree", "| `HEAD`"]
