"""Fixes as data (src/stallscope/fixes.py): the shipped profiles' fixes and objectives, checking and choosing."""

from pathlib import Path

import pytest
import yaml

from stallscope.engine import InputError
from stallscope.fixes import choose_fix, profile_fixes

PROFILES = Path(__file__).resolve().parents[1] / "profiles"


def load(name):
    return yaml.safe_load((PROFILES / f"{name}.yml").read_text())


@pytest.mark.parametrize("name", ["simrl", "dask_calibration", "prime_rl"])
def test_every_shipped_profile_has_checked_fixes_and_an_objective(name):
    checked = profile_fixes(load(name))
    assert checked["fixes"] and checked["objective"]["better"] in ("lower", "higher")


def test_the_seed_fixes_of_the_simulated_and_dask_profiles():
    simrl = profile_fixes(load("simrl"))["fixes"]
    assert simrl["frontend_queue_saturation"][0]["vars"] == {"admin_client": "dedicated"}
    assert simrl["generation_contention"][0]["vars"] == {"weight_update": "before-batch"}
    dask = profile_fixes(load("dask_calibration"))["fixes"]["aggregation_data_movement"]
    assert [fix["vars"] for fix in dask] == [{"aggregation": "multi-target"}, {"agg_placement": "data"}]


def test_choose_the_first_fix_of_the_diagnosis_or_a_named_one():
    profile = load("dask_calibration")
    fix, reason = choose_fix(profile, "aggregation_data_movement")
    assert (fix["name"], fix["finding"], reason) == ("multi-target-aggregation", "aggregation_data_movement", None)
    named, _ = choose_fix(profile, "healthy", name="aggregate-where-data-is")
    assert named["vars"] == {"agg_placement": "data"}
    with pytest.raises(InputError, match="fix faster: not a fix of profile dask_calibration"):
        choose_fix(profile, "aggregation_data_movement", name="faster")


@pytest.mark.parametrize(("diagnosis", "reason"), [
    ("healthy", "the baseline is healthy: there is nothing to fix"),
    ("worker_imbalance", "profile dask_calibration has no known fix for worker_imbalance"),
])
def test_nothing_to_run_says_why(diagnosis, reason):
    assert choose_fix(load("dask_calibration"), diagnosis) == (None, reason)


BASE = {"name": "p", "vars": {"a": 1, "b": 2}}


@pytest.mark.parametrize(("extra", "message"), [
    ({"fixes": {"queue": [{"name": "x", "description": "d", "vars": {"a": 2}}]}}, "profile p: fixes.queue: unknown finding"),
    ({"fixes": {"checkpoint_stall": []}}, "fixes.checkpoint_stall: must be a non-empty list"),
    ({"fixes": {"checkpoint_stall": [{"name": "Bad Name", "description": "d", "vars": {"a": 2}}]}},
     r"fixes.checkpoint_stall\[0\].name: 'Bad Name' must be"),
    ({"fixes": {"checkpoint_stall": [{"name": "x", "vars": {"a": 2}}]}}, r"fixes.checkpoint_stall\[0\].description: a sentence"),
    ({"fixes": {"checkpoint_stall": [{"name": "x", "description": "d", "vars": {"c": 2}}]}},
     r"fixes.checkpoint_stall\[0\].vars: \['c'\] are not variables of the profile"),
    ({"fixes": {"checkpoint_stall": [{"name": "x", "description": "d", "vars": {"a": 2}, "when": 1}]}},
     r"unknown keys \['when'\]"),
    ({"fixes": {"checkpoint_stall": [{"name": "x", "description": "d", "vars": {"a": 2}}],
                "slow_generation": [{"name": "x", "description": "d", "vars": {"b": 1}}]}},
     "fixes.slow_generation\\[0\\].name: x is the name of another fix"),
    ({"objective": {"metric": "queue_ms.p95", "better": "smaller"}}, "objective.better: 'smaller' is not lower or higher"),
    ({"objective": {"metric": "queue_ms", "better": "lower"}}, "objective.metric: 'queue_ms' is not <metric>.<stat>"),
    ({"objective": "fast"}, "objective: must be a mapping of metric"),
])
def test_mistakes_are_one_line_naming_the_profile_and_the_key(extra, message):
    with pytest.raises(InputError, match=message):
        profile_fixes({**BASE, **extra})
