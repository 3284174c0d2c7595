"""The threshold table and the statistics."""

import statistics

import pytest
from hypothesis import given
from hypothesis import strategies as st

from stallscope.engine import InputError
from stallscope.engine.stats import summarize
from stallscope.engine.thresholds import DEFAULT_THRESHOLDS, classify, merge_thresholds


def test_merge_keeps_defaults_and_does_not_mutate_them():
    table = merge_thresholds({"queue_ms": {"critical": 5000}})
    assert table["queue_ms"] == {"warning": 100.0, "critical": 5000.0}
    assert DEFAULT_THRESHOLDS["queue_ms"]["critical"] == 1000.0


@pytest.mark.parametrize("override", [{"queue_ms": {"warning": True}}, {"queue_ms": {"warning": float("nan")}}])
def test_merge_rejects_non_numbers(override):
    with pytest.raises(InputError, match="queue_ms.warning: not a number"):
        merge_thresholds(override)


@pytest.mark.parametrize(("value", "severity"), [(99.9, "ok"), (100, "warning"), (1000, "warning"), (1000.1, "critical")])
def test_classify_follows_the_seed_table_bounds(value, severity):
    # docs/analysis.md: good < 100 ms, warning 100-1000 ms, critical > 1000 ms
    assert classify(value, DEFAULT_THRESHOLDS["queue_ms"]) == severity


def test_empty_summary():
    assert summarize([]) == {"count": 0, "mean": None, "stddev": None, "min": None, "p50": None, "p90": None,
                             "p95": None, "p99": None, "max": None}


@given(st.lists(st.floats(min_value=-1e9, max_value=1e9, allow_nan=False), min_size=1, max_size=200))
def test_summary_matches_the_statistics_module(values):
    stats = summarize(values)
    assert stats["count"] == len(values)
    assert stats["mean"] == pytest.approx(statistics.fmean(values), rel=1e-9, abs=1e-6)
    assert stats["stddev"] == pytest.approx(statistics.pstdev(values), rel=1e-6, abs=1e-3)
    assert stats["min"] <= stats["p50"] <= stats["p90"] <= stats["p95"] <= stats["p99"] <= stats["max"]
    if len(values) > 1:
        quantiles = statistics.quantiles(values, n=100, method="inclusive")
        assert stats["p95"] == pytest.approx(quantiles[94], rel=1e-9, abs=1e-6)
        assert stats["p50"] == pytest.approx(statistics.median(values), rel=1e-9, abs=1e-6)
