"""Every example line (seedlog.py) gives its finding and diagnosis, whatever the prefix, colour or line ending."""

import pytest

from stallscope.engine import analyze
from stallscope.engine.render import timeline_entries

from .seedlog import PREFIXES, SEED, write_log

STYLES = [
    {"prefix": prefix, "coloured": coloured, "crlf": crlf}
    for prefix in PREFIXES
    for coloured in (False, True)
    for crlf in (False, True)
]
STYLE_IDS = [f"{s['prefix']}{'-colour' if s['coloured'] else ''}{'-crlf' if s['crlf'] else ''}" for s in STYLES]

# (seed examples in the log, async_level, expected diagnosis, expected severity, findings expected present);
# every run with weight updates starts with prime-rl's start-up reload, a cold load that is not judged.
CASES = {
    "normal_run": (["startup_reload", "weights_normal", "ckpt_normal", "gen_normal", "rollout_good"], None, "healthy", "ok", []),
    "frontend_queue": (["startup_reload", "weights_frontend_queue"], None, "frontend_queue_saturation", "critical", ["frontend_queue_saturation"]),
    "slow_engine": (["startup_reload", "weights_slow_engine"], None, "slow_weight_loading", "critical", ["slow_weight_loading"]),
    "slow_write": (["startup_reload", "weights_normal", "ckpt_slow_write"], None, "slow_checkpoint_write", "critical", ["slow_checkpoint_write"]),
    "long_wait": (["startup_reload", "weights_normal", "ckpt_long_wait"], None, "checkpoint_stall", "critical", ["checkpoint_stall"]),
    "spike_during_update": (
        ["startup_reload", "gen_spike_during_update"],
        None,
        "frontend_queue_saturation",  # queue_ms 29000 is critical too, and comes first in the tie order
        "critical",
        ["frontend_queue_saturation", "generation_contention"],
    ),
    "high_truncation": (["startup_reload", "weights_normal", "rollout_high_truncation"], None, "poor_rollout_quality", "critical", ["poor_rollout_quality"]),
    "staleness_at_barrier": (["startup_reload", "weights_normal", "rollout_high_staleness"], 5, "healthy", "ok", ["poor_rollout_quality"]),
    "staleness_past_async_level": (["startup_reload", "weights_normal", "rollout_high_staleness"], 1, "poor_rollout_quality", "critical", ["poor_rollout_quality"]),
    "no_weight_lines": (["gen_normal", "ckpt_normal"], None, "no_weight_updates", "warning", ["no_weight_updates"]),
}


@pytest.mark.parametrize("style", STYLES, ids=STYLE_IDS)
@pytest.mark.parametrize("case", CASES)
def test_seed_example_gives_its_diagnosis(tmp_path, case, style):
    examples, async_level, diagnosis, severity, present = CASES[case]
    messages = [line for name in examples for line in SEED[name]]
    write_log(tmp_path / "run.log", messages, **style)
    report = analyze([tmp_path], async_level=async_level)
    assert (report["diagnosis"], report["severity"]) == (diagnosis, severity)
    ids = [finding["id"] for finding in report["findings"]]
    assert all(finding_id in ids for finding_id in present), ids
    assert report["inputs"][0]["recognised"] == len(messages)
    assert report["inputs"][0]["malformed"] == 0


def test_frontend_queue_numbers_and_split(tmp_path):
    write_log(tmp_path / "run.log", SEED["weights_frontend_queue"])
    report = analyze([tmp_path], thresholds={"warmup_updates": 0})  # judge the one update
    metrics = report["metrics"]
    assert metrics["queue_ms"]["p50"] == pytest.approx(30333.4)
    assert metrics["rpc_ms.update_weights"]["count"] == 1
    assert metrics["rpc_ms.reload_weights"]["count"] == 0
    assert metrics["client_queue_ms"]["p50"] == pytest.approx((1270.456789 - 1240.123456) * 1000)
    assert metrics["server_queue_ms"]["p50"] == pytest.approx((1270.456890 - 1270.456789) * 1000)
    assert report["correlation"]["method"] == "same_host"
    finding = report["findings"][0]
    assert "dedicated admin" in finding["recommendation"] and "client side" in finding["recommendation"]
    assert finding["evidence"]["share_over_critical"] == 1.0


