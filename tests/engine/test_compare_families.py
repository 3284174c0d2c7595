"""A family brings its own compare part (docs/architecture.md, "The family interface"): a family
registered with SECTION, COMPARED_*, RUN_FIGURES, criteria() and figure() is compared on them, with
no change to compare.py."""

import types

import pytest

from stallscope import fixes
from stallscope.engine import families
from stallscope.engine.compare import compare, compare_markdown, compare_runs, report_value


def _criteria(before, after, table):
    old, new = before["widget"]["rate"], after["widget"]["rate"]
    return [{"name": "widget rate not worse", "before": old, "after": new, "result": "pass" if new >= old else "fail"}]


WIDGET = types.SimpleNamespace(
    NAME="widget", SECTION="widget", COMPARED_METRICS=("spin_ms",), COMPARED_TITLE="Widgets",
    COMPARED_FIGURES=(("rate (/s)", "widget.rate"), ("rate (/min)", "widget.per_min"), ("unknown", "widget.none")),
    COMPARED_EMPTY_ROWS=True, RUN_FIGURES=(("rate", "widget.rate"),), criteria=_criteria,
    figure=lambda section, key: section["rate"] * 60 if key == "per_min" else section.get(key))


def report(rate, spin_p95=None, widget=True):
    spin = {"count": 3, "mean": spin_p95, "p50": spin_p95, "p95": spin_p95} if spin_p95 is not None else None
    return {"diagnosis": "healthy", "severity": "ok", "metrics": {"spin_ms": spin, "queue_ms": None},
            **({"widget": {"rate": rate}} if widget else {})}


@pytest.fixture(autouse=True)
def registered(monkeypatch):
    monkeypatch.setattr(families, "RUNS", [*families.RUNS, WIDGET])


def test_two_reports_of_a_new_family_are_compared_on_its_figures_and_criteria():
    result = compare(report(2.0, 10.0), report(1.0, 20.0))
    assert result["verdict"] == "fail"
    assert [c["name"] for c in result["criteria"]] == ["widget rate not worse"]
    assert list(result["metrics"]) == ["spin_ms"] and result["metrics"]["spin_ms"]["change"]["p95"]["delta"] == 10.0
    assert [(row["figure"], row["before"], row["after"]) for row in result["widget"]] == [
        ("rate (/s)", 2.0, 1.0), ("rate (/min)", 120.0, 60.0), ("unknown", None, None)]
    markdown = compare_markdown(result, "a", "b")
    assert "## Widgets" in markdown and "| unknown | - | - | - |" in markdown


def test_without_the_family_in_both_reports_prime_rls_comparison_applies():
    result = compare(report(2.0), report(1.0, widget=False))
    assert "widget" not in result and "throughput" in result
    assert result["criteria"][0]["name"].startswith("queue_ms p95")


def test_the_n_way_table_report_values_and_objectives_read_the_new_section():
    result = compare_runs([{"name": "a", "report": report(2.0)}, {"name": "b", "report": report(3.0)}],
                          {"metric": "widget.per_min", "better": "higher"})
    assert result["figures"] == ["rate"] and result["best"] == "b"
    assert [row["verdict"] for row in result["rows"]] == [None, "pass"]
    assert report_value(report(2.0), "widget.per_min") == 120.0
    assert fixes.profile_fixes({"name": "p", "objective": {"metric": "widget.rate", "better": "higher"}})["objective"]
