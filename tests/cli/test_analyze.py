"""`stallscope analyze` as a real process: outputs, exit codes, and the bad-input suite."""

import json
import os

import pytest

from tests.engine.seedlog import SEED, render, write_log

OUTPUT_FILES = {
    "SUMMARY.md", "report.json", "queue_ms_stats.txt", "rpc_ms_stats.txt", "ckpt_wait_stats.txt",
    "ckpt_write_stats.txt", "gen_batch_stats.txt", "rollout_stats.txt", "slowest_updates.txt", "timeline.txt",
    "per_step.txt",
    "report.html",
}


@pytest.fixture
def queue_run(tmp_path):
    logs = tmp_path / "logs"
    write_log(logs / "orchestrator.log",
              SEED["startup_reload"] + SEED["gen_normal"][:1] + SEED["weights_frontend_queue"][::4] + SEED["gen_normal"][1:])
    write_log(logs / "inference.log", SEED["weights_frontend_queue"][1:4], prefix="loguru")
    return logs


def test_writes_every_output_file_and_names_the_diagnosis(stallscope, queue_run, tmp_path):
    result = stallscope("analyze", queue_run, "--out", tmp_path / "out")
    assert result.code == 0, result.err
    assert result.out.startswith("diagnosis: frontend_queue_saturation (critical)")
    assert result.out.endswith(f"html: {tmp_path / 'out' / 'report.html'}\n")
    assert set(os.listdir(tmp_path / "out")) == OUTPUT_FILES
    summary = (tmp_path / "out" / "SUMMARY.md").read_text()
    assert summary.index("Diagnosis: `frontend_queue_saturation`") < summary.index("## Key metrics")
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert report["metrics"]["queue_ms"]["max"] == pytest.approx(30333.4)
    assert [row["trace"] for row in report["warmup"]["excluded"]] == ["aaa000"]
    slowest = (tmp_path / "out" / "slowest_updates.txt").read_text().splitlines()
    assert slowest[2].startswith("def456") and "31555.4" in slowest[2]
    timeline = (tmp_path / "out" / "timeline.txt").read_text()
    assert "overlaps def456" in timeline


def test_default_out_dir_is_timestamped_in_the_working_directory(stallscope, queue_run, tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    assert stallscope("analyze", queue_run, cwd=work).code == 0
    (out,) = os.listdir(work)
    assert out.startswith("analysis_") and out.endswith("Z")
    assert set(os.listdir(work / out)) == OUTPUT_FILES


def test_json_prints_the_report(stallscope, queue_run, tmp_path):
    result = stallscope("analyze", queue_run, "--out", tmp_path / "out", "--json")
    assert result.code == 0
    report = json.loads(result.out)
    assert report == json.loads((tmp_path / "out" / "report.json").read_text())
    assert {"schema_version", "profile", "inputs", "metrics", "updates", "findings", "diagnosis", "severity"} <= set(report)
    assert report["metrics"]["rpc_ms.update_weights"]["count"] == 1
    assert "rpc_ms.reload_weights" in report["metrics"]


def test_refuses_a_non_empty_out_dir_unless_forced(stallscope, queue_run, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "precious.txt").write_text("keep")
    result = stallscope("analyze", queue_run, "--out", out)
    assert result.code == 2
    assert f"{out}: exists and is not empty" in result.err and "--force" in result.err
    assert os.listdir(out) == ["precious.txt"]
    assert stallscope("analyze", queue_run, "--out", out, "--force").code == 0
    assert (out / "precious.txt").read_text() == "keep"


def test_async_level_flag(stallscope, tmp_path):
    write_log(tmp_path / "logs" / "o.log", SEED["weights_normal"] + SEED["rollout_high_staleness"])
    assert stallscope("analyze", tmp_path / "logs", "--out", tmp_path / "a", "--async-level", "1").out.startswith(
        "diagnosis: poor_rollout_quality (critical)")
    bad = stallscope("analyze", tmp_path / "logs", "--out", tmp_path / "b", "--async-level", "-1")
    assert bad.code == 2 and "--async-level" in bad.err


# --- thresholds files ---------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("queue_msec: {warning: 1}\n", "queue_msec: unknown metric"),
        ("queue_ms: {warning: lots}\n", "queue_ms.warning: not a number"),
        ("queue_ms: {warning: 5000}\n", "queue_ms: warning (5000) is above critical (1000)"),
        ("queue_ms: {warning: 1, severe: 2}\n", "queue_ms.severe: unknown level"),
        ("queue_ms: [1, 2]\n", "queue_ms: expected a mapping"),
        ("queue_ms: {warning: 1\n", "not valid YAML"),
        ("- 1\n", "expected a mapping of metric names"),
        ("success_criteria: {queue_ms_p95_below: -1}\n", "success_criteria.queue_ms_p95_below: must be above 0"),
        ("success_criteria: [300]\n", "success_criteria: expected a mapping"),
        ("warmup_updates: -1\n", "warmup_updates: expected a whole number >= 0"),
        ("gpu_idle_util_pct: {warning: 5}\n", "gpu_idle_util_pct: expected a whole number >= 0"),
    ],
)
def test_bad_thresholds_file_is_one_line_naming_file_and_key(stallscope, queue_run, tmp_path, text, message):
    thresholds = tmp_path / "limits.yml"
    thresholds.write_text(text)
    result = stallscope("analyze", queue_run, "--out", tmp_path / "out", "--thresholds", thresholds)
    assert result.code == 2
    assert result.err.count("\n") == 1
    assert f"{thresholds}: " in result.err and message in result.err


