"""Reading files: chunk boundaries, line counts, compression, rotation order, odd bytes."""

import gzip
import shutil
import subprocess

import pytest

from stallscope.engine import InputError, analyze, scan
from stallscope.engine.families import prime_rl
from stallscope.engine.inputs import discover

from .seedlog import SEED, render

MESSAGES = [line for name in ("weights_normal", "ckpt_normal", "gen_normal", "rollout_good") for line in SEED[name]]


def noisy_log(repeat=50):
    """Seed lines hidden among ordinary lines, as a real orchestrator log."""
    filler = [f'HTTP Request: POST http://127.0.0.1:8000/v1/chat/completions "HTTP/1.1 200 OK" #{i}' for i in range(7)]
    messages = []
    for index in range(repeat):
        messages += filler + [line.replace("abc123", f"abc{index:03d}") for line in MESSAGES]
    return render(messages), messages


def scan_bytes(tmp_path, data):
    path = tmp_path / "x.log"
    path.write_bytes(data)
    events = []
    counts = scan.scan_file(str(path), events.append)
    return counts, events


@pytest.mark.parametrize("chunk", [7, 64, 1000, 8 << 20])
def test_chunk_size_changes_nothing(tmp_path, monkeypatch, chunk):
    monkeypatch.setattr(scan, "CHUNK_BYTES", chunk)
    data, messages = noisy_log()
    counts, events = scan_bytes(tmp_path, data)
    assert counts["lines"] == data.count(b"\n") == len(messages)
    assert counts["recognised"] == len(events) == 50 * len(MESSAGES)
    lines = data.split(b"\n")
    for event in events:  # line numbers point at the line that produced the event
        assert event["event"].encode() in lines[event["line"] - 1] or event["event"] == "rollout"


def test_truncated_last_line_is_a_line_and_still_parsed(tmp_path):
    counts, events = scan_bytes(tmp_path, b"noise\n[ckpt] wait.done target_step=1 wait_ms=12.5")
    assert counts["lines"] == 2
    assert [(e["event"], e["wait_ms"], e["line"]) for e in events] == [("wait.done", 12.5, 2)]


def test_overlong_line_is_skipped_and_counted(tmp_path, monkeypatch):
    monkeypatch.setattr(scan, "CHUNK_BYTES", 4096)
    monkeypatch.setattr(scan, "MAX_LINE", 10_000)
    data = b"[gen] batch.start inflight=1\n" + b"x" * 50_000 + b"[ckpt] wait.done wait_ms=1\n[ckpt] wait.done wait_ms=2\n"
    counts, events = scan_bytes(tmp_path, data)
    assert (counts["lines"], counts["overlong_lines"]) == (3, 1)
    assert [(e["event"], e["line"]) for e in events] == [("batch.start", 1), ("wait.done", 3)]


def test_invalid_utf8_and_nul_bytes_do_not_hide_events(tmp_path):
    data = b"\xff\xfe\x00garbage\n\x80[ckpt] wait.done target_step=1 wait_ms=7 \xc3\n[ckpt] wait.done wait_ms=8\xc3\n"
    counts, events = scan_bytes(tmp_path, data)
    assert counts["binary"] is True
    assert [e["wait_ms"] for e in events] == [7.0]
    assert counts["malformed"] == 1  # a number glued to a broken byte is not guessed at


def test_gzip_and_zstd_logs_are_read(tmp_path):
    data, messages = noisy_log(5)
    (tmp_path / "a").mkdir()
    with gzip.open(tmp_path / "a" / "orchestrator.log.1.gz", "wb") as handle:
        handle.write(data)
    report = analyze([tmp_path / "a"])
    assert report["inputs"][0]["recognised"] == 5 * len(MESSAGES)
    if shutil.which("zstd"):
        (tmp_path / "b").mkdir()
        (tmp_path / "b" / "orchestrator.log").write_bytes(data)
        subprocess.run(["zstd", "-q", "--rm", str(tmp_path / "b" / "orchestrator.log")], check=True)
        report = analyze([tmp_path / "b"])
        assert report["inputs"][0]["path"].endswith(".log.zst")
        assert report["inputs"][0]["lines"] == len(messages)


def test_corrupt_gzip_names_the_file(tmp_path):
    data, _ = noisy_log(20)
    (tmp_path / "x.log.gz").write_bytes(gzip.compress(data)[:300])
    with pytest.raises(InputError, match=r"x\.log\.gz: cannot decompress"):
        analyze([tmp_path])


def test_discovery_patterns_and_rotation_order(tmp_path):
    for name in ("orchestrator.log", "orchestrator.log.1", "orchestrator.log.2.gz", "inference.stdout", "notes.txt",
                 "report.json", "logs/trainer/rank_0.log"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"")
    names = [f.path[len(str(tmp_path)) + 1:] for f in discover([tmp_path])]
    assert names == ["inference.stdout", "orchestrator.log.2.gz", "orchestrator.log.1", "orchestrator.log", "logs/trainer/rank_0.log"]


def test_same_file_given_twice_is_read_once(tmp_path):
    data, _ = noisy_log(2)
    (tmp_path / "o.log").write_bytes(data)
    report = analyze([tmp_path, tmp_path / "o.log"])
    assert len(report["inputs"]) == 1
    assert report["updates"]["duplicate_trace_ids"] == 0


def test_plain_and_careful_paths_give_the_same_events(tmp_path):
    # One non-ASCII byte on an ordinary line sends the chunk down the careful (per-line) path.
    data, _ = noisy_log(20)
    _, plain = scan_bytes(tmp_path, data)
    _, careful = scan_bytes(tmp_path, data.replace(b"#3", "#3 é".encode(), 1))
    assert plain == careful and len(plain) == 20 * len(MESSAGES)


def test_first_family_with_an_event_on_a_line_wins(tmp_path):
    class Echo:
        """A second family whose events are the prime-rl line's events, renamed: it must lose every line."""

        NAME, TAGS, EVENT = "echo", (b"[gen]",), prime_rl.EVENT

        @staticmethod
        def event(match):
            found = prime_rl.event(match)
            return found and dict(found, event="echo")

    path = tmp_path / "x.log"
    path.write_bytes(b"[gen] batch.start inflight=1\n[ckpt] wait.done wait_ms=x\nnoise\n[gen] batch.done dur_ms=5\n")
    events = []
    counts = scan.scan_file(str(path), events.append, families=[prime_rl, Echo])
    assert [(e["family"], e["event"], e["line"]) for e in events] == [("prime-rl", "batch.start", 1), ("prime-rl", "batch.done", 4)]
    assert (counts["recognised"], counts["malformed"]) == (2, 1)
    events.clear()
    scan.scan_file(str(path), events.append, families=[Echo, prime_rl])
    assert [e["family"] for e in events] == ["echo", "echo"]
