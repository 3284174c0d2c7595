#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: stallscope contributors
# Apache License 2.0 (see pyproject.toml)
"""Ansible module: ensure a command runs in a tmux window, logged, with its exit code recorded."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: tmux_session
short_description: Ensure a command runs in a tmux window, with its output logged and its exit code recorded
description:
  - Ensures that a window of a tmux session runs a command, and reports its process id, whether it is
    alive, and the exit code it ended with.
  - The window runs a small generated bash wrapper (kept in O(state_dir)) that starts the command in its
    own process group, records its pid, appends its stdout and stderr to O(log_file), shows that log in
    the pane for whoever attaches, and writes the command's exit code to O(exit_file) when it ends.
    The window stays open after the command ends (tmux C(remain-on-exit)) so its last lines can be read.
  - O(environment) and O(secret_environment) are written to a mode 0600 file that the wrapper reads
    once and deletes; they never appear in a process argument list, in the log, or in the module's output.
  - Idempotent. A window already running the same command (same command, directory, environment and
    files) is left alone. A window whose command has ended is reported with its exit code and restarted
    only with O(restart_exited=true). A window running a different command is an error unless
    O(replace=true).
  - Stopping sends each of O(stop_signals) in turn to the command's process group, waiting up to
    O(stop_timeout) seconds after each, so that a graceful stop flushes the last log lines and a stuck
    process is still ended.
version_added: "0.1.0"
author:
  - stallscope contributors
requirements:
  - tmux >= 3.0 on the target host
  - bash and GNU coreutils (stat, tail) on the target host
options:
  session:
    description:
      - Name of the tmux session.
      - Letters, digits, V(_) and V(-) only, at most 64 characters, not starting with V(-) (tmux itself
        rewrites V(.) and V(:) in session names).
    type: str
  window:
    description:
      - Name of the window in O(session); the same character set as O(session).
      - Required with O(state=started). With O(state=stopped) or O(state=absent) and no window, the
        operation applies to every window of the session.
    type: str
  command:
    description:
      - Shell command to run (run by C(bash -c)). Required with O(state=started).
      - Do not put secrets here, it is visible in the process list. Use O(secret_environment).
    type: str
  chdir:
    description: Working directory of the command. Must exist. Defaults to the home directory.
    type: path
  environment:
    description:
      - Environment variables for the command (names are letters, digits and V(_), not starting with a
        digit). Not secret; for secrets use O(secret_environment).
    type: dict
    default: {}
  secret_environment:
    description:
      - Environment variables holding secrets (tokens, API keys), as O(environment) but never logged
        or returned (C(no_log)). A name may not be in both.
    type: dict
    default: {}
  log_file:
    description:
      - File that the command's stdout and stderr are appended to. Its directory must exist.
      - Without it, the output goes to the tmux pane only.
    type: path
  exit_file:
    description:
      - File that the command's exit code is written to when it ends (128 + N when ended by signal N).
      - Defaults to C(<state_dir>/<window>.exit).
    type: path
  windows:
    description:
      - Several windows to ensure started, in this order, each answering its O(windows[].health_url)
        (when it has one) before the next is started. One task for a host's components instead of a
        task (a module round trip) for each.
      - Each item takes the options of one window. O(session), O(state_dir), O(socket_name),
        O(restart_exited) and O(replace) apply to them all.
      - Only with O(state=started); not with O(window) or O(command).
    type: list
    elements: dict
    suboptions:
      window:
        description: Name of the window, as O(window).
        type: str
        required: true
      command:
        description: Shell command to run, as O(command).
        type: str
        required: true
      chdir:
        description: As O(chdir).
        type: path
      environment:
        description: As O(environment).
        type: dict
        default: {}
      secret_environment:
        description: As O(secret_environment).
        type: dict
        default: {}
      log_file:
        description: As O(log_file).
        type: path
      exit_file:
        description: As O(exit_file).
        type: path
      stop_signals:
        description: As O(stop_signals) (used when O(replace=true) stops a different command).
        type: list
        elements: str
        default: [INT, TERM, KILL]
      stop_timeout:
        description: As O(stop_timeout).
        type: float
        default: 10
      health_url:
        description: As O(health_url).
        type: str
      health_status:
        description: As O(health_status).
        type: int
        default: 200
      health_timeout:
        description: As O(health_timeout).
        type: float
        default: 60
  state_dir:
    description:
      - Directory (created with mode 0700) for the window's wrapper script, pid file and, for an instant,
        its environment file.
      - Defaults to C(~/.cache/tmux_session/<socket_name or default>/<session>).
    type: path
  socket_name:
    description:
      - Name of the tmux server socket (tmux C(-L)). Leave out to use the user's default server, the one
        that a plain C(tmux attach) reaches.
    type: str
  state:
    description:
      - V(started) ensures the command runs (and, with O(health_url), answers).
      - V(stopped) ends the command with O(stop_signals) and keeps the window, so its output stays
        readable.
      - V(absent) ends the command and closes the window (or the whole session when O(window) is left
        out).
      - To read a window or a session without changing it, use M(tmux_session_info).
    type: str
    choices: [started, stopped, absent]
    default: started
  restart_exited:
    description: With O(state=started), start the command again when the window exists but its command
      has ended. Otherwise the exit code is reported and nothing changes.
    type: bool
    default: false
  replace:
    description: With O(state=started), when the window runs a different command (or directory,
      environment, files), stop it and start the new one instead of failing.
    type: bool
    default: false
  stop_signals:
    description: Signals sent in turn to the command's process group to stop it.
    type: list
    elements: str
    default: [INT, TERM, KILL]
  stop_timeout:
    description: Seconds to wait for the command to end after each of O(stop_signals).
    type: float
    default: 10
  health_url:
    description:
      - With O(state=started), an HTTP URL polled (GET, once a second) until it answers
        O(health_status). Fails early, with the exit code and the log's last lines, if the command ends
        first.
    type: str
  health_status:
    description: HTTP status that O(health_url) must answer.
    type: int
    default: 200
  health_timeout:
    description: Seconds to wait for O(health_url) before failing.
    type: float
    default: 60
attributes:
  check_mode:
    support: full
    description: Reports what it would start, restart or stop; nothing is started, signalled or written.
  diff_mode:
    support: none
notes:
  - A change of an O(environment) or O(secret_environment) value counts as a different command (the comparison uses a SHA-256
    digest stored as a tmux window option, never the values).
"""