def test_thresholds_file_overrides_the_table(stallscope, queue_run, tmp_path):
    thresholds = tmp_path / "limits.yml"
    thresholds.write_text("queue_ms:\n  warning: 40000\n  critical: 60000\ngen_dur_ms: {critical: 50000}\n")
    result = stallscope("analyze", queue_run, "--out", tmp_path / "out", "--thresholds", thresholds, "--json")
    report = json.loads(result.out)
    assert report["thresholds"]["queue_ms"] == {"warning": 40000, "critical": 60000}
    assert report["thresholds"]["gen_dur_ms"] == {"warning": 5000, "critical": 50000}
    assert (report["diagnosis"], report["severity"]) == ("healthy", "ok")  # 30 s of queue is now tolerated


# --- the CI gate -------------------------------------------------------------------------------

@pytest.mark.parametrize(("level", "code"), [(None, 0), ("critical", 4), ("warning", 4)])
def test_fail_on_exits_4_when_the_diagnosis_reaches_the_level(stallscope, queue_run, tmp_path, level, code):
    result = stallscope("analyze", queue_run, "--out", tmp_path / "out", *(["--fail-on", level] if level else []))
    assert result.code == code, result.err
    assert (tmp_path / "out" / "SUMMARY.md").is_file()  # the report is written either way
    assert result.out.startswith("diagnosis: frontend_queue_saturation (critical)")


def test_fail_on_critical_passes_a_warning(stallscope, queue_run, tmp_path):
    thresholds = tmp_path / "limits.yml"
    thresholds.write_text("queue_ms: {warning: 1000, critical: 40000}\n")
    args = ("analyze", queue_run, "--thresholds", thresholds, "--fail-on")
    assert stallscope(*args, "critical", "--out", tmp_path / "a").code == 0
    assert stallscope(*args, "warning", "--out", tmp_path / "b").code == 4
    assert stallscope(*args, "severe", "--out", tmp_path / "c").code == 2


def test_thresholds_file_sets_the_warmup(stallscope, queue_run, tmp_path):
    thresholds = tmp_path / "limits.yml"
    thresholds.write_text("warmup_updates: 2\n")
    report = json.loads(stallscope("analyze", queue_run, "--out", tmp_path / "out", "--thresholds", thresholds, "--json").out)
    assert report["thresholds"]["warmup_updates"] == 2
    assert [row["trace"] for row in report["warmup"]["excluded"]] == ["aaa000", "def456"]
    assert report["diagnosis"] == "healthy"  # nothing left to judge


# --- the bad-input suite ------------------------------------------------------------------------

def test_empty_file(stallscope, tmp_path):
    (tmp_path / "empty.log").write_bytes(b"")
    result = stallscope("analyze", tmp_path / "empty.log", "--out", tmp_path / "out")
    assert result.code == 3
    assert "no recognised line in" in result.err and "[weights] [ckpt] [gen] [rollout]" in result.err
    assert not (tmp_path / "out").exists()


def test_directory_with_no_logs(stallscope, tmp_path):
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "notes.txt").write_text("[weights][a] client.done wall_ms=1 rpc_ms=1 queue_ms=0\n")
    result = stallscope("analyze", tmp_path / "d", "--out", tmp_path / "out")
    assert result.code == 2
    assert f"{tmp_path / 'd'}: no log files found (*.log, *.stdout" in result.err


