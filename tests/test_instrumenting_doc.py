"""docs/instrumenting.md's examples are what the engine reads: every example line is recognised and
the update it shows adds up."""

import re
from pathlib import Path

from stallscope.engine import analyze
from stallscope.engine.families import gpu

DOC = (Path(__file__).resolve().parents[1] / "docs" / "instrumenting.md").read_text()


def blocks_after(heading):
    """The fenced code blocks of the section under `heading`, in order."""
    section = DOC.split(heading, 1)[1].split("\n## ", 1)[0]
    return re.findall(r"^```[a-z]*\n(.*?)^```$", section, re.S | re.M)


def test_the_grammar_example_is_read_line_by_line(tmp_path):
    lines = [line.split(None, 1) for line in blocks_after("### Example")[0].splitlines() if line.strip()]
    for process in {process for process, _ in lines}:
        (tmp_path / f"{process}.log").write_text("".join(f"11:22:20    INFO {text}\n" for p, text in lines if p == process))
    report = analyze([str(tmp_path)])
    assert sum(entry["recognised"] for entry in report["inputs"]) == len(lines)
    assert all(entry["malformed"] == 0 for entry in report["inputs"])
    assert report["updates"]["complete"] == 1 and report["requests"]["untraced"] == 1
    (update,) = [row for row in report["per_step"]["rows"]]
    columns = dict(zip(report["per_step"]["columns"], update))
    assert round(columns["wall_ms"] - columns["rpc_ms"], 3) == columns["queue_ms"]


def test_the_gpu_sampler_example_is_read(tmp_path):
    command, example = blocks_after("### GPU samples")[:2]
    assert "--format=csv,nounits -l 1" in command
    assert re.match(r"timestamp, index, utilization\.gpu \[%\]", example)
    (tmp_path / "gpu_sampler.log").write_text(example)
    samples = []
    counts = gpu.scan(str(tmp_path / "gpu_sampler.log"), samples.append)
    assert counts["malformed"] == 0 and [s["util_pct"] for s in samples] == [96.0, 0.0]
