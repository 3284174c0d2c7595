"""docs/analysis.md's example SUMMARY.md is what the code produces from the fixture it names."""

from pathlib import Path

from stallscope.engine import analyze
from stallscope.engine.render import summary_markdown

ROOT = Path(__file__).resolve().parents[2]


def test_docs_example_summary_is_current(monkeypatch):
    monkeypatch.chdir(ROOT)
    doc = (ROOT / "docs" / "analysis.md").read_text()
    example = doc.split("````markdown\n", 1)[1].split("````\n", 1)[0]
    assert example == summary_markdown(analyze(["tests/engine/fixtures/two_hosts"]))
