"""Run-level generation throughput on synthetic batch timelines, and the compare criterion built on it."""

import pytest

from stallscope.engine import InputError, analyze
from stallscope.engine.compare import compare
from stallscope.engine.thresholds import success_criteria

from .batchlog import step_lines, write_steps

STEADY = [(0.0, 2.0)] * 7  # seven 2 s batches back to back


def run(tmp_path, name, steps, **options):
    return analyze([str(write_steps(tmp_path / name / "orchestrator.log", steps, **options))])


def test_bursts_of_near_zero_batches_after_waits_do_not_inflate_throughput(tmp_path):
    # Each step waits 3 s for its weight update and then finds its batch already generated (10 ms):
    # per-batch rates are 1600 completions/s, the run makes 16 completions every 3.01 s.
    bursty = run(tmp_path, "bursty", [(0.0, 2.0)] + [(3.0, 0.01)] * 6)["throughput"]
    steady = run(tmp_path, "steady", STEADY)["throughput"]
    assert bursty["completions_per_s"] == pytest.approx(96 / (6 * 3.01))
    assert bursty["step_time_s"] == pytest.approx(3.01)
    assert steady["completions_per_s"] == pytest.approx(8.0)
    assert bursty["completions_per_s"] < steady["completions_per_s"]
    result = compare(run(tmp_path, "steady2", STEADY), run(tmp_path, "bursty2", [(0.0, 2.0)] + [(3.0, 0.01)] * 6))
    throughput = next(c for c in result["criteria"] if c["name"].startswith("generation throughput"))
    assert throughput["result"] == "fail" and throughput["reason"] == "completions/s below 95% of before"


def test_equal_work_in_less_wall_time_counts_as_faster(tmp_path):
    slow = run(tmp_path, "slow", [(0.0, 2.0)] + [(1.5, 2.0)] * 6)
    fast = run(tmp_path, "fast", [(0.0, 2.0)] + [(0.2, 2.0)] * 6)
    assert slow["throughput"]["completions"] == fast["throughput"]["completions"] == 96
    assert fast["throughput"]["span_s"] == pytest.approx(6 * 2.2)
    result = compare(slow, fast)
    throughput = next(c for c in result["criteria"] if c["name"].startswith("generation throughput"))
    assert throughput["result"] == "pass"
    assert (throughput["before"], throughput["after"]) == (pytest.approx(16 / 3.5), pytest.approx(16 / 2.2))
    assert throughput["step_time_s"] == {"before": pytest.approx(3.5), "after": pytest.approx(2.2)}
    assert compare(fast, slow)["verdict"] == "fail"


def test_the_warm_up_steps_are_left_out(tmp_path):
    # A 20 s first step (start-up) and then 2 s steps: the steady state starts at its end.
    report = run(tmp_path, "warm", [(5.0, 15.0)] + [(0.0, 2.0)] * 6)
    assert report["throughput"]["warmup_steps"] == 1 and report["throughput"]["steps"] == 6
    assert report["throughput"]["completions_per_s"] == pytest.approx(8.0)
    cold = analyze([str(tmp_path / "warm")], thresholds={"success_criteria": {"warmup_steps": 0}})["throughput"]
    # No warm-up: from the first batch's start (after the 5 s wait) to the last batch's end.
    assert cold["steps"] == 7 and cold["span_s"] == pytest.approx(27.0)
    assert cold["completions_per_s"] == pytest.approx(112 / 27.0)


def test_line_timestamps_time_the_run_without_t_even_across_midnight(tmp_path):
    start = 86400.0 - 5.0  # 23:59:55
    report = run(tmp_path, "stamps", STEADY, start_t=start, with_t=False)["throughput"]
    assert report["clock"] == "line timestamps"
    assert report["completions_per_s"] == pytest.approx(8.0, rel=1e-3)


def test_tokens_per_second_when_every_batch_carries_tokens(tmp_path):
    with_tokens = run(tmp_path, "tokens", STEADY, tokens_per_completion=200)["throughput"]
    assert with_tokens["tokens"] == 6 * 16 * 200 and with_tokens["tokens_per_s"] == pytest.approx(1600.0)
    lines = step_lines(STEADY, tokens_per_completion=200)
    lines[-1] = lines[-1].replace(" tokens=3200", "")
    (tmp_path / "partial").mkdir()
    (tmp_path / "partial" / "o.log").write_text("\n".join(lines) + "\n")
    partial = analyze([str(tmp_path / "partial")])["throughput"]
    assert partial["tokens"] is None and partial["tokens_per_s"] is None
    assert partial["completions_per_s"] == pytest.approx(8.0)


