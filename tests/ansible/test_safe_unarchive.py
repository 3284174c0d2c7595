"""safe_unarchive on real archives, honest and hostile."""

from __future__ import annotations

import hashlib
import io
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from tests.module_harness import run_module


def make_tar(path: Path, members: dict[str, bytes], compression: str = "gzip", padding: int = 0) -> Path:
    """A tar of `members`, compressed, with `padding` more zero bytes after its end (as a large
    blocking factor, `tar -b`, leaves)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    raw = buffer.getvalue() + bytes(padding)
    if compression == "gzip":
        import gzip

        raw = gzip.compress(raw)
    elif compression == "zstd":
        raw = subprocess.run(["zstd", "-q", "-c"], input=raw, stdout=subprocess.PIPE, check=True).stdout
    path.write_bytes(raw)
    return path


def tar_with(path: Path, info: tarfile.TarInfo) -> Path:
    with tarfile.open(path, "w") as archive:
        archive.addfile(info, io.BytesIO(b"x" * info.size) if info.isfile() else None)
    return path


@pytest.mark.parametrize("compression", ["gzip", "zstd", "none"])
def test_unpacks_each_compression(tmp_path, compression):
    archive = make_tar(tmp_path / "a.tar", {"logs/orchestrator.log": b"line\n", "run_manifest.json": b"{}"}, compression)
    result = run_module("safe_unarchive", {"src": str(archive), "dest": str(tmp_path / "host1")})
    assert not result.get("failed"), result
    assert result["compression"] == compression
    assert result["members"] == 2 and result["bytes"] == 7
    assert (tmp_path / "host1/logs/orchestrator.log").read_bytes() == b"line\n"


def test_zstd_command_reads_padding_past_a_pipe_buffer(tmp_path, monkeypatch):
    # tarfile stops at the end-of-archive blocks; the zstd process still writing the padding after
    # them must not be killed by SIGPIPE and reported as a failed decompression. (The zstandard
    # package, where installed, is a stream reader in this process: no pipe.)
    monkeypatch.setitem(sys.modules, "zstandard", None)  # `import zstandard` fails: the command is used
    archive = make_tar(tmp_path / "a.tar.zst", {"logs/orchestrator.log": b"line\n"}, "zstd", padding=4 << 20)
    result = run_module("safe_unarchive", {"src": str(archive), "dest": str(tmp_path / "host1")})
    assert not result.get("failed"), result
    assert (tmp_path / "host1/logs/orchestrator.log").read_bytes() == b"line\n"


@pytest.mark.parametrize(
    "name, reason",
    [("../escape.log", "climbs out"), ("/etc/escape.log", "absolute"), ("logs/../../escape.log", "climbs out")],
)
def test_refuses_paths_outside_the_target(tmp_path, name, reason):
    archive = make_tar(tmp_path / "evil.tar.gz", {"logs/ok.log": b"ok", name: b"evil"})
    (tmp_path / "out").mkdir()
    result = run_module("safe_unarchive", {"src": str(archive), "dest": str(tmp_path / "out" / "host1")})
    assert result["failed"] and reason in result["msg"]
    assert not (tmp_path / "out" / "host1").exists(), "nothing may be written when a member is refused"
    assert not (tmp_path / "escape.log").exists()
    assert list((tmp_path / "out").iterdir()) == []


@pytest.mark.parametrize("kind", [tarfile.SYMTYPE, tarfile.LNKTYPE, tarfile.CHRTYPE, tarfile.FIFOTYPE])
def test_refuses_links_and_devices(tmp_path, kind):
    info = tarfile.TarInfo("logs/link.log")
    info.type = kind
    info.linkname = "/etc/passwd"
    archive = tar_with(tmp_path / "links.tar", info)
    result = run_module("safe_unarchive", {"src": str(archive), "dest": str(tmp_path / "host1")})
    assert result["failed"] and "not a regular file" in result["msg"]
    assert not (tmp_path / "host1").exists()


def test_checksum_mismatch_fails_before_unpacking(tmp_path):
    archive = make_tar(tmp_path / "a.tar.gz", {"logs/x.log": b"x"})
    result = run_module("safe_unarchive", {"src": str(archive), "dest": str(tmp_path / "h"), "sha256": "0" * 64})
    assert result["failed"] and "checksum mismatch" in result["msg"]
    assert not (tmp_path / "h").exists()


def test_existing_collection_is_kept_as_a_snapshot(tmp_path):
    dest = tmp_path / "run" / "host1"
    dest.mkdir(parents=True)
    (dest / "old.log").write_text("earlier collection")
    archive = make_tar(tmp_path / "a.tar.gz", {"logs/new.log": b"new"})
    digest = hashlib.sha256(archive.read_bytes()).hexdigest()
    result = run_module("safe_unarchive", {"src": str(archive), "dest": str(dest), "sha256": digest})
    assert result["changed"] and not result.get("failed"), result
    snapshot = Path(result["snapshot"])
    assert snapshot.parent.parent == tmp_path / "run" / "snapshots"
    assert (snapshot / "old.log").read_text() == "earlier collection"
    assert (dest / "logs/new.log").read_text() == "new" and not (dest / "old.log").exists()


def test_replace_and_fail_modes(tmp_path):
    dest = tmp_path / "host1"
    dest.mkdir()
    (dest / "old.log").write_text("old")
    archive = make_tar(tmp_path / "a.tar.gz", {"new.log": b"new"})
    refused = run_module("safe_unarchive", {"src": str(archive), "dest": str(dest), "on_existing": "fail"})
    assert refused["failed"] and "already exists" in refused["msg"]
    assert (dest / "old.log").exists()
    replaced = run_module("safe_unarchive", {"src": str(archive), "dest": str(dest), "on_existing": "replace"})
    assert replaced["changed"] and replaced["snapshot"] is None
    assert sorted(p.name for p in dest.iterdir()) == ["new.log"]


def test_check_mode_writes_nothing(tmp_path):
    archive = make_tar(tmp_path / "a.tar.gz", {"logs/x.log": b"x"})
    result = run_module("safe_unarchive", {"src": str(archive), "dest": str(tmp_path / "h")}, check_mode=True)
    assert result["changed"] and result["members"] == 1
    assert not (tmp_path / "h").exists()


def test_truncated_archive_leaves_no_partial_directory(tmp_path):
    archive = make_tar(tmp_path / "a.tar.gz", {f"logs/{i}.log": os.urandom(5000) for i in range(20)})
    archive.write_bytes(archive.read_bytes()[:50000])
    result = run_module("safe_unarchive", {"src": str(archive), "dest": str(tmp_path / "h")})
    assert result["failed"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.tar.gz"]
