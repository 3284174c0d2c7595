"""playbooks/launch.yml, status.yml and stop_experiment.yml on this machine (connection local), driven
through ansible-runner, with a real workload on a private tmux server."""

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from tests.playbook_events import messages
from stallscope.sim.runner import free_port

ansible_runner = pytest.importorskip("ansible_runner")

REPO = Path(__file__).resolve().parents[1]
FAKE_NVIDIA_SMI = REPO / "tests" / "fixtures" / "nvidia-smi"
SECRET = "tok-7f3a9c1e5b2d4068a1c3e5f7091b2d4f"

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")]

# A server, a component that ends by itself with exit code 3, and one that runs until stopped.
PROFILE = {
    "schema_version": 1,
    "name": "crashy",
    "description": "A server and two loops, one of which fails.",
    "vars": {"port": 0, "steps": 2},
    "components": [
        {"name": "inference", "group": "inference", "start_order": 1,
         "command": "exec python3 -u -m http.server --bind {{ component.bind_address }} {{ port }}",
         "chdir": "{{ run.output_dir }}",
         "listen": {"port": "{{ port }}", "clients": ["orchestrator"]},
         "health": {"url": "http://{{ component.address }}:{{ port }}/", "timeout": 30},
         "stop": {"timeout": 5}},
        {"name": "trainer", "group": "trainer", "start_order": 2,
         "command": 'for i in $(seq {{ steps }}); do echo "step $i"; done; exit 3'},
        {"name": "orchestrator", "group": "orchestrator", "start_order": 3,
         "command": "while :; do echo polling {{ endpoints.inference.url }}; sleep 0.5; done",
         "secrets": ["STALLSCOPE_TEST_TOKEN"], "stop": {"timeout": 5}},
    ],
    "analysis": {"steps": "{{ steps }}"},
    # As prime_rl reads async_level from the orchestrator's config file when no flag passes it.
    "analysis_from_config": {"level": {"component": "orchestrator", "toml": "{{ orchestrator_config }}",
                                       "keys": ["level", "orchestrator.level"]}},
}



class Controller:
    """One private setup: inventory, profiles dir, run roots, tmux server."""

    def __init__(self, tmp_path):
        self.tmp = tmp_path
        self.runs = tmp_path / "controller-runs"
        self.run_root = tmp_path / "host-runs"
        self.socket = f"stallscope-pytest-{os.getpid()}"
        (tmp_path / "tmux").mkdir()
        profiles = tmp_path / "profiles"
        profiles.mkdir()
        config = tmp_path / "orchestrator.toml"
        config.write_text("[orchestrator]\nlevel = 4\n")
        profile = dict(PROFILE, vars={"port": free_port(), "steps": 2, "orchestrator_config": str(config)})
        (profiles / "crashy.yml").write_text(yaml.safe_dump(profile))
        inventory = {"all": {
            "hosts": {"localhost": {"ansible_connection": "local",
                                    "ansible_python_interpreter": sys.executable}},
            "children": {group: {"hosts": {"localhost": None}}
                         for group in ("inference", "trainer", "orchestrator")}}}
        self.inventory = tmp_path / "inventory.yml"
        self.inventory.write_text(yaml.safe_dump(inventory))
        self.env = {"ANSIBLE_CONFIG": str(REPO / "ansible.cfg"),
                    "TMUX_TMPDIR": str(tmp_path / "tmux")}
        self.common = {"launch_profile": "crashy", "launch_profiles_dir": str(profiles),
                       "launch_run_root": str(self.run_root),
                       "launch_controller_runs_dir": str(self.runs),
                       "run_lookup_runs_dir": str(self.runs),
                       # status.yml keeps the hosts' analysis states there (not in the checkout's runs/).
                       "stallscope_runs_dir": str(self.runs),
                       "launch_tmux_socket_name": self.socket,
                       "launch_secrets": {"STALLSCOPE_TEST_TOKEN": SECRET}}

    def play(self, playbook, **extravars):
        """Run a playbook; return the runner and the messages of its task results."""
        private = self.tmp / "runner"
        private.mkdir(exist_ok=True)
        runner = ansible_runner.run(
            private_data_dir=str(private), project_dir=str(REPO),
            playbook=str(REPO / "playbooks" / playbook), inventory=str(self.inventory),
            extravars={**self.common, **extravars}, envvars=self.env, quiet=True)
        return runner, "\n".join(messages(runner.events))


    def tmux(self, *args):
        return subprocess.run(["tmux", "-L", self.socket, *args], capture_output=True, text=True,
                              env={**os.environ, **self.env})

    def close(self):
        self.tmux("kill-server")


@pytest.fixture
def controller(tmp_path):
    setup = Controller(tmp_path)
    yield setup
    setup.close()


def changed_count(runner):
    return sum(runner.stats["changed"].values()) if runner.stats else None


