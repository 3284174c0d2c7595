"""Runs one of the project's Ansible modules in-process, as Ansible would, and returns its result."""

from __future__ import annotations

import contextlib
import importlib.util
import io
import json
from pathlib import Path

from ansible.module_utils.testing import patch_module_args

LIBRARY = Path(__file__).resolve().parents[2] / "library"


def run_module(name: str, args: dict, check_mode: bool = False) -> dict:
    """Returns the module's JSON result; `failed` is set when it called fail_json."""
    spec = importlib.util.spec_from_file_location(f"stallscope_test_{name}", LIBRARY / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    stdout = io.StringIO()
    with patch_module_args({**args, "_ansible_check_mode": check_mode}), contextlib.redirect_stdout(stdout):
        try:
            module.main()
        except SystemExit:
            pass
    return json.loads(stdout.getvalue())