EXAMPLES = r"""
- name: Start the inference server and wait for its health check.
  tmux_session:
    session: stallscope-run42
    window: inference
    command: uv run inference @ configs/infer.toml
    chdir: /home/ubuntu/prime-rl
    environment:
      PYTHONUNBUFFERED: "1"
    secret_environment:
      HF_TOKEN: "{{ vault_hf_token }}"
    log_file: /home/ubuntu/runs/run42/logs/inference.log
    exit_file: /home/ubuntu/runs/run42/logs/inference.exit
    health_url: http://127.0.0.1:8000/health
    health_timeout: 600

- name: Start the trainer, then the orchestrator, in one task (each healthy before the next).
  tmux_session:
    session: stallscope-run42
    windows:
      - window: trainer
        command: uv run trainer @ configs/train.toml
        log_file: /home/ubuntu/runs/run42/logs/trainer.log
      - window: orchestrator
        command: uv run orchestrator @ configs/orch.toml
        log_file: /home/ubuntu/runs/run42/logs/orchestrator.log

- name: Stop the orchestrator gracefully (INT, then TERM after 30 s, then KILL).
  tmux_session:
    session: stallscope-run42
    window: orchestrator
    state: stopped
    stop_timeout: 30
"""

RETURN = r"""
session:
  description: The session name.
  returned: when O(session) is given
  type: str
  sample: stallscope-run42
window:
  description: The window name.
  returned: when O(window) is given
  type: str
  sample: inference
exists:
  description: Whether the window (or, without O(window), the session) exists after the task.
  returned: when O(session) is given
  type: bool
pid:
  description: Process id of the command (also its process group id). Null when never started.
  returned: when O(window) is given
  type: int
  sample: 12345
alive:
  description: Whether the command is running (without O(window), whether any window's command is).
  returned: when O(session) is given
  type: bool
exit_code:
  description: The command's exit code (128 + N when ended by signal N); null while it runs.
  returned: when O(window) is given
  type: int
  sample: 0
started:
  description: Whether this task started (or restarted) the command.
  returned: when O(window) is given
  type: bool
started_at:
  description: When the command was started (UTC, ISO 8601), from its pid file.
  returned: when O(window) is given
  type: str
  sample: "2026-05-09T07:35:25Z"
stopped_by:
  description:
    - The signal that ended the command during this task (the last one delivered), when this task
      stopped it; null when the command ended by itself before any signal reached it.
  returned: when O(state=stopped) or O(state=absent) stopped a command
  type: str
  sample: INT
healthy:
  description: Whether O(health_url) answered O(health_status).
  returned: when O(health_url) is given
  type: bool
log_file:
  description: The log file of the window's command.
  returned: when O(window) is given
  type: str
exit_file:
  description: The exit code file of the window's command.
  returned: when O(window) is given
  type: str
log_tail:
  description: The last lines of O(log_file) when the command ended before its health check passed.
  returned: on such a failure
  type: list
  elements: str
windows:
  description:
    - With O(windows), each window's result in the same order, with the keys returned for one window
      (window, changed, exists, pid, alive, exit_code, started, started_at, stopped_by, healthy, log_file,
      exit_file).
    - With O(state=stopped) or O(state=absent) and no O(window), every window of the session, each with
      window, pid, alive, exit_code, started_at, log_file, exit_file and managed (whether tmux_session
      started it).
  returned: with O(windows), or with O(state=stopped) or O(state=absent) when O(window) is left out
  type: list
  elements: dict
"""