def test_missing_path(stallscope, tmp_path):
    result = stallscope("analyze", tmp_path / "nope", "--out", tmp_path / "out")
    assert result.code == 2 and f"{tmp_path / 'nope'}: no such file or directory" in result.err


def test_binary_file(stallscope, tmp_path):
    (tmp_path / "core.log").write_bytes(bytes(range(256)) * 4000)
    result = stallscope("analyze", tmp_path / "core.log", "--out", tmp_path / "out")
    assert result.code == 3 and "looks binary" in result.err


def test_ten_megabyte_single_line(stallscope, tmp_path):
    huge = b"x" * (10 << 20)
    (tmp_path / "huge.log").write_bytes(huge)
    assert stallscope("analyze", tmp_path / "huge.log", "--out", tmp_path / "o1").code == 3
    (tmp_path / "mixed.log").write_bytes(huge + b"\n" + render(SEED["weights_normal"]) + huge)
    result = stallscope("analyze", tmp_path / "mixed.log", "--out", tmp_path / "o2", "--json")
    assert result.code == 0
    report = json.loads(result.out)
    assert (report["inputs"][0]["lines"], report["inputs"][0]["overlong_lines"]) == (7, 2)
    assert report["updates"]["complete"] == 1
    assert any("longer than 1 MiB" in warning for warning in report["warnings"])


def test_file_that_vanished(stallscope, tmp_path):
    (tmp_path / "logs").mkdir()
    (tmp_path / "logs" / "gone.log").symlink_to(tmp_path / "deleted.log")
    result = stallscope("analyze", tmp_path / "logs", "--out", tmp_path / "out")
    assert result.code == 2 and "gone.log: cannot read: No such file or directory" in result.err


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their mode")
def test_unreadable_file(stallscope, tmp_path):
    secret = write_log(tmp_path / "secret.log", SEED["weights_normal"])
    secret.chmod(0)
    result = stallscope("analyze", secret, "--out", tmp_path / "out")
    assert result.code == 2 and "secret.log: cannot read: Permission denied" in result.err


def test_file_that_fails_to_read_even_for_root(stallscope, tmp_path):
    # Reading /proc/self/mem from offset 0 fails with EIO for every user: an unreadable input as CI
    # (root) sees one.
    (tmp_path / "logs").mkdir()
    (tmp_path / "logs" / "engine.log").symlink_to("/proc/self/mem")
    result = stallscope("analyze", tmp_path / "logs", "--out", tmp_path / "out")
    assert result.code == 2 and "engine.log: cannot read: Input/output error" in result.err
    assert "Traceback" not in result.err


def test_unreadable_directory_entry(stallscope, tmp_path):
    # Readable to root too: a FIFO named like a log would block a reader; a directory named like one is walked.
    (tmp_path / "logs" / "x.log").mkdir(parents=True)
    write_log(tmp_path / "logs" / "x.log" / "inner.log", SEED["weights_normal"])
    assert stallscope("analyze", tmp_path / "logs", "--out", tmp_path / "out").code == 0


def test_truncated_last_line(stallscope, tmp_path):
    data = render(SEED["weights_normal"])[:-1]  # no final newline
    (tmp_path / "t.log").write_bytes(data + b"\n[ckpt] wait.done target_step=3 wait_ms=1")
    result = stallscope("analyze", tmp_path / "t.log", "--out", tmp_path / "out", "--json")
    report = json.loads(result.out)
    assert report["inputs"][0]["lines"] == 6 and report["metrics"]["wait_ms"]["count"] == 1


def test_duplicate_trace_ids(stallscope, tmp_path):
    write_log(tmp_path / "o.log", SEED["weights_normal"] + SEED["weights_normal"] + SEED["weights_normal"][:1])
    result = stallscope("analyze", tmp_path / "o.log", "--out", tmp_path / "out", "--json")
    report = json.loads(result.out)
    assert report["updates"]["duplicate_trace_ids"] == 1
    assert (report["updates"]["complete"], report["updates"]["incomplete"]) == (2, 1)


