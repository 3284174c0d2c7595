"""Shared fixtures."""

import os
import sys
from pathlib import Path

import pytest

from tests import testhosts as testhosts_lib


@pytest.fixture(scope="session")
def testhosts(tmp_path_factory):
    """A factory of real sshd test hosts: `testhosts.create(n)` -> HostSet (see tests/testhosts.py).
    Skips when this machine cannot make them (not root, tools missing)."""
    reason = testhosts_lib.skip_reason()
    if reason:
        pytest.skip(reason)
    factory = testhosts_lib.TestHostsFactory(tmp_path_factory.mktemp("testhosts"))
    yield factory
    factory.destroy_all()


@pytest.fixture(scope="session", autouse=True)
def venv_tools_on_path():
    """ansible-runner, molecule and the tests' subprocesses find ansible-playbook, ansible and
    molecule on PATH: this interpreter's, whether or not its virtualenv is activated."""
    os.environ["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), os.environ["PATH"]])
