"""A real Ray cluster on this machine for tests: `ray start --head --block` as the profile starts it,
every port pinned, a small object store and no dashboard, logs and Ray's temp dir in the run dir."""

from __future__ import annotations

import os
import random
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src"
RAY = Path(sys.executable).with_name("ray")
PORT_NAMES = ("port", "object-manager-port", "node-manager-port", "dashboard-port", "dashboard-agent-listen-port",
              "dashboard-agent-grpc-port", "runtime-env-agent-port", "metrics-export-port")
WORKER_PORTS = 40
# Below Linux's ephemeral range (32768-60999), so outgoing connections do not take them meanwhile.
PORT_RANGE = (12000, 32000 - len(PORT_NAMES) - WORKER_PORTS)
READY = "Ray runtime started."


def environment() -> dict:
    # No drain on SIGTERM: the head waits 30 s for a drain that never completes otherwise.
    return dict(os.environ, PYTHONPATH=str(SRC), PYTHONUNBUFFERED="1", RAY_GRACEFUL_SHUTDOWN_DRAIN_TIMEOUT_S="0",
                RAY_DEDUP_LOGS="0", RAY_COLOR_PREFIX="0")


def ports_free(base: int, count: int) -> bool:
    """Whether `count` ports from `base` can be bound on every interface (Ray's servers listen on all)."""
    for port in range(base, base + count):
        with socket.socket() as probe:
            try:
                probe.bind(("0.0.0.0", port))
            except OSError:
                return False
    return True


class RayHead:
    """`ray start --head --block` on this host; the job's address is 127.0.0.1:<port>."""

    def __init__(self, run_dir: Path, num_cpus: int = 4, object_store_mb: int = 80):
        self.run_dir = run_dir
        self.logs = run_dir / "logs"
        self.logs.mkdir(parents=True, exist_ok=True)
        self.num_cpus = num_cpus
        self.object_store_mb = object_store_mb
        self.proc: subprocess.Popen | None = None
        self.ports: dict[str, int] = {}

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.ports['port']}"

    def argv(self, base: int) -> list[str]:
        self.ports = {name: base + offset for offset, name in enumerate(PORT_NAMES)}
        workers = base + len(PORT_NAMES)
        return [str(RAY), "start", "--head", "--block", "--disable-usage-stats", "--include-dashboard", "false",
                *[arg for name, port in self.ports.items() for arg in (f"--{name}", str(port))],
                "--min-worker-port", str(workers), "--max-worker-port", str(workers + WORKER_PORTS - 1),
                "--num-cpus", str(self.num_cpus), "--object-store-memory", str(self.object_store_mb * 1024 * 1024),
                "--temp-dir", str(self.run_dir / "ray")]

    def start(self, attempts: int = 4, timeout: float = 120) -> "RayHead":
        """Start on a block of free ports; another block if Ray could not bind one (taken meanwhile)."""
        log_path = self.logs / "ray_head.log"
        for _ in range(attempts):
            base = random.randrange(*PORT_RANGE)
            if not ports_free(base, len(PORT_NAMES) + WORKER_PORTS):
                continue
            with open(log_path, "ab") as out:
                self.proc = subprocess.Popen(self.argv(base), env=environment(), stdout=out, stderr=subprocess.STDOUT,
                                             start_new_session=True, cwd=self.run_dir)
            end = time.monotonic() + timeout
            while time.monotonic() < end and self.proc.poll() is None:
                if READY in log_path.read_text(errors="replace"):
                    return self
                time.sleep(0.5)
            self.stop()
        raise AssertionError(f"the Ray head did not start in {attempts} attempts:\n"
                             f"{log_path.read_text(errors='replace')[-3000:]}")

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()

    def leftover_processes(self) -> list[str]:
        """Ray processes still running with this cluster's temp dir on their command line."""
        return processes_mentioning(str(self.run_dir / "ray"))


def processes_mentioning(*markers: str) -> list[str]:
    """`PID COMMAND LINE` (shortened) of the running processes whose command line contains a marker."""
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        if cmdline.parent.name == str(os.getpid()):
            continue
        try:
            text = cmdline.read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if any(marker in text for marker in markers):
            found.append(f"{cmdline.parent.name} {text[:200]}")
    return found


def run_job(head: RayHead, name: str, *args, timeout: float = 300) -> tuple[subprocess.CompletedProcess, str]:
    """`stallscope-sim batch-job` against the head; returns the process and its log (stdout + stderr), also
    kept as the head's logs/<name>.log."""
    argv = [sys.executable, "-m", "stallscope.sim", "batch-job", "--address", head.address, *map(str, args)]
    proc = subprocess.run(argv, env=environment(), capture_output=True, text=True, timeout=timeout, cwd=head.run_dir)
    log = proc.stdout + proc.stderr
    (head.logs / f"{name}.log").write_text(log)
    return proc, log
