"""test_plugins/stallscope.py: the run_id test (templates see it in tests/test_filters.py)."""

import importlib.util
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("stallscope_tests", REPO / "test_plugins" / "stallscope.py")
plugin = importlib.util.module_from_spec(spec)
spec.loader.exec_module(plugin)


@pytest.mark.parametrize("value", ["20261123-101500", "a", "run.1_b-2", "A" * 53])
def test_plain_names_are_run_ids(value):
    assert plugin.run_id(value)


@pytest.mark.parametrize("value", ["", "-x", ".hidden", "a/b", "../up", "a b", "x;rm", "A" * 54, "é", 12, None, "a\n"])
def test_anything_else_is_not(value):
    assert not plugin.run_id(value)
