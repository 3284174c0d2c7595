"""Runs the project's Ansible modules as Ansible would (in-process with patched arguments, or through
the `ansible` command) and returns their results."""

from __future__ import annotations

import contextlib
import importlib.util
import io
import json
import os
import subprocess
import sys
from pathlib import Path

from ansible.module_utils.testing import patch_module_args

LIBRARY = Path(__file__).resolve().parents[1] / "library"


def load_library_module(name: str):
    """library/<name>.py as a Python module."""
    spec = importlib.util.spec_from_file_location(f"stallscope_test_{name}", LIBRARY / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run_module(name: str, args: dict, check_mode: bool = False) -> dict:
    """Returns the module's JSON result; `failed` is set when it called fail_json."""
    module = load_library_module(name)
    stdout = io.StringIO()
    with patch_module_args({**args, "_ansible_check_mode": check_mode}), contextlib.redirect_stdout(stdout):
        try:
            module.main()
        except SystemExit:
            pass
    return json.loads(stdout.getvalue())


REPO = LIBRARY.parent


def run_adhoc(name: str, args: dict, check_mode: bool = False) -> dict:
    """Runs a module through the `ansible` command on localhost, packaged by AnsiballZ as on a remote host
    (module_utils included), and returns its result."""
    env = {
        **os.environ,
        "ANSIBLE_CONFIG": str(REPO / "ansible.cfg"),
        "ANSIBLE_STDOUT_CALLBACK": "minimal",
        "ANSIBLE_CALLBACK_RESULT_FORMAT": "json",
    }
    command = [str(Path(sys.executable).parent / "ansible"), "localhost", "-m", name, "-a", json.dumps(args)]
    if check_mode:
        command.append("--check")
    completed = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    # minimal prints "localhost | STATUS => {json}", and leaves `failed` out of the JSON.
    head, separator, body = completed.stdout.partition(" => ")
    assert separator, f"unexpected ansible output: {completed.stdout}{completed.stderr}"
    result = json.loads(body)
    result["failed"] = head.rstrip().endswith("FAILED!")
    return result