def test_launch_status_relaunch_guard_and_stop(controller):
    runner, output = controller.play("launch.yml", run_id="first.run")
    assert runner.rc == 0, output[-3000:]
    run_dir = controller.run_root / "first.run"
    manifest = json.loads((run_dir / "run_manifest.json").read_text())
    assert [c["name"] for c in manifest["components"]] == ["inference", "trainer", "orchestrator"]
    assert manifest["config"] == {"steps": 2, "level": 4}
    assert manifest["components"][2]["secrets"] == ["STALLSCOPE_TEST_TOKEN"]
    assert "attach -t stallscope-first_run" in output
    assert "gpu_sampler: not started on localhost: no GPU found there (gpu_facts)" in output
    assert os.readlink(controller.runs / "latest") == "first.run"
    recorded = json.loads((controller.runs / "first.run" / "launch" / "localhost.json").read_text())
    assert recorded == manifest
    for path in [*run_dir.rglob("*"), *controller.runs.rglob("*.json")]:
        if path.is_file():
            assert SECRET not in path.read_text(errors="replace"), path

    # The same run id again changes nothing, even after the trainer has ended.
    runner, output = controller.play("launch.yml", run_id="first.run")
    assert runner.rc == 0 and changed_count(runner) == 0, output[-3000:]
    assert "trainer ended with exit code 3" in output

    # status: alive / exited with its exit code, and log sizes, for the latest run.
    runner, output = controller.play("status.yml")
    assert runner.rc == 0, output[-3000:]
    assert "inference: alive, pid" in output and "trainer: exited with code 3" in output
    assert "orchestrator: alive, pid" in output and "logs/trainer.log 14 Bytes" in output

    # Another run while this one lives: refused, naming the run to stop.
    runner, output = controller.play("launch.yml", run_id="second")
    assert runner.rc != 0
    assert "stop_experiment.yml -e run_id=first_run" in output
    assert not (controller.run_root / "second").exists()

    # stop_experiment: clients first, then the server; each by SIGINT; then the session is closed.
    runner, output = controller.play("stop_experiment.yml", run_id="first.run")
    assert runner.rc == 0, output[-3000:]
    assert output.index("orchestrator: stopped by SIGINT") < output.index("inference: stopped by SIGINT")
    assert "trainer: was not running, exit code 3" in output
    assert (run_dir / "logs" / "orchestrator.exit").read_text() == "130\n"
    assert controller.tmux("has-session", "-t", "=stallscope-first_run").returncode != 0
    runner, output = controller.play("stop_experiment.yml")
    assert runner.rc == 0 and changed_count(runner) == 0
    # status reads how the closed windows' commands ended from their exit files.
    runner, output = controller.play("status.yml")
    assert runner.rc == 0, output[-3000:]
    assert "orchestrator: exited with code 130 (window closed)" in output
    assert "trainer: exited with code 3 (window closed)" in output

    # Now a new run may start.
    runner, output = controller.play("launch.yml", run_id="second")
    assert runner.rc == 0, output[-3000:]
    assert os.readlink(controller.runs / "latest") == "second"


def test_one_profile_variable_from_the_command_line_status_tails_and_wait_timeout(controller):
    """`-e stallscope_profile_var_steps=3` (text, as -e name=value gives it) sets steps alone: the
    inventory's stallscope_profile_vars (its port) stay, and the manifest records the int. On the
    same run, status shows the ended trainer's last 20 lines with the secret masked, and a wait for
    the never-ending orchestrator runs out after wait_timeout, naming it."""
    port = free_port()
    inventory = yaml.safe_load(controller.inventory.read_text())
    inventory["all"]["vars"] = {"stallscope_profile_vars": {"port": port, "steps": 5}}
    controller.inventory.write_text(yaml.safe_dump(inventory))
    runner, output = controller.play("launch.yml", run_id="composed", stallscope_profile_var_steps="3")
    assert runner.rc == 0, output[-3000:]
    manifest = json.loads((controller.run_root / "composed" / "run_manifest.json").read_text())
    assert manifest["config"] == {"steps": 3, "level": 4}
    components = {c["name"]: c for c in manifest["components"]}
    assert f" {port}" in components["inference"]["command"]
    assert components["trainer"]["command"].startswith("for i in $(seq 3);")
    # Every window starts with the uv directory first on PATH (absolute).
    assert components["trainer"]["environment"]["PATH"].startswith(f"{Path.home()}/.local/bin:")
    logs = controller.run_root / "composed" / "logs"
    for _ in range(300):
        if (logs / "trainer.exit").exists():
            break
        time.sleep(0.1)
    assert (logs / "trainer.log").read_text() == "step 1\nstep 2\nstep 3\n"

    # As if the process had printed its token on its way out.
    with open(logs / "trainer.log", "a") as log:
        log.writelines(f"extra {n}\n" for n in range(1, 25))
        log.write(f"extra 25 token {SECRET}\n")
    runner, output = controller.play("status.yml", run_id="composed")
    assert runner.rc == 0, output[-3000:]
    shown = output[output.index("trainer: last lines of its log:"):]
    assert "extra 6\n" in shown and "extra 25 token ********" in shown, output[-3000:]
    assert "step 3" not in shown and "extra 5\n" not in shown      # the last 20 lines only
    assert "inference: last lines" not in output                      # alive: no tail
    assert SECRET not in json.dumps(list(runner.events))

    runner, output = controller.play("status.yml", run_id="composed", wait=True, wait_timeout=3)
    assert runner.rc != 0
    assert "orchestrator still running after 3 s: wait longer with -e wait_timeout=SECONDS" in " ".join(output.split())
    runner, output = controller.play("stop_experiment.yml", run_id="composed")
    assert runner.rc == 0, output[-3000:]

    runner, output = controller.play("launch.yml", run_id="typo", stallscope_profile_var_stpes="3")
    assert runner.rc != 0
    assert "['stpes'] are not variables of profile crashy" in " ".join(output.split()), output[-3000:]