import hashlib
import json
import os
import re
import shlex
import signal
import time

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.tmux_windows import (Tmux, check_names, describe, group_alive, read_int, report,
                                               window_status)
from ansible.module_utils.urls import open_url

ENV_NAME_PATTERN = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
OPTION_PREFIX = "@tmux_session_"
PID_FILE_TIMEOUT = 30.0   # seconds for the wrapper to start the command and record its pid
EXIT_FILE_TIMEOUT = 5.0   # seconds for the wrapper to record the exit code once the command ended
LOG_TAIL_LINES = 20

# The script each window runs. Values are substituted shell-quoted (shlex.quote).
WRAPPER_TEMPLATE = r"""#!/usr/bin/env bash
# Generated by the tmux_session Ansible module for window {window} of session {session}.
# Starts the command in its own process group (so a stop signal reaches all of it but not this
# wrapper), records its pid, appends its output to the log, and records its exit code.
set -u
# Job control: the command gets its own process group, and keeps SIGINT (a background command of a
# shell without job control starts with SIGINT ignored, and could not be stopped gracefully).
set -m
command={command}
log_file={log_file}
pid_file={pid_file}
exit_file={exit_file}
env_file={env_file}
# Ctrl-C in the pane, a TERM to this wrapper or a closed pane reach the command's process group
# (set first: this wrapper must outlive the command to record its exit code).
child=
forward() {{ [ -n "$child" ] && kill -"$1" -- "-$child" 2>/dev/null; }}
trap 'forward INT' INT
trap 'forward TERM' TERM
trap 'forward HUP' HUP
# Secrets come in a 0600 file read once and removed, so they never sit in an argument list.
if [ -f "$env_file" ]; then
  set -a
  . "$env_file"
  set +a
  rm -f -- "$env_file"
fi
rm -f -- "$exit_file"
if [ -n "$log_file" ]; then
  log_offset=$(stat -c %s -- "$log_file" 2>/dev/null || echo 0)
  bash -c "$command" </dev/null >>"$log_file" 2>&1 &
else
  bash -c "$command" </dev/null &
fi
child=$!
printf '%s\n' "$child" >"$pid_file.tmp" && mv -f -- "$pid_file.tmp" "$pid_file"
if [ -n "$log_file" ]; then
  # Show this run's output in the pane for whoever attaches; tail ends with the command.
  tail -c "+$((log_offset + 1))" -F --pid="$child" -- "$log_file" 2>/dev/null &
fi
# A trapped signal interrupts wait (status above 128). Wait again while the command runs; when it
# ended meanwhile, one more wait returns its own status (bash keeps it), or 127 once it was
# already returned.
while :; do
  wait "$child"
  status=$?
  [ "$status" -gt 128 ] || break
  kill -0 "$child" 2>/dev/null && continue
  wait "$child"
  last=$?
  [ "$last" -eq 127 ] || status=$last
  break
done
printf '%s\n' "$status" >"$exit_file.tmp" && mv -f -- "$exit_file.tmp" "$exit_file"
exit "$status"
"""