def test_fewer_tokens_per_second_fails_even_with_the_same_completions(tmp_path):
    long = run(tmp_path, "long", STEADY, tokens_per_completion=400)
    short = run(tmp_path, "short", STEADY, tokens_per_completion=100)
    throughput = compare(long, short)["criteria"][1]
    assert throughput["result"] == "fail" and throughput["reason"] == "tokens/s below 95% of before"
    assert throughput["tokens_per_s"] == {"before": pytest.approx(3200.0), "after": pytest.approx(800.0)}


@pytest.mark.parametrize(
    ("before", "after", "reason"),
    [
        ({}, {"steps": [(0.0, 2.0)] * 3}, "after: 2 steady-state step(s), fewer than min_steps 3"),
        ({}, {"batch_size": 32}, "batch sizes differ (16 before, 32 after): equal work per step is needed"),
    ],
)
def test_too_short_or_too_different_runs_are_inconclusive(tmp_path, before, after, reason):
    one = run(tmp_path, "one", before.get("steps", STEADY), batch_size=before.get("batch_size", 16))
    two = run(tmp_path, "two", after.get("steps", STEADY), batch_size=after.get("batch_size", 16))
    result = compare(one, two)
    throughput = result["criteria"][1]
    assert (throughput["result"], throughput["reason"]) == ("inconclusive", reason)
    assert result["verdict"] == "inconclusive"


def test_different_warm_ups_are_inconclusive(tmp_path):
    path = write_steps(tmp_path / "r" / "o.log", STEADY)
    one = analyze([str(path)])
    two = analyze([str(path)], thresholds={"success_criteria": {"warmup_steps": 2}})
    assert compare(one, two)["criteria"][1]["reason"].startswith("analysed with different warm-ups (1 and 2 steps)")


def test_a_run_without_measurable_throughput_is_not_measured(tmp_path):
    only_warmup = run(tmp_path, "short", [(0.0, 2.0)])
    assert only_warmup["throughput"]["reason"] == "1 batch(es), all warm-up (warmup_steps 1)"
    steady = run(tmp_path, "steady", STEADY)
    result = compare(steady, only_warmup)
    assert result["criteria"][1]["result"] == "not measured" and result["verdict"] == "incomplete"
    old = dict(steady)
    del old["throughput"]  # a report.json from before run-level throughput
    assert "analyse its logs again" in compare(old, steady)["criteria"][1]["reason"]


def test_times_that_go_back_are_reported_not_measured(tmp_path):
    lines = step_lines(STEADY, clock_prefix=False) + step_lines(STEADY, clock_prefix=False)
    (tmp_path / "o.log").write_text("\n".join(lines) + "\n")
    reason = analyze([str(tmp_path / "o.log")])["throughput"]["reason"]
    assert reason.startswith("batch times go back at ") and reason.endswith("o.log:16 (two orchestrators in one host's logs?)")


def test_each_host_is_its_own_orchestrator_and_their_rates_add_up(tmp_path):
    for host, batch_s in (("a", 2.0), ("b", 4.0)):
        write_steps(tmp_path / host / "logs" / "orchestrator.log", [(0.0, batch_s)] * 5)
        (tmp_path / host / "run_manifest.json").write_text(f'{{"schema_version": 1, "host": "{host}"}}')
    section = analyze([str(tmp_path / "a"), str(tmp_path / "b")])["throughput"]
    assert [s["host"] for s in section["sources"]] == ["a", "b"]
    assert section["completions_per_s"] == pytest.approx(8.0 + 4.0)
    assert section["step_time_s"] is None and section["steps"] == 8


def test_success_criteria_are_overridable_and_checked():
    assert success_criteria({"success_criteria": {"gen_throughput_tolerance": 0.1}})["gen_throughput_tolerance"] == 0.1
    assert success_criteria()["queue_ms_p95_below"] == 300.0
    for override, message in (
        ({"min_steps": 0}, "success_criteria.min_steps: must be a whole number of steps >= 1"),
        ({"warmup_steps": 1.5}, "success_criteria.warmup_steps: must be a whole number of steps >= 0"),
        ({"gen_throughput_tolerance": 5}, "success_criteria.gen_throughput_tolerance: a tolerance is a fraction"),
        ({"queue_ms_p95_below": "fast"}, "success_criteria.queue_ms_p95_below: not a number"),
        ({"queue_p95": 1}, "success_criteria.queue_p95: unknown criterion"),
    ):
        with pytest.raises(InputError, match=message):
            success_criteria({"success_criteria": override})


def test_compare_judges_with_the_overridden_criteria(tmp_path):
    before = run(tmp_path, "before", STEADY)
    after = run(tmp_path, "after", [(0.0, 2.0)] + [(0.0, 2.2)] * 6)  # 9 % slower
    assert compare(before, after)["criteria"][1]["result"] == "fail"
    lenient = compare(before, after, thresholds={"success_criteria": {"gen_throughput_tolerance": 0.1}})
    assert lenient["criteria"][1]["result"] == "pass"
    assert lenient["criteria"][1]["name"] == "generation throughput not worse (run-level completions/s after >= 90% of before)"
