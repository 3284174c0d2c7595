"""A real Dask cluster on this machine for tests: `dask scheduler` and `dask worker` processes (as the
profile starts them) on loopback, and the calibration job, each logging to a file."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from stallscope.sim.runner import free_port

SRC = Path(__file__).resolve().parents[2] / "src"
PRELOAD = "stallscope.sim.calibration.worker_logging"

# The calibration's lines, exactly (docs/dask.md), after the worker log format's prefix.
PREFIX = r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} INFO stallscope\.calibration: "
SIM_LINE = re.compile(PREFIX + r"SIM_TIMING: param_id=(?P<param_id>[0-9a-f]{8}) seed=(?P<seed>\d+) "
                      r"duration_ms=(?P<duration_ms>\d+\.\d) worker=(?P<worker>tcp://[\d.]+:\d+)$", re.M)
AGG_LINE = re.compile(PREFIX + r"AGG_TIMING: run_id=(?P<run_id>\S+) param_id=(?P<param_id>[0-9a-f]{8}) "
                      r"target=(?P<target>\w+) n_sim_returns=(?P<n_sim_returns>\d+) n_outputs=(?P<n_outputs>\d+) "
                      r"total_inline_mb=(?P<total_inline_mb>\d+\.\d\d) max_single_kb=(?P<max_single_kb>\d+\.\d) "
                      r"duration_ms=(?P<duration_ms>\d+\.\d) worker=(?P<worker>tcp://[\d.]+:\d+)$", re.M)
STARTED = re.compile(r"Start worker at:\s+(tcp://[\d.]+:\d+)")



def environment() -> dict:
    return dict(os.environ, PYTHONPATH=str(SRC), PYTHONUNBUFFERED="1")


def wait_healthy(url: str, proc: subprocess.Popen, log: Path, timeout: float = 60) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise AssertionError(f"exited with {proc.returncode}:\n{log.read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise AssertionError(f"{url} not healthy after {timeout} s:\n{log.read_text()[-2000:]}")


def records(pattern: re.Pattern, text: str) -> list[dict]:
    return [match.groupdict() for match in pattern.finditer(text)]


class Cluster:
    """A scheduler and one `dask worker --nworkers N` process on 127.0.0.1, logs in `run_dir/logs`."""

    def __init__(self, run_dir: Path, nworkers: int = 2, memory_limit: str = "1GiB"):
        self.run_dir = run_dir
        self.logs = run_dir / "logs"
        self.logs.mkdir(parents=True, exist_ok=True)
        self.nworkers = nworkers
        self.memory_limit = memory_limit
        self.procs: list[subprocess.Popen] = []
        self.address = ""

    def _spawn(self, name: str, argv: list[str], env: dict | None = None) -> subprocess.Popen:
        with open(self.logs / f"{name}.log", "ab") as out:
            proc = subprocess.Popen(argv, env=env or environment(), stdout=out, stderr=subprocess.STDOUT,
                                    start_new_session=True, cwd=self.run_dir)
        self.procs.append(proc)
        return proc

    def start(self) -> "Cluster":
        port, dashboard = free_port(), free_port()
        self.address = f"tcp://127.0.0.1:{port}"
        scheduler = self._spawn("scheduler", [sys.executable, "-m", "distributed.cli.dask_scheduler", "--host",
                                              "127.0.0.1", "--port", str(port), "--dashboard-address",
                                              f"127.0.0.1:{dashboard}"])
        wait_healthy(f"http://127.0.0.1:{dashboard}/health", scheduler, self.logs / "scheduler.log")
        self._spawn("workers", [sys.executable, "-m", "distributed.cli.dask_worker", self.address, "--host", "127.0.0.1",
                                "--nworkers", str(self.nworkers), "--nthreads", "1", "--memory-limit", self.memory_limit,
                                "--resources", "aggregation=1", "--no-dashboard", "--local-directory",
                                str(self.run_dir / "dask-worker-space"), "--preload", PRELOAD])
        return self

    def calibrate(self, *args, perf_report: bool = False, timeout: float = 120) -> subprocess.CompletedProcess:
        """Runs the calibration job to its end; its output is appended to logs/calibration.log."""
        env = dict(environment(), ENABLE_PERF_REPORT="1" if perf_report else "0")
        argv = [sys.executable, "-m", "stallscope.sim", "calibrate", "--scheduler", self.address,
                "--workers", str(self.nworkers), "--perf-report-dir", str(self.logs), *map(str, args)]
        proc = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=timeout, cwd=self.run_dir)
        with open(self.logs / "calibration.log", "a", encoding="utf-8") as log:
            log.write(proc.stdout + proc.stderr)
        return proc

    def worker_log(self) -> str:
        return (self.logs / "workers.log").read_text()

    def stop(self) -> None:
        for proc in reversed(self.procs):
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in reversed(self.procs):
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