def test_spike_batch_is_marked_with_the_update_it_overlapped(tmp_path):
    write_log(tmp_path / "orchestrator.log", SEED["gen_normal"] + SEED["gen_spike_during_update"])
    report = analyze([tmp_path])
    batches = [entry for entry in timeline_entries(report) if entry["kind"] == "batch"]
    assert [b["updates"] for b in batches] == [[], ["xyz"]]
    assert report["metrics"]["gen_dur_ms.during_updates"]["max"] == pytest.approx(45678.9)
    assert report["metrics"]["gen_dur_ms.between_updates"]["max"] == pytest.approx(2345.6)
    # queue_ms = wall_ms - rpc_ms (docs/instrumenting.md), so the missing rpc_ms is derived
    assert report["slowest_updates"][0]["rpc_ms"] == pytest.approx(1000)


def test_checkpoint_stall_names_write_ms_as_evidence(tmp_path):
    write_log(tmp_path / "orchestrator.log", SEED["weights_normal"] + SEED["ckpt_long_wait"])
    write_log(tmp_path / "trainer" / "rank_0.log", SEED["ckpt_slow_write"])
    report = analyze([tmp_path])
    stall = next(f for f in report["findings"] if f["id"] == "checkpoint_stall")
    assert stall["evidence"]["write_ms"]["p95"] == pytest.approx(8234.5)
    assert "slow too" in stall["summary"]


def test_reload_weights_is_judged_by_its_own_thresholds(tmp_path):
    # 900 ms is fine for update_weights (warning at 2000) but a warning for reload_weights (at 500)
    lines = [
        "[weights][r1] client.send url=http://h:8000 path=/reload_weights t=10.0",
        "[weights][r1] client.done wall_ms=905.0 rpc_ms=900.0 queue_ms=5.0",
        "[weights][u1] client.send url=http://h:8000 path=/update_weights t=20.0",
        "[weights][u1] client.done wall_ms=905.0 rpc_ms=900.0 queue_ms=5.0",
    ]
    write_log(tmp_path / "orchestrator.log", lines)
    report = analyze([tmp_path], thresholds={"warmup_updates": 0})
    assert report["updates"]["by_op"] == {"reload_weights": 1, "update_weights": 1}
    assert (report["diagnosis"], report["severity"]) == ("slow_weight_loading", "warning")
    per_op = report["findings"][0]["evidence"]["per_op"]
    assert per_op["rpc_ms.reload_weights"]["severity"] == "warning"
    assert per_op["rpc_ms.update_weights"]["severity"] == "ok"


def test_thresholds_override_changes_the_verdict(tmp_path):
    write_log(tmp_path / "run.log", SEED["weights_slow_engine"])
    report = analyze([tmp_path], thresholds={"rpc_ms.update_weights": {"warning": 20000, "critical": 40000}})
    assert report["diagnosis"] == "healthy"
    assert report["thresholds"]["rpc_ms.update_weights"]["critical"] == 40000


def test_incomplete_update_is_reported_with_where_it_stopped(tmp_path):
    write_log(tmp_path / "orchestrator.log", SEED["weights_normal"][:1] + SEED["weights_slow_engine"][:1] + [SEED["weights_slow_engine"][4]])
    write_log(tmp_path / "inference.log", SEED["weights_normal"][1:3])
    report = analyze([tmp_path])
    assert report["updates"] == {
        "complete": 1, "incomplete": 1, "server_only": 0, "duplicate_trace_ids": 0,
        "by_op": {"unknown": 1, "update_weights": 1},
    }
    finding = next(f for f in report["findings"] if f["id"] == "incomplete_weight_updates")
    # sent before another update completed: lost mid-run, not the end of a killed run
    assert finding["severity"] == "warning"
    assert finding["evidence"]["updates"][0]["stuck_at"] == "RPC started, never finished"


def test_untraced_requests_are_counted_and_kept_out_of_updates(tmp_path):
    lines = [f"[weights][-] server.recv path=/v1/chat/completions t={100 + i * 0.25:.2f}" for i in range(40)]
    write_log(tmp_path / "inference.log", lines + SEED["weights_normal"][1:4])
    report = analyze([tmp_path])
    assert report["requests"]["untraced"] == 40
    assert report["metrics"]["untraced_requests_per_s"]["p50"] == 4
    assert report["updates"]["server_only"] == 1
    assert [f["id"] for f in report["findings"]] == ["no_weight_updates"]
    assert report["findings"][0]["severity"] == "info"
