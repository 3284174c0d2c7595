"""Samples past their memory bound: moved to disk in sorted runs, with the same statistics."""

import json
import random
import subprocess
import sys
from pathlib import Path

import pytest

from stallscope.engine import analyze, correlation, digest, pipeline, samples, store
from stallscope.engine.render import timeline_text
from stallscope.engine.samples import Samples
from stallscope.engine.stats import summarize

FIXTURES = Path(__file__).parent / "fixtures"
BENCH = Path(__file__).resolve().parents[2] / "bench"


def shrink_bound(monkeypatch):
    """Spill past 3 values, checked every 2 events: a test log then spills many times."""
    monkeypatch.setattr(samples, "SPILL_AT", 3)
    monkeypatch.setattr(store.SampleSink, "BLOCK", 3)
    for module in (pipeline, digest, correlation):
        monkeypatch.setattr(module, "SPILL_EVERY", 2)


@pytest.fixture
def tiny_bound(monkeypatch):
    shrink_bound(monkeypatch)


def test_spilled_samples_keep_every_value(tiny_bound):
    values = [random.Random(7).uniform(-1e6, 1e6) for _ in range(50)] + [0.0, 0.0, -0.0, 1e12]
    spilled = Samples()
    for index, value in enumerate(values):
        spilled.append(value)
        if index % 4 == 0:
            spilled.spill()
    assert spilled.runs and spilled.spilled and len(spilled) == len(values)
    assert sorted(spilled) == sorted(values)
    assert list(spilled.ordered()) == sorted(values)
    assert summarize(spilled) == summarize(values)


def test_a_spilled_samples_with_one_run_and_nothing_held(tiny_bound):
    spilled = Samples([3.0, 1.0, 2.0])
    spilled.spill()
    assert len(spilled) == 3 and len(spilled.runs) == 1 and list(spilled.ordered()) == [1.0, 2.0, 3.0]
    assert summarize(spilled) == summarize([1.0, 2.0, 3.0])


@pytest.mark.parametrize("inputs", ["two_hosts", "dask/per_target", "bench"])
def test_the_report_does_not_change_when_samples_spill(inputs, tmp_path, monkeypatch):
    if inputs == "bench":  # a few thousand events of every prime-rl kind
        paths = [tmp_path / "orchestrator.log"]
        subprocess.run([sys.executable, str(BENCH / "make_log.py"), "--size-mb", "3", "--out", str(paths[0])], check=True)
    else:
        paths = [FIXTURES / inputs]
    in_memory = analyze(paths)
    shrink_bound(monkeypatch)
    runs_written = []
    spill = Samples.spill

    def counted_spill(self):
        before = len(self.runs)
        spill(self)
        runs_written.append(len(self.runs) - before)

    monkeypatch.setattr(Samples, "spill", counted_spill)
    on_disk = analyze(paths)
    assert sum(runs_written) >= 2
    assert json.dumps(on_disk) == json.dumps(in_memory)
    assert timeline_text(on_disk) == timeline_text(in_memory)
