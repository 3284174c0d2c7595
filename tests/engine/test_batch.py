"""The batch-inference family on logs of real batch jobs (tests/fixtures/ray_batch, recorded from
`stallscope-sim batch-job` on a real Ray head) and on vLLM's own lines (tests/fixtures/vllm): each
knob's log gives its finding, with its evidence and fix; compare judges two runs on throughput and
the SLA; resumed and merged states give the one-pass report."""

import gzip
import json
from pathlib import Path

import pytest

from stallscope.engine import analyze, analyze_states
from stallscope.engine.compare import compare
from stallscope.engine.errors import InputError
from stallscope.engine.families import batch
from stallscope.engine.thresholds import merge_thresholds

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
RUNS = FIXTURES / "ray_batch"


def log_path(name):
    plain = RUNS / f"{name}.log"
    return plain if plain.exists() else RUNS / f"{name}.log.gz"


def log_text(name):
    path = log_path(name)
    data = path.read_bytes()
    return (gzip.decompress(data) if path.suffix == ".gz" else data).decode()


@pytest.mark.parametrize("name, diagnosis, severity", [
    ("default", "healthy", "ok"),
    ("slow_worker", "straggler_worker", "warning"),
    ("preprocess", "preprocessing_bound", "critical"),
    ("low_gpu_memory", "kv_cache_pressure", "critical"),
    ("failures", "high_error_rate", "warning"),
    ("sla_at_risk", "sla_at_risk", "warning"),
])
def test_each_knobs_log_gives_its_diagnosis(name, diagnosis, severity):
    report = analyze([log_path(name)])
    assert report["profile"] == "batch"
    assert (report["diagnosis"], report["severity"]) == (diagnosis, severity)
    if diagnosis != "healthy":
        top = next(finding for finding in report["findings"] if finding["id"] == diagnosis)
        assert top["evidence"] and top["recommendation"]
    else:
        assert report["findings"] == []


def test_the_default_jobs_figures_are_the_logs():
    report = analyze([log_path("default")])
    job, = report["batch"]["jobs"]
    assert (job["completed"], job["failed"], job["total"], job["finished"]) == (640, 0, 640, True)
    assert job["config"] == {"batch_size": 32, "concurrency": 2, "max_concurrent_batches": 1, "max_tokens": 256}
    # 640 completed from the `job start` line (12:41:52,284) to the `job done` line (12:42:23,092).
    assert job["span_s"] == pytest.approx(30.808, abs=0.001)
    # Sustained: from the first progress line with a completion (12:42:14,364, 80 done) to the end.
    assert job["startup_s"] == pytest.approx(22.080, abs=0.001)
    assert job["throughput_rps"] == pytest.approx((640 - 80) / (30.808 - 22.080), rel=1e-4)
    assert job["latency_s"] == {"p50": 0.321, "p95": 0.931, "p99": 1.087}
    assert job["sla"]["state"] == "met" and job["sla"]["lines"] == {"approaching": 0, "at_risk": 0, "violated": 0}
    assert [stage["kind"] for stage in job["stages"]] == ["cpu", "cpu", "engine", "cpu"]
    assert job["stages"][2] == {"name": "MapBatches(EngineUDF)", "kind": "engine", "tasks": 8, "wall_s": 14.16}
    assert len(job["workers"]) == 2 and job["worker_slowdown"]["ratio"] < 1.5
    assert report["metrics"]["kv_cache_usage_pct"]["count"] == sum(w["stats_lines"] for w in job["workers"])


def test_the_findings_name_the_knob_in_their_evidence_and_fix():
    kv = next(f for f in analyze([log_path("low_gpu_memory")])["findings"] if f["id"] == "kv_cache_pressure")
    assert kv["evidence"]["preemptions"] == log_text("low_gpu_memory").count("is preempted by PreemptionMode")
    assert "gpu_memory_utilization" in kv["recommendation"]
    slow = next(f for f in analyze([log_path("slow_worker")])["findings"] if f["id"] == "straggler_worker")
    assert slow["evidence"]["slowdown"] >= 2 and slow["evidence"]["slowest"]["worker"].startswith("pid ")
    pre = next(f for f in analyze([log_path("preprocess")])["findings"] if f["id"] == "preprocessing_bound")
    assert "Map(preprocess)" in pre["summary"] and pre["evidence"]["cpu_stage_share"] > 1
    sla = next(f for f in analyze([log_path("sla_at_risk")])["findings"] if f["id"] == "sla_at_risk")
    assert sla["evidence"]["eta_h"] > sla["evidence"]["remaining_h"] and sla["evidence"]["sla_hours"] == 1
    assert sla["evidence"]["sla_lines"]["at_risk"] == log_text("sla_at_risk").count("SLA AT RISK!")


def test_an_unfinished_job_at_risk_is_critical_and_past_its_window_violated(tmp_path):
    lines = [line for line in log_text("sla_at_risk").splitlines() if "job done" not in line]
    last_open = max(i for i, line in enumerate(lines) if "| Completed: " in line and "Completed: 240/240" not in line)
    at_risk = next(i for i in range(last_open, len(lines)) if "SLA AT RISK!" in lines[i])
    (tmp_path / "live.log").write_text("\n".join(lines[:at_risk + 1]) + "\n")  # up to that line's SLA line
    report = analyze([tmp_path / "live.log"])
    assert (report["diagnosis"], report["severity"]) == ("sla_at_risk", "critical")
    (tmp_path / "live.log").write_text("\n".join(lines[:last_open + 1]) + "\n2026-12-03 13:40:59,123 CRITICAL "
                                       "stallscope.batch.job: SLA VIOLATED: Job exceeded 1-hour window. Elapsed: 1.020h\n")
    report = analyze([tmp_path / "live.log"])
    assert (report["diagnosis"], report["severity"]) == ("sla_violated", "critical")