def render_wrapper(session, window, command, log_file, pid_file, exit_file, env_file):
    """The wrapper script's text for one window (every value shell-quoted)."""
    return WRAPPER_TEMPLATE.format(
        session=session, window=window, command=shlex.quote(command),
        log_file=shlex.quote(log_file or ""), pid_file=shlex.quote(pid_file),
        exit_file=shlex.quote(exit_file), env_file=shlex.quote(env_file),
    )


def render_env_file(environment):
    """`export NAME='value'` lines for the wrapper to source."""
    return "".join("export %s=%s\n" % (name, shlex.quote(str(value)))
                   for name, value in sorted(environment.items()))


def spec_digest(command, chdir, environment, log_file, exit_file):
    """What makes two starts 'the same command'; a digest, so no value is stored in tmux."""
    spec = {"command": command, "chdir": chdir, "log_file": log_file, "exit_file": exit_file,
            "environment": sorted((k, str(v)) for k, v in environment.items())}
    return hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()


def log_tail(path, lines=LOG_TAIL_LINES):
    if not path:
        return []
    try:
        with open(path, "rb") as handle:
            handle.seek(0, os.SEEK_END)
            handle.seek(max(0, handle.tell() - 16384))
            data = handle.read().decode("utf-8", "replace")
    except OSError:
        return []
    return data.splitlines()[-lines:]


def signal_number(name):
    name = name.upper()
    name = name if name.startswith("SIG") else "SIG" + name
    number = getattr(signal.Signals, name, None) if name in signal.Signals.__members__ else None
    return number


def stop_window(module, params, record):
    """Send each of params' stop signals to the command's process group until it ends; the signal that ended it."""
    status = window_status(record)
    if not status["alive"]:
        return None
    pgid = status["pid"] if status["managed"] else None
    if pgid is None:
        pgid = os.getpgid(status["pid"])
    delivered, ended = None, False
    for name in params["stop_signals"]:
        try:
            os.killpg(pgid, signal_number(name))
        except ProcessLookupError:
            ended = True  # gone before this signal: the one delivered before it (if any) ended it
            break
        delivered = name
        deadline = time.monotonic() + params["stop_timeout"]
        pause = 0.05
        while time.monotonic() < deadline and group_alive(pgid):
            # Most commands end within a moment of the signal; a slow flush gets checked less often.
            time.sleep(min(pause, max(0.0, deadline - time.monotonic())))
            pause = min(pause * 2, 1.0)
        if not group_alive(pgid):
            ended = True
            break
    if not ended:
        module.fail_json(msg="window %s of session %s: process group %d still runs after %s"
                         % (record["window"], record["session"], pgid,
                            ", ".join(params["stop_signals"])))
    if status["managed"] and record["pane_dead"] != "1":
        # The wrapper is alive: give it a moment to record the exit code.
        deadline = time.monotonic() + EXIT_FILE_TIMEOUT
        while time.monotonic() < deadline and read_int(record["exit_file"]) is None:
            time.sleep(0.05)
    return delivered


