"""The tmux_session module, run as Ansible runs it, against a real tmux server on a private socket."""

import http.server
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

import ansible.module_utils

REPO = Path(__file__).resolve().parents[1]
SECRET = "hf_s3cr3t-token-value-1234567890"
# Runs a module of library/ as its own process, as Ansible does, with the project's module_utils
# importable as ansible.module_utils.* (as AnsiballZ packs them).
BOOTSTRAP = """
import runpy, sys
import ansible.module_utils
ansible.module_utils.__path__.append(sys.argv.pop(1))
sys.argv[0] = sys.argv.pop(1)
runpy.run_path(sys.argv[0], run_name="__main__")
"""

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")

ansible.module_utils.__path__.append(str(REPO / "module_utils"))
sys.path.insert(0, str(REPO / "library"))
import tmux_session  # noqa: E402  (the module under test, for its wrapper template)
from stallscope.sim.runner import free_port


@pytest.fixture
def tmux(tmp_path):
    """A private tmux server (own TMUX_TMPDIR and socket name), killed afterwards."""
    tmpdir = tmp_path / "tmux"
    tmpdir.mkdir()
    env = dict(os.environ, TMUX_TMPDIR=str(tmpdir))
    env.pop("TMUX", None)
    server = Server(env, "stallscope-test", tmp_path)
    yield server
    subprocess.run(["tmux", "-L", server.socket, "kill-server"], env=env, capture_output=True)


class Server:
    def __init__(self, env, socket_name, tmp_path):
        self.env = env
        self.socket = socket_name
        self.tmp = tmp_path

    def module(self, check_mode=False, name="tmux_session", **args):
        """Run the module in a subprocess, as Ansible does; return its JSON result."""
        args.setdefault("socket_name", self.socket)
        if name == "tmux_session":
            args.setdefault("state_dir", str(self.tmp / "state"))
        if check_mode:
            args["_ansible_check_mode"] = True
        args_file = self.tmp / "args.json"
        args_file.write_text(json.dumps({"ANSIBLE_MODULE_ARGS": args}))
        done = subprocess.run([sys.executable, "-c", BOOTSTRAP, str(REPO / "module_utils"),
                               str(REPO / "library" / f"{name}.py"), str(args_file)], env=self.env,
                              capture_output=True, text=True, timeout=120)
        result = json.loads(done.stdout)
        result["_stdout"] = done.stdout
        return result

    def info(self, **args):
        """tmux_session_info's result."""
        return self.module(name="tmux_session_info", **args)

    def tmux(self, *args):
        return subprocess.run(["tmux", "-L", self.socket, *args], env=self.env,
                              capture_output=True, text=True)

    def start(self, window, command, **args):
        args.setdefault("log_file", str(self.tmp / f"{window}.log"))
        return self.module(session="run1", window=window, command=command, **args)