def test_vllms_own_lines_and_the_services_sla_lines_parse():
    stats, preempted = (FIXTURES / "vllm" / "v1_engine.log").read_text().splitlines()
    assert batch.parse(stats) == {"event": "stats", "worker": "pid 1", "gen_tps": 11.5, "running": 8, "waiting": 0,
                                  "kv": 45.7}
    assert batch.parse(preempted) == {"event": "preempted", "worker": "-"}
    # The service's own wording, two decimals (docs/ray.md).
    assert batch.parse("SLA AT RISK! ETA 26.31h > Remaining 3.20h")["remaining_h"] == 3.2
    assert batch.parse("SLA APPROACHING: 17.10h/24h used. ETA: 5.00h")["state"] == "approaching"
    assert batch.parse("Progress: 45.2% | Completed: 452/1000 | Throughput: 6.10 req/s | Tokens/sec: 1200 | "
                       "ETA: n/a | Failed: 0")["eta_h"] is None
    assert batch.parse("the SLA is fine") is None


def test_unreadable_figures_are_counted_and_what_is_left_still_judged(tmp_path):
    # A live job: its last progress lines and its end not written yet.
    lines = [line for line in log_text("failures").splitlines() if "job done" not in line and "221/240" not in line]
    lines.insert(5, "2026-12-03 12:40:30,000 INFO stallscope.batch.job: Progress: 1.0% | Completed: 1/240 | "
                    "Throughput: " + "9" * 400 + " req/s | Tokens/sec: 1 | ETA: 1.000h | Failed: 0")
    (tmp_path / "job.log").write_text("\n".join(lines[:40]) + "\n\x00binary tail")
    report = analyze([tmp_path / "job.log"])
    assert report["inputs"][0]["malformed"] == 1
    assert any("1 tagged line(s) with unreadable fields" in warning for warning in report["warnings"])
    job, = report["batch"]["jobs"]
    assert job["completed"] is not None and job["finished"] is False


def test_the_gateways_lines_count_the_queue_and_a_deep_one_is_a_backlog(tmp_path):
    prefix = "13:19:12    INFO "  # the gateway's lines under uvicorn's logging
    lines = [f"{prefix}job job-{n:04d} queued: dataset=prompts num_samples=100 sla_hours=24 (position {n + 1})"
             for n in range(150)]
    lines += [f"{prefix}job job-0000 completed (exit code 0); log logs/job-0000.log",
              f"{prefix}job job-0001 failed (exit code 1); log logs/job-0001.log"]
    (tmp_path / "gateway.log").write_text("\n".join(lines) + "\n")
    report = analyze([tmp_path / "gateway.log"])
    assert report["batch"]["gateway"] == {"queued": 150, "max_queue_position": 150, "completed": 1,
                                          "failed": ["job-0001"]}
    assert (report["diagnosis"], report["severity"]) == ("queue_backlog", "warning")


def test_compare_judges_batch_runs_on_throughput_and_the_sla():
    default, preprocess, sla = (analyze([log_path(name)]) for name in ("default", "preprocess", "sla_at_risk"))
    worse = compare(default, preprocess)
    assert worse["verdict"] == "fail" and worse["criteria"][0]["result"] == "fail"
    assert {row["figure"] for row in worse["batch"]} >= {"throughput (req/s)", "tokens/s", "latency p95 (s)"}
    assert compare(default, json.loads(json.dumps(default)))["verdict"] == "pass"
    assert compare(preprocess, default)["verdict"] == "pass"
    assert compare(default, sla)["criteria"][1]["result"] == "pass"  # met in the end


def test_floors_are_checked_the_other_way_round():
    assert merge_thresholds({"batch_throughput_rps": {"warning": 50}})["batch_throughput_rps"]["warning"] == 50
    with pytest.raises(InputError, match="batch_throughput_rps: a floor's warning \\(0.5\\) is below its critical \\(1\\)"):
        merge_thresholds({"batch_throughput_rps": {"warning": 0.5}})


def test_a_job_log_read_in_pieces_and_merged_gives_the_one_pass_report(tmp_path):
    data = log_text("slow_worker").encode()
    whole = tmp_path / "whole" / "job.log"
    whole.parent.mkdir()
    whole.write_bytes(data)
    expected = json.loads(json.dumps(analyze([whole])))
    live = tmp_path / "live" / "job.log"
    live.parent.mkdir()
    for cut in (len(data) // 7, len(data) // 3, len(data) // 2 + 11, len(data)):
        live.write_bytes(data[:cut])
        try:
            analyze([live], state_dir=tmp_path / "state")
        except Exception:  # nothing recognised yet: the state is still saved
            pass
    merged = json.loads(json.dumps(analyze_states([tmp_path / "state"])).replace(str(live), str(whole)))
    assert merged == expected