class Window:
    """One window this task is about; `params` are the module's, with the window's own options."""

    def __init__(self, module, tmux, params):
        self.params = params
        self.module = module
        self.tmux = tmux
        self.session = params["session"]
        self.name = params["window"]
        socket = params["socket_name"] or "default"
        self.state_dir = params["state_dir"] or os.path.expanduser(
            os.path.join("~", ".cache", "tmux_session", socket, self.session))
        self.log_file = params["log_file"]
        self.exit_file = params["exit_file"] or os.path.join(self.state_dir, self.name + ".exit")
        self.pid_file = os.path.join(self.state_dir, self.name + ".pid")
        self.env_file = os.path.join(self.state_dir, self.name + ".env")
        self.script = os.path.join(self.state_dir, self.name + ".sh")

    def record(self):
        for record in self.tmux.windows(self.session):
            if record["window"] == self.name:
                return record
        return None

    def environment(self):
        params = self.params
        return dict(params["environment"], **params["secret_environment"])

    def spec(self):
        params = self.params
        return spec_digest(params["command"], params["chdir"], self.environment(),
                           self.log_file, self.exit_file)

    def check_paths(self):
        """Fail before anything is stopped or started if a directory the command needs is missing.
        Not in check mode: an earlier task may not have made them yet."""
        params = self.params
        if params["chdir"] and not os.path.isdir(params["chdir"]):
            self.module.fail_json(msg="chdir %s is not a directory on this host" % params["chdir"])
        for path in (self.log_file, params["exit_file"]):
            if path and not os.path.isdir(os.path.dirname(path) or "."):
                self.module.fail_json(msg="the directory of %s does not exist on this host" % path)

    def prepare(self):
        """Write the wrapper and the environment file; remove the previous pid and exit files."""
        params = self.params
        os.makedirs(self.state_dir, mode=0o700, exist_ok=True)
        os.chmod(self.state_dir, 0o700)
        for stale in (self.pid_file, self.exit_file, self.env_file):
            if os.path.lexists(stale):
                os.unlink(stale)
        if self.environment():
            descriptor = os.open(self.env_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(descriptor, "w") as handle:
                handle.write(render_env_file(self.environment()))
        text = render_wrapper(self.session, self.name, params["command"], self.log_file,
                              self.pid_file, self.exit_file, self.env_file)
        descriptor = os.open(self.script, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o700)
        with os.fdopen(descriptor, "w") as handle:
            handle.write(text)

    def options(self, target):
        """tmux commands (to chain after the window's creation) that mark it as ours."""
        values = (("remain-on-exit", "on"), (OPTION_PREFIX + "spec", self.spec()),
                  (OPTION_PREFIX + "pid_file", self.pid_file),
                  (OPTION_PREFIX + "exit_file", self.exit_file),
                  (OPTION_PREFIX + "log_file", self.log_file or ""))
        chained = []
        for name, value in values:
            chained += [";", "set-option", "-w", "-t", target, name, value]
        return chained

    def start(self, record):
        """Create (or respawn) the window running the wrapper; wait for the command's pid."""
        self.prepare()
        chdir = self.params["chdir"] or os.path.expanduser("~")
        command = ["--", "bash", self.script]
        target = "=%s:=%s" % (self.session, self.name)
        if record is not None:
            self.tmux.run("respawn-window", "-k", "-t", record["window_id"], "-c", chdir, *command,
                          *self.options(record["window_id"]))
        elif self.tmux.windows(self.session):
            self.tmux.run("new-window", "-d", "-t", "=%s:" % self.session, "-n", self.name,
                          "-c", chdir, *command, *self.options(target))
        else:
            self.tmux.run("new-session", "-d", "-s", self.session, "-n", self.name, "-c", chdir,
                          "-x", "200", "-y", "50", *command, *self.options(target))
        deadline = time.monotonic() + PID_FILE_TIMEOUT
        while read_int(self.pid_file) is None:
            if time.monotonic() > deadline:
                self.module.fail_json(msg="window %s of session %s: the wrapper %s did not record a "
                                      "pid within %.0f s" % (self.name, self.session, self.script,
                                                             PID_FILE_TIMEOUT))
            time.sleep(0.05)

    def wait_healthy(self, result):
        params = self.params
        url = params["health_url"]
        deadline = time.monotonic() + params["health_timeout"]
        last = "no answer yet"
        while True:
            try:
                answer = open_url(url, method="GET", timeout=2, use_proxy=False,
                                  validate_certs=False, follow_redirects="none")
                code = answer.getcode()
            except Exception as error:  # pylint: disable=broad-except
                code = getattr(error, "code", None)
                last = str(getattr(error, "reason", error))
            if code == params["health_status"]:
                result["healthy"] = True
                return
            if code is not None:
                last = "HTTP %s" % code
            status = window_status(self.record())
            if not status["alive"]:
                result.update(status, healthy=False, log_tail=log_tail(self.log_file))
                self.module.fail_json(
                    msg="window %s of session %s: the command ended (exit code %s) before %s "
                        "answered %d; see log_tail or %s" % (self.name, self.session,
                                                             status["exit_code"], url,
                                                             params["health_status"],
                                                             self.log_file or "the pane"),
                    **result)
            if time.monotonic() > deadline:
                result.update(healthy=False, log_tail=log_tail(self.log_file))
                self.module.fail_json(
                    msg="window %s of session %s: %s did not answer %d within %.0f s (last: %s)"
                        % (self.name, self.session, url, params["health_status"],
                           params["health_timeout"], last), **result)
            time.sleep(1)


def ensure_started(module, tmux, params, result):
    window = Window(module, tmux, params)
    record = window.record()
    result.update(log_file=window.log_file, exit_file=window.exit_file)
    if record is not None and not record["pid_file"]:
        module.fail_json(msg="window %s of session %s exists but was not started by tmux_session; "
                             "choose another window name or close it" % (window.name, window.session))
    start = record is None
    if record is not None:
        result.update(describe(record), exists=True)
        same = record["spec"] == window.spec()
        if result["alive"] and not same:
            if not params["replace"]:
                module.fail_json(msg="window %s of session %s runs a different command; stop it first "
                                     "or set replace=true" % (window.name, window.session))
            start = True
        elif not result["alive"]:
            start = params["restart_exited"]
            if not same and not start:
                module.warn("window %s of session %s: its ended command differs from the requested "
                            "one; restart_exited=true would start the new one"
                            % (window.name, window.session))
    if start:
        result.update(changed=True, started=True)
        if module.check_mode:
            result.update(alive=True, exists=True, pid=None, exit_code=None)
            return
        window.check_paths()
        if record is not None and result["alive"]:
            result["stopped_by"] = stop_window(module, params, record)
        window.start(record)
        result.update(describe(window.record()), exists=True)
    if params["health_url"] and not module.check_mode:
        if result["alive"] or result["started"]:
            window.wait_healthy(result)
        else:
            # An ended command is reported, not restarted: nothing answers, and that is not new.
            result["healthy"] = False


def ensure_stopped(module, tmux, result, remove):
    params = module.params
    session = params["session"]
    records = [r for r in tmux.windows(session) if params["window"] in (None, r["window"])]
    if params["window"]:
        result.update(exists=bool(records), pid=None, alive=False, exit_code=None, started=False)
    alive = [r for r in records if window_status(r)["alive"]]
    result["changed"] = bool(alive) or (remove and bool(records))
    if module.check_mode:
        result["exists"] = bool(records) and not remove
        return
    for record in alive:
        result["stopped_by"] = stop_window(module, params, record)
    if remove and records:
        if params["window"]:
            tmux.run("kill-window", "-t", records[0]["window_id"])
        else:
            tmux.run("kill-session", "-t", "=" + session)
    remaining = [r for r in tmux.windows(session) if params["window"] in (None, r["window"])]
    report(result, remaining, params["window"])
    result["exists"] = bool(remaining)


def validate(module, params):
    check_names(module, params)
    both = sorted(set(params["environment"]) & set(params["secret_environment"]))
    if both:
        module.fail_json(msg="%s given in both environment and secret_environment; keep each name "
                             "in one" % ", ".join(both))
    for name in list(params["environment"]) + list(params["secret_environment"]):
        if not ENV_NAME_PATTERN.match(name):
            module.fail_json(msg="environment variable name %r is invalid: use letters, digits and "
                                 "'_', not starting with a digit" % name)
    for name in params["stop_signals"]:
        if signal_number(name) is None:
            module.fail_json(msg="stop_signals: %r is not a signal name (e.g. INT, TERM, KILL)" % name)


# The options that describe one window: top-level for one window, or each item of `windows`.
WINDOW_OPTIONS = dict(
    window=dict(type="str"),
    command=dict(type="str"),
    chdir=dict(type="path"),
    environment=dict(type="dict", default={}),
    secret_environment=dict(type="dict", default={}, no_log=True),
    log_file=dict(type="path"),
    exit_file=dict(type="path"),
    stop_signals=dict(type="list", elements="str", default=["INT", "TERM", "KILL"]),
    stop_timeout=dict(type="float", default=10.0),
    health_url=dict(type="str"),
    health_status=dict(type="int", default=200),
    health_timeout=dict(type="float", default=60.0),
)

ARGUMENT_SPEC = dict(
    WINDOW_OPTIONS,
    session=dict(type="str"),
    windows=dict(type="list", elements="dict",
                 options=dict(WINDOW_OPTIONS, window=dict(type="str", required=True),
                              command=dict(type="str", required=True))),
    state_dir=dict(type="path"),
    socket_name=dict(type="str"),
    state=dict(type="str", default="started",
               choices=["started", "stopped", "absent"]),
    restart_exited=dict(type="bool", default=False),
    replace=dict(type="bool", default=False),
)


def main():
    module = AnsibleModule(
        argument_spec=ARGUMENT_SPEC,
        required_if=[
            ("state", "started", ("session",)),
            ("state", "started", ("window", "windows"), True),
            ("state", "stopped", ("session",)),
            ("state", "absent", ("session",)),
        ],
        required_by={"window": "session"},
        mutually_exclusive=[("windows", "window"), ("windows", "command")],
        supports_check_mode=True,
    )
    params = module.params
    if params["windows"] is not None and params["state"] != "started":
        module.fail_json(msg="windows is for state=started; to stop, name one window or none (every window)")
    if params["state"] == "started" and params["window"] is not None and params["command"] is None:
        module.fail_json(msg="state is started but the following are missing: command")
    # One window's options, or each of `windows` over the session-wide ones (in order).
    each = [params] if params["windows"] is None else [dict(params, **window) for window in params["windows"]]
    for window_params in each:
        validate(module, window_params)
    tmux = Tmux(module, params["socket_name"])
    result = {"changed": False}
    for key in ("session", "window"):
        if params[key] is not None:
            result[key] = params[key]
    if params["state"] != "started":
        ensure_stopped(module, tmux, result, remove=params["state"] == "absent")
    elif params["windows"] is None:
        result.update(window_result(module, tmux, params))
    else:
        result["windows"] = []
        for window_params in each:
            # Each healthy before the next starts: a failure names its window and stops there.
            result["windows"].append(window_result(module, tmux, window_params))
            result["changed"] = result["changed"] or result["windows"][-1]["changed"]
    module.exit_json(**result)


def window_result(module, tmux, params):
    result = {"changed": False, "window": params["window"], "exists": False, "pid": None, "alive": False,
              "exit_code": None, "started": False}
    ensure_started(module, tmux, params, result)
    return result


if __name__ == "__main__":
    main()