def wait_for(predicate, timeout=20.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False



def test_wrapper_runs_the_command_and_records_pid_log_and_exit_code(tmp_path):
    env_file = tmp_path / "w.env"
    env_file.write_text(tmux_session.render_env_file({"GREETING": "it's here"}))
    script = tmp_path / "w.sh"
    script.write_text(tmux_session.render_wrapper(
        "s", "w", 'echo "$GREETING"; echo to-stderr >&2; exit 7', str(tmp_path / "w.log"),
        str(tmp_path / "w.pid"), str(tmp_path / "w.exit"), str(env_file)))
    done = subprocess.run(["bash", str(script)], capture_output=True, text=True, timeout=30)
    assert done.returncode == 7
    assert (tmp_path / "w.exit").read_text() == "7\n"
    assert int((tmp_path / "w.pid").read_text()) > 1
    assert (tmp_path / "w.log").read_text() == "it's here\nto-stderr\n"
    assert not env_file.exists()


def test_start_is_idempotent_and_info_reports_the_running_command(tmux):
    first = tmux.start("worker", "echo started; exec sleep 60")
    assert first["changed"] and first["started"] and first["alive"]
    assert first["pid"] > 1 and first["exit_code"] is None
    again = tmux.start("worker", "echo started; exec sleep 60")
    assert not again["changed"] and not again["started"]
    assert again["pid"] == first["pid"] and again["started_at"] == first["started_at"]
    queried = tmux.info(session="run1", window="worker")
    assert queried["alive"] and queried["pid"] == first["pid"] and not queried["changed"]
    assert wait_for(lambda: "started" in (tmux.tmp / "worker.log").read_text())
    listed = tmux.info()
    assert [s["session"] for s in listed["sessions"]] == ["run1"]
    assert listed["sessions"][0]["windows"][0]["window"] == "worker"


def test_crash_is_reported_with_its_exit_code_and_restarted_only_when_asked(tmux):
    first = tmux.start("crashy", "echo about to fail; exit 42")
    assert first["started"]
    assert wait_for(lambda: Path(first["exit_file"]).exists())
    after = tmux.start("crashy", "echo about to fail; exit 42")
    assert not after["changed"] and not after["alive"] and after["exit_code"] == 42
    queried = tmux.info(session="run1", window="crashy")
    assert queried["exit_code"] == 42 and not queried["alive"]
    restarted = tmux.start("crashy", "echo about to fail; exit 42", restart_exited=True)
    assert restarted["changed"] and restarted["started"] and restarted["pid"] != first["pid"]
    assert wait_for(lambda: (tmux.tmp / "crashy.log").read_text().count("about to fail") == 2)


def test_stop_escalates_from_int_to_term_to_kill(tmux):
    # Handles INT by flushing a last line: stopped by the first signal.
    tmux.start("graceful", "trap 'echo last line; exit 0' INT; echo ready; "
                           "while :; do sleep 0.1; done")
    assert wait_for(lambda: "ready" in (tmux.tmp / "graceful.log").read_text())
    stopped = tmux.module(session="run1", window="graceful", state="stopped", stop_timeout=5)
    assert stopped["changed"] and stopped["stopped_by"] == "INT"
    assert stopped["exit_code"] == 0 and not stopped["alive"]
    assert (tmux.tmp / "graceful.log").read_text().endswith("last line\n")
    # Ignores INT: TERM ends it.
    tmux.start("ignores_int", "trap '' INT; echo ready; while :; do sleep 0.1; done")
    assert wait_for(lambda: "ready" in (tmux.tmp / "ignores_int.log").read_text())
    stopped = tmux.module(session="run1", window="ignores_int", state="stopped", stop_timeout=1)
    assert stopped["stopped_by"] == "TERM" and stopped["exit_code"] == 143
    # Ignores INT and TERM: only KILL ends it.
    tmux.start("stubborn", "trap '' INT TERM; echo ready; while :; do sleep 0.1; done")
    assert wait_for(lambda: "ready" in (tmux.tmp / "stubborn.log").read_text())
    stopped = tmux.module(session="run1", window="stubborn", state="stopped", stop_timeout=1)
    assert stopped["stopped_by"] == "KILL" and stopped["exit_code"] == 137
    # The window stays for reading; stopping again changes nothing.
    again = tmux.module(session="run1", window="stubborn", state="stopped", stop_timeout=1)
    assert again["exists"] and not again["changed"]


def test_secrets_reach_the_command_but_not_ps_the_log_or_the_result(tmux):
    digest_command = ('python3 -c "import hashlib, os; '
                      "print(hashlib.sha256(os.environ['HF_TOKEN'].encode()).hexdigest())\"; "
                      "exec sleep 60")
    result = tmux.start("secretive", digest_command, environment={"PYTHONUNBUFFERED": "1"},
                        secret_environment={"HF_TOKEN": SECRET})
    assert SECRET not in result["_stdout"]
    log = tmux.tmp / "secretive.log"
    import hashlib
    expected = hashlib.sha256(SECRET.encode()).hexdigest()
    assert wait_for(lambda: expected in log.read_text())
    processes = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout
    assert SECRET not in processes
    assert SECRET not in log.read_text()
    state_files = list((tmux.tmp / "state").iterdir())
    assert not [f for f in state_files if f.suffix == ".env"]
    assert all(SECRET not in f.read_text() for f in state_files)
    window_options = tmux.tmux("show-options", "-w", "-t", "=run1:=secretive").stdout
    assert SECRET not in window_options
    # A changed secret is a different command.
    changed = tmux.start("secretive", digest_command, environment={"PYTHONUNBUFFERED": "1"},
                         secret_environment={"HF_TOKEN": "other"})
    assert changed["failed"] and "different command" in changed["msg"]


def test_different_command_fails_unless_replace(tmux):
    tmux.start("svc", "exec sleep 60")
    refused = tmux.start("svc", "exec sleep 61")
    assert refused["failed"] and "replace=true" in refused["msg"]
    replaced = tmux.start("svc", "exec sleep 61", replace=True, stop_timeout=2)
    assert replaced["changed"] and replaced["alive"] and replaced["stopped_by"] == "INT"


def test_health_check_waits_for_the_server_and_fails_fast_on_a_crash(tmux):
    port = free_port()
    served = tmux.start("http", f"exec python3 -m http.server --bind 127.0.0.1 {port}",
                        chdir=str(tmux.tmp), health_url=f"http://127.0.0.1:{port}/",
                        health_timeout=60)
    assert served["healthy"] and served["alive"]
    begin = time.monotonic()
    crashed = tmux.start("broken", "echo cannot bind >&2; exit 2",
                         health_url=f"http://127.0.0.1:{free_port()}/", health_timeout=600)
    assert crashed["failed"] and crashed["exit_code"] == 2
    assert "cannot bind" in crashed["log_tail"]
    assert time.monotonic() - begin < 300  # failed because it ended, not by the 600 s timeout


@pytest.fixture
def health_server(tmux):
    """A real HTTP server on a port of its own choosing: 200 once window `first`'s log says ready, 503 before."""
    ready_log = tmux.tmp / "first.log"

    class Health(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            ready = ready_log.exists() and "ready" in ready_log.read_text()
            self.send_response(200 if ready else 503)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Health)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


def test_windows_start_in_order_each_healthy_before_the_next(tmux, health_server):
    windows = [
        {"window": "first", "command": "sleep 1; echo ready; exec sleep 60", "log_file": str(tmux.tmp / "first.log"),
         "health_url": health_server, "health_timeout": 120},
        {"window": "second", "command": f"cat {tmux.tmp / 'first.log'} > {tmux.tmp / 'seen.txt'}; exec sleep 60",
         "log_file": str(tmux.tmp / "second.log")},
    ]
    started = tmux.module(session="run1", windows=windows)
    assert started["changed"]
    assert [w["window"] for w in started["windows"]] == ["first", "second"]
    assert all(w["started"] and w["alive"] and w["pid"] for w in started["windows"])
    assert started["windows"][0]["healthy"]
    assert wait_for(lambda: (tmux.tmp / "seen.txt").exists())
    assert "ready" in (tmux.tmp / "seen.txt").read_text()  # started after the first answered
    again = tmux.module(session="run1", windows=windows)
    assert not again["changed"] and not any(w["started"] for w in again["windows"])


def test_windows_stop_at_the_first_that_fails_its_health_check(tmux, health_server):
    windows = [
        {"window": "first", "command": "echo cannot start >&2; exit 3", "log_file": str(tmux.tmp / "first.log"),
         "health_url": health_server, "health_timeout": 600},
        {"window": "second", "command": "exec sleep 60"},
    ]
    failed = tmux.module(session="run1", windows=windows)
    assert failed["failed"] and "window first" in failed["msg"] and failed["exit_code"] == 3
    assert "Traceback" not in failed["_stdout"]
    assert [w["window"] for w in tmux.info(session="run1")["windows"]] == ["first"]


@pytest.mark.parametrize("args, message", [
    ({"windows": [{"window": "w", "command": "true"}], "window": "w"}, "mutually exclusive"),
    ({"windows": [{"window": "w"}]}, "command"),
    ({"windows": [{"window": "w;x", "command": "true"}]}, "not a valid tmux name"),
    ({"windows": [{"window": "w", "command": "true"}], "state": "stopped"}, "windows is for state=started"),
])
def test_bad_windows_fail_with_a_clear_message(tmux, args, message):
    result = tmux.module(session="run1", **args)
    assert result["failed"] and message in result["msg"], result["msg"]
    assert "Traceback" not in result["_stdout"]
    assert tmux.info()["sessions"] == []


def test_check_mode_starts_and_stops_nothing(tmux):
    planned = tmux.start("planned", "exec sleep 60", check_mode=True)
    assert planned["changed"]
    assert tmux.info()["sessions"] == []
    tmux.start("running", "exec sleep 60")
    planned_stop = tmux.module(session="run1", window="running", state="stopped", check_mode=True)
    assert planned_stop["changed"]
    assert tmux.info(session="run1", window="running")["alive"]


def test_absent_closes_the_window_and_the_session(tmux):
    tmux.start("one", "exec sleep 60")
    tmux.start("two", "exec sleep 60")
    gone = tmux.module(session="run1", window="one", state="absent", stop_timeout=2)
    assert gone["changed"] and not gone["exists"]
    whole = tmux.module(session="run1", state="absent", stop_timeout=2)
    assert whole["changed"] and not whole["exists"]
    assert tmux.tmux("has-session", "-t", "=run1").returncode != 0


def test_ctrl_c_in_the_pane_reaches_the_command(tmux):
    tmux.start("interactive", "trap 'echo got INT; exit 5' INT; echo ready; "
                              "while :; do sleep 0.1; done")
    assert wait_for(lambda: "ready" in (tmux.tmp / "interactive.log").read_text())
    tmux.tmux("send-keys", "-t", "=run1:=interactive", "C-c")
    queried = {}

    def ended():
        queried.update(tmux.info(session="run1", window="interactive"))
        return not queried["alive"]
    assert wait_for(ended)
    assert queried["exit_code"] == 5


@pytest.mark.parametrize("args, message", [
    ({"session": "run;rm -rf ~", "window": "w", "command": "true"}, "not a valid tmux name"),
    ({"session": "run1", "window": "-w", "command": "true"}, "not a valid tmux name"),
    ({"session": "run1", "window": "w", "command": "true", "environment": {"A-B": "1"}},
     "environment variable name"),
    ({"session": "run1", "window": "w", "command": "true", "environment": {"A": "1"},
      "secret_environment": {"A": "2"}}, "given in both"),
    ({"session": "run1", "window": "w", "command": "true", "stop_signals": ["NOPE"]},
     "not a signal name"),
    ({"session": "run1", "window": "w", "command": "true", "chdir": "/nonexistent/dir"},
     "is not a directory"),
])
def test_bad_input_fails_with_a_clear_message_and_no_session(tmux, args, message):
    result = tmux.module(**args)
    assert result["failed"] and message in result["msg"]
    assert "Traceback" not in result["_stdout"]
    assert tmux.info()["sessions"] == []


def test_documentation_matches_the_argument_spec():
    import yaml
    documented = yaml.safe_load(tmux_session.DOCUMENTATION)["options"]
    assert set(documented) == set(tmux_session.ARGUMENT_SPEC)
    for name, spec in tmux_session.ARGUMENT_SPEC.items():
        assert documented[name]["type"] == spec["type"], name
        assert documented[name].get("default") == spec.get("default"), name
    suboptions = documented["windows"]["suboptions"]
    assert set(suboptions) == set(tmux_session.ARGUMENT_SPEC["windows"]["options"])
    for name, spec in tmux_session.ARGUMENT_SPEC["windows"]["options"].items():
        assert suboptions[name]["type"] == spec["type"], name
        assert suboptions[name].get("default") == spec.get("default"), name
        assert suboptions[name].get("required", False) == spec.get("required", False), name
    yaml.safe_load(tmux_session.EXAMPLES)
    yaml.safe_load(tmux_session.RETURN)


def test_info_reports_the_tmux_version_and_finds_nothing_where_tmux_is_not_installed(tmux):
    version = tmux.info()
    assert version["tmux_version"] == subprocess.run(["tmux", "-V"], capture_output=True, text=True).stdout.split()[1]
    # A host before provisioning: no tmux on PATH (a PATH without it, this Python kept by its path).
    tmux.env = dict(tmux.env, PATH=str(tmux.tmp))
    listed = tmux.info()
    assert listed.get("failed") is None and listed["sessions"] == [] and listed["tmux_version"] is None
    one = tmux.info(session="run1")
    assert one["exists"] is False and one["alive"] is False
    started = tmux.start("worker", "exec sleep 60")
    assert started["failed"] and "tmux" in started["msg"]
