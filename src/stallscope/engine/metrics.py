"""Samples per metric from the records, and their summary statistics (report.json `metrics`)."""

from array import array

from .stats import summarize

WEIGHT_OPS = ("update_weights", "reload_weights")
UPDATE_METRICS = ("queue_ms", "client_queue_ms", "server_queue_ms", "wall_ms", "rpc_ms")


def samples(records):
    """Metric name -> samples (a sequence of floats). Every metric is present, possibly empty."""
    values = {name: array("d") for name in UPDATE_METRICS}
    per_op = {op: array("d") for op in WEIGHT_OPS}
    for update in records["updates"]:
        for name in UPDATE_METRICS:
            if update[name] is not None:
                values[name].append(update[name])
        if update["rpc_ms"] is not None:
            per_op.setdefault(update["op"], array("d")).append(update["rpc_ms"])
    for op in sorted(per_op):
        values[f"rpc_ms.{op}"] = per_op[op]
    recorded = records["samples"]
    for name in ("write_ms", "wait_ms", "gen_dur_ms", "gen_dur_ms.during_updates", "gen_dur_ms.between_updates",
                 "inflight", "gen_completions_per_s", "trunc_pct", "staleness"):
        values[name] = recorded.get(name, [])
    values["staleness_over_async_level"] = records["staleness_excess"]
    values["untraced_requests_per_s"] = _per_second(records["untraced"]["per_second"])
    return values


def summarize_all(values):
    return {name: summarize(samples_) for name, samples_ in values.items()}


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
