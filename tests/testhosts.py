"""Test hosts for pytest: a thin layer over scripts/testhosts, the same script molecule uses.

A `TestHostsFactory` (the session fixture `testhosts` in conftest.py) creates sets of real sshd
hosts in network namespaces and destroys every set it created when the session ends.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "scripts" / "testhosts"


@dataclass(frozen=True)
class TestHost:
    name: str
    address: str
    port: int
    user: str
    home: str
    netns: str
    controller_address: str


@dataclass(frozen=True)
class HostSet:
    prefix: str
    state_dir: Path
    inventory: Path
    known_hosts: Path
    identity_file: Path
    hosts: list[TestHost]

    def ssh_argv(self, host: TestHost, command: str, known_hosts: Path | None = None) -> list[str]:
        """ssh with the set's key and strict host key checking against its known_hosts."""
        return [
            "ssh", "-i", str(self.identity_file), "-p", str(host.port),
            "-o", f"UserKnownHostsFile={known_hosts or self.known_hosts}",
            "-o", "StrictHostKeyChecking=yes", "-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes",
            "-o", "ConnectTimeout=10", f"{host.user}@{host.address}", command,
        ]


def skip_reason() -> str | None:
    """Why test hosts cannot be made here, or None."""
    if os.geteuid() != 0:
        return "test hosts need root (network namespaces, users, sudoers); CI runs as root"
    missing = [tool for tool in ("ip", "ssh", "ssh-keygen", "sudo", "visudo") if shutil.which(tool) is None]
    missing += [path for path in ("/usr/sbin/sshd",) if not Path(path).exists()]
    if missing:
        return f"missing {', '.join(missing)}: run scripts/install-system-deps.sh"
    return None


def run_script(*args: str, base_dir: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "STALLSCOPE_TESTHOSTS_DIR": str(base_dir)}
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, env=env)


def load(state_dir: Path) -> HostSet:
    state = json.loads((state_dir / "state.json").read_text())
    hosts = [TestHost(**{field: host[field] for field in TestHost.__dataclass_fields__}) for host in state["hosts"]]
    return HostSet(prefix=state["prefix"], state_dir=state_dir, inventory=Path(state["inventory"]),
                   known_hosts=Path(state["known_hosts"]), identity_file=Path(state["identity_file"]),
                   hosts=hosts)


class TestHostsFactory:
    """Creates host sets with prefixes unique to this process; destroys them all at the end."""

    __test__ = False  # not a test class, despite the name

    def __init__(self, base_dir: Path):
        self.base_dir = base_dir
        self.prefixes: list[str] = []

    def create(self, count: int) -> HostSet:
        # Prefixes must be unique machine-wide (other test sessions may run at the same time).
        prefix = f"t{os.getpid() % 100000:05d}{len(self.prefixes):02d}"
        self.prefixes.append(prefix)
        proc = run_script("create", str(count), "--prefix", prefix, base_dir=self.base_dir)
        if proc.returncode != 0:
            raise RuntimeError(proc.stderr.strip())
        return load(self.base_dir / prefix)

    def destroy(self, prefix: str) -> None:
        proc = run_script("destroy", "--prefix", prefix, base_dir=self.base_dir)
        if proc.returncode != 0:
            raise RuntimeError(proc.stderr.strip())

    def destroy_all(self) -> None:
        for prefix in reversed(self.prefixes):
            self.destroy(prefix)
