import os
import subprocess
import sys
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src"


class Result:
    def __init__(self, completed):
        self.code = completed.returncode
        self.out = completed.stdout
        self.err = completed.stderr


@pytest.fixture
def stallscope(tmp_path):
    """Runs `python -m stallscope ARGS` as a real process in tmp_path; returns code, out, err."""

    def run(*args, cwd=tmp_path):
        env = dict(os.environ, PYTHONPATH=str(SRC))
        completed = subprocess.run(
            [sys.executable, "-m", "stallscope", *map(str, args)],
            cwd=cwd, env=env, capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL,
        )
        assert "Traceback" not in completed.stderr, completed.stderr
        return Result(completed)

    return run
