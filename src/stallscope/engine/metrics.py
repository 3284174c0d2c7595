"""Samples per metric from the records, and their summary statistics (report.json `metrics`)."""

from .stats import summarize

WEIGHT_OPS = ("update_weights", "reload_weights")


def samples(records):
    """Metric name -> list of float samples. Every metric is present, possibly empty."""
    updates = records["updates"]
    values = {
        "queue_ms": _column(updates, "queue_ms"),
        "client_queue_ms": _column(updates, "client_queue_ms"),
        "server_queue_ms": _column(updates, "server_queue_ms"),
        "wall_ms": _column(updates, "wall_ms"),
        "rpc_ms": _column(updates, "rpc_ms"),
    }
    ops = sorted({update["op"] for update in updates if update["rpc_ms"] is not None} | set(WEIGHT_OPS))
    for op in ops:
        values[f"rpc_ms.{op}"] = [u["rpc_ms"] for u in updates if u["op"] == op and u["rpc_ms"] is not None]
    recorded = records["samples"]
    for name in ("write_ms", "wait_ms", "gen_dur_ms"):
        values[name] = recorded.get(name, [])
    batches = records["batches"]
    values["gen_dur_ms.during_updates"] = [b["dur_ms"] for b in batches if b["updates"]]
    values["gen_dur_ms.between_updates"] = [b["dur_ms"] for b in batches if not b["updates"]]
    for name in ("inflight", "gen_completions_per_s", "trunc_pct", "staleness"):
        values[name] = recorded.get(name, [])
    values["staleness_over_async_level"] = records["staleness_excess"]
    values["untraced_requests_per_s"] = _per_second(records["untraced"]["per_second"])
    return values


def summarize_all(values):
    return {name: summarize(samples_) for name, samples_ in values.items()}


def _column(updates, key):
    return [update[key] for update in updates if update[key] is not None]


# Idle seconds are filled with zeros only over a plausible run length, so that a stray t= value
# cannot make the fill unbounded.
MAX_FILLED_SPAN_S = 7 * 24 * 3600


def _per_second(per_host):
    """Requests in each whole second from each host's first to its last request (idle seconds = 0)."""
    counts = []
    for seconds in per_host.values():
        if not seconds:
            continue
        first, last = min(seconds), max(seconds)
        if last - first < MAX_FILLED_SPAN_S:
            counts.extend(float(seconds.get(second, 0)) for second in range(first, last + 1))
        else:
            counts.extend(float(count) for count in seconds.values())
    return counts
