"""Running the simulation's real processes from tests."""

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src"
LINE_PREFIX = re.compile(r"^\d\d:\d\d:\d\d +(INFO|WARNING|ERROR) ")


def sim_command(*args) -> list[str]:
    return [sys.executable, "-m", "stallscope.sim", *map(str, args)]


def sim_env() -> dict:
    return dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(SRC), os.environ.get("PYTHONPATH")])),
                PYTHONUNBUFFERED="1")


def run_sim(*args, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run(sim_command(*args), env=sim_env(), capture_output=True, text=True,
                          timeout=timeout)


def wait_for_text(path: Path, pattern: str, timeout: float = 30, alive=lambda: True) -> re.Match:
    """Poll a log file until `pattern` appears in it (fails after `timeout` or once not alive)."""
    end = time.monotonic() + timeout
    text = ""
    while time.monotonic() < end:
        text = path.read_text() if path.exists() else ""
        match = re.search(pattern, text)
        if match:
            return match
        if not alive():
            break
        time.sleep(0.05)
    raise AssertionError(f"{pattern!r} not in {path}:\n{text[-2000:]}")


class Component:
    """One sim process started in the background, its stdout+stderr in a log file."""

    def __init__(self, log: Path, *args):
        self.log = log
        with open(log, "wb") as out:
            self.proc = subprocess.Popen(sim_command(*args), env=sim_env(), stdout=out,
                                         stderr=subprocess.STDOUT)

    def text(self) -> str:
        return self.log.read_text()

    def wait_for(self, pattern: str, timeout: float = 30) -> re.Match:
        return wait_for_text(self.log, pattern, timeout, alive=lambda: self.proc.poll() is None)

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 20) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        return self.proc.wait(timeout)


