"""The miniature vLLM engine alone (no Ray): its scheduler under the KV-cache budget, its failures and
its log lines against vLLM's recorded ones (tests/fixtures/vllm)."""

import logging
import re
from pathlib import Path

import pytest

pytest.importorskip("numpy")

from stallscope.sim.batch.config import EngineConfig, EngineConfigError  # noqa: E402
from stallscope.sim.batch.engine import MiniEngine, Request, injected_failure  # noqa: E402

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "vllm"
# vLLM's shapes (the level, a MM-DD HH:MM:SS time, a [file:line] or file:line location, then the message).
PREFIX = r"(?:\(\w+ pid=\d+\) )?(?P<level>INFO|WARNING) \d\d-\d\d \d\d:\d\d:\d\d \[?[\w/.]+:\d+\]? "
STATS = re.compile(PREFIX + r"Engine (?P<engine>\d{3}): Avg prompt throughput: (?P<prompt>\d+\.\d) tokens/s, "
                   r"Avg generation throughput: (?P<generation>\d+\.\d) tokens/s, Running: (?P<running>\d+) reqs, "
                   r"Waiting: (?P<waiting>\d+) reqs, GPU KV cache usage: (?P<kv>\d+\.\d)%, "
                   r"Prefix cache hit rate: \d+\.\d%$")
PREEMPTED = re.compile(PREFIX + r"Sequence group (?P<request>\S+) is preempted by PreemptionMode\.RECOMPUTE mode "
                       r"because there is not enough KV cache space\. This can affect the end-to-end performance\. "
                       r"Increase gpu_memory_utilization or tensor_parallel_size to provide more KV cache memory\. "
                       r"total_cumulative_preemption_cnt=(?P<total>\d+)$")
# A small model: the scheduler is under test here, not the compute.
TINY = dict(model_mb=1.0)


def requests(n, prompt=60, wanted=120):
    return [Request(f"r{i}", prompt + i % 40, wanted + (i * 37) % 100) for i in range(n)]


@pytest.fixture
def engine_lines(caplog):
    caplog.set_level(logging.INFO, logger="stallscope.batch.engine")
    from stallscope.sim.batch import engine as module
    module.log.propagate = True  # configure_logging() may have run in this process
    yield lambda: [module.logging.Formatter(module.VLLM_LINE_FORMAT, module.VLLM_DATE_FORMAT).format(r)
                   for r in caplog.records]


def test_the_patterns_read_vllms_own_lines():
    stats, preempted = (FIXTURES / "v1_engine.log").read_text().splitlines()
    assert STATS.match(stats).group("kv") == "45.7"
    assert PREEMPTED.match(preempted).group("total") == "1"


def test_a_batch_that_fits_the_cache_runs_to_its_lengths_without_preemption(engine_lines):
    engine = MiniEngine(EngineConfig(max_tokens=150, stats_interval_s=0.0, **TINY))
    batch = engine.generate(requests(48))
    assert [r.generated for r in batch] == [min(r.wanted_tokens, 150) for r in batch]
    assert all(r.error is None and r.preemptions == 0 and r.finished_at >= r.first_token_at for r in batch)
    assert engine.free_blocks == engine.num_blocks and engine.preemptions_total == 0
    assert engine.generation_tokens_total == sum(r.generated for r in batch)
    lines = engine_lines()
    stats = [STATS.match(line) for line in lines if "Engine 000" in line]
    assert stats and all(stats)
    assert max(int(m["running"]) for m in stats) <= engine.config.max_num_seqs
    assert not any("preempted" in line for line in lines)


def test_a_small_cache_preempts_in_vllms_words_and_still_finishes_every_request(engine_lines):
    config = EngineConfig(gpu_memory_utilization=0.3, max_tokens=200, stats_interval_s=0.0, **TINY)
    engine = MiniEngine(config)
    batch = engine.generate(requests(40, prompt=80, wanted=150))
    assert engine.preemptions_total > 0 and sum(r.preemptions for r in batch) == engine.preemptions_total
    assert all(r.generated == min(r.wanted_tokens, 200) for r in batch)
    preempted = [PREEMPTED.match(line) for line in engine_lines() if "preempted" in line]
    assert [int(m["total"]) for m in preempted] == list(range(1, engine.preemptions_total + 1))
    usage = [float(STATS.match(line)["kv"]) for line in engine_lines() if "Engine 000" in line]
    assert max(usage) > 90  # the cache was full when it preempted


def test_injected_failures_are_stable_by_request_id():
    config = EngineConfig(fail_rate=0.25, **TINY)
    batch = MiniEngine(config).generate(requests(200))
    failed = {r.request_id for r in batch if r.error}
    assert 20 < len(failed) < 80 and all(r.generated == 0 for r in batch if r.error)
    assert failed == {r.request_id for r in requests(200) if injected_failure(r.request_id, 0.25)}


def test_a_configuration_without_room_for_the_cache_is_refused_with_the_fix():
    with pytest.raises(EngineConfigError, match="raise gpu_memory_utilization"):
        MiniEngine(EngineConfig(gpu_memory_mb=16, gpu_memory_utilization=0.5))


def test_a_prompt_longer_than_the_cache_fails_alone():
    engine = MiniEngine(EngineConfig(gpu_memory_utilization=0.2, **TINY))
    long, short = Request("long", 10**6, 10), Request("short", 10, 10)
    engine.generate([long, short])
    assert "does not fit the KV cache" in long.error and short.error is None and short.generated == 10


def test_concurrent_callers_share_one_running_loop():
    import threading

    engine = MiniEngine(EngineConfig(stats_interval_s=60, **TINY))
    engine.start()
    batches = [requests(20), requests(20, prompt=30)]
    threads = [threading.Thread(target=engine.submit, args=(batch,)) for batch in batches]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    engine.stop()
    assert all(r.finished_at and r.generated for batch in batches for r in batch)
