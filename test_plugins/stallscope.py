"""Jinja tests for stallscope's roles: `run_id`, the one rule for run ids.

A run id names a directory on every host and on the controller and a tmux session, so the launch,
run_lookup and collect roles all check it with this test.
"""

import re

RUN_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,52}")


def run_id(value):
    """True when value is a run id: 1-53 letters, digits, '.', '_' or '-', starting with a letter or digit."""
    return isinstance(value, str) and RUN_ID.fullmatch(value) is not None


class TestModule:
    def tests(self):
        return {"run_id": run_id}
