"""`stallscope-sim all`: the three components as real subprocesses on this host, in a run dir.

    <out>/run_manifest.json          as the launch role writes it (docs/architecture.md)
    <out>/logs/<component>.log       stdout + stderr of each component
    <out>/logs/<component>.exit      its exit code, written when it ended
    <out>/output/                    the trainer's and orchestrator's shared --output-dir
"""

import datetime
import json
import os
import shlex
import signal
import socket
import subprocess
import sys
import time
from importlib import metadata
from pathlib import Path

from .errors import SimError
from .layout import ensure_writable_dir

POLL_S = 0.1
STOP_GRACE_S = 10.0
# Components enforce --timeout-s themselves; the runner allows them this much more to report it.
RUNNER_GRACE_S = 15.0
PACKAGE_ROOT = Path(__file__).resolve().parents[2]


class Stopped(Exception):
    def __init__(self, signum: int):
        self.signum = signum


def _raise_stopped(signum, frame):
    raise Stopped(signum)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def exit_code(returncode: int) -> int:
    """Popen's -N (killed by signal N) as a shell reports it: 128 + N."""
    return 128 - returncode if returncode < 0 else returncode


def last_line(log_path: Path) -> str:
    """The line that best says why a component ended: its last ERROR line, else its last line."""
    with open(log_path, "rb") as f:
        f.seek(max(0, f.seek(0, os.SEEK_END) - 8192))
        lines = [ln.strip() for ln in f.read().decode("utf-8", "replace").splitlines() if ln.strip()]
    errors = [ln for ln in lines if " ERROR " in ln]
    return (errors or lines or ["(empty log)"])[-1]


def versions() -> dict:
    found = {"python": sys.version.split()[0]}
    for package in ("starlette", "uvicorn", "httpx"):
        try:
            found[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            pass
    return found


def commands(port: int, output_dir: Path, timeout_s: float, argvs: dict) -> dict[str, list[str]]:
    base = [sys.executable, "-m", "stallscope.sim"]
    placement = {
        "inference": ["--host", "127.0.0.1", "--port", str(port)],
        "trainer": ["--output-dir", str(output_dir), "--timeout-s", str(timeout_s)],
        "orchestrator": ["--base-url", f"http://127.0.0.1:{port}", "--output-dir",
                         str(output_dir), "--timeout-s", str(timeout_s)],
    }
    return {name: base + [name] + placement[name] + argvs[name] for name in placement}


class Run:
    def __init__(self, out: Path, cmds: dict[str, list[str]]):
        self.out = out
        self.logs = out / "logs"
        self.cmds = cmds
        self.procs: dict[str, subprocess.Popen] = {}
        self.started_at: dict[str, str] = {}

    def start(self) -> None:
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(PACKAGE_ROOT), env.get("PYTHONPATH")]))
        for name, cmd in self.cmds.items():
            with open(self.logs / f"{name}.log", "ab") as log_file:
                self.procs[name] = subprocess.Popen(
                    cmd, stdout=log_file, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                    env=env)
            self.started_at[name] = datetime.datetime.now(datetime.timezone.utc).isoformat()

    def record_exit(self, name: str) -> int:
        code = exit_code(self.procs[name].returncode)
        (self.logs / f"{name}.exit").write_text(f"{code}\n")
        return code

    def stop(self, name: str) -> int:
        proc = self.procs[name]
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(STOP_GRACE_S)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        return self.record_exit(name)

    def stop_all(self) -> None:
        for name, proc in self.procs.items():
            if proc.poll() is None:
                proc.terminate()
        for name in self.procs:
            self.stop(name)

    def manifest(self, config: dict) -> dict:
        host = socket.gethostname()
        return {
            "schema_version": 1, "run_id": self.out.name, "profile": "simrl", "host": host,
            "components": [{"name": name, "host": host, "command": shlex.join(cmd),
                            "log": f"logs/{name}.log", "started_at": self.started_at[name]}
                           for name, cmd in self.cmds.items()],
            "config": {k: (str(v) if isinstance(v, Path) else v) for k, v in config.items()},
            "branch": None, "commit": None, "versions": versions(), "gpu": {},
        }

    def wait(self, deadline: float) -> str | None:
        """Until trainer and orchestrator exit 0 (None) or something fails (the reason)."""
        while True:
            for name, proc in self.procs.items():
                code = proc.poll()
                if code is None:
                    continue
                if name == "inference":
                    return (f"inference exited early with code {exit_code(code)}: "
                            f"{last_line(self.logs / 'inference.log')}")
                if code != 0:
                    return (f"{name} exited with code {exit_code(code)}: "
                            f"{last_line(self.logs / f'{name}.log')}")
            if all(self.procs[n].poll() == 0 for n in ("trainer", "orchestrator")):
                return None
            if time.monotonic() > deadline:
                return f"run did not finish within --timeout-s (see {self.logs})"
            time.sleep(POLL_S)


def run_all(out: Path, port: int, timeout_s: float, argvs: dict, config: dict) -> int:
    started = time.monotonic()
    try:
        ensure_writable_dir(out / "logs", "--out")
        output_dir = ensure_writable_dir(out / "output", "--out")
    except SimError as exc:
        print(f"stallscope-sim: error: {exc}", file=sys.stderr)
        return exc.exit_code
    run = Run(out.resolve(), commands(port or free_port(), output_dir, timeout_s, argvs))
    previous = signal.signal(signal.SIGTERM, _raise_stopped)
    try:
        run.start()
        (run.out / "run_manifest.json").write_text(json.dumps(run.manifest(config), indent=2) + "\n")
        print(f"stallscope-sim: logs in {run.logs}/ (inference.log, trainer.log, "
              f"orchestrator.log), outputs in {output_dir}/", flush=True)
        failure = run.wait(started + timeout_s + RUNNER_GRACE_S)
    except (Stopped, KeyboardInterrupt) as exc:
        signum = exc.signum if isinstance(exc, Stopped) else signal.SIGINT
        run.stop_all()
        print(f"stallscope-sim: stopped on {signal.Signals(signum).name}; logs in {run.logs}/",
              file=sys.stderr)
        return 128 + signum
    finally:
        signal.signal(signal.SIGTERM, previous)
    run.stop_all()
    if failure:
        print(f"stallscope-sim: error: {failure}", file=sys.stderr)
        return 1
    print(f"stallscope-sim: run finished in {time.monotonic() - started:.1f} s; "
          f"logs in {run.logs}/", flush=True)
    return 0
