"""Summary statistics of every metric (report.json `metrics`)."""

from .stats import summarize


def summarize_all(values):
    return {name: summarize(samples_) for name, samples_ in values.items()}


# Idle seconds are filled with zeros only over a plausible run length, so that a stray t= value
# cannot make the fill unbounded.
MAX_FILLED_SPAN_S = 7 * 24 * 3600


def per_second(per_host):
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
