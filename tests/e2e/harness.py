"""End-to-end harness: the project's playbooks, unchanged, driven through ansible-runner against real
sshd test hosts (scripts/testhosts) that install and run the simulated stack from a checkout.

A `Deployment` is one test's view of a host set: which hosts play which component, a fresh
controller runs dir, and the variables the roles need on hosts that have no index and cannot read
the controller's files. `play()` writes the inventory and runs one playbook; every runner event is
logged (`pytest -o log_cli=true --log-cli-level=INFO` shows the progress) and kept for assertions.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import ansible_runner
import testinfra
import yaml

from tests.playbook_events import messages
from tests.testhosts import HostSet, TestHost

REPO = Path(__file__).resolve().parents[2]
PLAYBOOKS = REPO / "playbooks"
GROUPS = ("inference", "trainer", "orchestrator")
# A private tmux server on the test hosts, so the teardown can end exactly what the tests started.
TMUX_SOCKET = "stallscope-e2e"
# Wheels for the test hosts' /usr/bin/python3, one directory per set of extras; reused across
# sessions (rebuilt when pyproject changes).
WHEELHOUSES = Path.home() / ".cache" / "stallscope"
TARGET_PYTHON = "3.11"
# A playbook that runs longer than this is stuck (a run here lasts well under a minute).
PLAY_TIMEOUT_S = 600

log = logging.getLogger("e2e")


def requirements(extras: tuple[str, ...]) -> list[str]:
    """What `pip install '.[extras]'` needs offline: the project's runtime dependencies, those of
    the extras and its build backend (pip builds the project from source on the host), read from
    pyproject.toml."""
    project = tomllib.loads((REPO / "pyproject.toml").read_text())
    optional = project["project"]["optional-dependencies"]
    return sorted({*project["project"]["dependencies"], *(dep for extra in extras for dep in optional[extra]),
                   *project["build-system"]["requires"], "wheel"})


def build_wheelhouse(extras: tuple[str, ...] = ("sim",)) -> Path:
    """Download the wheels once (cp311 binaries, this machine's platform); later sessions reuse them."""
    needed = requirements(extras)
    wheelhouse = WHEELHOUSES / f"{'-'.join(extras)}-wheelhouse-cp311"
    stamp = wheelhouse / "requirements.txt"
    if stamp.is_file() and stamp.read_text().split() == needed:
        return wheelhouse
    wheelhouse.parent.mkdir(parents=True, exist_ok=True)
    partial = Path(tempfile.mkdtemp(prefix=wheelhouse.name + ".", dir=wheelhouse.parent))
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "download", "--quiet", "--disable-pip-version-check",
         "--dest", str(partial), "--only-binary=:all:", "--python-version", TARGET_PYTHON,
         "--implementation", "cp", *needed], capture_output=True, text=True)
    if proc.returncode != 0:
        shutil.rmtree(partial)
        raise RuntimeError(f"pip download of {' '.join(needed)} failed: {proc.stderr.strip()[-800:]}")
    (partial / "requirements.txt").write_text("\n".join(needed) + "\n")
    shutil.rmtree(wheelhouse, ignore_errors=True)
    os.replace(partial, wheelhouse)
    return wheelhouse


def build_uv_wheelhouse() -> Path:
    """The uv wheel of the version this interpreter's uv is (the one that makes the test's uv.lock),
    for the provision role on hosts without an index; the directory molecule's provision scenario
    uses too."""
    version = subprocess.run([str(Path(sys.executable).parent / "uv"), "--version"], check=True,
                             capture_output=True, text=True).stdout.split()[1]
    wheelhouse = WHEELHOUSES / "uv-wheelhouse"
    if not list(wheelhouse.glob(f"uv-{version}-*.whl")):
        proc = subprocess.run(
            [sys.executable, "-m", "pip", "download", "--quiet", "--disable-pip-version-check", "--no-deps",
             "--only-binary=:all:", "--dest", str(wheelhouse), f"uv=={version}"], capture_output=True, text=True)
        if proc.returncode != 0:
            raise RuntimeError(f"pip download of uv=={version} failed: {proc.stderr.strip()[-800:]}")
    return wheelhouse


def make_bare_repo(parent: Path) -> Path:
    """A bare clone of the code under test (the working tree's tracked files, committed or not) with
    it on branch main, for the checkout role to clone over file://."""
    def git(*args: str) -> str:
        return subprocess.run(["git", "-C", str(REPO), *args], check=True, capture_output=True,
                              text=True).stdout.strip()
    # `stash create` makes a commit of the uncommitted changes without touching the worktree.
    commit = git("stash", "create") or git("rev-parse", "HEAD")
    bare = parent / "stallscope.git"
    subprocess.run(["git", "init", "--quiet", "--bare", "--initial-branch=main", str(bare)], check=True)
    git("push", "--quiet", str(bare), f"{commit}:refs/heads/main")
    return bare