def test_unmatched_events(stallscope, tmp_path):
    lines = [
        "[weights][only-done] client.done wall_ms=50 rpc_ms=40 queue_ms=10",
        "[weights][only-server] rpc.done op=update_weights t=5.0 rpc_ms=300",
        "[gen] batch.done completions=64 dur_ms=1200 inflight=3",
        "[ckpt] wait.done wait_ms=3",
        "[weights][only-send] client.send url=http://h:8000 path=/update_weights t=9.0",
    ]
    write_log(tmp_path / "o.log", lines)
    result = stallscope("analyze", tmp_path / "o.log", "--out", tmp_path / "out", "--json")
    report = json.loads(result.out)
    assert report["updates"] == {"complete": 1, "incomplete": 1, "server_only": 1, "duplicate_trace_ids": 0,
                                 "by_op": {"unknown": 1, "update_weights": 2}}
    incomplete = next(f for f in report["findings"] if f["id"] == "incomplete_weight_updates")
    assert incomplete["severity"] == "info"  # the last update of the log: a stopped run
    assert (report["timeline"]["file"], report["timeline"]["batches"]) == ("timeline.txt", 1)
    (batch,) = [line.split() for line in (tmp_path / "out" / "timeline.txt").read_text().splitlines() if " batch " in line]
    assert (batch[0], batch[-2:], "dur_ms=1200" in batch) == ("3", ["(no", "batch.start)"], True)


def test_malformed_lines_are_counted_not_fatal(stallscope, tmp_path):
    write_log(tmp_path / "o.log", SEED["weights_normal"] + ["[ckpt] wait.done wait_ms=soon"])
    report = json.loads(stallscope("analyze", tmp_path / "o.log", "--out", tmp_path / "out", "--json").out)
    assert report["inputs"][0]["malformed"] == 1
    assert any("unreadable fields" in warning for warning in report["warnings"])


def test_debug_reraises(tmp_path):
    import subprocess
    import sys

    from .conftest import SRC

    completed = subprocess.run([sys.executable, "-m", "stallscope", "analyze", str(tmp_path / "nope"), "--debug"],
                               env=dict(os.environ, PYTHONPATH=str(SRC)), capture_output=True, text=True)
    assert completed.returncode == 1 and "Traceback" in completed.stderr and "InputError" in completed.stderr


def test_state_resumes_and_merge_joins_hosts(stallscope, tmp_path):
    """Each host's logs reduced to a state; `merge` gives the one-pass diagnosis from the states."""
    from tests.engine.test_state import FIXTURES
    hosts = sorted(path.name for path in (FIXTURES / "two_hosts").iterdir() if path.is_dir())
    for host in hosts:
        first = stallscope("analyze", FIXTURES / "two_hosts" / host, "--state", tmp_path / "state" / host, "--out", tmp_path / host)
        assert first.code == 0, first.err
        again = stallscope("analyze", FIXTURES / "two_hosts" / host, "--state", tmp_path / "state" / host,
                           "--out", tmp_path / host, "--force")
        assert again.code == 0 and again.out == first.out
    merged = stallscope("merge", *(tmp_path / "state" / host for host in hosts), "--out", tmp_path / "merged", "--json")
    whole = stallscope("analyze", FIXTURES / "two_hosts", "--out", tmp_path / "whole", "--json")
    assert merged.code == whole.code == 0, merged.err
    merged_report, whole_report = json.loads(merged.out), json.loads(whole.out)
    assert merged_report["diagnosis"] == whole_report["diagnosis"] == "frontend_queue_saturation"
    assert merged_report["correlation"] == whole_report["correlation"]
    assert merged_report["metrics"] == whole_report["metrics"]
    missing = stallscope("merge", tmp_path / "nowhere", "--out", tmp_path / "m2")
    assert missing.code == 2 and "nowhere" in missing.err and "state.sqlite" in missing.err


def test_a_full_disk_is_one_line_not_a_traceback(stallscope, queue_run, tmp_path):
    """Writes past a small file-size limit fail as on a full disk (EFBIG; Python ignores SIGXFSZ)."""
    import resource
    import subprocess
    import sys

    from tests.cli.conftest import SRC
    big = tmp_path / "big"
    big.mkdir()
    (big / "orchestrator.log").write_bytes(b"".join(
        f"[weights][t{n}] client.send path=/update_weights t={n}\n".encode() for n in range(30000)))

    def limit():
        resource.setrlimit(resource.RLIMIT_FSIZE, (64 << 10, 64 << 10))

    completed = subprocess.run([sys.executable, "-m", "stallscope", "analyze", str(big), "--state", str(tmp_path / "state"),
                                "--out", str(tmp_path / "out")], env=dict(os.environ, PYTHONPATH=str(SRC)),
                               capture_output=True, text=True, timeout=120, preexec_fn=limit)
    assert completed.returncode == 2, completed.stderr
    assert "Traceback" not in completed.stderr and len(completed.stderr.strip().splitlines()) == 1
    assert "state" in completed.stderr and "free space" in completed.stderr