def test_gpu_sampler_runs_where_there_is_a_gpu_and_status_shows_its_latest_sample(controller, tmp_path):
    """A host with two A100s (nvidia-smi replaying recorded output: there is no GPU here)."""
    fake = tmp_path / "fake-gpu"
    fake.mkdir()
    (fake / "nvidia-smi").symlink_to(FAKE_NVIDIA_SMI / "fake-nvidia-smi")
    (fake / "fixture").symlink_to(FAKE_NVIDIA_SMI / "a100x2")
    controller.env["PATH"] = f"{fake}:{os.environ['PATH']}"
    runner, output = controller.play("launch.yml", run_id="gpus", launch_gpu_sampler_interval_s=1)
    assert runner.rc == 0, output[-3000:]
    manifest = json.loads((controller.run_root / "gpus" / "run_manifest.json").read_text())
    assert [c["name"] for c in manifest["components"]] == ["gpu_sampler", "inference", "trainer", "orchestrator"]
    assert manifest["gpu"]["gpu_count"] == 2
    log = controller.run_root / "gpus" / "logs" / "gpu_sampler.log"
    for _ in range(300):
        if log.exists() and log.read_text().count("\n") >= 7:   # the header and three rounds
            break
        time.sleep(0.1)
    lines = log.read_text().splitlines()
    assert lines[0] == ("timestamp, index, utilization.gpu [%], memory.used [MiB], memory.total [MiB], "
                        "power.draw [W]")
    assert lines[1] == "2026/05/09 07:35:25.118, 0, 97, 70143, 81920, 312.47"

    runner, output = controller.play("status.yml", run_id="gpus")
    assert runner.rc == 0, output[-3000:]
    assert ("gpu_sampler at 2026/05/09 07:35:30.126: GPU 0 12 % busy, 70143/81920 MiB, 98.33 W; "
            "GPU 1 0 % busy, 4/81920 MiB, 60.87 W") in " ".join(output.split()), output[-3000:]
    assert "gpu_sampler: alive, pid" in output

    # keep_windows: the stopped run's windows stay open with their last output.
    runner, output = controller.play("stop_experiment.yml", run_id="gpus", keep_windows=True)
    assert runner.rc == 0, output[-3000:]
    assert "gpu_sampler: stopped by SIGINT" in output
    windows = controller.tmux("list-windows", "-t", "=stallscope-gpus", "-F", "#{window_name} #{pane_dead}").stdout
    assert sorted(windows.split("\n")[:-1]) == ["gpu_sampler 1", "inference 1", "orchestrator 1", "trainer 1"]


def test_replace_running_stops_the_other_run_first(controller):
    runner, output = controller.play("launch.yml", run_id="old")
    assert runner.rc == 0, output[-3000:]
    runner, output = controller.play("launch.yml", run_id="new", launch_replace_running=True)
    assert runner.rc == 0, output[-3000:]
    old = controller.run_root / "old" / "logs"
    assert (old / "inference.exit").exists() and (old / "orchestrator.exit").exists()


@pytest.mark.parametrize("extravars, message", [
    ({"run_id": "../escape"}, "run id '../escape' is invalid"),
    ({"run_id": "r1", "launch_profile": "nonesuch"}, "launch_profile 'nonesuch' is not a profile"),
    ({"run_id": "r1", "launch_profile_vars": {"stpes": 3}}, "['stpes'] are not variables of profile crashy"),
    ({"run_id": "r1", "launch_profile_vars": {"steps": SECRET}},
     "the value of STALLSCOPE_TEST_TOKEN appears in a command or setting"),
])
def test_bad_input_fails_with_a_clear_message(controller, extravars, message):
    runner, output = controller.play("launch.yml", **extravars)
    assert runner.rc != 0
    assert message in " ".join(output.split()), output[-3000:]
    assert SECRET not in output
    assert not (controller.runs / "r1").exists()


def test_status_without_any_run_says_what_to_do(controller):
    runner, output = controller.play("status.yml")
    assert runner.rc != 0
    assert "no run recorded in" in output and "run_experiment.yml" in output
