# Copyright: stallscope contributors
# Apache License 2.0 (see pyproject.toml)
"""tmux windows as the tmux_session module starts them: the tmux client, the listing of windows with
their options, and each window's status (pid, alive, exit code, files). Shared by tmux_session
(start, stop) and tmux_session_info (read only)."""

from __future__ import annotations

import datetime
import os
import re

# Session and window names: tmux itself rewrites '.' and ':'.
NAME_PATTERN = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_-]{0,63}$")
# Fields read for every window in one list-windows call; user options are readable as formats.
FIELDS = ("session", "window_id", "window", "pane_pid", "pane_dead", "pane_dead_status",
          "spec", "pid_file", "exit_file", "log_file")
FORMAT = "\t".join((
    "#{session_name}", "#{window_id}", "#{window_name}", "#{pane_pid}", "#{pane_dead}",
    "#{pane_dead_status}", "#{@tmux_session_spec}", "#{@tmux_session_pid_file}",
    "#{@tmux_session_exit_file}", "#{@tmux_session_log_file}",
))
NO_SERVER = ("no server running", "error connecting to")


def check_names(module, params=None):
    """Fails the module on a session or window name tmux would not keep as given (in `params`, by
    default the module's)."""
    params = module.params if params is None else params
    for key in ("session", "window"):
        value = params[key]
        if value is not None and not NAME_PATTERN.match(value):
            module.fail_json(msg="%s %r is not a valid tmux name: use 1-64 letters, digits, '_' or "
                                 "'-', not starting with '-'" % (key, value))


def read_text(path):
    try:
        with open(path) as handle:
            return handle.read()
    except (FileNotFoundError, NotADirectoryError, ProcessLookupError):
        return None


def read_int(path):
    text = read_text(path) if path else None
    try:
        return int(text.strip()) if text is not None else None
    except ValueError:
        return None


def group_alive(pgid):
    """Whether any process of the group runs. Zombies do not count: an orphaned child of a
    stopped command may wait a while for init to reap it. A signal 0 answers for most calls; /proc
    is read only while the group still has a member, to tell a zombie from a running process."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    if not os.path.isdir("/proc/self"):
        return True
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        stat = read_text(os.path.join("/proc", entry, "stat"))
        if stat is None:
            continue
        fields = stat[stat.rfind(")") + 2:].split()
        if len(fields) > 2 and fields[2] == str(pgid) and fields[0] not in ("Z", "X"):
            return True
    return False


def iso_mtime(path):
    try:
        stamp = os.stat(path).st_mtime
    except OSError:
        return None
    moment = datetime.datetime.fromtimestamp(stamp, tz=datetime.timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


class Tmux:
    """The tmux client, always called with an argument list. With required=False and no tmux
    installed, it lists no window (base is None)."""

    def __init__(self, module, socket_name, required=True):
        self.module = module
        binary = module.get_bin_path("tmux", required=required)
        self.base = None if binary is None else [binary] + (["-L", socket_name] if socket_name else [])

    def version(self):
        """tmux's version ("3.3a"), or None when it is not installed or does not say."""
        if self.base is None:
            return None
        rc, out, _ = self.module.run_command([self.base[0], "-V"])
        return (out.strip().partition(" ")[2] or None) if rc == 0 else None

    def run(self, *args, check=True):
        rc, out, err = self.module.run_command(self.base + list(args))
        if check and rc != 0:
            self.module.fail_json(msg="tmux %s failed: %s" % (args[0], err.strip() or out.strip()))
        return rc, out, err

    def windows(self, session=None):
        """Every window of the server (or of one session) as a dict of FIELDS."""
        if self.base is None:
            return []
        args = ["list-windows", "-F", FORMAT] + (["-t", "=" + session] if session else ["-a"])
        rc, out, err = self.run(*args, check=False)
        if rc != 0:
            if any(marker in err for marker in NO_SERVER) or "can't find session" in err:
                return []
            self.module.fail_json(msg="tmux list-windows failed: %s" % err.strip())
        return [dict(zip(FIELDS, line.split("\t"))) for line in out.splitlines() if line]


def window_status(record):
    """pid, alive, exit code and files of one listed window."""
    managed = bool(record["pid_file"])
    if managed:
        pid = read_int(record["pid_file"])
        exit_code = read_int(record["exit_file"])
        alive = exit_code is None and pid is not None and group_alive(pid)
        started_at = iso_mtime(record["pid_file"])
    else:
        pid = int(record["pane_pid"]) if record["pane_pid"].isdigit() else None
        alive = record["pane_dead"] != "1"
        exit_code = int(record["pane_dead_status"]) if record["pane_dead_status"].isdigit() else None
        started_at = None
    return {"window": record["window"], "pid": pid, "alive": alive, "exit_code": exit_code,
            "started_at": started_at, "log_file": record["log_file"] or None,
            "exit_file": record["exit_file"] or None, "managed": managed}


def describe(record):
    status = window_status(record)
    status.pop("window")
    status.pop("managed")
    return status


def report(result, records, window_name):
    if window_name:
        if records:
            result.update(describe(records[0]))
    else:
        result["windows"] = [window_status(r) for r in records]
        result["alive"] = any(w["alive"] for w in result["windows"])


def query(tmux, session=None, window=None):
    """What tmux_session_info returns: tmux's version and every session of the server, or one
    session (its windows) or one window (its pid, exit code, files)."""
    result = {"tmux_version": tmux.version()}
    if session is None:
        sessions = {}
        for record in tmux.windows():
            sessions.setdefault(record["session"], []).append(window_status(record))
        result["sessions"] = [{"session": name, "windows": windows,
                               "alive": any(w["alive"] for w in windows)}
                              for name, windows in sessions.items()]
        return result
    records = [r for r in tmux.windows(session) if window in (None, r["window"])]
    result.update(exists=bool(records), alive=False)
    if window:
        result.update(pid=None, exit_code=None, started=False, started_at=None)
    report(result, records, window)
    return result
