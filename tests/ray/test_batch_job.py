"""The batch job on a real Ray cluster (a `ray start --head --block` on loopback): Ray Data's actor pool
of miniature engines, the driver's progress and SLA lines, the Parquet results, and the knobs."""

import re
import subprocess
import sys
import time

import pytest

pytest.importorskip("ray")

from .cluster import environment, run_job  # noqa: E402
from .test_engine import PREEMPTED, STATS  # noqa: E402

pytestmark = pytest.mark.slow

# The service's lines (docs/ray.md), after the job's log prefix.
PREFIX = r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} \w+ stallscope\.batch\.job: "
PROGRESS = re.compile(PREFIX + r"Progress: (?P<pct>\d+\.\d)% \| Completed: (?P<done>\d+)/(?P<total>\d+) \| "
                      r"Throughput: (?P<rate>\d+\.\d\d) req/s \| Tokens/sec: (?P<tokens>\d+) \| "
                      r"ETA: (?P<eta>\d+\.\d{3}h|n/a) \| Failed: (?P<failed>\d+)$", re.M)
AT_RISK = re.compile(PREFIX + r"SLA AT RISK! ETA (?P<eta>\d+\.\d{3})h > Remaining (?P<remaining>-?\d+\.\d{3})h$", re.M)
# Ray's prefix on a forwarded worker line: `(MapWorker(MapBatches(EngineUDF)) pid=123, ip=10.0.0.1) `, without
# the ip for a worker on the driver's node.
WORKER_LINE = re.compile(r"^\(MapWorker\(MapBatches\(EngineUDF\)\) pid=(?P<pid>\d+)(?:, ip=[\d.]+)?\) (?P<line>.*)$", re.M)


@pytest.fixture(scope="module")
def prompts(head):
    path = head.run_dir / "prompts.jsonl"
    subprocess.run([sys.executable, "-m", "stallscope.sim", "prompts", "--out", path, "--num-samples", "240",
                    "--words-max", "60"], env=environment(), check=True, capture_output=True)
    return path


def engine_lines(log):
    return [(int(m["pid"]), m["line"]) for m in WORKER_LINE.finditer(log)]


def results(path):
    import pyarrow.parquet as pq

    return pq.read_table(path).to_pylist()


def test_the_default_job_runs_on_an_actor_pool_and_counts_on_the_driver(head, prompts, tmp_path):
    # Ray ends the actors without stopping their engines, so an engine logs stats only every interval
    # it is busy: a short interval lets each of the two log even when the job takes a few seconds.
    proc, log = run_job(head, "default", "--input", prompts, "--output-dir", tmp_path / "out", "--concurrency", 2,
                        "--progress-interval-s", 1, "--stats-interval-s", 0.2)
    assert proc.returncode == 0, log[-3000:]
    rows = results(tmp_path / "out" / "results.parquet")
    assert len(rows) == 240 and len({row["id"] for row in rows}) == 240
    assert all(row["error"] == "" and row["finish_reason"] in ("stop", "length") for row in rows)
    assert len({row["worker"] for row in rows}) == 2  # both actors of the pool served batches
    assert sum(row["preemptions"] for row in rows) == 0
    progress = [m.groupdict() for m in PROGRESS.finditer(log)]
    assert progress[-1]["done"] == progress[-1]["total"] == "240" and progress[-1]["failed"] == "0"
    assert [int(p["done"]) for p in progress] == sorted(int(p["done"]) for p in progress)
    assert int(progress[-1]["tokens"]) > 0 and "SLA" not in log
    stats = [(pid, STATS.match(line)) for pid, line in engine_lines(log) if "Engine 000" in line]
    assert stats and all(match for _pid, match in stats) and len({pid for pid, _ in stats}) == 2
    # Ray Data's own non-TTY progress and stats() are in the log, as on a real cluster.
    assert "Running Dataset:" in log and "ActorPoolMapOperator[MapBatches(EngineUDF)]" in log
    assert re.search(r"Operator \d+ MapBatches\(EngineUDF\): \d+ tasks executed", log)


