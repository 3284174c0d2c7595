"""Parts of the batch job and the gateway that need no cluster: the driver's row count, the
tokenisation stage, the gateway's reading of the driver's lines and its SLA rules."""

import json
import time

import pytest

pytest.importorskip("pyarrow")

from stallscope.sim.batch.gateway import parse_driver_lines, sla_state  # noqa: E402
from stallscope.sim.batch.job import count_rows, preprocess, wanted_tokens  # noqa: E402


def test_the_total_is_counted_from_jsonl_and_parquet_alike(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = [{"id": f"req-{i}", "prompt": "hello world"} for i in range(7)]
    (tmp_path / "p.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows) + "\n")
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "p.parquet")
    assert count_rows(tmp_path / "p.jsonl") == count_rows(tmp_path / "p.parquet") == 7


def test_preprocess_applies_the_chat_template_and_a_stable_answer_length():
    row = preprocess({"id": "req-1", "prompt": "Explain the cache, briefly."}, preprocess_ms=0,
                     output_len_min=16, output_len_max=64)
    assert row["id"] == "req-1" and row["prompt_tokens"] > 6  # the template's tokens and the prompt's
    assert row["wanted_tokens"] == wanted_tokens("req-1", 16, 64) and 16 <= row["wanted_tokens"] <= 64


def test_the_gateway_reads_the_drivers_latest_figures_and_the_engines_lines():
    text = "\n".join([
        "2026-12-03 07:23:20,461 INFO stallscope.batch.job: Progress: 12.5% | Completed: 50/400 | Throughput: 6.24 req/s | Tokens/sec: 583 | ETA: 0.016h | Failed: 0",
        "(MapWorker(MapBatches(EngineUDF)) pid=7) INFO 12-03 07:23:20 [engine.py:241] Engine 000: Avg prompt throughput: 1.0 tokens/s, Avg generation throughput: 2.0 tokens/s, Running: 3 reqs, Waiting: 0 reqs, GPU KV cache usage: 93.5%, Prefix cache hit rate: 0.0%",
        "(MapWorker(MapBatches(EngineUDF)) pid=8) WARNING 12-03 07:23:21 [engine.py:171] Sequence group r1 is preempted by PreemptionMode.RECOMPUTE mode because there is not enough KV cache space. total_cumulative_preemption_cnt=1",
        "2026-12-03 07:23:22,468 INFO stallscope.batch.job: Progress: 50.0% | Completed: 190/400 | Throughput: 19.97 req/s | Tokens/sec: 2027 | ETA: n/a | Failed: 10",
        "2026-12-03 07:23:22,469 INFO stallscope.batch.job: Latency: p50 0.260 s | p95 0.632 s | p99 0.746 s",
        "2026-12-03 07:23:22,470 WARNING stallscope.batch.job: SLA AT RISK! ETA 0.412h > Remaining 0.161h",
    ])
    assert parse_driver_lines(text) == {
        "progress_pct": 50.0, "completed": 190, "total": 400, "failed": 10, "throughput_rps": 19.97,
        "tokens_per_s": 2027.0, "eta_hours": None, "kv_cache_usage_pct": 93.5, "preemptions": 1,
        "latency_p50_s": 0.26, "latency_p95_s": 0.632, "latency_p99_s": 0.746, "sla_line": "at_risk"}


@pytest.mark.parametrize("elapsed_h, eta, status, expected", [
    (1.0, 2.0, "running", "on_track"),
    (1.0, 30.0, "running", "at_risk"),
    (20.0, 1.0, "running", "approaching"),
    (25.0, 1.0, "running", "violated"),
    (2.0, None, "queued", "on_track"),
    (2.0, None, "completed", "met"),
    (25.0, None, "completed", "violated"),
    (2.0, None, "failed", "failed"),
])
def test_the_services_sla_rules(elapsed_h, eta, status, expected):
    now = time.time()
    job = {"submitted_at": now - elapsed_h * 3600, "sla_hours": 24.0, "eta_hours": eta, "status": status}
    if status in ("completed", "failed"):
        job["finished_at"] = now
    assert sla_state(job)["sla_status"] == expected