def trust_repo(host: TestHost, bare_repo: Path) -> None:
    """Let the test user's git read the root-owned fixture repository (safe.directory), as
    molecule/checkout/prepare.yml does; the roles themselves stay as users run them."""
    gitconfig = Path(host.home) / ".gitconfig"
    gitconfig.write_text(f"[safe]\n\tdirectory = {bare_repo}\n")
    shutil.chown(gitconfig, host.user, host.user)


@dataclass
class Result:
    """One playbook run: its exit code, the events it emitted and the text of its messages."""

    playbook: str
    rc: int
    status: str
    events: list[dict]

    @property
    def stats(self) -> dict:
        """The playbook_on_stats event's counts: {'ok': {host: n}, 'changed': ..., 'dark': ...}."""
        for event in reversed(self.events):
            if event.get("event") == "playbook_on_stats":
                return event["event_data"]
        return {}

    @property
    def messages(self) -> list[str]:
        """Every task result's msg, in order."""
        return messages(self.events)

    @property
    def text(self) -> str:
        return " ".join(" ".join(self.messages).split())

    def host_events(self, event_name: str) -> dict[str, dict]:
        return {event["event_data"]["host"]: event["event_data"] for event in self.events
                if event.get("event") == event_name}

    def summary(self) -> str:
        """For assertion messages: the tail of what the playbook said."""
        return f"{self.playbook} rc={self.rc} status={self.status}: {self.text[-3000:]}"


