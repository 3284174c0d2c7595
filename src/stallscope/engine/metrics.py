"""Samples per metric from the records, and their summary statistics (report.json `metrics`)."""

from .stats import summarize


def samples(records, client_queue_ms):
    """Metric name -> samples (a sequence of floats). Every metric is present, possibly empty.

    `client_queue_ms`: the correlation's client-side queue samples.
    """
    digest = records["updates"]
    values = {"queue_ms": digest.samples["queue_ms"], "client_queue_ms": client_queue_ms}
    for name in ("server_queue_ms", "wall_ms", "rpc_ms"):
        values[name] = digest.samples[name]
    for op in sorted(digest.rpc_ms_by_op):
        values[f"rpc_ms.{op}"] = digest.rpc_ms_by_op[op]
    recorded = records["samples"]
    for name in ("write_ms", "wait_ms", "gen_dur_ms", "gen_dur_ms.during_updates", "gen_dur_ms.between_updates",
                 "inflight", "trunc_pct", "staleness"):
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
