"""`stallscope compare BEFORE AFTER`: analysis dirs, report.json files or log dirs."""

import json

from tests.engine.batchlog import step_lines
from tests.engine.seedlog import SEED, write_log

SPIKE_UPDATE = SEED["gen_spike_during_update"][1:3]  # its client.send and client.done (queue_ms 29000)


def before_and_after(tmp_path):
    """A run with the shared client (updates queue 30 s; each step waits for one, then finds its
    batch generated meanwhile) and one with the dedicated admin client (the same batches, no wait)."""
    before, after = tmp_path / "before", tmp_path / "after"
    waits = step_lines([(0.0, 2.0)] + [(3.0, 0.01)] * 6, clock_prefix=False)
    write_log(before / "orchestrator.log", SPIKE_UPDATE + SEED["weights_frontend_queue"][::4] + waits, prefix="none")
    fixed = [line.replace("wall_ms=30000 queue_ms=29000", "wall_ms=1087 queue_ms=87") for line in SPIKE_UPDATE]
    steady = step_lines([(0.0, 2.0)] * 7, clock_prefix=False)
    write_log(after / "orchestrator.log", fixed + SEED["weights_normal"][::4] + steady, prefix="none")
    return before, after


def test_compare_log_dirs_passes_when_the_fix_worked(stallscope, tmp_path):
    before, after = before_and_after(tmp_path)
    result = stallscope("compare", before, after)
    assert result.code == 0, result.err
    assert "**Verdict: pass**" in result.out
    assert "- pass: queue_ms p95 < 300 ms (after)" in result.out
    # Run-level: 96 completions in 6 x 3.01 s before, in 6 x 2 s after.
    assert ("- pass: generation throughput not worse (run-level completions/s after >= 95% of before) "
            "(before 5.316, after 8; step time 3.01 s -> 2 s)") in result.out
    assert "| completions/s | " in result.out and "| step time (s) | 3.01 | 2 | -1.0 (-34%) |" in result.out
    row = next(line for line in result.out.splitlines() if line.startswith("| queue_ms |"))
    # before: queue_ms 29000 and 30333.4; after: 87 and 0.2
    assert row.startswith("| queue_ms | 29666.7 | 43.6 | 29666.7 | 43.6 |") and row.endswith("(-100%) |")


def test_compare_analysis_dirs_and_report_files_as_json(stallscope, tmp_path):
    before, after = before_and_after(tmp_path)
    assert stallscope("analyze", before, "--out", tmp_path / "a1").code == 0
    assert stallscope("analyze", after, "--out", tmp_path / "a2").code == 0
    result = stallscope("compare", tmp_path / "a2", tmp_path / "a1" / "report.json", "--json")
    comparison = json.loads(result.out)
    assert comparison["verdict"] == "fail"  # swapped: the "after" run is the slow one
    criteria = {c["name"].split(" ")[0]: c["result"] for c in comparison["criteria"]}
    assert criteria == {"queue_ms": "fail", "generation": "fail"}
    assert comparison["metrics"]["queue_ms"]["before"]["p95"] < comparison["metrics"]["queue_ms"]["after"]["p95"]


def test_compare_without_generation_batches_is_incomplete(stallscope, tmp_path):
    write_log(tmp_path / "b" / "o.log", SEED["weights_frontend_queue"])
    write_log(tmp_path / "a" / "o.log", SEED["weights_normal"])
    comparison = json.loads(stallscope("compare", tmp_path / "b", tmp_path / "a", "--json").out)
    assert comparison["verdict"] == "incomplete"


def test_compare_rejects_a_json_that_is_not_a_report(stallscope, tmp_path):
    (tmp_path / "x.json").write_text('{"hello": 1}')
    write_log(tmp_path / "a" / "o.log", SEED["weights_normal"])
    result = stallscope("compare", tmp_path / "x.json", tmp_path / "a")
    assert result.code == 2 and "x.json: not a stallscope report.json" in result.err


def test_fail_on_regression_exit_codes(stallscope, tmp_path):
    before, after = before_and_after(tmp_path)
    assert stallscope("compare", before, after, "--fail-on-regression").code == 0
    assert stallscope("compare", after, before).code == 0  # a fail without the gate option
    swapped = stallscope("compare", after, before, "--fail-on-regression")
    assert swapped.code == 5 and "**Verdict: fail**" in swapped.out
    write_log(tmp_path / "short" / "o.log", step_lines([(0.0, 2.0)] * 3, clock_prefix=False), prefix="none")
    short = stallscope("compare", before, tmp_path / "short", "--fail-on-regression")
    assert short.code == 6 and "**Verdict: inconclusive**" in short.out
    assert "after: 2 steady-state step(s), fewer than min_steps 3" in short.out


def test_success_criteria_come_from_the_thresholds_file(stallscope, tmp_path):
    before, after = before_and_after(tmp_path)
    strict = tmp_path / "strict.yml"
    strict.write_text("success_criteria: {queue_ms_p95_below: 50}\n")
    result = stallscope("compare", before, after, "--thresholds", strict, "--fail-on-regression")
    assert result.code == 5
    assert "- fail: queue_ms p95 < 50 ms (after)" in result.out


def test_three_runs_print_one_row_each_with_the_best_marked(stallscope, tmp_path):
    before, after = before_and_after(tmp_path)
    result = stallscope("compare", before, after, before, "--objective", "throughput.completions_per_s:higher")
    assert result.code == 0, result.err
    rows = [line for line in result.out.splitlines() if line.startswith("| ") and "`" in line]
    assert len(rows) == 3
    assert rows[1].startswith(f"| **{after}** (best) |") and rows[1].endswith("| pass |")
    assert rows[2].endswith("| fail |")  # the baseline again: queue_ms p95 is not below 300 ms
    assert stallscope("compare", before, after, before, "--fail-on-regression").code == 5
    bad = stallscope("compare", before, after, "--objective", "fast:higher")
    assert bad.code == 2 and "--objective.metric: 'fast' is not <metric>.<stat>" in bad.err