@dataclass
class Deployment:
    """One test's placement of the components on a host set, and its own controller runs dir."""

    host_set: HostSet
    placement: dict[str, list[TestHost]]   # group -> hosts
    workdir: Path                          # controller side: runs dir, inventory, runner artifacts
    repo_url: str
    wheelhouse: Path
    profile_vars: dict = field(default_factory=dict)
    tmux_socket: str = TMUX_SOCKET                     # the tmux server the runs use on the hosts
    plays: int = 0
    run_ids: list[str] = field(default_factory=list)   # every run id launched, for the teardown
    stopped: set[str] = field(default_factory=set)     # run ids stop_experiment.yml has stopped

    @property
    def runs_dir(self) -> Path:
        return self.workdir / "runs"

    @property
    def hosts(self) -> list[TestHost]:
        return list({host.name: host for hosts in self.placement.values() for host in hosts}.values())

    def host_vars(self, host: TestHost) -> dict:
        checkout = f"{host.home}/stallscope-src"
        return {
            "ansible_host": host.address, "ansible_port": host.port, "ansible_user": host.user,
            # Absolute, in the user's home: the profile's sim_python is used verbatim.
            "checkout_dest": checkout,
            "stallscope_profile_vars": {"sim_python": f"{checkout}/.venv/bin/python", "sim_pythonpath": "",
                                        **self.profile_vars},
        }

    def inventory(self) -> dict:
        base = yaml.safe_load(self.host_set.inventory.read_text())["all"]["vars"]
        hosts = {host.name: self.host_vars(host) for host in self.hosts}
        return {"all": {
            "hosts": hosts,
            "vars": {**base,
                     "stallscope_runs_dir": str(self.runs_dir),
                     "launch_tmux_socket_name": self.tmux_socket,
                     # provision checks the packages and lays out the run root; uv is for prime-rl,
                     # and the open-files drop-in would be a file in this machine's /etc.
                     "provision_install_uv": False,
                     "provision_install_packages": False,
                     "provision_nofile_limit": 0,
                     "checkout_repo_url": self.repo_url,
                     "checkout_branch": "main",
                     "checkout_lock_files": ["pyproject.toml"],
                     "checkout_wheelhouse_dir": str(self.wheelhouse),
                     "checkout_install_command": (
                         "/usr/bin/python3 -m venv .venv && "
                         ".venv/bin/pip install --quiet --disable-pip-version-check '.[sim]'")},
            "children": {group: {"hosts": {host.name: None for host in hosts}}
                         for group, hosts in self.placement.items()},
        }}

    def play(self, playbook: str, timeout: int = PLAY_TIMEOUT_S, **extravars) -> Result:
        """Runs one playbook; `timeout`: seconds after which it counts as stuck (a sweep runs several runs)."""
        self.plays += 1
        if playbook == "run_experiment.yml" and extravars.get("run_id") not in self.run_ids:
            self.run_ids.append(extravars.get("run_id"))
        self.runs_dir.mkdir(parents=True, exist_ok=True)
        inventory = self.workdir / "inventory.yml"
        inventory.write_text(yaml.safe_dump(self.inventory(), sort_keys=False))
        private = self.workdir / f"runner-{self.plays:02d}-{Path(playbook).stem}"
        private.mkdir()
        started = time.monotonic()
        log.info("%s %s", playbook, extravars)
        runner = ansible_runner.run(
            private_data_dir=str(private), project_dir=str(REPO), playbook=str(PLAYBOOKS / playbook),
            inventory=str(inventory), extravars=extravars, quiet=True, timeout=timeout,
            envvars={"ANSIBLE_CONFIG": str(REPO / "ansible.cfg")}, event_handler=log_progress)
        result = Result(playbook, runner.rc, runner.status, list(runner.events))
        log.info("%s: rc=%s in %.1f s", playbook, runner.rc, time.monotonic() - started)
        if playbook == "stop_experiment.yml" and runner.rc == 0:
            self.stopped.add(extravars.get("run_id"))
        return result

    def start(self, playbook: str, **extravars) -> subprocess.Popen:
        """Starts one playbook as its own process group, as a user's terminal runs it (so that
        interrupt() is a Ctrl-C); returns the process. Its output goes to the workdir."""
        self.plays += 1
        self.runs_dir.mkdir(parents=True, exist_ok=True)
        inventory = self.workdir / "inventory.yml"
        inventory.write_text(yaml.safe_dump(self.inventory(), sort_keys=False))
        output = open(self.workdir / f"process-{self.plays:02d}-{Path(playbook).stem}.log", "w")
        log.info("%s %s (a process of its own)", playbook, extravars)
        env = dict(os.environ, ANSIBLE_CONFIG=str(REPO / "ansible.cfg"),
                   PATH=os.pathsep.join([str(Path(sys.executable).parent), os.environ["PATH"]]))
        with output:
            return subprocess.Popen(
                [str(Path(sys.executable).parent / "ansible-playbook"), "-i", str(inventory), str(PLAYBOOKS / playbook),
                 "-e", json.dumps(extravars)], cwd=REPO, env=env, stdout=output, stderr=subprocess.STDOUT,
                start_new_session=True)

    @staticmethod
    def interrupt(process: subprocess.Popen, timeout: float = 120) -> int:
        """Ctrl-C: SIGINT to the playbook's process group; its exit code once it has ended."""
        os.killpg(process.pid, signal.SIGINT)
        return process.wait(timeout=timeout)

    def remote(self, host: TestHost):
        """testinfra's view of a test host, over OpenSSH with the set's key and strict host key
        checking against its known_hosts (testinfra's paramiko backend would accept unknown keys)."""
        return testinfra.get_host(
            f"ssh://{host.user}@{host.address}:{host.port}", ssh_identity_file=str(self.host_set.identity_file),
            controlpersist=0,  # no master connection left behind
            ssh_extra_args=f"-o UserKnownHostsFile={self.host_set.known_hosts} -o StrictHostKeyChecking=yes "
                           "-o IdentitiesOnly=yes -o BatchMode=yes")

    def teardown(self) -> list[str]:
        """Stop the runs gracefully (the playbook), then end the private tmux server on every host;
        returns what is still running on a host afterwards (nothing, when all went well)."""
        for run_id in self.run_ids:
            if run_id not in self.stopped and (self.runs_dir / run_id / "launch").is_dir():
                result = self.play("stop_experiment.yml", run_id=run_id)
                if result.rc != 0:
                    log.warning("stop of %s failed: %s", run_id, result.summary())
        real_hosts = [host for host in self.hosts if host in self.host_set.hosts]
        for host in real_hosts:
            self.remote(host).run(f"tmux -L {self.tmux_socket} kill-server")
        deadline = time.monotonic() + 10
        while True:
            leftovers = [f"{host.name}: {process.pid} {process.args}" for host in real_hosts
                         for process in self.remote(host).process.filter(user=host.user)
                         if process.comm.startswith(("python", "tmux"))]
            if not leftovers or time.monotonic() > deadline:
                return leftovers
            time.sleep(0.5)


def log_progress(event: dict) -> bool:
    """ansible-runner's event handler: one line per task start and per host result."""
    name = event.get("event", "")
    data = event.get("event_data", {})
    if name == "playbook_on_task_start":
        log.info("  TASK %s", data.get("task"))
    elif name in ("runner_on_failed", "runner_on_unreachable") and not data.get("ignore_errors"):
        log.info("    %s %s: %s", name.removeprefix("runner_on_"), data.get("host"),
                 str(data.get("res", {}).get("msg", ""))[:300])
    return True  # keep every event for the assertions
