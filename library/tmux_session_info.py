#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: stallscope contributors
# Apache License 2.0 (see pyproject.toml)
"""Ansible module: read the tmux windows tmux_session starts (alive, pid, exit code), changing nothing."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: tmux_session_info
short_description: Read whether the commands of tmux windows run, and how they ended
description:
  - Reports one window of a tmux session (its command's pid, whether it is alive, the exit code it
    ended with, its log and exit files), every window of a session, or every session of the server.
  - For windows started by M(tmux_session) the pid and exit code come from the files its wrapper writes,
    and a command counts as alive while any process of its group runs; for other windows, from tmux
    itself.
  - Where tmux is not installed (a host before provisioning) it finds no session, none is alive, and
    RV(tmux_version) is null.
version_added: "0.2.0"
author:
  - stallscope contributors
requirements:
  - tmux >= 3.0 on the target host, to find anything
options:
  session:
    description:
      - Name of the tmux session; left out, every session of the server is listed.
      - Letters, digits, V(_) and V(-) only, at most 64 characters, not starting with V(-).
    type: str
  window:
    description: Name of a window of O(session) (the same character set); left out, every window of it.
    type: str
  socket_name:
    description:
      - The tmux server's socket name (C(tmux -L)); left out, the user's default server.
    type: str
attributes:
  check_mode:
    support: full
    description: Reads only; it never changes anything.
  diff_mode:
    support: none
seealso:
  - module: tmux_session
"""

EXAMPLES = r"""
- name: Read whether the trainer still runs.
  tmux_session_info:
    session: stallscope-run42
    window: trainer
  register: trainer

- name: List every session of stallscope's tmux server.
  tmux_session_info:
    socket_name: stallscope
  register: tmux_all
"""

RETURN = r"""
tmux_version:
  description: The version C(tmux -V) reports; null when tmux is not installed.
  returned: always
  type: str
  sample: "3.3a"
session:
  description: The session name.
  returned: when O(session) is given
  type: str
  sample: stallscope-run42
window:
  description: The window name.
  returned: when O(window) is given
  type: str
  sample: trainer
exists:
  description: Whether the window (or, without O(window), the session) exists.
  returned: when O(session) is given
  type: bool
alive:
  description: Whether the command runs (without O(window), whether any window's command does).
  returned: when O(session) is given
  type: bool
pid:
  description: Process id of the command (also its process group id); null when never started.
  returned: when O(window) is given
  type: int
  sample: 12345
exit_code:
  description: The command's exit code (128 + N when ended by signal N); null while it runs.
  returned: when O(window) is given
  type: int
  sample: 0
started_at:
  description: When the command was started (UTC, ISO 8601), from its pid file.
  returned: when O(window) is given
  type: str
  sample: "2026-05-09T07:35:25Z"
log_file:
  description: The log file of the window's command.
  returned: when O(window) is given and the window exists
  type: str
exit_file:
  description: The exit code file of the window's command.
  returned: when O(window) is given and the window exists
  type: str
windows:
  description: Every window of the session, each with window, pid, alive, exit_code, started_at,
    log_file, exit_file and managed (whether tmux_session started it).
  returned: when O(session) is given and O(window) is left out
  type: list
  elements: dict
sessions:
  description: Every session of the server, each with session, alive and windows as above.
  returned: when O(session) is left out
  type: list
  elements: dict
"""

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.tmux_windows import Tmux, check_names, query


def main():
    module = AnsibleModule(
        argument_spec=dict(session=dict(type="str"), window=dict(type="str"), socket_name=dict(type="str")),
        required_by={"window": "session"},
        supports_check_mode=True,
    )
    check_names(module)
    params = module.params
    result = {"changed": False}
    for key in ("session", "window"):
        if params[key] is not None:
            result[key] = params[key]
    # Nothing can run where tmux is not installed: that is an answer, not a failure.
    tmux = Tmux(module, params["socket_name"], required=False)
    result.update(query(tmux, params["session"], params["window"]))
    module.exit_json(**result)


if __name__ == "__main__":
    main()