def test_the_knobs_give_preemptions_failures_and_an_sla_at_risk(head, prompts, tmp_path):
    # The SLA clock started 50 minutes ago with a one-hour SLA: whatever the machine's speed, the ETA
    # at the rate so far exceeds the ten minutes left while requests remain. Ray Data hands results to
    # the driver in bursts once the actors are up: small batches and a short progress interval give
    # progress lines between the first burst and the last.
    proc, log = run_job(head, "knobs", "--input", prompts, "--output-dir", tmp_path / "out", "--concurrency", 2,
                        "--batch-size", 16, "--gpu-memory-utilization", 0.2, "--fail-rate", 0.1, "--sla-hours", 1,
                        "--started-at", time.time() - 3000, "--progress-interval-s", 0.2, "--stats-interval-s", 1)
    assert proc.returncode == 0, log[-3000:]
    rows = results(tmp_path / "out" / "results.parquet")
    failed = [row for row in rows if row["error"]]
    assert 0 < len(failed) < len(rows) and all(row["finish_reason"] == "error" for row in failed)
    last = [m.groupdict() for m in PROGRESS.finditer(log)][-1]
    assert int(last["failed"]) == len(failed) and int(last["done"]) == len(rows) - len(failed)
    preempted = [PREEMPTED.match(line) for _pid, line in engine_lines(log) if "preempted" in line]
    assert preempted and all(preempted)
    assert sum(row["preemptions"] for row in rows) == len(preempted)
    risks = [m.groupdict() for m in AT_RISK.finditer(log)]
    assert risks and all(float(r["eta"]) > float(r["remaining"]) for r in risks)
    unfinished = [p for p in PROGRESS.finditer(log) if 0 < int(p["done"]) + int(p["failed"]) < int(p["total"])]
    assert len(risks) == len(unfinished)  # every progress line with requests left was followed by one


def test_the_sla_lines_follow_the_services_rules(caplog):
    """Progress alone, without Ray: ETA = left / (finished / elapsed); violated when the SLA time is
    spent, at risk when the ETA exceeds what is left, approaching past 70 % of it, nothing when done."""
    import pyarrow as pa

    from stallscope.sim.batch.job import JobConfig, Progress

    def lines(sla_hours, elapsed_s, finished, total=100):
        config = JobConfig(address="", input_path=None, output_dir=None, engine=None, sla_hours=sla_hours,
                           started_at=time.time() - elapsed_s)
        progress = Progress(total, config)
        if finished:
            progress.add(pa.table({"error": [""] * finished, "generated_tokens": [1] * finished,
                                   "latency_s": [0.1] * finished}))
        caplog.clear()
        with caplog.at_level("INFO", logger="stallscope.batch.job"):
            progress.log_line()
        return [record.getMessage() for record in caplog.records if "SLA" in record.getMessage()]

    # 60 of 100 in 0.5 h: 0.33 h more, 0.5 h left of a 1 h SLA, 50 % used: on track.
    assert lines(1, 1800, 60) == []
    # 10 of 100 in 0.5 h: 4.5 h more, 0.5 h left.
    assert lines(1, 1800, 10) == ["SLA AT RISK! ETA 4.500h > Remaining 0.500h"]
    # 90 of 100 in 0.8 h: 0.089 h more, 0.2 h left, 80 % used.
    assert lines(1, 2880, 90) == ["SLA APPROACHING: 0.800h/1h used. ETA: 0.089h"]
    assert lines(1, 3960, 90) == ["SLA VIOLATED: Job exceeded 1-hour window. Elapsed: 1.100h"]
    assert lines(1, 3960, 100) == []


def test_a_missing_input_is_one_line_naming_it(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "stallscope.sim", "batch-job", "--address", "127.0.0.1:1",
                           "--input", tmp_path / "nope.jsonl", "--output-dir", tmp_path / "out"],
                          env=environment(), capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        f"stallscope-sim batch-job: --input {tmp_path / 'nope.jsonl'} does not exist; generate one with "
        "`stallscope-sim prompts --out FILE.jsonl`"]
